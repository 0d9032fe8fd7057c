package sendgrid_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dualkey/dualkey/emulator/sendgridfake"
	"github.com/dualkey/dualkey/shared/fingerprint"
	"github.com/dualkey/dualkey/shared/providers/sendgrid"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
	"github.com/dualkey/dualkey/shared/usagelogs"
	"github.com/dualkey/dualkey/shared/vendorkey/vendorkeytest"
)

// The conformance kit talks to the fake directly (Prism costs tens of
// milliseconds a request and the kit's fault matrix makes thousands);
// TestThroughPrism sends every kind of request through Prism.

// TestConformance: a key of the admin key's own user.
func TestConformance(t *testing.T) {
	rotationtest.Run(t, subject(opts{}, nil))
}

// TestConformanceSubuser: a subuser's key, rotated by the parent's key on
// behalf of the subuser.
func TestConformanceSubuser(t *testing.T) {
	rotationtest.Run(t, subject(opts{subuser: true}, nil))
}

type world struct {
	*bed
	vendorkeytest.World
}

func newWorld(t *testing.T, o opts) *world {
	t.Helper()
	var b *bed
	env := rotationtest.NewEnv(t, subject(o, &b))
	return &world{bed: b, World: vendorkeytest.World{T: t, Env: env, ARN: env.CreateSecret(context.Background()), Whose: "the user's", Keys: b.keys}}
}

// TestThroughPrism sends every kind of request the provider makes through
// Prism in proxy mode with SendGrid's OpenAPI documents: rotations of a
// user's and a subuser's key (on-behalf-of), testSecret's calls, the
// lifecycle's Delete and Credentials, Discard, an emergency rotation, a
// crashed attempt's key deleted as an orphan, and the error answers (401
// on the admin key, 404, 429 retried).
func TestThroughPrism(t *testing.T) {
	for _, sub := range []bool{false, true} {
		t.Run(fmt.Sprintf("subuser=%v", sub), func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t, opts{prism: true, subuser: sub})
			w.env.MustRotate(ctx, w.ARN)
			cur := w.current(ctx, w.ARN)
			p := w.provider(nil)
			creds, err := p.Credentials(ctx, w.Request(ctx, rotation.StageCurrent))
			if err != nil {
				t.Fatal(err)
			}
			var fps []string
			for _, c := range creds {
				fps = append(fps, c.Fingerprint)
			}
			slices.Sort(fps)
			want := []string{w.first.ID, cur.APIKeyID}
			slices.Sort(want)
			if !slices.Equal(fps, want) {
				t.Fatalf("Credentials = %v, want %v", fps, want)
			}

			w.env.Tag(ctx, w.ARN, map[string]string{rotation.TagEmergency: "true"})
			w.env.MustRotate(ctx, w.ARN)
			if _, ok := w.keys()[w.first.ID]; ok {
				t.Fatal("the emergency rotation left the older previous key")
			}
			w.env.Untag(ctx, w.ARN, rotation.TagEmergency)

			if err := p.Delete(ctx, w.Request(ctx, rotation.StagePrevious)); err != nil {
				t.Fatal(err)
			}
			if err := p.Delete(ctx, w.Request(ctx, rotation.StagePrevious)); err != nil {
				t.Fatalf("deleting a key that is gone (404): %v", err)
			}
			w.retirePrevious(ctx, w.ARN)

			token := w.env.Hold(ctx, w.ARN)
			orphan, err := w.fake.CreateKey(w.owner, sendgrid.Marker(w.ARN, token, w.env.Clock.Now()), keyScopes)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.env.Retry(ctx, w.ARN, token, rotation.StepCreate); err != nil {
				t.Fatal(err)
			}
			if _, ok := w.keys()[orphan.ID]; ok {
				t.Fatal("the crashed attempt's key was not deleted")
			}
			stray, err := w.fake.CreateKey(w.owner, sendgrid.Marker(w.ARN, "other", w.env.Clock.Now()), keyScopes)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Discard(ctx, &rotation.DiscardRequest{SecretID: w.ARN, Token: "other", Value: w.value(stray), Versions: w.Reader(ctx), Destroy: true}); err != nil {
				t.Fatal(err)
			}
			if _, ok := w.keys()[stray.ID]; ok {
				t.Fatal("Discard with Destroy left the key")
			}

			if err := w.fake.ThrottleNext(w.parent, 1, time.Second); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Credentials(ctx, w.Request(ctx, rotation.StageCurrent)); err != nil {
				t.Fatalf("a 429 was not retried: %v", err)
			}
			if err := w.fake.DeleteKey(w.parent, w.admin.ID); err != nil {
				t.Fatal(err)
			}
			_, err = p.Credentials(ctx, w.Request(ctx, rotation.StageCurrent))
			if !errors.Is(err, sendgrid.ErrAdminRefused) {
				t.Fatalf("a deleted admin key: %v", err)
			}
			vendorkeytest.WantIn(t, err, w.adminARN, "master_secret_arn", "401")
			w.noSecrets("the error", err.Error())
		})
	}
}

