package lifecycle_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/iamemu"
	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/providers/iamkey"
	"github.com/dualkey/dualkey/shared/rotation"
)

const iamUser = "ci-deployer"

// iamWorld is the full emulator (Secrets Manager, IAM, STS with SigV4
// verification) with the iamkey rotation engine behind RotateSecret.
type iamWorld struct {
	t       *testing.T
	clock   *testutil.FakeClock
	url     string
	sm      *secretsmanager.Client
	iam     *iam.Client
	lc      *lifecycle.Lifecycle
	logs    *bytes.Buffer
	arn     string
	engine  *rotation.Engine
	firstID string
	first   string
}

func newIAMWorld(t *testing.T, tags map[string]string) *iamWorld {
	t.Helper()
	ctx := context.Background()
	w := &iamWorld{t: t, clock: testutil.NewFakeClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)), logs: &bytes.Buffer{}}
	emu, err := awsemu.NewFull(awsemu.Config{Now: w.clock.Now, Invoker: awsemu.InvokerFunc(func(ctx context.Context, _ string, payload []byte) error { return w.engine.HandleJSON(ctx, payload) })}, iamemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if w.url, err = emu.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	cfg := awsemu.ClientConfig(w.url)
	cfg.RetryMaxAttempts = 1
	w.sm, w.iam = secretsmanager.NewFromConfig(cfg), iam.NewFromConfig(cfg)
	provider := iamkey.NewFromAWSConfig(cfg, nil, iamkey.Config{Sleep: func(context.Context, time.Duration) error { return nil }})
	if w.engine, err = rotation.New(rotation.Config{SecretsManager: w.sm, Provider: provider, LogWriter: w.logs, MetricsWriter: w.logs}); err != nil {
		t.Fatal(err)
	}
	if w.lc, err = lifecycle.New(lifecycle.Config{SecretsManager: w.sm, Providers: map[string]rotation.Provider{"iamkey": provider},
		Now: w.clock.Now, LogWriter: w.logs, MetricsWriter: w.logs}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(iamUser)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.iam.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(iamUser), Tags: []iamtypes.Tag{
		{Key: aws.String(lifecycle.TagManaged), Value: aws.String("true")}}}); err != nil {
		t.Fatal(err)
	}
	k, err := w.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(iamUser)})
	if err != nil {
		t.Fatal(err)
	}
	w.firstID, w.first = aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)
	value, _ := json.Marshal(map[string]string{"user_name": iamUser, "access_key_id": w.firstID, "secret_access_key": w.first})
	all := []types.Tag{{Key: aws.String(lifecycle.TagManaged), Value: aws.String("true")}, {Key: aws.String(lifecycle.TagProvider), Value: aws.String("iamkey")}}
	for k, v := range tags {
		all = append(all, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	out, err := w.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("ci/deployer-key"), SecretString: aws.String(string(value)), Tags: all})
	if err != nil {
		t.Fatal(err)
	}
	w.arn = aws.ToString(out.ARN)
	return w
}

func (w *iamWorld) rotate() {
	w.t.Helper()
	if _, err := w.sm.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{
		SecretId: aws.String(w.arn), RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:dualkey-iamkey"),
		RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)},
	}); err != nil {
		w.t.Fatal(err)
	}
	if rotation.Holder(w.labels(), rotation.StagePending) != "" {
		w.t.Fatalf("rotation did not finish:\n%s", w.logs.String())
	}
}

func (w *iamWorld) labels() map[string][]string {
	w.t.Helper()
	d, err := w.sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(w.arn)})
	if err != nil {
		w.t.Fatal(err)
	}
	return d.VersionIdsToStages
}

