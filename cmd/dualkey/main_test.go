package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/iamemu"
	"github.com/dualkey/dualkey/internal/lambdarie"
	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/providers/iamkey"
	"github.com/dualkey/dualkey/shared/providers/servicekey"
	"github.com/dualkey/dualkey/shared/rotation"
)

const (
	iamLambda = "arn:aws:lambda:us-east-1:123456789012:function:dualkey-iamkey"
	svcLambda = "arn:aws:lambda:us-east-1:123456789012:function:dualkey-servicekey"
)

type cliWorld struct {
	url       string
	emu       *awsemu.Full
	sm        *secretsmanager.Client
	iam       *iam.Client
	name      string // the IAM key secret
	old       string // its first access key id
	oldSecret string // and that key's secret (to use it as a consumer would)
	// failing makes every rotation step fail (a broken rotation function);
	// failAfterCreate every step after createSecret.
	failing, failAfterCreate atomic.Bool
	// failStep names a step during which every Secrets Manager call of the
	// rotation functions fails, so the engine itself fails that step.
	failStep, step atomic.Value
	// engineLogs holds the rotation functions' JSON log and EMF lines.
	engineLogs *testutil.SyncBuffer
}

// emuOptions change the emulator newEmuWorldWith starts.
type emuOptions struct {
	now       func() time.Time // the emulator's clock (default: the real one)
	stateFile string           // a state file to start from
}

// newCLIWorld starts the full emulator with the iamkey and servicekey
// engines behind RotateSecret (by function name) and an IAM key secret
// with tags, ready for the CLI.
func newCLIWorld(t *testing.T, tags map[string]string) *cliWorld {
	t.Helper()
	w := newEmuWorld(t)
	w.iamSecret(t, tags)
	return w
}

// iamSecret creates the IAM user "deployer" (tagged dualkey:managed=true),
// its first access key and the secret w.name holding it.
func (w *cliWorld) iamSecret(t *testing.T, tags map[string]string) {
	t.Helper()
	ctx := context.Background()
	if _, err := w.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("deployer")}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.iam.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("deployer"), Tags: []iamtypes.Tag{
		{Key: aws.String(rotation.TagManaged), Value: aws.String("true")}}}); err != nil {
		t.Fatal(err)
	}
	k, err := w.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("deployer")})
	if err != nil {
		t.Fatal(err)
	}
	w.old, w.oldSecret = aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)
	value, _ := json.Marshal(map[string]string{"user_name": "deployer", "access_key_id": w.old, "secret_access_key": aws.ToString(k.AccessKey.SecretAccessKey)})
	w.createSecret(t, w.name, string(value), "iamkey", tags)
}

// newEmuWorld starts the full emulator with the iamkey and servicekey
// engines behind RotateSecret (by function name).
func newEmuWorld(t *testing.T) *cliWorld {
	t.Helper()
	return newEmuWorldWith(t, emuOptions{})
}

// stepFaults fails every request while the world's current rotation step
// is the one armed in failStep.
type stepFaults struct{ w *cliWorld }

func (f stepFaults) RoundTrip(r *http.Request) (*http.Response, error) {
	if cur, _ := f.w.step.Load().(string); cur != "" && cur == f.w.failStep.Load() {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, errors.New("secrets manager unreachable (injected by the test)")
	}
	return http.DefaultTransport.RoundTrip(r)
}

