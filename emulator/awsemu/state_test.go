package awsemu_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/iamemu"
)

func TestStateFileSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	clock := newClock()
	e1 := startEmu(t, awsemu.Config{StateFile: path, Now: clock.Now, Invoker: &recordingInvoker{}})
	must(e1.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("persist"), SecretString: aws.String("v1"), ClientRequestToken: aws.String(token(1)),
		Description: aws.String("kept"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}},
	})).ok(t)
	must(put(e1, "persist", 2, "v2")).ok(t)
	must(e1.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId: aws.String("persist"), RotationLambdaARN: aws.String(lambdaARN), RotateImmediately: aws.Bool(false),
		RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(10)},
	})).ok(t)
	must(put(e1, "persist", 3, "v3", "AWSPENDING")).ok(t)
	createSecret(t, e1, "doomed", "x")
	must(e1.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("doomed")})).ok(t)
	arn := must(e1.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("persist")})).ok(t).ARN
	if err := e1.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("temp files left next to the state file: %d entries", len(entries))
	}

	e2 := startEmu(t, awsemu.Config{StateFile: path, Now: clock.Now})
	d := must(e2.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("persist")})).ok(t)
	if aws.ToString(d.ARN) != aws.ToString(arn) || aws.ToString(d.Description) != "kept" || len(d.Tags) != 1 || !aws.ToBool(d.RotationEnabled) || aws.ToInt64(d.RotationRules.AutomaticallyAfterDays) != 10 {
		t.Fatalf("describe after restart = %+v", d)
	}
	wantStages(t, e2, "persist", map[int][]string{1: {"AWSPREVIOUS"}, 2: {"AWSCURRENT"}, 3: {"AWSPENDING"}})
	g := must(e2.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("persist")})).ok(t)
	valueIs(t, g.SecretString, "v2", "after restart")
	// Idempotency survives too.
	must(put(e2, "persist", 2, "v2")).ok(t)
	_, err := e2.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("doomed")})
	wantCode(t, err, "InvalidRequestException")

	// A corrupt state file is an error, not an empty emulator.
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := awsemu.New(awsemu.Config{StateFile: bad}); err == nil || !strings.Contains(err.Error(), "state") {
		t.Fatalf("New with corrupt state: %v", err)
	}
}

// TestStateFileMustBeWritable: a --state path the emulator could never write
// is refused at start, naming the path and the fix, instead of the emulator
// running on and keeping nothing.
func TestStateFileMustBeWritable(t *testing.T) {
	dir := t.TempDir()
	aFile := filepath.Join(dir, "plain-file")
	if err := os.WriteFile(aFile, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, want string
	}{
		{"missing directory", filepath.Join(dir, "no", "such", "dir", "state.json"), "create the directory"},
		{"parent is a file", filepath.Join(aFile, "state.json"), "cannot be written"},
		{"path is a directory", dir, "is a directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := awsemu.New(awsemu.Config{StateFile: c.path})
			if err == nil || !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "--state") {
				t.Fatalf("New: %v; want an error naming %s and %q", err, c.path, c.want)
			}
			if _, err := awsemu.NewFull(awsemu.Config{StateFile: c.path}, iamemu.Config{}); err == nil || !strings.Contains(err.Error(), c.path) {
				t.Fatalf("NewFull: %v", err)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("the writability check left files behind: %d entries", len(entries))
	}
}

// TestStateWriteFailureIsReportedAndRetried: when the state file cannot be
// written while serving, the mutating call fails with InternalServiceError,
// /_dualkey/health says so, and the next successful write includes the
// change, so a restart loses nothing that was acknowledged.
func TestStateWriteFailureIsReportedAndRetried(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "state.json")
	clock := newClock()
	e := startEmu(t, awsemu.Config{StateFile: path, Now: clock.Now})
	createSecret(t, e, "s", "v1")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	_, err := put(e, "s", 2, "v2")
	wantCode(t, err, "InternalServiceError")
	if code := healthStatus(t, e.url); code != http.StatusInternalServerError {
		t.Fatalf("health while the state file cannot be written: %d", code)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	must(put(e, "s", 3, "v3")).ok(t)
	var ok map[string]string
	getJSON(t, http.MethodGet, e.url+"/_dualkey/health", &ok)
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	e2 := startEmu(t, awsemu.Config{StateFile: path, Now: clock.Now})
	wantStages(t, e2, "s", map[int][]string{2: {"AWSPREVIOUS"}, 3: {"AWSCURRENT"}})
	g := must(e2.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionId: aws.String(token(2))})).ok(t)
	valueIs(t, g.SecretString, "v2", "the version whose first save failed")
}

// TestScheduledDeletionsByDeadline: a secret is purged when its own recovery
// window ends, not at a stale deadline left by an earlier delete that was
// restored; deadlines survive a restart.
func TestScheduledDeletionsByDeadline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	clock := newClock()
	e := startEmu(t, awsemu.Config{StateFile: path, Now: clock.Now})
	createSecret(t, e, "d", "v")
	createSecret(t, e, "keep", "v")
	must(e.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("d"), RecoveryWindowInDays: aws.Int64(7)})).ok(t)
	must(e.sm.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String("d")})).ok(t)
	must(e.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("d"), RecoveryWindowInDays: aws.Int64(30)})).ok(t)
	clock.Advance(8 * 24 * time.Hour)
	if _, err := e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("d")}); err != nil {
		t.Fatalf("purged at the deadline of a restored deletion: %v", err)
	}
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	e2 := startEmu(t, awsemu.Config{StateFile: path, Now: clock.Now})
	clock.Advance(22 * 24 * time.Hour) // 30 days after the second delete
	_, err := e2.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("d")})
	wantCode(t, err, "ResourceNotFoundException")
	must(e2.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("keep")})).ok(t)
	createSecret(t, e2, "d", "reborn") // the name is free again
}
