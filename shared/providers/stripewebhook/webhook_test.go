package stripewebhook_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stripe/stripe-go/v76"

	"github.com/dualkey/dualkey/emulator/stripefake"
	"github.com/dualkey/dualkey/shared/providers/stripewebhook"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
	"github.com/dualkey/dualkey/shared/usagelogs"
)

// A rotation makes a second endpoint like the first (URL, events, API
// version, description, metadata, plus dualkey's markers) that listens to
// the placeholder event only until setSecret; the old endpoint stays
// enabled. The lifecycle then disables it, can enable it again, and
// deletes it.
func TestRotationAndLifecycle(t *testing.T) {
	ctx := context.Background()
	b, arn := newBed(t, opts{metadata: map[string]string{"team": "payments"}})
	var afterCreate []string
	b.env.SetInvoke(func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
		err := b.env.Engine().Handle(ctx, ev)
		if ev.Step == rotation.StepCreate && err == nil {
			afterCreate = b.endpointOf(ctx, arn, rotation.StagePending).EnabledEvents
		}
		return err
	})
	token, err := b.rotate(ctx, arn)
	b.env.SetInvoke(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(afterCreate, []string{stripewebhook.PlaceholderEvent}) {
		t.Fatalf("after createSecret the new endpoint listens to %v, want only the placeholder %s", afterCreate, stripewebhook.PlaceholderEvent)
	}
	old, cur := b.endpointOf(ctx, arn, rotation.StagePrevious), b.endpointOf(ctx, arn, rotation.StageCurrent)
	if old.ID != b.first.ID || cur.ID == old.ID {
		t.Fatalf("previous endpoint %s, current %s; want the first endpoint %s and a new one", old.ID, cur.ID, b.first.ID)
	}
	if cur.URL != old.URL || !slices.Equal(cur.EnabledEvents, old.EnabledEvents) || cur.APIVersion != old.APIVersion ||
		cur.Description != old.Description || cur.Disabled || old.Disabled {
		t.Fatalf("new endpoint %+v does not match the old one %+v, or one is disabled", cur, old)
	}
	if cur.Metadata["team"] != "payments" || cur.Metadata[stripewebhook.MetaRotation] != token || cur.Metadata[stripewebhook.MetaSecret] != "conformance/secret" {
		t.Fatalf("new endpoint's metadata %v: want team kept and dualkey's markers", cur.Metadata)
	}

	p := b.provider()
	if err := p.Deactivate(ctx, b.request(ctx, arn, rotation.StageCurrent)); err == nil || !strings.Contains(err.Error(), "refusing to disable") {
		t.Fatalf("deactivating the current endpoint: %v, want a refusal", err)
	}
	prev := b.request(ctx, arn, rotation.StagePrevious)
	for i, step := range []struct {
		name     string
		do       func() error
		exists   bool
		disabled bool
	}{
		{"deactivate", func() error { return p.Deactivate(ctx, prev) }, true, true},
		{"deactivate again", func() error { return p.Deactivate(ctx, prev) }, true, true},
		{"reactivate (rollback)", func() error { return p.Reactivate(ctx, prev) }, true, false},
		{"deactivate after rollback", func() error { return p.Deactivate(ctx, prev) }, true, true},
		{"delete", func() error { return p.Delete(ctx, prev) }, false, false},
		{"delete again", func() error { return p.Delete(ctx, prev) }, false, false},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("step %d %s: %v", i, step.name, err)
		}
		e, ok := b.fake.Endpoint(old.ID)
		if ok != step.exists || e.Disabled != step.disabled {
			t.Fatalf("after %s: exists %v, disabled %v; want %v, %v", step.name, ok, e.Disabled, step.exists, step.disabled)
		}
	}
	if err := p.Reactivate(ctx, prev); !errors.Is(err, stripewebhook.ErrNoSuchEndpoint) {
		t.Fatalf("reactivating a deleted endpoint: %v, want ErrNoSuchEndpoint", err)
	}
	if err := b.works(ctx, b.env.Value(ctx, arn, rotation.StageCurrent)); err != nil {
		t.Fatalf("the current endpoint: %v", err)
	}
}

