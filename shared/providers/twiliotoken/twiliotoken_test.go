package twiliotoken_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/emulator/twiliofake"
	"github.com/dualkey/dualkey/shared/fingerprint"
	"github.com/dualkey/dualkey/shared/providers/twiliotoken"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
	"github.com/dualkey/dualkey/shared/usagelogs"
	"github.com/dualkey/dualkey/shared/vendorkey/vendorkeytest"
)

type world struct {
	*bed
	vendorkeytest.World
}

func newWorld(t *testing.T, o opts) *world {
	t.Helper()
	var b *bed
	env := rotationtest.NewEnv(t, subject(o, &b))
	return &world{bed: b, World: vendorkeytest.World{T: t, Env: env, ARN: env.CreateSecret(context.Background())}}
}

func (w *world) token(ctx context.Context, stage string) string {
	var s twiliotoken.Secret
	_ = json.Unmarshal([]byte(w.env.Value(ctx, w.ARN, stage)), &s)
	return s.AuthToken
}

// restore moves AWSCURRENT back to the AWSPREVIOUS version, as a rollback
// with --restore-current does.
func (w *world) restore(ctx context.Context) {
	w.t.Helper()
	labels := w.env.Labels(ctx, w.ARN)
	cur, prev := vendorkeytest.Holder(labels, rotation.StageCurrent), vendorkeytest.Holder(labels, rotation.StagePrevious)
	if _, err := w.env.SM.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(w.ARN), VersionStage: aws.String(rotation.StageCurrent), MoveToVersionId: aws.String(prev), RemoveFromVersionId: aws.String(cur),
	}); err != nil {
		w.t.Fatal(err)
	}
}

// TestLifecycleOfTheToken: after finishSecret Twilio accepts both tokens
// and still signs with the old primary; Delete of AWSPREVIOUS promotes the
// secondary (the old primary dies), and is idempotent.
func TestLifecycleOfTheToken(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{})
	old := w.acct.AuthToken
	w.env.MustRotate(ctx, w.ARN)
	fresh := w.token(ctx, rotation.StageCurrent)
	if p, s := w.tokens(); p != old || s != fresh {
		t.Fatalf("after finishSecret: primary %s secondary %s, want the old primary and the new secondary", twiliotoken.TokenFingerprint(p), twiliotoken.TokenFingerprint(s))
	}
	p := w.provider(nil)
	for i := 0; i < 2; i++ {
		if err := p.Delete(ctx, w.Request(ctx, rotation.StagePrevious)); err != nil {
			t.Fatalf("delete %d: %v", i+1, err)
		}
	}
	if pr, s := w.tokens(); pr != fresh || s != "" {
		t.Fatal("Delete did not promote the secondary")
	}
	if err := w.works(ctx, w.value(old)); err == nil {
		t.Fatal("the old primary still works after the promotion")
	}
	if !strings.Contains(w.logs.String(), "Twilio signs webhooks with AWSCURRENT") {
		t.Fatal("the promotion was not logged")
	}
	w.noSecrets("the provider's logs", w.logs.String())
}

// TestRotationWhileTheSecondaryIsNotPromoted: a second rotation before the
// promotion would replace AWSCURRENT's token: refused, nothing changed. An
// emergency rotation promotes it first and records the older primary's
// version as deleted.
func TestRotationWhileTheSecondaryIsNotPromoted(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{})
	w.env.MustRotate(ctx, w.ARN)
	before, current := w.state(), w.env.Value(ctx, w.ARN, rotation.StageCurrent)
	token, err := w.FailedRotation(ctx)
	vendorkeytest.WantIn(t, err, "still Twilio's secondary", "dualkey retire", "nothing was changed")
	w.noSecrets("the error", err.Error())
	if w.state() != before || w.env.Value(ctx, w.ARN, rotation.StageCurrent) != current {
		t.Fatalf("the refused rotation changed something: %s -> %s", before, w.state())
	}
	prevID := vendorkeytest.Holder(w.env.Labels(ctx, w.ARN), rotation.StagePrevious)
	w.env.Tag(ctx, w.ARN, map[string]string{rotation.TagEmergency: "true"})
	if err := w.env.Retry(ctx, w.ARN, token, rotation.StepCreate); err != nil {
		t.Fatal(err)
	}
	if err := w.works(ctx, w.value(w.acct.AuthToken)); err == nil {
		t.Fatal("the older primary still works after the emergency rotation")
	}
	if tags := w.env.Tags(ctx, w.ARN); tags[rotation.TagState] != rotation.StateDeleted || tags[rotation.TagStateVersion] != prevID {
		t.Fatalf("tags %v, want the older primary's version %s recorded as deleted", tags, prevID)
	}
}

