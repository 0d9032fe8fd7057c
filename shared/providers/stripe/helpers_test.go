package stripe_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/emulator/stripefake"
	"github.com/dualkey/dualkey/shared/providers/stripe"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
	"github.com/dualkey/dualkey/shared/vendorkey/vendorkeytest"
)

// bed is one test world: the AWS emulator and engine of the conformance
// kit, and a stateful Stripe fake on the kit's clock with two accounts.
type bed struct {
	t     testing.TB
	env   *rotationtest.Env
	fake  *stripefake.Server
	url   string
	acct  stripefake.Account // the secret's account
	other stripefake.Account // someone else's
	key   stripefake.Key     // the secret's first key
}

// setup describes a bed: the first key's spec and the initial value's
// extra JSON fields (",\"account_id\":\"...\"" and so on; ACCT stands for
// the account id).
type setup struct {
	spec  stripefake.KeySpec
	extra string
	// stageEachRotation plays the operator before every rotation the kit
	// starts: roll the current key (the old one expiring in 24 hours) and
	// stage the new one.
	stageEachRotation bool
}

// subject is the kit's view of a bed; *out receives the bed of the last
// environment set up.
func subject(s setup, out **bed) rotationtest.Subject {
	return rotationtest.Subject{
		OldStaysValid: true,
		Setup: func(t testing.TB, env *rotationtest.Env) *rotationtest.Fixture {
			b := newBedIn(t, env, s)
			if out != nil {
				*out = b
			}
			return b.fixture(s)
		},
	}
}

func newBedIn(t testing.TB, env *rotationtest.Env, s setup) *bed {
	t.Helper()
	fake := stripefake.New(stripefake.Config{Now: env.Clock.Now})
	url, err := fake.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	b := &bed{t: t, env: env, fake: fake, url: url}
	if b.acct, err = fake.CreateAccount(stripefake.AccountOptions{BusinessName: "orders"}); err != nil {
		t.Fatal(err)
	}
	if b.other, err = fake.CreateAccount(stripefake.AccountOptions{BusinessName: "someone else"}); err != nil {
		t.Fatal(err)
	}
	if b.key, err = fake.CreateKey(b.acct.ID, s.spec); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *bed) fixture(s setup) *rotationtest.Fixture {
	f := &rotationtest.Fixture{
		Initial: `{"api_key":"` + b.key.Secret + `"` + strings.ReplaceAll(s.extra, "ACCT", b.acct.ID) + `}`,
		NewProvider: func(c *http.Client) rotation.Provider {
			return stripe.New(stripe.Config{APIURL: b.url, HTTPClient: c})
		},
		Works: b.works,
	}
	if s.stageEachRotation {
		f.BeforeRotation = func(ctx context.Context, _ *rotationtest.Env, arn string) { b.rollAndStage(ctx, arn) }
	}
	return f
}

// newBed returns a bed with its own environment and the secret created.
func newBed(t *testing.T, s setup) (*bed, string) {
	t.Helper()
	var b *bed
	env := rotationtest.NewEnv(t, subject(s, &b))
	arn := env.CreateSecret(context.Background())
	return b, arn
}

// works asks the fake whether it accepts the key in value (a restricted
// key without the permission to read the account is accepted too: Stripe
// authenticated it).
func (b *bed) works(ctx context.Context, value string) error {
	s, err := stripe.Parse(value)
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.url+"/v1/account", nil)
	req.Header.Set("Authorization", "Bearer "+s.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusForbidden {
		return fmt.Errorf("Stripe answered HTTP %d to key %s", resp.StatusCode, stripe.Fingerprint(s.APIKey))
	}
	return nil
}

// roll rolls the current key in the "Dashboard": a new key, the old one
// expiring after d.
func (b *bed) roll(ctx context.Context, arn string, d time.Duration) stripefake.Key {
	b.t.Helper()
	cur, err := stripe.Parse(b.env.Value(ctx, arn, rotation.StageCurrent))
	if err != nil {
		b.t.Fatal(err)
	}
	k, err := b.fake.RollKey(cur.APIKey, b.env.Clock.Now().Add(d))
	if err != nil {
		b.t.Fatal(err)
	}
	return k
}

// stage does what dualkey stage does: the current value with the new key
// and the old key's expiry, labelled DUALKEY_INCOMING.
func (b *bed) stage(ctx context.Context, arn string, fields map[string]any) {
	b.t.Helper()
	value, err := rotation.MergeSecret(b.env.Value(ctx, arn, rotation.StageCurrent), fields)
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := b.env.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(arn), SecretString: aws.String(value), VersionStages: []string{rotation.StageIncoming},
	}); err != nil {
		b.t.Fatal(err)
	}
}

// rollAndStage rolls the current key (old one expiring in 24 h) and stages
// the new one.
func (b *bed) rollAndStage(ctx context.Context, arn string) stripefake.Key {
	b.t.Helper()
	k := b.roll(ctx, arn, 24*time.Hour)
	b.stage(ctx, arn, map[string]any{"api_key": k.Secret, stripe.FieldPreviousKeyExpiresAt: b.env.Clock.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)})
	return k
}

// rotate starts a rotation and returns its token and the failure (nil when
// it succeeded).
func (b *bed) rotate(ctx context.Context, arn string) (string, error) {
	b.t.Helper()
	return vendorkeytest.Rotate(ctx, b.t, b.env, arn)
}

// versions is a rotation.VersionReader over fixed versions, for calling
// provider methods directly.
type versions = vendorkeytest.Versions

// noSecret fails the test when text holds any of the keys.
func noSecret(t testing.TB, what, text string, keys ...string) {
	t.Helper()
	vendorkeytest.NoSecret(t, what, "a key", text, keys...)
}
