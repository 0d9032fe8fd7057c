package twilio_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/emulator/twiliofake"
	"github.com/dualkey/dualkey/shared/fingerprint"
	"github.com/dualkey/dualkey/shared/providers/twilio"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
	"github.com/dualkey/dualkey/shared/usagelogs"
	"github.com/dualkey/dualkey/shared/vendorkey/vendorkeytest"
)

// world is a bed with its secret.
type world struct {
	*bed
	vendorkeytest.World
}

func newWorld(t *testing.T, o opts) *world {
	t.Helper()
	var b *bed
	env := rotationtest.NewEnv(t, subject(o, &b))
	return &world{bed: b, World: vendorkeytest.World{T: t, Env: env, ARN: env.CreateSecret(context.Background()), Whose: "the account's", Keys: b.keyNames}}
}

// TestThroughPrism sends every kind of request the provider makes through
// Prism in proxy mode, in front of the fake, with Twilio's OpenAPI
// documents: rotations of a Standard key (auth token as admin) and a
// restricted key (Main key as admin), the Main-key check, testSecret's
// calls, the lifecycle's Delete and Credentials, Discard, an emergency
// rotation that deletes the older previous key, a crashed attempt's key
// deleted as an orphan, and the error answers (401 admin, 404, 429). A
// request or response that breaks the documents fails the call.
func TestThroughPrism(t *testing.T) {
	for _, o := range []opts{{prism: true}, {prism: true, restricted: true, admin: "main"}} {
		t.Run(fmt.Sprintf("restricted=%v", o.restricted), func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t, o)
			old := w.first.Sid
			w.env.MustRotate(ctx, w.ARN)
			cur := w.current(ctx, w.ARN)
			p := w.provider(nil)

			// Audit: the current and previous keys, not the foreign one.
			creds, err := p.Credentials(ctx, &rotation.CredentialRequest{SecretID: w.ARN, Version: w.Version(ctx, rotation.StageCurrent), Versions: w.Reader(ctx)})
			if err != nil {
				t.Fatal(err)
			}
			var fps []string
			for _, c := range creds {
				fps = append(fps, c.Fingerprint)
			}
			slices.Sort(fps)
			want := []string{old, cur.APIKeySID}
			slices.Sort(want)
			if !slices.Equal(fps, want) {
				t.Fatalf("Credentials = %v, want %v", fps, want)
			}

			// Emergency rotation while the previous key still exists: it is
			// deleted and its version recorded as deleted.
			w.env.Tag(ctx, w.ARN, map[string]string{rotation.TagEmergency: "true"})
			w.env.MustRotate(ctx, w.ARN)
			if _, ok := w.keyNames()[old]; ok {
				t.Fatalf("the emergency rotation left the older previous key %s", old)
			}
			if tags := w.env.Tags(ctx, w.ARN); tags[rotation.TagState] != rotation.StateDeleted {
				t.Fatalf("state tags after the emergency rotation: %v", tags)
			}
			w.env.Untag(ctx, w.ARN, rotation.TagEmergency)

			// The lifecycle's delete of the previous key.
			if err := p.Delete(ctx, &rotation.CredentialRequest{SecretID: w.ARN, Version: w.Version(ctx, rotation.StagePrevious), Versions: w.Reader(ctx)}); err != nil {
				t.Fatal(err)
			}
			if _, ok := w.keyNames()[cur.APIKeySID]; ok {
				t.Fatal("Delete left the key")
			}
			w.retirePrevious(ctx, w.ARN)

			// A crashed attempt's key (marked with the token, older than
			// OrphanAge) is deleted by the retry; Discard deletes the key a
			// duplicate delivery could not store.
			token := w.env.Hold(ctx, w.ARN)
			orphan, err := w.fake.CreateKey(w.acct.Sid, twiliofake.KindStandard, twilio.Marker(w.ARN, token), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.env.Retry(ctx, w.ARN, token, rotation.StepCreate); err != nil {
				t.Fatal(err)
			}
			if _, ok := w.keyNames()[orphan.Sid]; ok {
				t.Fatal("the crashed attempt's key was not deleted")
			}
			stray, err := w.fake.CreateKey(w.acct.Sid, twiliofake.KindStandard, twilio.Marker(w.ARN, "other"), nil)
			if err != nil {
				t.Fatal(err)
			}
			strayValue := w.value(stray)
			if err := p.Discard(ctx, &rotation.DiscardRequest{SecretID: w.ARN, Token: "other", Value: strayValue, Versions: w.Reader(ctx), Destroy: true}); err != nil {
				t.Fatal(err)
			}
			if _, ok := w.keyNames()[stray.Sid]; ok {
				t.Fatal("Discard with Destroy left the key")
			}

			// Error answers through Prism: 429 retried, 404, 401 on the admin.
			if err := w.fake.ThrottleNext(w.acct.Sid, 1, time.Second); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Credentials(ctx, &rotation.CredentialRequest{SecretID: w.ARN, Version: w.Version(ctx, rotation.StageCurrent), Versions: w.Reader(ctx)}); err != nil {
				t.Fatalf("a 429 was not retried: %v", err)
			}
			gone := w.Version(ctx, rotation.StagePrevious)
			if err := p.Delete(ctx, &rotation.CredentialRequest{SecretID: w.ARN, Version: gone, Versions: w.Reader(ctx)}); err != nil {
				t.Fatal(err)
			}
			if err := p.Delete(ctx, &rotation.CredentialRequest{SecretID: w.ARN, Version: gone, Versions: w.Reader(ctx)}); err != nil {
				t.Fatalf("deleting a key that is gone (404): %v", err)
			}
			if w.adminKey != nil {
				if err := w.fake.DeleteKey(w.acct.Sid, w.adminKey.Sid); err != nil {
					t.Fatal(err)
				}
				_, err := p.Credentials(ctx, &rotation.CredentialRequest{SecretID: w.ARN, Version: w.Version(ctx, rotation.StageCurrent), Versions: w.Reader(ctx)})
				if !errors.Is(err, twilio.ErrAdminRefused) {
					t.Fatalf("a deleted admin key: %v", err)
				}
				vendorkeytest.WantIn(t, err, w.adminARN, "master_secret_arn", "Main API key")
			}
		})
	}
}

