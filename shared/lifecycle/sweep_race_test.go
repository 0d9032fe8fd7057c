package lifecycle_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/iamemu"
	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/providers/iamkey"
	"github.com/dualkey/dualkey/shared/providers/servicekey"
	"github.com/dualkey/dualkey/shared/rotation"
)

// Providers must be safe for concurrent use on different secrets: one
// sweep retires secrets of two real providers (iamkey against the
// emulator's IAM, servicekey) eight at a time, through the switch-off and
// the delete. Run with -race, any shared state a provider or the lifecycle
// mutates without a lock fails the test.
func TestSweepTwoProvidersConcurrently(t *testing.T) {
	ctx := context.Background()
	clock := testutil.NewFakeClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	var iamEngine, skEngine *rotation.Engine
	emu, err := awsemu.NewFull(awsemu.Config{Now: clock.Now, Invoker: awsemu.InvokerFunc(func(ctx context.Context, fn string, payload []byte) error {
		if strings.HasSuffix(fn, "dualkey-iamkey") {
			return iamEngine.HandleJSON(ctx, payload)
		}
		return skEngine.HandleJSON(ctx, payload)
	})}, iamemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	cfg := awsemu.ClientConfig(url)
	sm, iamc := sweepClient(url), iam.NewFromConfig(cfg)
	ik := iamkey.NewFromAWSConfig(cfg, nil, iamkey.Config{Sleep: func(context.Context, time.Duration) error { return nil }})
	sk := servicekey.New(servicekey.DefaultSettings, nil)
	if iamEngine, err = rotation.New(rotation.Config{SecretsManager: sm, Provider: ik, LogWriter: io.Discard, MetricsWriter: io.Discard, Now: clock.Now}); err != nil {
		t.Fatal(err)
	}
	if skEngine, err = rotation.New(rotation.Config{SecretsManager: sm, Provider: sk, LogWriter: io.Discard, MetricsWriter: io.Discard, Now: clock.Now}); err != nil {
		t.Fatal(err)
	}
	const each = 8
	tags := []types.Tag{{Key: aws.String(lifecycle.TagManaged), Value: aws.String("true")}, {Key: aws.String(lifecycle.TagDrain), Value: aws.String("1h")}, {Key: aws.String(lifecycle.TagGrace), Value: aws.String("1h")}}
	create := func(name, provider, value, fn string) {
		t.Helper()
		out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value),
			Tags: append([]types.Tag{{Key: aws.String(lifecycle.TagProvider), Value: aws.String(provider)}}, tags...)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: out.ARN, RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:" + fn),
			RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}}); err != nil {
			t.Fatal(err)
		}
		if rec := emu.Rotations(); !rec[len(rec)-1].Succeeded {
			t.Fatalf("rotation of %s failed: %s", name, rec[len(rec)-1].Error)
		}
	}
	for i := 0; i < each; i++ {
		user := fmt.Sprintf("svc-%02d", i)
		if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user), Tags: []iamtypes.Tag{{Key: aws.String(lifecycle.TagManaged), Value: aws.String("true")}}}); err != nil {
			t.Fatal(err)
		}
		k, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := json.Marshal(map[string]string{"user_name": user, "access_key_id": aws.ToString(k.AccessKey.AccessKeyId), "secret_access_key": aws.ToString(k.AccessKey.SecretAccessKey)})
		create("iam/"+user, "iamkey", string(v), "dualkey-iamkey")
		create(fmt.Sprintf("keys/svc-%02d", i), "servicekey", `{"api_key":"`+oldKey+`"}`, "dualkey-servicekey")
	}
	lc, err := lifecycle.New(lifecycle.Config{SecretsManager: sm, Providers: map[string]rotation.Provider{"iamkey": ik, "servicekey": sk},
		Now: clock.Now, LogWriter: io.Discard, MetricsWriter: io.Discard, Sweep: lifecycle.SweepConfig{Concurrency: 8}})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		advance time.Duration
		state   string
	}{{0, lifecycle.StateDraining}, {2 * time.Hour, lifecycle.StateDeactivated}, {2 * time.Hour, lifecycle.StateDeleted}} {
		clock.Advance(step.advance)
		var reps []*lifecycle.Report
		res, err := lc.Sweep(ctx, lifecycle.Options{}, collect(&reps))
		if err != nil || res.Listed != 2*each || res.Failed != 0 {
			t.Fatalf("sweep to %s: %v %+v", step.state, err, res)
		}
		for _, r := range reps {
			if r.State != step.state {
				t.Fatalf("sweep to %s: %s is %q\n%s", step.state, r.Secret, r.State, r)
			}
		}
	}
	keys, err := iamc.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("svc-03")})
	if err != nil || len(keys.AccessKeyMetadata) != 1 {
		t.Fatalf("IAM keys after the delete: %v, %v", keys, err)
	}
}
