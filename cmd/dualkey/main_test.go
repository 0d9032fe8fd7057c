package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/iamemu"
	"github.com/dualkey/dualkey/internal/lambdarie"
	"github.com/dualkey/dualkey/shared/providers/iamkey"
	"github.com/dualkey/dualkey/shared/rotation"
)

type cliWorld struct {
	url  string
	sm   *secretsmanager.Client
	iam  *iam.Client
	name string
	old  string
}

// newCLIWorld starts the full emulator with the iamkey engine behind
// RotateSecret and an IAM key secret rotated once, ready for the CLI.
func newCLIWorld(t *testing.T, tags map[string]string) *cliWorld {
	t.Helper()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "DUALKEY_ENDPOINT"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	ctx := context.Background()
	var engine *rotation.Engine
	emu, err := awsemu.NewFull(awsemu.Config{Invoker: awsemu.InvokerFunc(func(ctx context.Context, _ string, payload []byte) error { return engine.HandleJSON(ctx, payload) })}, iamemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	w := &cliWorld{name: "cli/deployer-key"}
	if w.url, err = emu.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	cfg := awsemu.ClientConfig(w.url)
	w.sm, w.iam = secretsmanager.NewFromConfig(cfg), iam.NewFromConfig(cfg)
	if engine, err = rotation.New(rotation.Config{SecretsManager: w.sm, Provider: iamkey.NewFromAWSConfig(cfg, nil, iamkey.Config{}),
		LogWriter: &bytes.Buffer{}, MetricsWriter: &bytes.Buffer{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("deployer")}); err != nil {
		t.Fatal(err)
	}
	k, err := w.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("deployer")})
	if err != nil {
		t.Fatal(err)
	}
	w.old = aws.ToString(k.AccessKey.AccessKeyId)
	value, _ := json.Marshal(map[string]string{"user_name": "deployer", "access_key_id": w.old, "secret_access_key": aws.ToString(k.AccessKey.SecretAccessKey)})
	all := []types.Tag{{Key: aws.String("dualkey:managed"), Value: aws.String("true")}, {Key: aws.String("dualkey:provider"), Value: aws.String("iamkey")}}
	for k, v := range tags {
		all = append(all, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	if _, err := w.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(w.name), SecretString: aws.String(string(value)), Tags: all}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *cliWorld) run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return out.String() + errb.String(), code
}

func (w *cliWorld) status(t *testing.T, id string) string {
	t.Helper()
	out, err := w.iam.ListAccessKeys(context.Background(), &iam.ListAccessKeysInput{UserName: aws.String("deployer")})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range out.AccessKeyMetadata {
		if aws.ToString(k.AccessKeyId) == id {
			return string(k.Status)
		}
	}
	return "deleted"
}

func TestCLILifecycle(t *testing.T) {
	w := newCLIWorld(t, map[string]string{"dualkey:drain": "0s"})
	lambda := "--lambda-arn=arn:aws:lambda:us-east-1:123456789012:function:dualkey-iamkey"
	if out, code := w.run(t, "rotate", "--endpoint", w.url, lambda, w.name); code != 0 || !strings.Contains(out, "rotation finished") {
		t.Fatalf("rotate: %d %s", code, out)
	}
	out, code := w.run(t, "status", "--endpoint", w.url, w.name)
	if code != 0 || !strings.Contains(out, "AWSCURRENT") || !strings.Contains(out, "AWSPREVIOUS") || !strings.Contains(out, "dualkey:provider=iamkey") {
		t.Fatalf("status: %d %s", code, out)
	}
	out, code = w.run(t, "retire", "--dry-run", "--endpoint", w.url, w.name)
	if code != 0 || !strings.Contains(out, "would deactivate") || !strings.Contains(out, w.old) || w.status(t, w.old) != "Active" {
		t.Fatalf("retire --dry-run: %d %s (old key %s)", code, out, w.status(t, w.old))
	}
	out, code = w.run(t, "retire", "--endpoint", w.url)
	if code != 0 || w.status(t, w.old) != "Inactive" {
		t.Fatalf("retire: %d %s", code, out)
	}
	out, code = w.run(t, "rollback", "--endpoint", w.url, "--reason", "smoke test", w.name)
	if code != 0 || w.status(t, w.old) != "Active" || !strings.Contains(out, "reactivate") {
		t.Fatalf("rollback: %d %s", code, out)
	}
	out, code = w.run(t, "retire", "--endpoint", w.url, w.name)
	if code != 0 || !strings.Contains(out, "held") || w.status(t, w.old) != "Active" {
		t.Fatalf("retire while held: %d %s", code, out)
	}
	if out, code = w.run(t, "retire", "--resume", "--endpoint", w.url, w.name); code != 0 {
		t.Fatalf("resume: %d %s", code, out)
	}
	if out, code = w.run(t, "audit", "--endpoint", w.url, w.name); code != 0 || !strings.Contains(out, "no orphans") {
		t.Fatalf("audit: %d %s", code, out)
	}
}

func TestCLIAuditFindsOrphan(t *testing.T) {
	w := newCLIWorld(t, nil)
	planted, err := w.iam.CreateAccessKey(context.Background(), &iam.CreateAccessKeyInput{UserName: aws.String("deployer")})
	if err != nil {
		t.Fatal(err)
	}
	out, code := w.run(t, "audit", "--endpoint", w.url, w.name)
	if code != 1 || !strings.Contains(out, aws.ToString(planted.AccessKey.AccessKeyId)+"  Active") || !strings.Contains(out, "ORPHAN") {
		t.Fatalf("audit: %d %s", code, out)
	}
}

func TestCLIEmergencyRotation(t *testing.T) {
	w := newCLIWorld(t, map[string]string{"dualkey:drain": "24h"})
	out, code := w.run(t, "rotate", "--emergency", "--endpoint", w.url, "--lambda-arn", "arn:aws:lambda:us-east-1:123456789012:function:dualkey-iamkey", w.name)
	if code != 0 || w.status(t, w.old) != "Inactive" || !strings.Contains(out, "emergency") {
		t.Fatalf("rotate --emergency: %d %s (old key %s)", code, out, w.status(t, w.old))
	}
}

func TestCLIBadInput(t *testing.T) {
	w := newCLIWorld(t, nil)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"status", "--endpoint", w.url}, 1, "exactly one SECRET"},
		{[]string{"status", "--endpoint", w.url, "no/such/secret"}, 1, "ResourceNotFoundException"},
		{[]string{"rollback", "--endpoint", w.url, w.name}, 1, "nothing to roll back"},
		{[]string{"emulator", "--lambda", "no-equals-sign"}, 1, "NAME_OR_ARN=INVOKE_URL"},
		{[]string{"retire", "--endpoint", w.url, "--bogus"}, 2, "flag provided but not defined"},
	}
	for _, c := range cases {
		out, code := w.run(t, c.args...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("dualkey %v: exit %d, output %q; want exit %d and %q", c.args, code, out, c.code, c.want)
		}
	}
}

func TestCLIEmulatorCommand(t *testing.T) {
	port, err := lambdarie.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var out bytes.Buffer
	go func() {
		done <- run(ctx, []string{"emulator", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--iam-propagation-delay", "5s"}, &out, &out)
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d/_dualkey/health", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("emulator did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("emulator exited %d: %s", code, out.String())
	}
}