// TestRolledBackSecondaryInPrevious: after a rollback that restored
// AWSCURRENT, AWSPREVIOUS holds the secondary; a rotation is refused until
// its retirement deletes it (Delete of a secondary deletes it).
func TestRolledBackSecondaryInPrevious(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{})
	w.env.MustRotate(ctx, w.ARN)
	w.restore(ctx)
	before := w.state()
	token, err := w.FailedRotation(ctx)
	vendorkeytest.WantIn(t, err, "AWSPREVIOUS", "secondary", "dualkey retire --resume", "nothing was changed")
	if w.state() != before {
		t.Fatalf("the refused rotation changed %s to %s", before, w.state())
	}
	if err := w.provider(nil).Delete(ctx, w.Request(ctx, rotation.StagePrevious)); err != nil {
		t.Fatal(err)
	}
	if p, s := w.tokens(); p != w.acct.AuthToken || s != "" {
		t.Fatal("Delete of the rolled-back secondary did not delete it (or touched the primary)")
	}
	if err := w.env.Retry(ctx, w.ARN, token, rotation.StepCreate); err != nil {
		t.Fatal(err)
	}
}

// TestDeleteRefusals: Delete never ends AWSCURRENT's token, and never
// promotes when AWSCURRENT's token is not the secondary Twilio accepts
// (AWSCURRENT would not work afterwards).
func TestDeleteRefusals(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{})
	p := w.provider(nil)
	vendorkeytest.WantIn(t, p.Delete(ctx, w.Request(ctx, rotation.StageCurrent)), "refusing", "AWSCURRENT")
	w.env.MustRotate(ctx, w.ARN)
	// Someone requested another secondary in the Console: AWSCURRENT's
	// token was replaced.
	if _, err := w.fake.CreateSecondaryToken(w.acct.Sid); err != nil {
		t.Fatal(err)
	}
	before := w.state()
	err := p.Delete(ctx, w.Request(ctx, rotation.StagePrevious))
	vendorkeytest.WantIn(t, err, "refusing to promote", "AWSCURRENT would not work", "nothing was changed")
	w.noSecrets("the error", err.Error())
	if w.state() != before {
		t.Fatalf("Delete changed %s to %s", before, w.state())
	}
}

// TestForeignSecondary: when Twilio refuses a second secondary and no
// dualkey lock proves it is an orphan, the rotation is refused, naming
// the Console; the secondary is not touched.
func TestForeignSecondary(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{reject: true})
	theirs, err := w.fake.CreateSecondaryToken(w.acct.Sid)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.FailedRotation(ctx)
	vendorkeytest.WantIn(t, err, "refused a new secondary", "dualkey did not create", "Console", "nothing was changed")
	if _, s := w.tokens(); s != theirs {
		t.Fatal("the foreign secondary was changed")
	}
	keys, _ := w.fake.Keys(w.acct.Sid)
	if len(keys) != 0 {
		t.Fatalf("the refused rotation left %d keys (its lock)", len(keys))
	}
}

