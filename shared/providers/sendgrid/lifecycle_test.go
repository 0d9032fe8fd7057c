package sendgrid_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/rotation"
)

// TestDeleteOnlyLifecycle runs the real lifecycle on a rotated key: the old
// key keeps working through the drain and the confirmation period, a
// rollback in between holds it, and after the period it is deleted at
// Twilio and loses AWSPREVIOUS; the audit finds no orphan; a rotation that
// did not finish is cancelled without leaving its key behind.
func TestDeleteOnlyLifecycle(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, opts{subuser: true})
	w.env.Tag(ctx, w.arn, map[string]string{lifecycle.TagDrain: "1h", lifecycle.TagConfirm: "24h"})
	w.env.MustRotate(ctx, w.arn)
	lc, err := lifecycle.New(lifecycle.Config{SecretsManager: w.env.SM, Providers: map[string]rotation.Provider{"sendgrid": w.provider(nil)},
		Now: w.env.Clock.Now, LogWriter: w.logs, MetricsWriter: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	retire := func(want string) {
		t.Helper()
		rep, err := lc.Retire(ctx, w.arn, lifecycle.Options{})
		if err != nil || rep.State != want {
			t.Fatalf("retire: state %q (%v), want %q\n%s", rep.State, err, want, rep)
		}
	}
	w.env.Clock.Advance(61 * time.Minute)
	retire(lifecycle.StateConfirming)
	if err := w.works(ctx, w.value(w.first)); err != nil {
		t.Fatalf("the old key stopped working during the confirmation period: %v", err)
	}
	if _, err := lc.Rollback(ctx, w.arn, lifecycle.RollbackOptions{Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	w.env.Clock.Advance(25 * time.Hour)
	retire(lifecycle.StateHeld)
	if _, err := lc.Resume(ctx, w.arn); err != nil {
		t.Fatal(err)
	}
	retire(lifecycle.StateConfirming)
	w.env.Clock.Advance(25 * time.Hour)
	retire(lifecycle.StateDeleted)
	if _, ok := w.keys()[w.first.ID]; ok || w.works(ctx, w.value(w.first)) == nil {
		t.Fatal("the old key was not deleted at SendGrid")
	}
	if holder(w.env.Labels(ctx, w.arn), rotation.StagePrevious) != "" {
		t.Fatal("AWSPREVIOUS is still on the deleted key's version")
	}
	audit, err := lc.Audit(ctx, w.arn)
	if err != nil || len(audit.Orphans) != 0 || len(audit.Credentials) != 1 {
		t.Fatalf("audit: %v, credentials %v, orphans %v", err, audit.Credentials, audit.Orphans)
	}

	// A rotation stuck after createSecret is cancelled: its key goes.
	token := w.env.Hold(ctx, w.arn)
	if err := w.env.Step(ctx, w.arn, token, rotation.StepCreate); err != nil {
		t.Fatal(err)
	}
	pending := w.current(ctx, w.arn) // AWSCURRENT is unchanged; the pending key is the marked one
	before := len(w.keys())
	if _, err := lc.Cancel(ctx, w.arn, lifecycle.CancelOptions{}); err != nil {
		t.Fatal(err)
	}
	if after := len(w.keys()); after != before-1 {
		t.Fatalf("cancel left %d keys of %d", after, before)
	}
	if _, ok := w.keys()[pending.APIKeyID]; !ok {
		t.Fatal("cancel deleted the current key")
	}
	w.noSecrets("the lifecycle's logs", w.logs.String())
}