// A crash right after Stripe created the endpoint leaves it behind; the
// retry adopts it (Stripe replays the create for 24 hours), creates
// another when the replayed one was deleted, or, once the idempotency key
// expired, deletes it and creates another. Endpoints without dualkey's
// marker are never touched.
func TestCrashAfterCreate(t *testing.T) {
	cases := []struct {
		name string
		// between runs between the failed createSecret and its retry.
		between func(b *bed, lost string)
		// adopted: the retry stores the endpoint the failed attempt made.
		adopted bool
	}{
		{"retried at once", func(*bed, string) {}, true},
		{"retried the next day", func(b *bed, _ string) { b.env.Clock.Advance(25 * time.Hour) }, false},
		{"the lost endpoint was deleted", func(b *bed, lost string) {
			if err := b.client().Del(lost); err != nil {
				b.t.Fatal(err)
			}
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			b, arn := newBed(t, opts{})
			// Endpoints dualkey must leave alone: another URL, and the same
			// URL made by hand.
			other, err := b.client().New(&stripe.WebhookEndpointParams{URL: stripe.String("https://billing.example/hook"), EnabledEvents: stripe.StringSlice([]string{"*"})})
			if err != nil {
				t.Fatal(err)
			}
			twin, err := b.client().New(&stripe.WebhookEndpointParams{URL: stripe.String(b.first.URL), EnabledEvents: stripe.StringSlice([]string{"charge.refunded"})})
			if err != nil {
				t.Fatal(err)
			}
			// net/http resends a POST with an Idempotency-Key once by itself when the
			// connection drops: lose both answers.
			b.fake.InjectFault(stripefake.Fault{Method: "POST", Path: "/v1/webhook_endpoints", DropResponse: true, Times: 2})
			token, err := b.rotate(ctx, arn)
			if err == nil || !strings.HasPrefix(err.Error(), rotation.StepCreate) {
				t.Fatalf("the first attempt: %v, want createSecret to fail", err)
			}
			// Use up the second fault if net/http did not resend (a request
			// without a url creates nothing).
			_, _ = b.client().New(&stripe.WebhookEndpointParams{EnabledEvents: stripe.StringSlice([]string{"*"})})
			var lost string
			for _, e := range b.fake.Endpoints(b.acct.ID, false) {
				if e.Metadata[stripewebhook.MetaRotation] == token {
					lost = e.ID
				}
			}
			if lost == "" {
				t.Fatal("the lost create made no endpoint")
			}
			c.between(b, lost)
			if err := b.env.Retry(ctx, arn, token, rotation.StepCreate); err != nil {
				t.Fatal(err)
			}
			cur := b.endpointOf(ctx, arn, rotation.StageCurrent)
			if (cur.ID == lost) != c.adopted {
				t.Fatalf("the retry stored %s; the lost attempt made %s; adopted want %v", cur.ID, lost, c.adopted)
			}
			var ids []string
			for _, e := range b.fake.Endpoints(b.acct.ID, false) {
				ids = append(ids, e.ID)
			}
			want := []string{b.first.ID, other.ID, twin.ID, cur.ID}
			slices.Sort(ids)
			slices.Sort(want)
			if !slices.Equal(ids, want) {
				t.Fatalf("endpoints after the retry: %v, want %v (the first, the two not dualkey's, the new one)", ids, want)
			}
			creds, err := b.provider().Credentials(ctx, b.request(ctx, arn, rotation.StageCurrent))
			if err != nil {
				t.Fatal(err)
			}
			var listed []string
			for _, c := range creds {
				listed = append(listed, c.Fingerprint)
				if c.Fingerprint == cur.ID && !strings.Contains(c.Status, "created by dualkey for version "+token) {
					t.Errorf("the new endpoint's audit status %q does not say dualkey made it", c.Status)
				}
			}
			slices.Sort(listed)
			want = []string{b.first.ID, twin.ID, cur.ID}
			slices.Sort(want)
			if !slices.Equal(listed, want) {
				t.Fatalf("audit lists %v, want the endpoints for the URL %v", listed, want)
			}
		})
	}
}

