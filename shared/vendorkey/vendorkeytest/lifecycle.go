package vendorkeytest

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

// LifecycleBed is what DeleteOnlyLifecycle needs of a provider's test
// world: a secret whose first key is in the vendor's fake.
type LifecycleBed struct {
	Env *rotationtest.Env
	// ARN is the secret; its AWSCURRENT holds the first key.
	ARN string
	// Vendor names the vendor in messages ("Twilio").
	Vendor string
	// Provider is the provider under test, by its name.
	Name     string
	Provider rotation.Provider
	// Logs receives the lifecycle's log lines.
	Logs interface {
		io.Writer
		String() string
	}
	// FirstWorks reports whether the vendor accepts the first key (nil).
	FirstWorks func(ctx context.Context) error
	// FirstID is the first key's id.
	FirstID string
	// Keys returns the ids of the keys in the fake (of the key's account or
	// user, foreign ones included).
	Keys func() map[string]string
	// CurrentID returns the key id AWSCURRENT names.
	CurrentID func(ctx context.Context) string
	// NoSecrets fails if text shows a secret of the bed.
	NoSecrets func(what, text string)
}

// DeleteOnlyLifecycle runs the real lifecycle on a rotated key (the secret
// tagged with a 1h drain and a 24h confirmation): the old key keeps working
// through the drain and the confirmation period, a rollback in between
// holds it, and after the period it is deleted at the vendor and loses
// AWSPREVIOUS; the audit finds no orphan; a rotation that did not finish is
// cancelled without leaving its key behind.
func DeleteOnlyLifecycle(t *testing.T, b LifecycleBed) {
	t.Helper()
	ctx := context.Background()
	b.Env.Tag(ctx, b.ARN, map[string]string{lifecycle.TagDrain: "1h", lifecycle.TagConfirm: "24h"})
	b.Env.MustRotate(ctx, b.ARN)
	lc, err := lifecycle.New(lifecycle.Config{SecretsManager: b.Env.SM, Providers: map[string]rotation.Provider{b.Name: b.Provider},
		Now: b.Env.Clock.Now, LogWriter: b.Logs, MetricsWriter: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	retire := func(want string) {
		t.Helper()
		rep, err := lc.Retire(ctx, b.ARN, lifecycle.Options{})
		if err != nil || rep.State != want {
			t.Fatalf("retire: state %q (%v), want %q\n%s", rep.State, err, want, rep)
		}
	}
	b.Env.Clock.Advance(61 * time.Minute)
	retire(lifecycle.StateConfirming)
	if err := b.FirstWorks(ctx); err != nil {
		t.Fatalf("the old key stopped working during the confirmation period: %v", err)
	}
	if _, err := lc.Rollback(ctx, b.ARN, lifecycle.RollbackOptions{Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	b.Env.Clock.Advance(25 * time.Hour)
	retire(lifecycle.StateHeld)
	if _, err := lc.Resume(ctx, b.ARN); err != nil {
		t.Fatal(err)
	}
	retire(lifecycle.StateConfirming)
	b.Env.Clock.Advance(25 * time.Hour)
	retire(lifecycle.StateDeleted)
	if _, ok := b.Keys()[b.FirstID]; ok || b.FirstWorks(ctx) == nil {
		t.Fatalf("the old key was not deleted at %s", b.Vendor)
	}
	if Holder(b.Env.Labels(ctx, b.ARN), rotation.StagePrevious) != "" {
		t.Fatal("AWSPREVIOUS is still on the deleted key's version")
	}
	audit, err := lc.Audit(ctx, b.ARN)
	if err != nil || len(audit.Orphans) != 0 || len(audit.Credentials) != 1 {
		t.Fatalf("audit: %v, credentials %v, orphans %v", err, audit.Credentials, audit.Orphans)
	}

	// A rotation stuck after createSecret is cancelled: its key goes.
	token := b.Env.Hold(ctx, b.ARN)
	if err := b.Env.Step(ctx, b.ARN, token, rotation.StepCreate); err != nil {
		t.Fatal(err)
	}
	pending := b.CurrentID(ctx) // AWSCURRENT is unchanged; the pending key is the marked one
	before := len(b.Keys())
	if _, err := lc.Cancel(ctx, b.ARN, lifecycle.CancelOptions{}); err != nil {
		t.Fatal(err)
	}
	if after := len(b.Keys()); after != before-1 {
		t.Fatalf("cancel left %d keys of %d", after, before)
	}
	if _, ok := b.Keys()[pending]; !ok {
		t.Fatal("cancel deleted the current key")
	}
	b.NoSecrets("the lifecycle's logs", b.Logs.String())
}