// TestLocks: a young lock (a concurrent delivery's) stops createSecret
// with ErrConcurrentDelivery and changes nothing; once stale it is
// deleted; a lock of another secret is refused.
func TestLocks(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{})
	token := w.env.Hold(ctx, w.ARN)
	young, err := w.fake.CreateKey(w.acct.Sid, twiliofake.KindStandard, twiliotoken.LockName(w.ARN, token), nil)
	if err != nil {
		t.Fatal(err)
	}
	before := w.state()
	err = w.env.Step(ctx, w.ARN, token, rotation.StepCreate)
	if !errors.Is(err, rotation.ErrConcurrentDelivery) {
		t.Fatalf("a young lock: %v", err)
	}
	vendorkeytest.WantIn(t, err, young.Sid, "retry after")
	if w.state() != before {
		t.Fatalf("a young lock: state changed from %s to %s", before, w.state())
	}
	if err := w.env.Retry(ctx, w.ARN, token, rotation.StepCreate); err != nil {
		t.Fatal(err)
	}
	if keys, _ := w.fake.Keys(w.acct.Sid); len(keys) != 0 {
		t.Fatalf("%d lock keys left after the rotation", len(keys))
	}

	w.retirePrevious(ctx, w.ARN)
	other, err := w.fake.CreateKey(w.acct.Sid, twiliofake.KindStandard, twiliotoken.LockName(w.ARN+"-other", "x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.FailedRotation(ctx)
	vendorkeytest.WantIn(t, err, other.Sid, "another dualkey secret", "nothing was changed")
}

// TestThroughPrism sends every kind of request the provider makes through
// Prism with Twilio's OpenAPI documents: the rotation (account fetches,
// lock keys, the secondary), the lifecycle's Delete (promotion, and
// deletion of a rolled-back secondary), Credentials, Discard, an emergency
// promotion, and error answers (401, 429 retried).
func TestThroughPrism(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{prism: true, mainKey: true})
	p := w.provider(nil)
	w.env.MustRotate(ctx, w.ARN)
	creds, err := p.Credentials(ctx, w.Request(ctx, rotation.StageCurrent))
	if err != nil {
		t.Fatal(err)
	}
	if len(creds) != 2 || creds[0].Status != "primary auth token" || creds[1].Status != "secondary auth token" {
		t.Fatalf("Credentials = %v", creds)
	}
	// Emergency rotation before the promotion: promotes, then a new secondary.
	w.env.Tag(ctx, w.ARN, map[string]string{rotation.TagEmergency: "true"})
	w.env.MustRotate(ctx, w.ARN)
	w.env.Untag(ctx, w.ARN, rotation.TagEmergency)
	// Rollback-restored secondary: Delete deletes it.
	w.restore(ctx)
	if err := p.Delete(ctx, w.Request(ctx, rotation.StagePrevious)); err != nil {
		t.Fatal(err)
	}
	if _, s := w.tokens(); s != "" {
		t.Fatal("the rolled-back secondary was not deleted")
	}
	// A rotation, then the lifecycle's promotion.
	w.retirePrevious(ctx, w.ARN)
	if err := w.fake.ThrottleNext(w.acct.Sid, 1, time.Second); err != nil {
		t.Fatal(err)
	}
	w.env.MustRotate(ctx, w.ARN)
	if err := p.Delete(ctx, w.Request(ctx, rotation.StagePrevious)); err != nil {
		t.Fatal(err)
	}
	// Discard of a secondary that can never be stored.
	sec, err := w.fake.CreateSecondaryToken(w.acct.Sid)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Discard(ctx, &rotation.DiscardRequest{SecretID: w.ARN, Token: "t1", Value: w.value(sec), Versions: w.Request(ctx, rotation.StageCurrent).Versions, Destroy: true}); err != nil {
		t.Fatal(err)
	}
	if _, s := w.tokens(); s != "" {
		t.Fatal("Discard left the secondary")
	}
	// 401 on the Main key names the admin secret.
	if err := w.fake.DeleteKey(w.acct.Sid, w.main.Sid); err != nil {
		t.Fatal(err)
	}
	_, err = p.Credentials(ctx, w.Request(ctx, rotation.StageCurrent))
	if !errors.Is(err, twiliotoken.ErrAdminRefused) {
		t.Fatalf("a deleted Main key: %v", err)
	}
	vendorkeytest.WantIn(t, err, w.adminARN, "master_secret_arn")
	w.noSecrets("the error", err.Error())
}

// TestAdminSecretHoldingAToken: an admin secret with an auth token of the
// same account is refused (it would die at the promotion).
func TestAdminSecretHoldingAToken(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{mainKey: true})
	raw, _ := json.Marshal(map[string]string{"account_sid": w.acct.Sid, "auth_token": w.acct.AuthToken})
	if _, err := w.env.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(w.adminARN), SecretString: aws.String(string(raw))}); err != nil {
		t.Fatal(err)
	}
	before := w.state()
	_, err := w.FailedRotation(ctx)
	vendorkeytest.WantIn(t, err, "master_secret_arn", "stop working at the promotion")
	w.noSecrets("the error", err.Error())
	if w.state() != before {
		t.Fatal("the refused rotation changed something")
	}
}