// TestScopesAreKeptExactly: the new key has exactly the old key's scopes
// (SendGrid's auto scopes included), belongs to the same user, and is
// named with dualkey's marker; the admin's extra scopes are not granted.
func TestScopesAreKeptExactly(t *testing.T) {
	for _, sub := range []bool{false, true} {
		t.Run(fmt.Sprintf("subuser=%v", sub), func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t, opts{subuser: sub})
			w.env.MustRotate(ctx, w.ARN)
			cur := w.current(ctx, w.ARN)
			if cur.Subuser != w.subuser {
				t.Fatalf("subuser %q, want %q", cur.Subuser, w.subuser)
			}
			keys, err := w.fake.Keys(w.owner)
			if err != nil {
				t.Fatal(err)
			}
			var first, next *sendgridfake.Key
			for i := range keys {
				switch keys[i].ID {
				case w.first.ID:
					first = &keys[i]
				case cur.APIKeyID:
					next = &keys[i]
				}
			}
			if next == nil {
				t.Fatalf("the new key %s is not a key of %s", cur.APIKeyID, w.owner)
			}
			if !slices.Equal(next.Scopes, first.Scopes) || slices.Contains(next.Scopes, "templates.read") || slices.Contains(next.Scopes, "api_keys.create") {
				t.Fatalf("new key scopes %v, want exactly %v", next.Scopes, first.Scopes)
			}
			if !strings.HasPrefix(next.Name, "dualkey ") {
				t.Fatalf("name %q is not dualkey's marker", next.Name)
			}
		})
	}
}

// TestScopeTheAdminLacks: a scope the admin key does not hold is an error
// naming it and the admin secret; nothing is created. So is an admin key
// that cannot manage keys.
func TestScopeTheAdminLacks(t *testing.T) {
	cases := []struct {
		name   string
		scopes []string
		want   []string
	}{
		{"lacks stats.read", []string{"alerts.read", "api_keys.create", "api_keys.delete", "api_keys.read", "mail.send"}, []string{"stats.read", "does not hold", "nothing was created"}},
		{"cannot delete keys", []string{"alerts.read", "api_keys.create", "api_keys.read", "mail.send", "stats.read"}, []string{"api_keys.delete", "managing API keys needs"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t, opts{adminScopes: c.scopes})
			keys, current := w.keys(), w.env.Value(ctx, w.ARN, rotation.StageCurrent)
			_, err := w.FailedRotation(ctx)
			vendorkeytest.WantIn(t, err, append(c.want, w.adminARN)...)
			w.noSecrets("the error", err.Error())
			w.Unchanged(ctx, c.name, keys, current)
		})
	}
}

