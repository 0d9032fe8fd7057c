package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/shared/rotation"
)

const (
	stageCurrentKey = "sk_live_51CurrentKey000000000000000wxyz"
	stageNewKey     = "sk_live_51RolledKey0000000000000000abcd"
)

// stageWorld is an emulator with a Stripe key secret and a staged-provider
// secret.
type stageWorld struct {
	url string
	sm  *secretsmanager.Client
}

func newStageWorld(t *testing.T) *stageWorld {
	t.Helper()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "DUALKEY_ENDPOINT"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	emu, err := awsemu.New(awsemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	w := &stageWorld{url: url, sm: secretsmanager.NewFromConfig(awsemu.ClientConfig(url))}
	w.create(t, "pay/stripe", `{"api_key":"`+stageCurrentKey+`","account_id":"acct_1Orders"}`, "stripe")
	w.create(t, "pay/braintree", `{"public_key":"pkcurrent0000001","private_key":"skcurrent000000000000001","probe":{}}`, "staged")
	w.create(t, "svc/key", `{"api_key":"svc-key-0123456789abcdef"}`, "servicekey")
	return w
}

func (w *stageWorld) create(t *testing.T, name, value, provider string) {
	t.Helper()
	if _, err := w.sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value),
		Tags: []types.Tag{{Key: aws.String(rotation.TagManaged), Value: aws.String("true")}, {Key: aws.String(rotation.TagProvider), Value: aws.String(provider)}}}); err != nil {
		t.Fatal(err)
	}
}

func (w *stageWorld) stage(stdin string, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	err := stage(context.Background(), append([]string{"--endpoint", w.url}, args...), strings.NewReader(stdin), &out, &errOut)
	return out.String() + errOut.String(), err
}

func (w *stageWorld) incoming(t *testing.T, name string) (string, map[string]any) {
	t.Helper()
	out, err := w.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionStage: aws.String(rotation.StageIncoming)})
	if err != nil {
		return "", nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &m); err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.VersionId), m
}

// A rolled Stripe key is staged from stdin with the old key's expiry,
// merged into the current value and labelled DUALKEY_INCOMING; staging
// again moves the label; AWSCURRENT never changes; only fingerprints are
// printed.
func TestStageStripeKey(t *testing.T) {
	w := newStageWorld(t)
	before := time.Now()
	out, err := w.stage(stageNewKey+"\n", "pay/stripe", "--old-key-expires-in", "24h")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	v1, m := w.incoming(t, "pay/stripe")
	if m["api_key"] != stageNewKey || m["account_id"] != "acct_1Orders" {
		t.Fatalf("staged value: key %v, account %v", m["api_key"] == stageNewKey, m["account_id"])
	}
	exp, err := time.Parse(time.RFC3339, m["previous_key_expires_at"].(string))
	if err != nil || exp.Before(before.Add(24*time.Hour-time.Second)) || exp.After(time.Now().Add(24*time.Hour)) {
		t.Fatalf("previous_key_expires_at %v, want 24 hours from now", m["previous_key_expires_at"])
	}
	for _, want := range []string{"sk_live_…abcd", "sk_live_…wxyz", "dualkey rotate --endpoint " + w.url + " pay/stripe"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not show %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, stageNewKey) || strings.Contains(out, stageCurrentKey) {
		t.Fatalf("the output shows a key:\n%s", out)
	}
	cur, _ := w.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("pay/stripe")})
	if !strings.Contains(aws.ToString(cur.SecretString), stageCurrentKey) {
		t.Fatal("staging changed AWSCURRENT")
	}

	other := "sk_live_51RolledAgain00000000000000efgh"
	out, err = w.stage(other, "pay/stripe", "--old-key-expires-at", "2030-01-02T03:04:05Z")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	v2, m := w.incoming(t, "pay/stripe")
	if v2 == v1 || m["api_key"] != other || m["previous_key_expires_at"] != "2030-01-02T03:04:05Z" || !strings.Contains(out, "replaces: the credential staged in version "+v1) {
		t.Fatalf("restaging: version %s (was %s), expiry %v\n%s", v2, v1, m["previous_key_expires_at"], out)
	}
	d, _ := w.sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("pay/stripe")})
	if len(d.VersionIdsToStages[v1]) != 0 {
		t.Fatalf("the first staged version still has labels %v", d.VersionIdsToStages[v1])
	}
}