// TestStandardAdminKeyIsRefused: a Standard key cannot manage keys; the
// rotation fails at createSecret with an error naming the admin secret
// and what it must hold, and nothing is created.
func TestStandardAdminKeyIsRefused(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{admin: "standard"})
	keys, current := w.keyNames(), w.env.Value(ctx, w.ARN, rotation.StageCurrent)
	_, err := w.FailedRotation(ctx)
	vendorkeytest.WantIn(t, err, w.adminARN, "master_secret_arn", "401", "Main API key", "Standard and restricted keys cannot manage keys")
	w.noSecrets("the error", err.Error())
	w.Unchanged(ctx, "a refused admin key", keys, current)
}

// TestAdminOfAnotherAccount: an admin secret for another account is a
// setting error naming the field; nothing is created.
func TestAdminOfAnotherAccount(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{})
	other := w.fake.CreateAccount("someone else")
	raw, _ := json.Marshal(map[string]string{"account_sid": other.Sid, "auth_token": other.AuthToken})
	if _, err := w.env.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(w.adminARN), SecretString: aws.String(string(raw))}); err != nil {
		t.Fatal(err)
	}
	w.Refused(ctx, "an admin of another account", "master_secret_arn", other.Sid, w.acct.Sid)
}

// TestRestrictedKeyKeepsItsPolicy: the new key is restricted with exactly
// the old key's policy, and a Standard key stays Standard.
func TestRestrictedKeyKeepsItsPolicy(t *testing.T) {
	for _, restricted := range []bool{true, false} {
		t.Run(fmt.Sprintf("restricted=%v", restricted), func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t, opts{restricted: restricted})
			w.env.MustRotate(ctx, w.ARN)
			cur := w.current(ctx, w.ARN)
			keys, err := w.fake.Keys(w.acct.Sid)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				if k.Sid != cur.APIKeySID {
					continue
				}
				if restricted && (k.Kind != twiliofake.KindRestricted || fmt.Sprint(k.Policy.Allow) != fmt.Sprint(policy.Allow)) {
					t.Fatalf("new key is %s with %v, want restricted with %v", k.Kind, k.Policy, policy.Allow)
				}
				if !restricted && (k.Kind != twiliofake.KindStandard || k.Policy != nil) {
					t.Fatalf("new key is %s, want standard", k.Kind)
				}
				if k.FriendlyName != twilio.Marker(w.ARN, vendorkeytest.Holder(w.env.Labels(ctx, w.ARN), rotation.StageCurrent)) {
					t.Fatalf("friendly name %q is not dualkey's marker", k.FriendlyName)
				}
				return
			}
			t.Fatal("the new key is not in the account")
		})
	}
}