func newEmuWorldWith(t *testing.T, opt emuOptions) *cliWorld {
	t.Helper()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "DUALKEY_ENDPOINT"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	w := &cliWorld{name: "cli/deployer-key", engineLogs: &testutil.SyncBuffer{}}
	w.failStep.Store("")
	w.step.Store("")
	var iamEngine, svcEngine *rotation.Engine
	emu, err := awsemu.NewFull(awsemu.Config{Now: opt.now, StateFile: opt.stateFile, Invoker: awsemu.InvokerFunc(func(ctx context.Context, fn string, payload []byte) error {
		var ev struct{ Step string }
		_ = json.Unmarshal(payload, &ev)
		if w.failing.Load() || (w.failAfterCreate.Load() && ev.Step != rotation.StepCreate) {
			return errors.New("the rotation function timed out")
		}
		w.step.Store(ev.Step)
		defer w.step.Store("")
		if strings.HasSuffix(fn, "dualkey-servicekey") {
			return svcEngine.HandleJSON(ctx, payload)
		}
		return iamEngine.HandleJSON(ctx, payload)
	})}, iamemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if w.url, err = emu.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	w.emu = emu
	t.Cleanup(func() { emu.Close() })
	cfg := awsemu.ClientConfig(w.url)
	w.sm, w.iam = secretsmanager.NewFromConfig(cfg), iam.NewFromConfig(cfg)
	engineCfg := cfg.Copy()
	engineCfg.HTTPClient = &http.Client{Transport: stepFaults{w}}
	engineSM := secretsmanager.NewFromConfig(engineCfg)
	if iamEngine, err = rotation.New(rotation.Config{SecretsManager: engineSM, Provider: iamkey.NewFromAWSConfig(cfg, nil, iamkey.Config{}),
		LogWriter: w.engineLogs, MetricsWriter: w.engineLogs}); err != nil {
		t.Fatal(err)
	}
	if svcEngine, err = rotation.New(rotation.Config{SecretsManager: engineSM, Provider: servicekey.New(servicekey.DefaultSettings, nil),
		LogWriter: w.engineLogs, MetricsWriter: w.engineLogs}); err != nil {
		t.Fatal(err)
	}
	return w
}

// createSecret creates a managed secret for provider.
func (w *cliWorld) createSecret(t *testing.T, name, value, provider string, tags map[string]string) {
	t.Helper()
	all := []types.Tag{{Key: aws.String(rotation.TagManaged), Value: aws.String("true")}, {Key: aws.String(rotation.TagProvider), Value: aws.String(provider)}}
	for k, v := range tags {
		all = append(all, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	if _, err := w.sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value), Tags: all}); err != nil {
		t.Fatal(err)
	}
}

// serviceSecret creates a servicekey secret and rotates it once.
func (w *cliWorld) serviceSecret(t *testing.T, name string, tags map[string]string) {
	t.Helper()
	w.createSecret(t, name, `{"api_key":"cli-initial-service-key-0123456789abcdef"}`, "servicekey", tags)
	if _, err := w.sm.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String(name), RotationLambdaARN: aws.String(svcLambda)}); err != nil {
		t.Fatal(err)
	}
}

func (w *cliWorld) run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	stdout, stderr, code := w.run2(t, args...)
	return stdout + stderr, code
}