// TestAdminKeyRefused: a revoked admin key (401) is an error naming the
// admin secret; nothing is created.
func TestAdminKeyRefused(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{})
	if err := w.fake.DeleteKey(w.parent, w.admin.ID); err != nil {
		t.Fatal(err)
	}
	w.Refused(ctx, "a revoked admin key", w.adminARN, "master_secret_arn", "401")
}

// TestSubuserKeyNeedsTheParent: naming a subuser the admin key's user is
// not the parent of is refused (SendGrid's 403), nothing created.
func TestSubuserKeyNeedsTheParent(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{subuser: true})
	if err := w.fake.AddUser(sendgridfake.User{Username: w.parent + "-other"}); err != nil {
		t.Fatal(err)
	}
	vendorkeytest.PutEdited(ctx, t, w.env, w.ARN, w.value(w.first), func(m map[string]any) { m["subuser"] = w.parent + "-other" })
	w.Refused(ctx, "another parent's subuser", "403", "parent user")
}

// TestPreviousKeyMustBeRetiredFirst: a rotation while AWSPREVIOUS's key
// exists is refused and changes nothing; retired, it goes through.
func TestPreviousKeyMustBeRetiredFirst(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{})
	w.env.MustRotate(ctx, w.ARN)
	token := w.Refused(ctx, "a rotation before the retirement", w.first.ID, "AWSPREVIOUS", "dualkey retire", "nothing was changed")
	w.retirePrevious(ctx, w.ARN)
	if err := w.env.Retry(ctx, w.ARN, token, rotation.StepCreate); err != nil {
		t.Fatal(err)
	}
}

// TestOrphansOfThisRotation: a young key of this rotation is left alone
// (ErrConcurrentDelivery, nothing changed), an old one deleted; keys of
// other rotations, other secrets or without the marker are never touched.
func TestOrphansOfThisRotation(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{})
	token := w.env.Hold(ctx, w.ARN)
	young, err := w.fake.CreateKey(w.owner, sendgrid.Marker(w.ARN, token, w.env.Clock.Now()), keyScopes)
	if err != nil {
		t.Fatal(err)
	}
	otherRotation, _ := w.fake.CreateKey(w.owner, sendgrid.Marker(w.ARN, "3f6b2a8e-5c1d-4e7a-9b0f-2d8c4e6a1b35", w.env.Clock.Now()), keyScopes)
	otherSecret, _ := w.fake.CreateKey(w.owner, sendgrid.Marker(w.ARN+"x", token, w.env.Clock.Now()), keyScopes)
	w.foreign = append(w.foreign, otherRotation.ID, otherSecret.ID)
	keys, current := w.keys(), w.env.Value(ctx, w.ARN, rotation.StageCurrent)
	err = w.env.Step(ctx, w.ARN, token, rotation.StepCreate)
	if !errors.Is(err, rotation.ErrConcurrentDelivery) {
		t.Fatalf("a young key of this rotation: %v", err)
	}
	vendorkeytest.WantIn(t, err, young.ID, "retry after")
	w.Unchanged(ctx, "a young orphan", keys, current)
	w.env.Clock.Advance(rotation.OrphanAge + time.Second)
	if err := w.env.Retry(ctx, w.ARN, token, rotation.StepCreate); err != nil {
		t.Fatal(err)
	}
	got := w.keys()
	if _, ok := got[young.ID]; ok {
		t.Fatal("the old orphan was not deleted")
	}
	for _, id := range w.foreign {
		if _, ok := got[id]; !ok {
			t.Fatalf("key %s, not this rotation's, was deleted", id)
		}
	}
}

// TestKeyLimit: at SendGrid's 100 keys the rotation is refused before it
// changes anything, naming the user.
func TestKeyLimit(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{})
	for len(w.keys()) < sendgrid.MaxKeys {
		k, err := w.fake.CreateKey(w.owner, "filler", []string{"mail.send"})
		if err != nil {
			t.Fatal(err)
		}
		w.foreign = append(w.foreign, k.ID)
	}
	w.Refused(ctx, "the key limit", "100 API keys", "nothing was changed")
}