// TestBadSecretValues: malformed values are refused with the field.
func TestBadSecretValues(t *testing.T) {
	cases := []struct {
		name, value, field string
	}{
		{"no account", `{"auth_token":"0123456789abcdef0123456789abcdef"}`, "account_sid"},
		{"bad account", `{"account_sid":"AC1","auth_token":"0123456789abcdef0123456789abcdef"}`, "account_sid"},
		{"no token", `{"account_sid":"AC0123456789abcdef0123456789abcdef"}`, "auth_token"},
		{"token with symbols", `{"account_sid":"AC0123456789abcdef0123456789abcdef","auth_token":"0123456789abcdef/0123456789abcde"}`, "auth_token"},
		{"not json", `auth_token`, "SecretString"},
	}
	for _, c := range cases {
		_, err := twiliotoken.Parse(c.value)
		vendorkeytest.WantIn(t, err, `"`+c.field+`"`)
		if strings.Contains(err.Error(), "0123456789abcdef") {
			t.Errorf("%s: the error shows the token", c.name)
		}
	}
}

// TestFingerprint: a token is shown as its usage fingerprint (the one its
// consumers log), never itself; usagelogs finds it through the provider.
func TestFingerprint(t *testing.T) {
	token := "0123456789abcdef0123456789abcdef"
	value := `{"account_sid":"AC00000000000000000000000000000000","auth_token":"` + token + `"}`
	fp := twiliotoken.TokenFingerprint(token)
	if fp != fingerprint.Of(token) || strings.Contains(fp, token[:12]) || twiliotoken.TokenFingerprint("") != "" {
		t.Fatalf("fingerprint %q", fp)
	}
	p := twiliotoken.New(twiliotoken.Config{})
	if p.Fingerprint(value) != fp || p.UsageFingerprint(value) != fp {
		t.Fatal("Provider.Fingerprint or UsageFingerprint differs from TokenFingerprint")
	}
	var _ usagelogs.Fingerprinter = p
	if got, err := usagelogs.FingerprintOf(p, value); err != nil || got != fp {
		t.Fatalf("usagelogs.FingerprintOf = %q, %v", got, err)
	}
}

// TestFromEnv: settings are read and bad ones named.
func TestFromEnv(t *testing.T) {
	cases := []vendorkeytest.FromEnvCase{
		{Env: map[string]string{}, Want: ""},
		{Env: map[string]string{"DUALKEY_TWILIO_ACCOUNTS_URL": "http://127.0.0.1:1", "DUALKEY_TWILIO_API_URL": "http://127.0.0.1:1"}, Want: ""},
		{Env: map[string]string{"DUALKEY_TWILIO_ACCOUNTS_URL": "http://accounts.example.com"}, Want: "loopback"},
		{Env: map[string]string{"DUALKEY_TWILIO_TOKEN_PROPAGATION_BUDGET": "20m"}, Want: "DUALKEY_TWILIO_TOKEN_PROPAGATION_BUDGET"},
		{Env: map[string]string{"DUALKEY_TWILIO_TIMEOUT": "0"}, Want: "DUALKEY_TWILIO_TIMEOUT"},
	}
	vendorkeytest.CheckFromEnv(t, twiliotoken.FromEnv, twiliotoken.Name, "", cases)
}

// TestLockName fits Twilio's 64 characters.
func TestLockName(t *testing.T) {
	for _, tok := range []string{"3f6b2a8e-5c1d-4e7a-9b0f-2d8c4e6a1b35", strings.Repeat("x", 64)} {
		if n := twiliotoken.LockName("arn:aws:secretsmanager:us-east-1:1:secret:"+strings.Repeat("s", 300), tok); len(n) > 64 || !strings.HasPrefix(n, "dualkey-lock ") {
			t.Errorf("LockName = %q (%d)", n, len(n))
		}
	}
}