func (w *cliWorld) run2(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func (w *cliWorld) labels(t *testing.T, name string) map[string][]string {
	t.Helper()
	d, err := w.sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return d.VersionIdsToStages
}

func (w *cliWorld) tags(t *testing.T, name string) map[string]string {
	t.Helper()
	d, err := w.sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, tg := range d.Tags {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
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

func (w *cliWorld) keyCount(t *testing.T) int {
	t.Helper()
	out, err := w.iam.ListAccessKeys(context.Background(), &iam.ListAccessKeysInput{UserName: aws.String("deployer")})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.AccessKeyMetadata)
}

func TestCLILifecycle(t *testing.T) {
	w := newCLIWorld(t, map[string]string{"dualkey:drain": "0s", "dualkey:quiet": "1m"})
	if out, code := w.run(t, "rotate", "--endpoint", w.url, "--lambda-arn="+iamLambda, w.name); code != 0 || !strings.Contains(out, "rotation finished") {
		t.Fatalf("rotate: %d %s", code, out)
	}
	out, code := w.run(t, "status", w.name, "--endpoint", w.url)
	if code != 0 || !strings.Contains(out, "AWSCURRENT") || !strings.Contains(out, "AWSPREVIOUS") || !strings.Contains(out, "dualkey:provider=iamkey") ||
		!strings.Contains(out, "lifecycle reversible: drain 0s → usage check (quiet 1m) → deactivate → grace 48h → delete") || !strings.Contains(out, "would deactivate") {
		t.Fatalf("status: %d %s", code, out)
	}
	out, code = w.run(t, "retire", "--dry-run", w.name, "--endpoint", w.url)
	if code != 0 || !strings.Contains(out, "would deactivate") || !strings.Contains(out, w.old) || !strings.Contains(out, "lifecycle: reversible") || w.status(t, w.old) != "Active" {
		t.Fatalf("retire --dry-run: %d %s (old key %s)", code, out, w.status(t, w.old))
	}
	out, code = w.run(t, "retire", "--endpoint", w.url, w.name)
	if code != 0 || w.status(t, w.old) != "Inactive" {
		t.Fatalf("retire: %d %s", code, out)
	}
	out, code = w.run(t, "rollback", "--endpoint", w.url, "--reason", "smoke test", w.name)
	if code != 0 || w.status(t, w.old) != "Active" || !strings.Contains(out, "reactivate") {
		t.Fatalf("rollback: %d %s", code, out)
	}
	out, code = w.run(t, "retire", "--endpoint", w.url, w.name)
	if code != 0 || !strings.Contains(out, "held") || !strings.Contains(out, "dualkey retire --endpoint "+w.url+" --resume "+w.name) || w.status(t, w.old) != "Active" {
		t.Fatalf("retire while held: %d %s", code, out)
	}
	if out, code = w.run(t, "retire", "--resume", "--endpoint", w.url, w.name); code != 0 {
		t.Fatalf("resume: %d %s", code, out)
	}
	if out, code = w.run(t, "audit", "--endpoint", w.url, w.name); code != 0 || !strings.Contains(out, "no orphans") {
		t.Fatalf("audit: %d %s", code, out)
	}
}

func TestCLIAuditExitCodes(t *testing.T) {
	w := newCLIWorld(t, nil)
	w.serviceSecret(t, "svc/key", nil)
	if out, code := w.run(t, "audit", "--endpoint", w.url, w.name); code != exitOK || !strings.Contains(out, "no orphans") {
		t.Fatalf("clean audit: %d %s", code, out)
	}
	out, code := w.run(t, "audit", "--endpoint", w.url, "svc/key")
	if code != exitCannotAudit || !strings.Contains(out, "cannot list") || !strings.Contains(out, "dualkey status --endpoint") {
		t.Fatalf("audit of a provider that cannot list: %d %s", code, out)
	}
	if out, code := w.run(t, "audit", "--endpoint", w.url, "no/such/secret"); code != exitFailed {
		t.Fatalf("audit of a missing secret: %d %s", code, out)
	}
	planted, err := w.iam.CreateAccessKey(context.Background(), &iam.CreateAccessKeyInput{UserName: aws.String("deployer")})
	if err != nil {
		t.Fatal(err)
	}
	out, code = w.run(t, "audit", "--endpoint", w.url, w.name)
	if code != exitOrphans || !strings.Contains(out, aws.ToString(planted.AccessKey.AccessKeyId)+"  Active") || !strings.Contains(out, "ORPHAN") {
		t.Fatalf("audit: %d %s", code, out)
	}
}

func TestCLIEmergencyRotation(t *testing.T) {
	w := newCLIWorld(t, map[string]string{"dualkey:drain": "24h", "dualkey:alarm": "deploys-failing", "dualkey:rollback-restore": "true"})
	out, code := w.run(t, "rotate", "--emergency", "--endpoint", w.url, "--lambda-arn", iamLambda, w.name)
	if code != 0 || w.status(t, w.old) != "Inactive" || !strings.Contains(out, "emergency") {
		t.Fatalf("rotate --emergency: %d %s (old key %s)", code, out, w.status(t, w.old))
	}
	if _, ok := w.tags(t, w.name)["dualkey:emergency"]; ok {
		t.Fatal("emergency tag left behind")
	}
	// Issue 6 item 1: the operator must say the credential leaked.
	out, code = w.run(t, "rollback", "--endpoint", w.url, w.name)
	if code != exitRefused || !strings.Contains(out, "leaked") || !strings.Contains(out, "dualkey rollback --endpoint "+w.url+" --reactivate-leaked-credential "+w.name) || w.status(t, w.old) != "Inactive" {
		t.Fatalf("rollback of a leaked key: %d %s", code, out)
	}
	if out, code = w.run(t, "rollback", "--reactivate-leaked-credential", "--endpoint", w.url, w.name); code != 0 || w.status(t, w.old) != "Active" {
		t.Fatalf("explicit rollback of a leaked key: %d %s", code, out)
	}
}

// Issue 6 item 8: a failed rotation leaves AWSPENDING; rotate explains and
// names dualkey cancel, which discards the pending credential and removes
// the label.
func TestCLICancel(t *testing.T) {
	w := newEmuWorld(t)
	w.serviceSecret(t, "svc/key", nil)
	w.failing.Store(true)
	out, code := w.run(t, "rotate", "--endpoint", w.url, "svc/key")
	if code != exitFailed || !strings.Contains(out, "rotation failed") || !strings.Contains(out, "dualkey cancel --endpoint "+w.url+" svc/key && dualkey rotate --endpoint "+w.url+" svc/key") {
		t.Fatalf("failed rotation: %d %s", code, out)
	}
	w.failing.Store(false)
	out, code = w.run(t, "rotate", "--endpoint", w.url, "svc/key")
	if code != exitRefused || !strings.Contains(out, "isn't complete") || !strings.Contains(out, "dualkey cancel --endpoint "+w.url+" svc/key") || strings.Contains(out, "A previous rotation") {
		t.Fatalf("rotate while a rotation is pending: %d %s", code, out)
	}
	before := w.labels(t, "svc/key")
	out, code = w.run(t, "cancel", "svc/key", "--dry-run", "--endpoint", w.url)
	if code != 0 || !strings.Contains(out, "would remove-pending") || !strings.Contains(out, "placeholder") || fmt.Sprint(w.labels(t, "svc/key")) != fmt.Sprint(before) {
		t.Fatalf("cancel --dry-run: %d %s", code, out)
	}
	if out, code = w.run(t, "cancel", "--endpoint", w.url, "svc/key"); code != 0 || rotation.Holder(w.labels(t, "svc/key"), rotation.StagePending) != "" {
		t.Fatalf("cancel: %d %s", code, out)
	}
	if out, code = w.run(t, "cancel", "--endpoint", w.url, "svc/key"); code != exitRefused || !strings.Contains(out, "nothing to cancel") {
		t.Fatalf("second cancel: %d %s", code, out)
	}
	if out, code = w.run(t, "rotate", "--endpoint", w.url, "svc/key"); code != 0 || !strings.Contains(out, "rotation finished") {
		t.Fatalf("rotate after cancel: %d %s", code, out)
	}
}

// A pending IAM key is destroyed by cancel: no orphan is left at IAM.
func TestCLICancelDestroysPendingIAMKey(t *testing.T) {
	w := newCLIWorld(t, nil)
	w.failAfterCreate.Store(true) // the function creates the key, then times out
	if _, err := w.sm.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String(w.name), RotationLambdaARN: aws.String(iamLambda)}); err != nil {
		t.Fatal(err)
	}
	if n := w.keyCount(t); n != 2 {
		t.Fatalf("%d keys after createSecret, want 2", n)
	}
	out, code := w.run(t, "cancel", "--endpoint", w.url, w.name)
	if code != 0 || w.keyCount(t) != 1 || w.status(t, w.old) != "Active" || rotation.Holder(w.labels(t, w.name), rotation.StagePending) != "" {
		t.Fatalf("cancel: %d %s, %d keys", code, out, w.keyCount(t))
	}
}