// keys returns id -> status of the user's keys.
func (w *iamWorld) keys() map[string]string {
	w.t.Helper()
	out, err := w.iam.ListAccessKeys(context.Background(), &iam.ListAccessKeysInput{UserName: aws.String(iamUser)})
	if err != nil {
		w.t.Fatal(err)
	}
	m := map[string]string{}
	for _, k := range out.AccessKeyMetadata {
		m[aws.ToString(k.AccessKeyId)] = string(k.Status)
	}
	return m
}

// useFirstKey is a consumer that still signs with the original key.
func (w *iamWorld) useFirstKey() error {
	c := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(w.url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(w.firstID, w.first, "")})
	_, err := c.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	return err
}

func (w *iamWorld) retire(opt lifecycle.Options) *lifecycle.Report {
	w.t.Helper()
	rep, err := w.lc.Retire(context.Background(), w.arn, opt)
	if err != nil {
		w.t.Fatalf("retire: %v\n%s", err, rep)
	}
	return rep
}

func TestIAMKeyLifecycle(t *testing.T) {
	w := newIAMWorld(t, map[string]string{lifecycle.TagDrain: "1h", lifecycle.TagGrace: "48h"})
	w.rotate()
	if w.keys()[w.firstID] != "Active" {
		t.Fatal("old key not active after promotion: the dual-key window is broken")
	}
	// A consumer keeps using the old key past the drain window.
	w.clock.Advance(90 * time.Minute)
	if err := w.useFirstKey(); err != nil {
		t.Fatal(err)
	}
	rep := w.retire(lifecycle.Options{})
	if rep.State != lifecycle.StateInUse || !strings.Contains(rep.String(), "still in use") || !strings.Contains(rep.String(), "via sts") {
		t.Fatalf("in-use old key not held:\n%s", rep)
	}
	if w.keys()[w.firstID] != "Active" {
		t.Fatal("a key in use was deactivated")
	}
	if !strings.Contains(w.logs.String(), `"OldCredentialInUse":1`) {
		t.Fatal("no OldCredentialInUse metric")
	}
	// Dry run: prints the plan, changes nothing.
	w.clock.Advance(2 * time.Hour)
	labels, keys := w.labels(), w.keys()
	rep = w.retire(lifecycle.Options{DryRun: true})
	if !strings.Contains(rep.String(), "would deactivate") || !strings.Contains(rep.String(), w.firstID) {
		t.Fatalf("dry run:\n%s", rep)
	}
	if !equal(w.labels(), labels) || len(w.keys()) != len(keys) || w.keys()[w.firstID] != "Active" {
		t.Fatal("dry run changed something")
	}
	// The consumer stopped: the old key is deactivated and refused everywhere.
	rep = w.retire(lifecycle.Options{})
	if rep.State != lifecycle.StateDeactivated || w.keys()[w.firstID] != "Inactive" {
		t.Fatalf("not deactivated:\n%s\nkeys %v", rep, w.keys())
	}
	var ae smithy.APIError
	if err := w.useFirstKey(); !errors.As(err, &ae) || ae.ErrorCode() != "InvalidClientTokenId" {
		t.Fatalf("deactivated key: %v", err)
	}
	// Rollback reactivates it (long after the 15 min window: it was deactivated, not deleted).
	rb, err := w.lc.Rollback(context.Background(), w.arn, lifecycle.RollbackOptions{Reason: "deploys failing"})
	if err != nil || w.keys()[w.firstID] != "Active" || w.useFirstKey() != nil {
		t.Fatalf("rollback: %v\n%s", err, rb)
	}
	if _, err := w.lc.Resume(context.Background(), w.arn); err != nil {
		t.Fatal(err)
	}
	// The rollback check above used the key: it is in use again, so resuming
	// waits until it has been quiet for the quiet period.
	if rep := w.retire(lifecycle.Options{}); rep.State != lifecycle.StateInUse {
		t.Fatalf("retire right after a use:\n%s", rep)
	}
	w.clock.Advance(2 * time.Hour)
	w.retire(lifecycle.Options{})
	if w.keys()[w.firstID] != "Inactive" {
		t.Fatal("not deactivated again after resume")
	}
	// Grace over: deleted.
	w.clock.Advance(47 * time.Hour)
	w.retire(lifecycle.Options{})
	if _, ok := w.keys()[w.firstID]; !ok {
		t.Fatal("deleted before the grace period ended")
	}
	w.clock.Advance(2 * time.Hour)
	rep = w.retire(lifecycle.Options{})
	if _, ok := w.keys()[w.firstID]; ok || rep.State != lifecycle.StateDeleted {
		t.Fatalf("not deleted after grace:\n%s", rep)
	}
	if len(w.keys()) != 1 {
		t.Fatalf("keys left: %v", w.keys())
	}
	if strings.Contains(w.logs.String(), w.first) {
		t.Fatal("a secret access key reached the logs")
	}
}