// TestRateLimit: 429s are retried after X-RateLimit-Reset (the clock
// moves, nothing sleeps); a wait beyond the deadline is a clear error.
func TestRateLimit(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{})
	before := w.env.Clock.Now()
	if err := w.fake.ThrottleNext(w.parent, 2, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	w.env.MustRotate(ctx, w.ARN)
	if waited := w.env.Clock.Now().Sub(before); waited < 5*time.Second {
		t.Fatalf("waited %s for two 429s resetting in 3s", waited)
	}
	w.retirePrevious(ctx, w.ARN)
	if err := w.fake.ThrottleNext(w.parent, 20, time.Minute); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithDeadline(ctx, w.env.Clock.Now().Add(10*time.Second))
	defer cancel()
	r := w.Request(ctx, rotation.StageCurrent)
	_, err := w.provider(nil).Create(dctx, &rotation.CreateRequest{SecretID: w.ARN, Token: "4f6b2a8e-5c1d-4e7a-9b0f-2d8c4e6a1b35", Current: r.Version, Versions: r.Versions})
	if !errors.Is(err, sendgrid.ErrRateLimited) {
		t.Fatalf("a reset beyond the deadline: %v", err)
	}
	vendorkeytest.WantIn(t, err, "429", "retries the step later")
}

// TestDiscard: Destroy deletes (not a key a stored version names);
// without Destroy the key stays (it may have been stored).
func TestDiscard(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{subuser: true})
	p := w.provider(nil)
	k, err := w.fake.CreateKey(w.owner, sendgrid.Marker(w.ARN, "t1", w.env.Clock.Now()), keyScopes)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		value      string
		destroy    bool
		gone, kept string
	}{
		{"not destroy", w.value(k), false, "", k.ID},
		{"stored version names it", w.value(w.first), true, "", w.first.ID},
		{"destroy", w.value(k), true, k.ID, ""},
		{"destroy again", w.value(k), true, k.ID, ""},
	}
	for _, c := range cases {
		if err := p.Discard(ctx, &rotation.DiscardRequest{SecretID: w.ARN, Token: "t1", Value: c.value, Versions: w.Reader(ctx), Destroy: c.destroy}); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := w.keys()
		if _, ok := got[c.gone]; c.gone != "" && ok {
			t.Fatalf("%s: key %s is still there", c.name, c.gone)
		}
		if _, ok := got[c.kept]; c.kept != "" && !ok {
			t.Fatalf("%s: key %s was deleted", c.name, c.kept)
		}
	}
}

// TestDeleteRefusesLiveVersions: never the key of AWSCURRENT.
func TestDeleteRefusesLiveVersions(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{})
	err := w.provider(nil).Delete(ctx, w.Request(ctx, rotation.StageCurrent))
	vendorkeytest.WantIn(t, err, "refusing to delete", w.first.ID, "AWSCURRENT")
	if _, ok := w.keys()[w.first.ID]; !ok {
		t.Fatal("the current key was deleted")
	}
}