// TestMainKeyIsNotRotated: a secret holding a Main key is refused (Twilio
// makes Main keys only in the Console; a Standard key would take rights
// away); nothing is created.
func TestMainKeyIsNotRotated(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{})
	main, err := w.fake.CreateMainKey(w.acct.Sid, "orders main")
	if err != nil {
		t.Fatal(err)
	}
	w.foreign = append(w.foreign, w.first.Sid)
	if _, err := w.env.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(w.ARN), SecretString: aws.String(w.value(main))}); err != nil {
		t.Fatal(err)
	}
	w.Refused(ctx, "a Main key", main.Sid, "Main API key", "Console")
}

// TestPreviousKeyMustBeRetiredFirst: a rotation while AWSPREVIOUS's key
// still exists is refused with the command that finishes the retirement,
// and changes nothing; once retired, the rotation goes through.
func TestPreviousKeyMustBeRetiredFirst(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{})
	w.env.MustRotate(ctx, w.ARN)
	token := w.Refused(ctx, "a rotation before the retirement", w.first.Sid, "AWSPREVIOUS", "dualkey retire", "nothing was changed")
	w.retirePrevious(ctx, w.ARN)
	if err := w.env.Retry(ctx, w.ARN, token, rotation.StepCreate); err != nil {
		t.Fatal(err)
	}
}

// TestCurrentKeyGone: a current key that does not exist is refused, also
// in an emergency (its policy cannot be read).
func TestCurrentKeyGone(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{restricted: true})
	if err := w.fake.DeleteKey(w.acct.Sid, w.first.Sid); err != nil {
		t.Fatal(err)
	}
	w.env.Tag(ctx, w.ARN, map[string]string{rotation.TagEmergency: "true"})
	w.Refused(ctx, "a missing current key", w.first.Sid, "is not a key of account", "Console")
}

// TestOrphansOfThisRotation: a key marked with this rotation's token that
// no version references is left alone while younger than OrphanAge (a
// concurrent delivery may store it: ErrConcurrentDelivery, nothing
// changed) and deleted once older; keys marked for another rotation or
// another secret, and unmarked keys, are never touched.
func TestOrphansOfThisRotation(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{})
	token := w.env.Hold(ctx, w.ARN)
	young, err := w.fake.CreateKey(w.acct.Sid, twiliofake.KindStandard, twilio.Marker(w.ARN, token), nil)
	if err != nil {
		t.Fatal(err)
	}
	otherRotation, _ := w.fake.CreateKey(w.acct.Sid, twiliofake.KindStandard, twilio.Marker(w.ARN, "3f6b2a8e-5c1d-4e7a-9b0f-2d8c4e6a1b35"), nil)
	otherSecret, _ := w.fake.CreateKey(w.acct.Sid, twiliofake.KindStandard, twilio.Marker(w.ARN+"x", token), nil)
	w.foreign = append(w.foreign, otherRotation.Sid, otherSecret.Sid)
	keys, current := w.keyNames(), w.env.Value(ctx, w.ARN, rotation.StageCurrent)
	err = w.env.Step(ctx, w.ARN, token, rotation.StepCreate)
	if !errors.Is(err, rotation.ErrConcurrentDelivery) {
		t.Fatalf("a young key of this rotation: %v, want ErrConcurrentDelivery", err)
	}
	vendorkeytest.WantIn(t, err, young.Sid, "retry after")
	w.Unchanged(ctx, "a young orphan", keys, current)

	w.env.Clock.Advance(rotation.OrphanAge + time.Second)
	if err := w.env.Retry(ctx, w.ARN, token, rotation.StepCreate); err != nil {
		t.Fatal(err)
	}
	names := w.keyNames()
	if _, ok := names[young.Sid]; ok {
		t.Fatal("the old orphan was not deleted")
	}
	for _, sid := range []string{otherRotation.Sid, otherSecret.Sid, w.foreign[0]} {
		if _, ok := names[sid]; !ok {
			t.Fatalf("key %s, not this rotation's, was deleted", sid)
		}
	}
	if !strings.Contains(w.logs.String(), young.Sid) {
		t.Fatal("the provider did not log the orphan it deleted")
	}
}