// A Braintree-style key pair is staged as a JSON object; an expiry is
// optional for the staged provider.
func TestStageKeyPair(t *testing.T) {
	w := newStageWorld(t)
	out, err := w.stage(`{"public_key":"pknew00000000002","private_key":"sknew0000000000000000002"}`, "pay/braintree")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	_, m := w.incoming(t, "pay/braintree")
	if m["public_key"] != "pknew00000000002" || m["private_key"] != "sknew0000000000000000002" || m["probe"] == nil || m["previous_key_expires_at"] != nil {
		t.Fatalf("staged value %v", m)
	}
	if strings.Contains(out, "sknew0000000000000000002") || !strings.Contains(out, "…0002") {
		t.Fatalf("output:\n%s", out)
	}
	// --dry-run checks and prints, and stores nothing.
	out, err = w.stage(`{"public_key":"pknew00000000003","private_key":"sknew0000000000000000003"}`, "pay/braintree", "--dry-run")
	if err != nil || !strings.Contains(out, "dry run: nothing was stored") {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, m := w.incoming(t, "pay/braintree"); m["public_key"] != "pknew00000000002" {
		t.Fatal("--dry-run stored the credential")
	}
}

// Refusals: nothing is stored, nothing secret is printed, and the error
// says what to do.
func TestStageRefusals(t *testing.T) {
	cases := []struct {
		name  string
		stdin string
		args  []string
		usage bool // a usage error (exit 2), else a refusal (exit 3)
		want  string
	}{
		{"key on the command line", "", []string{"pay/stripe", stageNewKey}, true, "on the command line"},
		{"key as a flag value", "", []string{"pay/stripe", "--field", stageNewKey}, true, "on the command line"},
		{"extra argument", stageNewKey, []string{"pay/stripe", "hunter2hunter2"}, true, "not shown"},
		{"no secret", stageNewKey, nil, true, "missing SECRET"},
		{"empty stdin", "  \n", []string{"pay/stripe", "--old-key-expires-in", "1h"}, false, "nothing on stdin"},
		{"two words", stageNewKey + " " + stageNewKey, []string{"pay/stripe", "--old-key-expires-in", "1h"}, false, "more than one word"},
		{"the current key", stageCurrentKey, []string{"pay/stripe", "--old-key-expires-in", "1h"}, false, "is the current one"},
		{"no expiry for Stripe", stageNewKey, []string{"pay/stripe"}, true, "--old-key-expires-in 24h"},
		{"both expiries", stageNewKey, []string{"pay/stripe", "--old-key-expires-in", "1h", "--old-key-expires-at", "2030-01-01T00:00:00Z"}, true, "not both"},
		{"bad expiry time", stageNewKey, []string{"pay/stripe", "--old-key-expires-at", "tomorrow"}, true, "RFC 3339"},
		{"test key for a live key", "sk_test_51RolledKey0000000000000000abcd", []string{"pay/stripe", "--old-key-expires-in", "1h"}, false, "secret test key (sk_test_) but the current key is a secret live key"},
		{"publishable key", "pk_live_51RolledKey0000000000000000abcd", []string{"pay/stripe", "--old-key-expires-in", "1h"}, false, "publishable key"},
		{"Stripe key in another field", stageNewKey, []string{"pay/stripe", "--field", "secret_key", "--old-key-expires-in", "1h"}, false, "api_key"},
		{"not a staged provider", "svc-key-new-0123456789abcdef", []string{"svc/key"}, false, "dualkey:provider=\"servicekey\""},
		{"bad JSON on stdin", `{"public_key": 42}`, []string{"pay/braintree"}, false, "not a non-empty string"},
		{"probe on stdin", `{"probe":"https://evil.example"}`, []string{"pay/braintree"}, false, "not a credential field"},
		{"unknown secret", stageNewKey, []string{"pay/nope", "--old-key-expires-in", "1h"}, false, "ResourceNotFoundException"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newStageWorld(t)
			out, err := w.stage(c.stdin, c.args...)
			var ue usageError
			if err == nil || errors.As(err, &ue) != c.usage || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v (usage error %v), want %v saying %q\n%s", err, errors.As(err, &ue), c.usage, c.want, out)
			}
			if !c.usage && !errors.Is(err, errStageRefused) && c.name != "unknown secret" {
				t.Errorf("%v is not errStageRefused", err)
			}
			for _, s := range []string{stageNewKey, stageCurrentKey, "hunter2hunter2", "sk_test_51RolledKey", "pk_live_51RolledKey"} {
				if strings.Contains(err.Error()+out, s) {
					t.Fatalf("the error or output shows a credential: %v\n%s", err, out)
				}
			}
			for _, name := range []string{"pay/stripe", "pay/braintree", "svc/key"} {
				if v, _ := w.incoming(t, name); v != "" {
					t.Fatalf("%s got a staged version", name)
				}
			}
		})
	}
}
