package twiliotoken_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/providers/twiliotoken"
	"github.com/dualkey/dualkey/shared/rotation"
)

// TestDeleteOnlyLifecycle runs the real lifecycle on a rotated token: both
// tokens work through the drain and the confirmation period; then the
// delete promotes the secondary at Twilio (the old primary dies). A
// rollback with --restore-current during the confirmation period moves
// AWSCURRENT back to the old primary, and the resumed retirement then
// deletes the secondary instead. Cancel deletes a pending secondary.
func TestDeleteOnlyLifecycle(t *testing.T) {
	for _, rollback := range []bool{false, true} {
		name := "promote"
		if rollback {
			name = "rolled back"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t, opts{})
			w.env.Tag(ctx, w.ARN, map[string]string{lifecycle.TagDrain: "1h", lifecycle.TagConfirm: "24h"})
			w.env.MustRotate(ctx, w.ARN)
			old, fresh := w.acct.AuthToken, w.token(ctx, rotation.StageCurrent)
			lc, err := lifecycle.New(lifecycle.Config{SecretsManager: w.env.SM, Providers: map[string]rotation.Provider{"twiliotoken": w.provider(nil)},
				Now: w.env.Clock.Now, LogWriter: w.logs, MetricsWriter: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			retire := func(want string) {
				t.Helper()
				rep, err := lc.Retire(ctx, w.ARN, lifecycle.Options{})
				if err != nil || rep.State != want {
					t.Fatalf("retire: state %q (%v), want %q\n%s", rep.State, err, want, rep)
				}
			}
			w.env.Clock.Advance(61 * time.Minute)
			retire(lifecycle.StateConfirming)
			for _, tok := range []string{old, fresh} {
				if err := w.works(ctx, w.value(tok)); err != nil {
					t.Fatalf("a token stopped working during the confirmation period: %v", err)
				}
			}
			survivor := fresh
			if rollback {
				yes := true
				if _, err := lc.Rollback(ctx, w.ARN, lifecycle.RollbackOptions{Reason: "test", RestoreCurrent: &yes}); err != nil {
					t.Fatal(err)
				}
				if w.token(ctx, rotation.StageCurrent) != old {
					t.Fatal("the rollback did not restore AWSCURRENT")
				}
				if _, err := lc.Resume(ctx, w.ARN); err != nil {
					t.Fatal(err)
				}
				survivor = old
				w.env.Clock.Advance(61 * time.Minute)
				retire(lifecycle.StateConfirming)
			}
			w.env.Clock.Advance(25 * time.Hour)
			retire(lifecycle.StateDeleted)
			if p, s := w.tokens(); p != survivor || s != "" {
				t.Fatalf("after the delete: primary %s secondary %s, want %s alone", twiliotoken.TokenFingerprint(p), twiliotoken.TokenFingerprint(s), twiliotoken.TokenFingerprint(survivor))
			}
			if w.token(ctx, rotation.StageCurrent) != survivor {
				t.Fatal("AWSCURRENT does not hold the surviving token")
			}
			audit, err := lc.Audit(ctx, w.ARN)
			if err != nil || len(audit.Orphans) != 0 {
				t.Fatalf("audit: %v, orphans %v", err, audit.Orphans)
			}

			// A rotation stuck after createSecret is cancelled: its
			// secondary goes, the primary stays.
			token := w.env.Hold(ctx, w.ARN)
			if err := w.env.Step(ctx, w.ARN, token, rotation.StepCreate); err != nil {
				t.Fatal(err)
			}
			if _, err := lc.Cancel(ctx, w.ARN, lifecycle.CancelOptions{}); err != nil {
				t.Fatal(err)
			}
			if p, s := w.tokens(); p != survivor || s != "" {
				t.Fatal("cancel did not delete the pending secondary alone")
			}
			if keys, _ := w.fake.Keys(w.acct.Sid); len(keys) != 0 {
				t.Fatalf("cancel left %d lock keys", len(keys))
			}
			w.noSecrets("the lifecycle's logs", w.logs.String())
		})
	}
}