// Issue 6 item 9: rotating while a deactivated IAM key waits for deletion
// deletes it (two keys per user) and ends its rollback window: rotate says
// so before it starts and needs --yes.
func TestCLIRotateWarnsBeforeEndingRollback(t *testing.T) {
	w := newCLIWorld(t, map[string]string{"dualkey:drain": "0s", "dualkey:quiet": "1m"})
	if out, code := w.run(t, "rotate", "--endpoint", w.url, "--lambda-arn", iamLambda, w.name); code != 0 {
		t.Fatalf("rotate: %d %s", code, out)
	}
	if out, code := w.run(t, "retire", "--endpoint", w.url, w.name); code != 0 || w.status(t, w.old) != "Inactive" {
		t.Fatalf("retire: %d %s", code, out)
	}
	stdout, stderr, code := w.run2(t, "rotate", "--endpoint", w.url, w.name)
	if code != exitRefused || !strings.Contains(stderr, "warning:") || !strings.Contains(stderr, w.old) || !strings.Contains(stderr, "rollback window") ||
		!strings.Contains(stderr, "dualkey rotate --endpoint "+w.url+" --yes "+w.name) || w.status(t, w.old) != "Inactive" {
		t.Fatalf("rotate without --yes: %d\n%s%s", code, stdout, stderr)
	}
	if out, code := w.run(t, "rotate", "--yes", "--endpoint", w.url, w.name); code != 0 || !strings.Contains(out, "rollback window") {
		t.Fatalf("rotate --yes: %d %s", code, out)
	}
}

