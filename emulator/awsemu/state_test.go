package awsemu_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
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