// TestRateLimit: a 429 is retried after its Retry-After (the provider's
// clock moves, nothing sleeps) and the rotation succeeds; a Retry-After
// beyond the step's deadline is a clear error.
func TestRateLimit(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{})
	before := w.env.Clock.Now()
	if err := w.fake.ThrottleNext(w.acct.Sid, 2, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	w.env.MustRotate(ctx, w.ARN)
	if waited := w.env.Clock.Now().Sub(before); waited < 6*time.Second {
		t.Fatalf("waited %s for two 429s with Retry-After 3s", waited)
	}
	w.retirePrevious(ctx, w.ARN)

	if err := w.fake.ThrottleNext(w.acct.Sid, 20, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithDeadline(ctx, w.env.Clock.Now().Add(10*time.Second))
	defer cancel()
	_, err := w.provider(nil).Create(dctx, &rotation.CreateRequest{SecretID: w.ARN, Token: "4f6b2a8e-5c1d-4e7a-9b0f-2d8c4e6a1b35",
		Current: w.Version(ctx, rotation.StageCurrent), Versions: w.Reader(ctx)})
	if !errors.Is(err, twilio.ErrRateLimited) {
		t.Fatalf("a Retry-After beyond the deadline: %v", err)
	}
	vendorkeytest.WantIn(t, err, "429", "20429", "retries the step later")
}

// TestDiscard: Destroy deletes the key (not when a stored version names
// it); without Destroy the key is left (it may have been stored).
func TestDiscard(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{})
	p := w.provider(nil)
	k, err := w.fake.CreateKey(w.acct.Sid, twiliofake.KindStandard, twilio.Marker(w.ARN, "t1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		value   string
		destroy bool
		gone    string // key that must be gone afterwards
		kept    string // key that must remain
	}{
		{"not destroy", w.value(k), false, "", k.Sid},
		{"stored version names it", w.value(w.first), true, "", w.first.Sid},
		{"destroy", w.value(k), true, k.Sid, ""},
		{"destroy again", w.value(k), true, k.Sid, ""},
	}
	for _, c := range cases {
		if err := p.Discard(ctx, &rotation.DiscardRequest{SecretID: w.ARN, Token: "t1", Value: c.value, Versions: w.Reader(ctx), Destroy: c.destroy}); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		names := w.keyNames()
		if _, ok := names[c.gone]; c.gone != "" && ok {
			t.Fatalf("%s: key %s is still there", c.name, c.gone)
		}
		if _, ok := names[c.kept]; c.kept != "" && !ok {
			t.Fatalf("%s: key %s was deleted", c.name, c.kept)
		}
	}
}

// TestDeleteRefusesLiveVersions: Delete never deletes the key of
// AWSCURRENT or AWSPENDING.
func TestDeleteRefusesLiveVersions(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{})
	err := w.provider(nil).Delete(ctx, &rotation.CredentialRequest{SecretID: w.ARN, Version: w.Version(ctx, rotation.StageCurrent), Versions: w.Reader(ctx)})
	vendorkeytest.WantIn(t, err, "refusing to delete", w.first.Sid, "AWSCURRENT")
	if _, ok := w.keyNames()[w.first.Sid]; !ok {
		t.Fatal("the current key was deleted")
	}
}

// TestBadSecretValues: a malformed secret is refused at createSecret with
// the field and the fix, and nothing is created.
func TestBadSecretValues(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(m map[string]any)
		field string
	}{
		{"no account", func(m map[string]any) { delete(m, "account_sid") }, "account_sid"},
		{"bad account", func(m map[string]any) { m["account_sid"] = "ACnothex" }, "account_sid"},
		{"no key sid", func(m map[string]any) { delete(m, "api_key_sid") }, "api_key_sid"},
		{"bad key sid", func(m map[string]any) { m["api_key_sid"] = "AK123" }, "api_key_sid"},
		{"no key secret", func(m map[string]any) { delete(m, "api_key_secret") }, "api_key_secret"},
		{"key secret with symbols", func(m map[string]any) { m["api_key_secret"] = "abc$def/ghi+jklmnop" }, "api_key_secret"},
		{"no admin", func(m map[string]any) { delete(m, "master_secret_arn") }, "master_secret_arn"},
		{"number", func(m map[string]any) { m["api_key_sid"] = 7 }, "api_key_sid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t, opts{})
			vendorkeytest.PutEdited(ctx, t, w.env, w.ARN, w.value(w.first), c.edit)
			keys, current := w.keyNames(), w.env.Value(ctx, w.ARN, rotation.StageCurrent)
			_, err := w.FailedRotation(ctx)
			vendorkeytest.WantIn(t, err, `"`+c.field+`"`)
			w.noSecrets("the error", err.Error())
			w.Unchanged(ctx, c.name, keys, current)
		})
	}
}