// An endpoint of this rotation younger than OrphanAge that the retry does
// not adopt (its request differed: the old endpoint was edited in between)
// may be a concurrent delivery's: it is left alone.
func TestYoungEndpointLeftAlone(t *testing.T) {
	ctx := context.Background()
	b, arn := newBed(t, opts{})
	token := b.env.Hold(ctx, arn)
	young, err := b.client().New(&stripe.WebhookEndpointParams{URL: stripe.String(b.first.URL), EnabledEvents: stripe.StringSlice([]string{stripewebhook.PlaceholderEvent}),
		Metadata: map[string]string{stripewebhook.MetaRotation: token, stripewebhook.MetaSecret: "conformance/secret", "edited": "yes"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.env.Step(ctx, arn, token, rotation.StepCreate); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.fake.Endpoint(young.ID); !ok {
		t.Fatal("createSecret deleted a young endpoint a concurrent delivery may still store")
	}
	if got := b.endpointOf(ctx, arn, rotation.StagePending).ID; got == young.ID {
		t.Fatal("createSecret adopted an endpoint whose secret it cannot know")
	}
}

// Discard deletes (Destroy) or disables the endpoint the engine could not
// store, and leaves it alone when a stored version names it.
func TestDiscard(t *testing.T) {
	ctx := context.Background()
	b, arn := newBed(t, opts{})
	p := b.provider()
	mk := func() *stripe.WebhookEndpoint {
		e, err := b.client().New(&stripe.WebhookEndpointParams{URL: stripe.String(b.first.URL), EnabledEvents: stripe.StringSlice([]string{stripewebhook.PlaceholderEvent})})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	r := b.reader(ctx, arn)
	del, dis := mk(), mk()
	if err := p.Discard(ctx, &rotation.DiscardRequest{SecretID: arn, Value: b.value(del, nil), Versions: r, Destroy: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.fake.Endpoint(del.ID); ok {
		t.Fatal("Destroy left the endpoint")
	}
	if err := p.Discard(ctx, &rotation.DiscardRequest{SecretID: arn, Value: b.value(del, nil), Versions: r, Destroy: true}); err != nil {
		t.Fatalf("discarding a gone endpoint: %v", err)
	}
	if err := p.Discard(ctx, &rotation.DiscardRequest{SecretID: arn, Value: b.value(dis, nil), Versions: r}); err != nil {
		t.Fatal(err)
	}
	if e, ok := b.fake.Endpoint(dis.ID); !ok || !e.Disabled {
		t.Fatal("a discard that keeps the endpoint recoverable must disable it, not delete it")
	}
	if err := p.Discard(ctx, &rotation.DiscardRequest{SecretID: arn, Value: b.value(b.first, nil), Versions: r, Destroy: true}); err != nil {
		t.Fatal(err)
	}
	if e, ok := b.fake.Endpoint(b.first.ID); !ok || e.Disabled {
		t.Fatal("Discard touched the endpoint AWSCURRENT names")
	}
}

// Bad secrets and broken worlds fail with an error that names the problem
// and the fix, and change nothing.
func TestRefusals(t *testing.T) {
	cases := []struct {
		name    string
		initial func(b *bed) string
		prepare func(ctx context.Context, b *bed, arn string)
		step    string
		want    []string
	}{
		{"no endpoint_id", func(b *bed) string {
			return `{"webhook_secret":"` + b.first.Secret + `","master_secret_arn":"` + b.adminARN + `"}`
		}, nil,
			rotation.StepCreate, []string{`field "endpoint_id" is missing`}},
		{"not an endpoint id", func(b *bed) string {
			return b.value(b.first, map[string]any{"endpoint_id": "https://example.com/hook"})
		}, nil,
			rotation.StepCreate, []string{`field "endpoint_id" is not a webhook endpoint id`}},
		{"no signing secret", func(b *bed) string { return b.value(b.first, map[string]any{"webhook_secret": ""}) }, nil,
			rotation.StepCreate, []string{`field "webhook_secret" is missing`}},
		{"no admin secret", func(b *bed) string { return b.value(b.first, map[string]any{"master_secret_arn": ""}) }, nil,
			rotation.StepCreate, []string{`field "master_secret_arn"`, "manage webhook endpoints"}},
		{"admin secret missing", func(b *bed) string {
			return b.value(b.first, map[string]any{"master_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf"})
		}, nil, rotation.StepCreate, []string{`field "master_secret_arn"`, "does not exist"}},
		{"admin secret holds no key", func(b *bed) string { return b.value(b.first, nil) }, func(ctx context.Context, b *bed, arn string) {
			b.putAdmin(ctx, `{"api_key":"pk_test_0123456789abcdef"}`)
		}, rotation.StepCreate, []string{`field "master_secret_arn"`, `{"api_key": "sk_..."`}},
		{"endpoint of another mode", func(b *bed) string { return b.value(b.first, nil) }, func(ctx context.Context, b *bed, arn string) {
			live, _ := b.fake.CreateKey(b.acct.ID, stripefake.KeySpec{Live: true})
			b.putAdmin(ctx, `{"api_key":"`+live.Secret+`"}`)
		}, rotation.StepCreate, []string{"ErrNoSuchEndpoint", "live-mode webhook endpoints", "sk_live_…", "master_secret_arn holds a key of the endpoint's account and mode"}},
		{"admin key without webhook permission", func(b *bed) string { return b.value(b.first, nil) }, func(ctx context.Context, b *bed, arn string) {
			rk, _ := b.fake.CreateKey(b.acct.ID, stripefake.KeySpec{Kind: stripefake.KindRestricted, Permissions: []string{stripefake.PermBalanceRead}})
			b.putAdmin(ctx, `{"api_key":"`+rk.Secret+`"}`)
		}, rotation.StepCreate, []string{"list webhook endpoints: Stripe answered HTTP 403 invalid_request_error"}},
		{"too much metadata", func(b *bed) string { return b.value(b.first, nil) }, func(ctx context.Context, b *bed, arn string) {
			md := map[string]string{}
			for i := range 49 {
				md[fmt.Sprintf("key%02d", i)] = "v"
			}
			if err := b.client().Update(b.first.ID, &stripe.WebhookEndpointParams{Metadata: md}); err != nil {
				b.t.Fatal(err)
			}
		}, rotation.StepCreate, []string{"49 metadata keys", "remove some"}},
		{"pending endpoint deleted before setSecret", func(b *bed) string { return b.value(b.first, nil) }, func(ctx context.Context, b *bed, arn string) {
			b.env.SetInvoke(func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
				if ev.Step == rotation.StepSet {
					_ = b.client().Del(b.endpointOf(ctx, arn, rotation.StagePending).ID)
				}
				return b.env.Engine().Handle(ctx, ev)
			})
		}, rotation.StepSet, []string{"the pending endpoint we_", "was deleted", "dualkey cancel"}},
		{"current endpoint deleted", func(b *bed) string { return b.value(b.first, nil) }, func(ctx context.Context, b *bed, arn string) {
			_ = b.client().Del(b.first.ID)
		}, rotation.StepCreate, []string{"endpoint " + "FIRST" + " named by the current version's endpoint_id is not among"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			var b *bed
			s := subject(opts{}, &b)
			setup := s.Setup
			s.Setup = func(t testing.TB, env *rotationtest.Env) *rotationtest.Fixture {
				f := setup(t, env)
				f.Initial = c.initial(b)
				return f
			}
			env := rotationtest.NewEnv(t, s)
			arn := env.CreateSecret(ctx)
			if c.prepare != nil {
				c.prepare(ctx, b, arn)
			}
			before := env.Value(ctx, arn, rotation.StageCurrent)
			eps := len(b.fake.Endpoints(b.acct.ID, false))
			_, err := b.rotate(ctx, arn)
			env.SetInvoke(nil)
			if err == nil {
				t.Fatal("the rotation succeeded")
			}
			if !strings.HasPrefix(err.Error(), c.step+":") {
				t.Errorf("failed at %v, want %s", err, c.step)
			}
			for _, w := range c.want {
				w = strings.ReplaceAll(w, "FIRST", b.first.ID)
				if w == "ErrNoSuchEndpoint" {
					w = stripewebhook.ErrNoSuchEndpoint.Error()
				}
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if env.Value(ctx, arn, rotation.StageCurrent) != before {
				t.Fatal("AWSCURRENT changed")
			}
			if c.step == rotation.StepCreate && len(b.fake.Endpoints(b.acct.ID, false)) > eps {
				t.Fatal("a refused createSecret left an endpoint")
			}
			noSecret(t, "the error and the logs", err.Error()+env.Logs.String(), b.first.Secret, b.admin.Secret)
		})
	}
}

// Consumers never send the webhook secret (Stripe signs with it, they
// verify), so there is no usage fingerprint, and CloudWatch Logs evidence
// for such a secret is refused with the fix.
func TestNoUsageFingerprint(t *testing.T) {
	p := stripewebhook.New(stripewebhook.Config{})
	value := `{"endpoint_id":"we_123","webhook_secret":"whsec_0123456789abcdef"}`
	if got := p.UsageFingerprint(value); got != "" {
		t.Fatalf("UsageFingerprint = %q, want \"\"", got)
	}
	if _, err := usagelogs.FingerprintOf(p, value); err == nil || !strings.Contains(err.Error(), "remove tag "+usagelogs.Tag) {
		t.Fatalf("FingerprintOf: %v, want a refusal naming the tag", err)
	}
}
