package dualkey_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/iamemu"
	"github.com/dualkey/dualkey/internal/lambdarie"
	"github.com/dualkey/dualkey/shared/rotation"
)

// TestMakeInvokeEveryEvent runs `make invoke` for every sample event in
// events/ against a running emulator, as docs/deploy.md tells a user to:
// the rotation steps of servicekey and iamkey, in order, on secrets whose
// rotation stopped after RotateSecret made the AWSPENDING placeholder with
// the events' token, end with that version AWSCURRENT; the retire and
// rollback events succeed. Every run prints the function's log and result.
// Events of providers this test cannot set up (their vendor's fake or mock
// is not started here) must still reach their bootstrap and print its
// result: a failure the function reports, not one of make invoke.
func TestMakeInvokeEveryEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every function")
	}
	t.Parallel()
	needTool(t, "curl", "Debian's curl package: apt-get install curl")
	rie, err := lambdarie.FindRIE()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	emu, err := awsemu.NewFull(awsemu.Config{Lambdas: map[string]string{
		// Nothing listens there: RotateSecret leaves its placeholder and
		// the steps are delivered by make invoke.
		"dualkey-unreachable": "http://127.0.0.1:1" + lambdarie.InvokePath,
	}}, iamemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	cfg := awsemu.ClientConfig(url)
	sm, iamc := secretsmanager.NewFromConfig(cfg), iam.NewFromConfig(cfg)
	build := t.TempDir()

	makeInvoke := func(fn, event, secret string) (string, error) {
		var s string
		var err error
		// A free port can be taken by another process before the RIE
		// binds it (this machine runs many tests at once): try new ports.
		for range 3 {
			port, err1 := lambdarie.FreePort()
			apiPort, err2 := lambdarie.FreePort()
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			args := []string{"-s", "invoke", "FN=" + fn, "EVENT=" + event, "EMULATOR=" + url,
				"INVOKE_PORT=" + strconv.Itoa(port), "INVOKE_API_PORT=" + strconv.Itoa(apiPort), "BUILD=" + build, "RIE=" + rie}
			if secret != "" {
				args = append(args, "SECRET="+secret)
			}
			var out []byte
			out, err = exec.Command("make", args...).CombinedOutput()
			s = string(out)
			if strings.Contains(s, "address already in use") {
				continue
			}
			if !strings.Contains(s, "--- log of functions/"+fn+" ---") || !strings.Contains(s, "--- result ---") {
				t.Fatalf("make %s did not print the function's log and result (%v):\n%s", strings.Join(args, " "), err, s)
			}
			return s, err
		}
		t.Fatalf("make invoke FN=%s: the RIE found its ports taken three times:\n%s", fn, s)
		return s, err
	}
	token := func(event string) string {
		b, err := os.ReadFile(event)
		if err != nil {
			t.Fatal(err)
		}
		var ev struct{ ClientRequestToken string }
		if err := json.Unmarshal(b, &ev); err != nil || ev.ClientRequestToken == "" {
			t.Fatalf("%s: no ClientRequestToken (%v)", event, err)
		}
		return ev.ClientRequestToken
	}
	// placeholder makes secret name with value and tags, and starts a
	// rotation with the events' token that stops after the placeholder.
	placeholder := func(name, value, provider string) string {
		out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value), Tags: []types.Tag{
			{Key: aws.String(rotation.TagManaged), Value: aws.String("true")},
			{Key: aws.String(rotation.TagProvider), Value: aws.String(provider)},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: out.ARN,
			ClientRequestToken: aws.String(token(filepath.Join("events", provider+"-createSecret.json"))),
			RotationLambdaARN:  aws.String("arn:aws:lambda:us-east-1:" + awsemu.DefaultAccountID + ":function:dualkey-unreachable")}); err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.ARN)
	}
	// The secrets the full rotations run on, one per provider set up here.
	secrets := map[string]string{
		"servicekey": placeholder("demo/service-key", `{"api_key":"make-invoke-initial-key-0123456789abcdef"}`, "servicekey"),
	}
	if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("ci-deployer"),
		Tags: []iamtypes.Tag{{Key: aws.String(rotation.TagManaged), Value: aws.String("true")}}}); err != nil {
		t.Fatal(err)
	}
	k, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("ci-deployer")})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := json.Marshal(map[string]string{"user_name": "ci-deployer", "access_key_id": aws.ToString(k.AccessKey.AccessKeyId),
		"secret_access_key": aws.ToString(k.AccessKey.SecretAccessKey)})
	secrets["iamkey"] = placeholder("ci/deployer-key", string(v), "iamkey")

	events, err := filepath.Glob("events/*.json")
	if err != nil {
		t.Fatal(err)
	}
	ran := map[string]bool{}
	for _, provider := range []string{"servicekey", "iamkey"} {
		for _, step := range []string{rotation.StepCreate, rotation.StepSet, rotation.StepTest, rotation.StepFinish} {
			event := filepath.Join("events", provider+"-"+step+".json")
			ran[event] = true
			if out, err := makeInvoke(provider, event, secrets[provider]); err != nil || !strings.HasSuffix(strings.TrimSpace(out), "--- result ---\nnull") {
				t.Fatalf("make invoke FN=%s EVENT=%s: %v\n%s", provider, event, err, out)
			}
		}
		d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secrets[provider])})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := rotation.Holder(d.VersionIdsToStages, rotation.StageCurrent), token(filepath.Join("events", provider+"-createSecret.json")); got != want {
			t.Fatalf("%s: after the four steps AWSCURRENT is on %s, want the events' token %s", provider, got, want)
		}
	}
	for _, ev := range []struct{ fn, event string }{
		{"retire", "events/retire-schedule.json"},
		{"rollback", "events/rollback-alarm.json"},
		{"rollback", "events/rollback-unrelated-alarm.json"},
	} {
		ran[ev.event] = true
		if out, err := makeInvoke(ev.fn, ev.event, ""); err != nil || !strings.HasSuffix(strings.TrimSpace(out), "--- result ---\nnull") {
			t.Fatalf("make invoke FN=%s EVENT=%s: %v\n%s", ev.fn, ev.event, err, out)
		}
	}
	ran["events/env.json"] = true
	for _, event := range events {
		if ran[event] {
			continue
		}
		fn, _, ok := strings.Cut(strings.TrimSuffix(filepath.Base(event), ".json"), "-")
		if _, err := os.Stat(filepath.Join("functions", fn, "main.go")); !ok || err != nil {
			t.Errorf("%s: no function functions/%s for it: name events <function>-<what>.json", event, fn)
			continue
		}
		// No vendor here: the function must run and report its own failure.
		out, err := makeInvoke(fn, event, "")
		if err == nil || !strings.Contains(out, `"errorMessage"`) {
			t.Errorf("make invoke FN=%s EVENT=%s without its vendor: %v, want the function's error as the result\n%s", fn, event, err, out)
		}
	}
}