func TestIAMNextRotationDeletesRetiredKey(t *testing.T) {
	// Rotation every time the previous key is retired: the 2-key limit never bites.
	w := newIAMWorld(t, map[string]string{lifecycle.TagDrain: "1h"})
	for i := 0; i < 3; i++ {
		w.rotate()
		w.clock.Advance(2 * time.Hour)
		w.retire(lifecycle.Options{})
		if n := len(w.keys()); n != 2 {
			t.Fatalf("rotation %d: %d keys %v", i+1, n, w.keys())
		}
	}
}

func TestIAMAuditFindsPlantedOrphan(t *testing.T) {
	w := newIAMWorld(t, nil)
	rep, err := w.lc.Audit(context.Background(), w.arn)
	if err != nil || len(rep.Orphans) != 0 || len(rep.Credentials) != 1 {
		t.Fatalf("clean audit: %v %+v", err, rep)
	}
	planted, err := w.iam.CreateAccessKey(context.Background(), &iam.CreateAccessKeyInput{UserName: aws.String(iamUser)})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = w.lc.Audit(context.Background(), w.arn)
	if err != nil || len(rep.Orphans) != 1 || rep.Orphans[0].Fingerprint != aws.ToString(planted.AccessKey.AccessKeyId) {
		t.Fatalf("audit: %v %+v", err, rep)
	}
}

func TestIAMEmergency(t *testing.T) {
	w := newIAMWorld(t, map[string]string{lifecycle.TagDrain: "24h"})
	w.rotate()
	if err := w.useFirstKey(); err != nil { // the attacker is using the leaked key
		t.Fatal(err)
	}
	rep := w.retire(lifecycle.Options{Emergency: true})
	if w.keys()[w.firstID] != "Inactive" || !strings.Contains(rep.String(), "emergency") {
		t.Fatalf("leaked key not switched off:\n%s", rep)
	}
}

// Once the old key is deleted, later runs have nothing to do: they must not
// ask IAM about a key that no longer exists, every 15 minutes, forever.
func TestIAMRetireAfterDeleteIsQuiet(t *testing.T) {
	w := newIAMWorld(t, map[string]string{lifecycle.TagDrain: "1h", lifecycle.TagGrace: "1h"})
	w.rotate()
	w.clock.Advance(2 * time.Hour)
	w.retire(lifecycle.Options{})
	w.clock.Advance(2 * time.Hour)
	if rep := w.retire(lifecycle.Options{}); rep.State != lifecycle.StateDeleted {
		t.Fatalf("not deleted:\n%s", rep)
	}
	w.clock.Advance(15 * time.Minute)
	rep := w.retire(lifecycle.Options{})
	if strings.Contains(ops(rep), "delete") || strings.Contains(ops(rep), "alert") {
		t.Fatalf("run after the delete:\n%s", rep)
	}
	if _, err := w.lc.Rollback(context.Background(), w.arn, lifecycle.RollbackOptions{Force: true}); !errors.Is(err, lifecycle.ErrNothingToRollBack) {
		t.Fatalf("rollback of a deleted key: %v", err)
	}
}
