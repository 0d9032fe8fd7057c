package dualkey_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/iamemu"
	"github.com/dualkey/dualkey/emulator/stripefake"
	"github.com/dualkey/dualkey/internal/lambdarie"
	"github.com/dualkey/dualkey/shared/rotation"
)

// invokeWorld is what invokeRotations' setups may use: the operator's
// clients of the emulator and the vendors, on loopback.
type invokeWorld struct {
	t         *testing.T
	ctx       context.Context
	sm        *secretsmanager.Client
	iam       *iam.Client
	stripe    *stripefake.Server
	stripeURL string
	vendor    *stagedVendor
}

// invokeRotation is a provider whose four sample events
// (events/<provider>-<step>.json) TestMakeInvokeEveryEvent runs as a whole
// rotation with make invoke, on a secret named as in the events. setup
// returns the secret's first value and the VARS its function needs; stage,
// when set, runs once the secret exists, before the rotation starts.
type invokeRotation struct {
	provider, name string
	setup          func(w *invokeWorld) (value, vars string)
	stage          func(w *invokeWorld, arn string)
}

// invokeRotations are the providers whose sample events complete a
// rotation against the emulator and a vendor fake. To add a provider: its
// secret's value, the VARS pointing its function at the vendor's fake, and
// (for operator-staged providers) the staging.
var invokeRotations = []invokeRotation{
	{provider: "servicekey", name: "demo/service-key", setup: func(*invokeWorld) (string, string) {
		return `{"api_key":"make-invoke-initial-key-0123456789abcdef"}`, ""
	}},
	{provider: "iamkey", name: "ci/deployer-key", setup: func(w *invokeWorld) (string, string) {
		if _, err := w.iam.CreateUser(w.ctx, &iam.CreateUserInput{UserName: aws.String("ci-deployer"),
			Tags: []iamtypes.Tag{{Key: aws.String(rotation.TagManaged), Value: aws.String("true")}}}); err != nil {
			w.t.Fatal(err)
		}
		k, err := w.iam.CreateAccessKey(w.ctx, &iam.CreateAccessKeyInput{UserName: aws.String("ci-deployer")})
		if err != nil {
			w.t.Fatal(err)
		}
		v, _ := json.Marshal(map[string]string{"user_name": "ci-deployer", "access_key_id": aws.ToString(k.AccessKey.AccessKeyId),
			"secret_access_key": aws.ToString(k.AccessKey.SecretAccessKey)})
		return string(v), ""
	}},
	{provider: "stripe", name: "payments/stripe-key", setup: func(w *invokeWorld) (string, string) {
		acct, err := w.stripe.CreateAccount(stripefake.AccountOptions{BusinessName: "make invoke"})
		if err != nil {
			w.t.Fatal(err)
		}
		key, err := w.stripe.CreateKey(acct.ID, stripefake.KeySpec{})
		if err != nil {
			w.t.Fatal(err)
		}
		v, _ := json.Marshal(map[string]string{"api_key": key.Secret})
		return string(v), "DUALKEY_STRIPE_API_URL=" + w.stripeURL
	}, stage: func(w *invokeWorld, arn string) {
		// The operator rolls the key in the Dashboard (the old one expiring
		// in 24 hours) and stages the new one: dualkey stage --old-key-expires-in 24h.
		cur, err := w.sm.GetSecretValue(w.ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
		if err != nil {
			w.t.Fatal(err)
		}
		var v struct {
			Key string `json:"api_key"`
		}
		_ = json.Unmarshal([]byte(aws.ToString(cur.SecretString)), &v)
		expires := time.Now().Add(24 * time.Hour)
		rolled, err := w.stripe.RollKey(v.Key, expires)
		if err != nil {
			w.t.Fatal(err)
		}
		stage(w.ctx, w.t, w.sm, arn, map[string]any{"api_key": rolled.Secret, "previous_key_expires_at": rfc3339(expires)})
	}},
	{provider: "stripewebhook", name: "orders/stripe-webhook", setup: func(w *invokeWorld) (string, string) {
		acct, err := w.stripe.CreateAccount(stripefake.AccountOptions{BusinessName: "make invoke webhooks"})
		if err != nil {
			w.t.Fatal(err)
		}
		admin, err := w.stripe.CreateKey(acct.ID, stripefake.KeySpec{Kind: stripefake.KindRestricted, Permissions: []string{stripefake.PermWebhookWrite}})
		if err != nil {
			w.t.Fatal(err)
		}
		out, err := w.sm.CreateSecret(w.ctx, &secretsmanager.CreateSecretInput{Name: aws.String("orders/stripe-webhook-admin"),
			SecretString: aws.String(`{"api_key":"` + admin.Secret + `"}`)})
		if err != nil {
			w.t.Fatal(err)
		}
		id, secret := createWebhookEndpoint(w.t, w.stripeURL, admin.Secret, "https://orders.example.com/stripe/webhook")
		v, _ := json.Marshal(map[string]string{"endpoint_id": id, "webhook_secret": secret, "master_secret_arn": aws.ToString(out.ARN)})
		return string(v), "DUALKEY_STRIPE_API_URL=" + w.stripeURL
	}},
	{provider: "staged", name: "payments/braintree-key", setup: func(w *invokeWorld) (string, string) {
		return w.vendor.secretValue(w.vendor.issue("m_invoke")), ""
	}, stage: func(w *invokeWorld, arn string) {
		stage(w.ctx, w.t, w.sm, arn, map[string]any{"api_key": w.vendor.issue("m_invoke")})
	}},
}

// TestMakeInvokeEveryEvent runs `make invoke` for every sample event in
// events/ against a running emulator, as docs/deploy.md tells a user to:
// for each provider of invokeRotations, the four rotation steps, in order,
// on a secret whose rotation stopped after RotateSecret made the
// AWSPENDING placeholder with the events' token, end with that version
// AWSCURRENT (against the Stripe fake and a staged vendor where the
// provider needs one); then the retire and rollback events succeed. Every
// run prints the function's log and result. Events of providers this test
// does not set up must still reach their bootstrap and print its result:
// a failure the function reports, not one of make invoke. Functions run
// side by side (one make invoke at a time per function).
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
	w := &invokeWorld{t: t, ctx: ctx, sm: secretsmanager.NewFromConfig(cfg), iam: iam.NewFromConfig(cfg), vendor: newStagedVendor(t)}
	w.stripe, w.stripeURL = startStripeFake(t)
	build := t.TempDir()

	makeInvoke := func(fn, event, secret, vars string) (string, error) {
		var s string
		// A free port can be taken by another process before the RIE
		// binds it (this machine runs many tests at once): try new ports.
		for range 3 {
			port, err1 := lambdarie.FreePort()
			apiPort, err2 := lambdarie.FreePort()
			if err1 != nil || err2 != nil {
				return "", fmt.Errorf("free port: %v %v", err1, err2)
			}
			args := []string{"-s", "invoke", "FN=" + fn, "EVENT=" + event, "EMULATOR=" + url,
				"INVOKE_PORT=" + strconv.Itoa(port), "INVOKE_API_PORT=" + strconv.Itoa(apiPort), "BUILD=" + build, "RIE=" + rie}
			if secret != "" {
				args = append(args, "SECRET="+secret)
			}
			if vars != "" {
				args = append(args, "VARS="+vars)
			}
			out, err := exec.Command("make", args...).CombinedOutput()
			s = string(out)
			if strings.Contains(s, "address already in use") {
				continue
			}
			if !strings.Contains(s, "--- log of functions/"+fn+" ---") || !strings.Contains(s, "--- result ---") {
				return s, fmt.Errorf("make %s did not print the function's log and result (%v)", strings.Join(args, " "), err)
			}
			return s, err
		}
		return s, fmt.Errorf("make invoke FN=%s: the RIE found its ports taken three times", fn)
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
	// jobs run side by side, one goroutine per function: a job reports
	// with t.Errorf and stops its function's later jobs.
	type job func() error
	byFn := map[string][]job{}
	var fnOrder []string
	add := func(fn string, j job) {
		if _, ok := byFn[fn]; !ok {
			fnOrder = append(fnOrder, fn)
		}
		byFn[fn] = append(byFn[fn], j)
	}
	runJobs := func() {
		var wg sync.WaitGroup
		for _, fn := range fnOrder {
			jobs := byFn[fn]
			wg.Go(func() {
				for _, j := range jobs {
					if err := j(); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		byFn, fnOrder = map[string][]job{}, nil
	}

	ran := map[string]bool{"events/env.json": true}
	for _, r := range invokeRotations {
		first := filepath.Join("events", r.provider+"-"+rotation.StepCreate+".json")
		value, vars := r.setup(w)
		out, err := w.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(r.name), SecretString: aws.String(value), Tags: []types.Tag{
			{Key: aws.String(rotation.TagManaged), Value: aws.String("true")},
			{Key: aws.String(rotation.TagProvider), Value: aws.String(r.provider)},
		}})
		if err != nil {
			t.Fatal(err)
		}
		arn := aws.ToString(out.ARN)
		if r.stage != nil {
			r.stage(w, arn)
		}
		if _, err := w.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(arn),
			ClientRequestToken: aws.String(token(first)),
			RotationLambdaARN:  aws.String("arn:aws:lambda:us-east-1:" + awsemu.DefaultAccountID + ":function:dualkey-unreachable")}); err != nil {
			t.Fatal(err)
		}
		for _, step := range []string{rotation.StepCreate, rotation.StepSet, rotation.StepTest, rotation.StepFinish} {
			event := filepath.Join("events", r.provider+"-"+step+".json")
			ran[event] = true
			add(r.provider, func() error {
				if out, err := makeInvoke(r.provider, event, arn, vars); err != nil || !strings.HasSuffix(strings.TrimSpace(out), "--- result ---\nnull") {
					return fmt.Errorf("make invoke FN=%s EVENT=%s: %v\n%s", r.provider, event, err, out)
				}
				return nil
			})
		}
		add(r.provider, func() error {
			d, err := w.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
			if err != nil {
				return err
			}
			if got, want := rotation.Holder(d.VersionIdsToStages, rotation.StageCurrent), token(first); got != want {
				return fmt.Errorf("%s: after the four steps AWSCURRENT is on %s, want the events' token %s", r.provider, got, want)
			}
			return nil
		})
	}
	events, err := filepath.Glob("events/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, event := range events {
		if ran[event] || strings.HasPrefix(filepath.Base(event), "retire-") || strings.HasPrefix(filepath.Base(event), "rollback-") {
			continue
		}
		ran[event] = true
		fn, _, ok := strings.Cut(strings.TrimSuffix(filepath.Base(event), ".json"), "-")
		if _, err := os.Stat(filepath.Join("functions", fn, "main.go")); !ok || err != nil {
			t.Errorf("%s: no function functions/%s for it: name events <function>-<what>.json", event, fn)
			continue
		}
		// No vendor here: the function must run and report its own failure.
		add(fn, func() error {
			out, err := makeInvoke(fn, event, "", "")
			if err == nil || !strings.Contains(out, `"errorMessage"`) {
				return fmt.Errorf("make invoke FN=%s EVENT=%s without its vendor: %v, want the function's error as the result\n%s", fn, event, err, out)
			}
			return nil
		})
	}
	// One go build compiling every function first: the make invokes
	// running side by side then find every package compiled and only link
	// (see buildFunctions).
	dirs, _ := filepath.Glob("functions/*")
	var fns []string
	for _, d := range dirs {
		fns = append(fns, filepath.Base(d))
	}
	if err := buildFunctions(ctx, "", fns...); err != nil {
		t.Fatal(err)
	}
	runJobs()
	if t.Failed() {
		return
	}
	// The lifecycle functions last: they walk every secret made above.
	for _, ev := range []struct{ fn, event string }{
		{"retire", "events/retire-schedule.json"},
		{"rollback", "events/rollback-alarm.json"},
		{"rollback", "events/rollback-unrelated-alarm.json"},
	} {
		ran[ev.event] = true
		add(ev.fn, func() error {
			if out, err := makeInvoke(ev.fn, ev.event, "", "DUALKEY_STRIPE_API_URL="+w.stripeURL); err != nil || !strings.HasSuffix(strings.TrimSpace(out), "--- result ---\nnull") {
				return fmt.Errorf("make invoke FN=%s EVENT=%s: %v\n%s", ev.fn, ev.event, err, out)
			}
			return nil
		})
	}
	runJobs()
	for _, event := range events {
		if !ran[event] {
			t.Errorf("%s was not run", event)
		}
	}
}