// TestBadSecretValues: a malformed value is refused with the field, and
// nothing is created.
func TestBadSecretValues(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(m map[string]any)
		field string
	}{
		{"no key", func(m map[string]any) { delete(m, "api_key") }, "api_key"},
		{"not a SendGrid key", func(m map[string]any) { m["api_key"] = "sk_live_abcdefghijklmnop" }, "api_key"},
		{"bad key id", func(m map[string]any) { m["api_key_id"] = "a b" }, "api_key_id"},
		{"header injection in subuser", func(m map[string]any) { m["subuser"] = "x\r\nAuthorization: Bearer y" }, "subuser"},
		{"no admin", func(m map[string]any) { delete(m, "master_secret_arn") }, "master_secret_arn"},
		{"scopes as number", func(m map[string]any) { m["subuser"] = 3 }, "subuser"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t, opts{})
			vendorkeytest.PutEdited(ctx, t, w.env, w.ARN, w.value(w.first), c.edit)
			keys, current := w.keys(), w.env.Value(ctx, w.ARN, rotation.StageCurrent)
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
		{Env: map[string]string{"DUALKEY_SENDGRID_API_URL": "https://api.eu.sendgrid.com"}, Want: ""},
		{Env: map[string]string{"DUALKEY_SENDGRID_API_URL": "http://127.0.0.1:9"}, Want: ""},
		{Env: map[string]string{"DUALKEY_SENDGRID_API_URL": "http://api.sendgrid.com"}, Want: "loopback"},
		{Env: map[string]string{"DUALKEY_SENDGRID_API_URL": "https://u:secretpw@api.sendgrid.com/v3"}, Want: "DUALKEY_SENDGRID_API_URL"},
		{Env: map[string]string{"DUALKEY_SENDGRID_TIMEOUT": "10m"}, Want: "DUALKEY_SENDGRID_TIMEOUT"},
		{Env: map[string]string{"DUALKEY_SENDGRID_PROPAGATION_BUDGET": "x"}, Want: "DUALKEY_SENDGRID_PROPAGATION_BUDGET"},
	}
	vendorkeytest.CheckFromEnv(t, sendgrid.FromEnv, sendgrid.Name, "secretpw", cases)
}

// TestRetryAfter: Retry-After first, X-RateLimit-Reset next, a second when
// neither is usable.
func TestRetryAfter(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	cases := []struct {
		h    map[string]string
		want time.Duration
	}{
		{nil, time.Second},
		{map[string]string{"Retry-After": "4"}, 4 * time.Second},
		{map[string]string{"X-RateLimit-Reset": strconv.FormatInt(now.Unix()+9, 10)}, 9 * time.Second},
		{map[string]string{"X-RateLimit-Reset": strconv.FormatInt(now.Unix()-9, 10)}, 0},
		{map[string]string{"Retry-After": "2", "X-RateLimit-Reset": strconv.FormatInt(now.Unix()+9, 10)}, 2 * time.Second},
		{map[string]string{"X-RateLimit-Reset": "soon"}, time.Second},
	}
	for _, c := range cases {
		h := http.Header{}
		for k, v := range c.h {
			h.Set(k, v)
		}
		if got := sendgrid.RetryAfter(h, now); got != c.want {
			t.Errorf("%v: %s, want %s", c.h, got, c.want)
		}
	}
}

// TestMarker: names fit SendGrid's 100 characters and carry the time.
func TestMarker(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	for _, token := range []string{"3f6b2a8e-5c1d-4e7a-9b0f-2d8c4e6a1b35", strings.Repeat("t", 64)} {
		m := sendgrid.Marker("arn:aws:secretsmanager:us-east-1:123456789012:secret:"+strings.Repeat("n", 500), token, at)
		if len(m) > 100 || !strings.HasPrefix(m, "dualkey ") || !strings.HasSuffix(m, " 1700000000") {
			t.Errorf("Marker = %q (%d chars)", m, len(m))
		}
	}
}

// TestUsageFingerprint: consumers send the whole key as the bearer token;
// its usage fingerprint is what shared/usagelogs searches for.
func TestUsageFingerprint(t *testing.T) {
	p := sendgrid.New(sendgrid.Config{})
	key := "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	var _ usagelogs.Fingerprinter = p
	got, err := usagelogs.FingerprintOf(p, `{"api_key":"`+key+`"}`)
	if err != nil || got != fingerprint.Of(key) || p.UsageFingerprint(`{"api_key_id":"abcdefghij"}`) != "" {
		t.Fatalf("usage fingerprint %q, %v", got, err)
	}
}