// TestFromEnv: settings are read and bad ones named.
func TestFromEnv(t *testing.T) {
	cases := []vendorkeytest.FromEnvCase{
		{Env: map[string]string{}, Want: ""},
		{Env: map[string]string{"DUALKEY_TWILIO_API_URL": "http://127.0.0.1:8080", "DUALKEY_TWILIO_IAM_URL": "https://iam.example.com"}, Want: ""},
		{Env: map[string]string{"DUALKEY_TWILIO_API_URL": "http://api.example.com"}, Want: "loopback"},
		{Env: map[string]string{"DUALKEY_TWILIO_IAM_URL": "https://u:p@iam.example.com/x"}, Want: "DUALKEY_TWILIO_IAM_URL"},
		{Env: map[string]string{"DUALKEY_TWILIO_TIMEOUT": "0s"}, Want: "DUALKEY_TWILIO_TIMEOUT"},
		{Env: map[string]string{"DUALKEY_TWILIO_PROPAGATION_BUDGET": "1h"}, Want: "DUALKEY_TWILIO_PROPAGATION_BUDGET"},
		{Env: map[string]string{"DUALKEY_TWILIO_TIMEOUT": "soon"}, Want: "DUALKEY_TWILIO_TIMEOUT"},
	}
	vendorkeytest.CheckFromEnv(t, twilio.FromEnv, twilio.Name, ":p@", cases)
}

// TestRetryAfter reads Retry-After in seconds and as a date.
func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		v    string
		want time.Duration
	}{
		{"", time.Second},
		{"7", 7 * time.Second},
		{"0", 0},
		{"-3", time.Second},
		{"soon", time.Second},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, c := range cases {
		h := http.Header{}
		if c.v != "" {
			h.Set("Retry-After", c.v)
		}
		if got := twilio.RetryAfter(h, now); got != c.want {
			t.Errorf("Retry-After %q = %s, want %s", c.v, got, c.want)
		}
	}
}

// TestMarker: the friendly name fits Twilio's 64 characters for every
// version id Secrets Manager allows, and names the secret and version.
func TestMarker(t *testing.T) {
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + strings.Repeat("n", 400) + "-AbCdEf"
	for _, token := range []string{"3f6b2a8e-5c1d-4e7a-9b0f-2d8c4e6a1b35", strings.Repeat("t", 64), strings.Repeat("u", 32)} {
		m := twilio.Marker(arn, token)
		if len(m) > 64 || !strings.HasPrefix(m, "dualkey ") {
			t.Errorf("Marker(%d-char token) = %q (%d chars)", len(token), m, len(m))
		}
		if twilio.Marker(arn, token) != m || twilio.Marker(arn+"x", token) == m || twilio.Marker(arn, token+"x") == m {
			t.Errorf("Marker is not a function of the secret and the token")
		}
	}
}

// TestUsageFingerprint: consumers send the key secret as the basic-auth
// password; its usage fingerprint is what shared/usagelogs searches for.
func TestUsageFingerprint(t *testing.T) {
	p := twilio.New(twilio.Config{})
	value := `{"account_sid":"AC0123456789abcdef0123456789abcdef","api_key_sid":"SK0123456789abcdef0123456789abcdef","api_key_secret":"S3cretS3cretS3cretS3cretS3cretXY"}`
	var _ usagelogs.Fingerprinter = p
	got, err := usagelogs.FingerprintOf(p, value)
	if err != nil || got != fingerprint.Of("S3cretS3cretS3cretS3cretS3cretXY") || p.UsageFingerprint(`{"api_key_sid":"SK0123456789abcdef0123456789abcdef"}`) != "" {
		t.Fatalf("usage fingerprint %q, %v", got, err)
	}
}
