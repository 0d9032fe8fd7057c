package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/iamemu"
	"github.com/dualkey/dualkey/internal/demo"
	"github.com/dualkey/dualkey/internal/lambdarie/rietest"
	"github.com/dualkey/dualkey/shared/providers/servicekey"
	"github.com/dualkey/dualkey/shared/rotation"
)

// TestRetireAndRollbackBootstraps runs the deployed retire and rollback
// binaries under the Lambda RIE with the sample events in events/: the
// retire run switches the old key off, an unrelated alarm (dualkey's own
// RotationFailed) is ignored without failing the invocation, and the
// rollback alarm, selected by DUALKEY_ROLLBACK_ALARM_PREFIX, brings the key
// back.
func TestRetireAndRollbackBootstraps(t *testing.T) {
	ctx := context.Background()
	var eng *rotation.Engine
	emu, err := awsemu.NewFull(awsemu.Config{Invoker: awsemu.InvokerFunc(func(ctx context.Context, _ string, payload []byte) error { return eng.HandleJSON(ctx, payload) })}, iamemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	sm := demo.Client(url)
	if eng, err = rotation.New(rotation.Config{SecretsManager: sm, Provider: servicekey.New(servicekey.DefaultSettings, nil), LogWriter: &strings.Builder{}, MetricsWriter: &strings.Builder{}}); err != nil {
		t.Fatal(err)
	}
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("svc/key"), SecretString: aws.String(`{"api_key":"retire-test-initial-key-0123456789"}`),
		Tags: []types.Tag{
			{Key: aws.String("dualkey:managed"), Value: aws.String("true")},
			{Key: aws.String("dualkey:provider"), Value: aws.String("servicekey")},
			{Key: aws.String("dualkey:alarm"), Value: aws.String("dualkey-rollback-payments-401")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(created.ARN)
	if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(arn),
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:dualkey-servicekey")}); err != nil {
		t.Fatal(err)
	}
	old := func() []string {
		d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range d.VersionIdsToStages {
			for _, s := range st {
				if s == rotation.StageDeactivated || s == rotation.StagePrevious {
					return st
				}
			}
		}
		return nil
	}
	env := append(awsemu.FunctionEnv(url), "DUALKEY_DRAIN=0s", "DUALKEY_ROLLBACK_ALARM_PREFIX=dualkey-rollback-")
	invoke := func(fn, eventFile string) {
		t.Helper()
		p := rietest.StartBare(t, fn, env...)
		defer p.Close()
		payload, err := os.ReadFile("../../events/" + eventFile)
		if err != nil {
			t.Fatal(err)
		}
		// The sample alarm changed state at a fixed time; the rollback
		// function ignores alarms older than the promotion, which is now.
		now := time.Now().UTC()
		payload = bytes.ReplaceAll(payload, []byte("2026-11-26T12:05:00.000+0000"), []byte(now.Format("2006-01-02T15:04:05.000-0700")))
		payload = bytes.ReplaceAll(payload, []byte("2026-11-26T12:05:00Z"), []byte(now.Format(time.RFC3339)))
		if _, err := p.Invoke(ctx, payload); err != nil {
			t.Fatalf("%s: %v\n%s", fn, err, p.Logs())
		}
	}
	invoke("retire", "retire-schedule.json")
	if st := old(); len(st) != 1 || st[0] != rotation.StageDeactivated {
		t.Fatalf("after the retire function the old version has %v, want [%s]", st, rotation.StageDeactivated)
	}
	invoke("rollback", "rollback-unrelated-alarm.json")
	if st := old(); len(st) != 1 || st[0] != rotation.StageDeactivated {
		t.Fatalf("an unrelated alarm changed the old version to %v", st)
	}
	invoke("rollback", "rollback-alarm.json")
	if st := old(); len(st) != 1 || st[0] != rotation.StagePrevious {
		t.Fatalf("after the rollback function the old version has %v, want [AWSPREVIOUS]", st)
	}
}