// Issue 6 item 11: retire without SECRET used to act on every managed
// secret; now that needs --all.
func TestCLIRetireNeedsAll(t *testing.T) {
	w := newEmuWorld(t)
	w.serviceSecret(t, "svc/a", map[string]string{"dualkey:drain": "0s"})
	w.serviceSecret(t, "svc/b", map[string]string{"dualkey:drain": "0s"})
	before := fmt.Sprint(w.labels(t, "svc/a"), w.labels(t, "svc/b"))
	out, code := w.run(t, "retire", "--endpoint", w.url)
	if code != exitUsage || !strings.Contains(out, "--all") || fmt.Sprint(w.labels(t, "svc/a"), w.labels(t, "svc/b")) != before {
		t.Fatalf("retire with neither SECRET nor --all: %d %s", code, out)
	}
	out, code = w.run(t, "retire", "--all", "--endpoint", w.url)
	if code != 0 || strings.Count(out, "deactivate") < 2 || rotation.Holder(w.labels(t, "svc/a"), rotation.StageDeactivated) == "" ||
		rotation.Holder(w.labels(t, "svc/b"), rotation.StageDeactivated) == "" {
		t.Fatalf("retire --all: %d %s", code, out)
	}
}

// Issue 6 item 12: help on stdout with exit 0; usage lines show the
// positional arguments.
func TestCLIHelp(t *testing.T) {
	w := &cliWorld{}
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"-h"}, []string{"usage: dualkey COMMAND", "cancel", "exit codes:", "3  refused"}},
		{[]string{"--help"}, []string{"usage: dualkey COMMAND"}},
		{[]string{"help"}, []string{"usage: dualkey COMMAND"}},
		{[]string{"help", "rotate"}, []string{"usage: dualkey rotate [flags] SECRET", "--emergency", "--yes", "--endpoint URL", "exit codes:"}},
		{[]string{"rotate", "-h"}, []string{"usage: dualkey rotate [flags] SECRET", "--lambda-arn ARN"}},
		{[]string{"status", "--help"}, []string{"usage: dualkey status [flags] SECRET"}},
		{[]string{"retire", "svc/key", "-h"}, []string{"usage: dualkey retire [flags] (SECRET | --all)", "--all", "--dry-run"}},
		{[]string{"help", "cancel"}, []string{"usage: dualkey cancel [flags] SECRET", "--dry-run"}},
		{[]string{"help", "rollback"}, []string{"--reactivate-leaked-credential", "--restore-current"}},
		{[]string{"help", "emulator"}, []string{"usage: dualkey emulator [flags]", "--addr"}},
	}
	for _, c := range cases {
		stdout, stderr, code := w.run2(t, c.args...)
		if code != 0 || stderr != "" {
			t.Errorf("dualkey %v: exit %d, stderr %q", c.args, code, stderr)
		}
		for _, want := range c.want {
			if !strings.Contains(stdout, want) {
				t.Errorf("dualkey %v: stdout lacks %q:\n%s", c.args, want, stdout)
			}
		}
	}
}

func TestCLIBadInput(t *testing.T) {
	w := newEmuWorld(t)
	w.name = "svc/new"
	w.createSecret(t, w.name, `{"api_key":"cli-initial-service-key-0123456789abcdef"}`, "servicekey", nil)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "missing COMMAND"},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"status", "--endpoint", w.url}, exitUsage, "missing SECRET"},
		{[]string{"status", "--endpoint", w.url, "a", "b"}, exitUsage, "one SECRET only, got 2: a b"},
		{[]string{"status", "--endpoint", w.url, "no/such/secret"}, exitFailed, "ResourceNotFoundException"},
		{[]string{"status", "--endpoint", w.url, "no/such/secret"}, exitFailed, "aws secretsmanager list-secrets"},
		{[]string{"rollback", "--endpoint", w.url, w.name}, exitRefused, "nothing to roll back"},
		{[]string{"rollback", w.name, "--endpoint", w.url}, exitRefused, "dualkey rotate --endpoint " + w.url + " " + w.name},
		{[]string{"retire", "--endpoint", w.url, "--bogus", w.name}, exitUsage, "flag provided but not defined: -bogus"},
		{[]string{"retire", "--endpoint", w.url, "--all", w.name}, exitUsage, "not both"},
		{[]string{"retire", "--endpoint", w.url, "--all", "--resume"}, exitUsage, "--resume"},
		{[]string{"cancel", "--endpoint", w.url}, exitUsage, "usage: dualkey cancel [flags] SECRET"},
		{[]string{"cancel", "--endpoint", w.url, w.name}, exitRefused, "nothing to cancel"},
		{[]string{"demo", "extra"}, exitUsage, "takes no arguments"},
		{[]string{"emulator", "--lambda", "no-equals-sign"}, exitFailed, "NAME_OR_ARN=INVOKE_URL"},
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
