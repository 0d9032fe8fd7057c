package postgres_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/providers/postgres"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/sqlcred"
	"github.com/dualkey/dualkey/shared/sqlcred/sqlcredtest"
)

// openSession opens a session as the user of s that stays open until the
// test ends or close is called, reporting application name app.
func (w *world) openSession(s *sqlcred.Secret, app string) (close func()) {
	w.T.Helper()
	u, err := url.Parse(w.u.srv.PostgresURL(s.Username, s.Password, s.DBName))
	if err != nil {
		w.T.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	conn, err := pgx.Connect(context.Background(), u.String())
	if err != nil {
		w.T.Fatalf("open a session as %s: %s", s.Username, sqlState(err))
	}
	var once sync.Once
	closeFn := func() { once.Do(func() { conn.Close(context.Background()) }) }
	w.T.Cleanup(closeFn)
	return closeFn
}

// The whole lifecycle of alternating users against the real server, with
// dualkey's lifecycle: the previous user stays valid through the drain; a
// session still open as the previous user holds the switch-off and the
// alert names its client address and application name; once it closes the
// previous user is locked (its login fails, the current user's works);
// rollback unlocks it; and the next rotation, which reuses that user, works
// even while it is locked.
func TestLifecycleAlternatingUsers(t *testing.T) {
	t.Parallel()
	w := newWorld(t, postgres.StrategyAlternating)
	w.u.srv.MustExec(t, w.u.db, "GRANT pg_read_all_stats TO "+w.u.master)
	v1, _ := w.Version(rotation.StageCurrent)
	v2 := w.MustRotate()
	_, prev := w.Version(rotation.StagePrevious)
	_, cur := w.Version(rotation.StageCurrent)
	if prev.Username != w.u.app || cur.Username != w.u.app+"_clone" {
		t.Fatalf("after the first rotation: current %q, previous %q; want %q and %q", cur.Username, prev.Username, w.u.app+"_clone", w.u.app)
	}
	for _, stage := range []string{rotation.StageCurrent, rotation.StagePrevious} {
		if err := w.Works(stage); err != nil {
			t.Fatalf("%s after promotion (dual-key window): %v", stage, err)
		}
	}

	closePool := w.openSession(prev, "orders-api")
	rep := w.Retire()
	if !strings.Contains(sqlcredtest.Reasons(rep), "drain window") {
		t.Fatalf("retire during the drain:\n%s", sqlcredtest.Reasons(rep))
	}
	w.Clock.Advance(90 * time.Minute)
	rep = w.Retire()
	got := sqlcredtest.Reasons(rep)
	if rep.State != lifecycle.StateInUse || !strings.Contains(got, "127.0.0.1") || !strings.Contains(got, `"orders-api"`) {
		t.Fatalf("retire with a session open as the previous user: state %q, want %q with the client's address and application name:\n%s", rep.State, lifecycle.StateInUse, got)
	}
	if err := w.Works(rotation.StagePrevious); err != nil {
		t.Fatalf("the previous user was switched off while in use: %v", err)
	}

	closePool()
	// Close returns before the server ends the sessions (this one and
	// works' own): wait until it lists none, as a consumer's would be.
	if err := w.u.srv.WaitNoSessions(context.Background(), prev.Username, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	rep = w.Retire()
	if rep.State != lifecycle.StateDeactivated {
		t.Fatalf("retire after the session closed: state %q, want %q:\n%s", rep.State, lifecycle.StateDeactivated, sqlcredtest.Reasons(rep))
	}
	if err := w.Login(prev); !errors.Is(err, postgres.ErrLocked) {
		t.Fatalf("login as the deactivated previous user: %v, want ErrLocked", err)
	}
	if err := w.Works(rotation.StageCurrent); err != nil {
		t.Fatalf("current user after the switch-off: %v", err)
	}
	if !slices.Contains(w.Labels()[v1], rotation.StageDeactivated) {
		t.Fatalf("version %s is not labelled %s: %v", v1, rotation.StageDeactivated, w.Labels())
	}
	if got := sqlcredtest.Reasons(w.Retire()); !strings.Contains(got, "no delete stage") {
		t.Fatalf("retire after the switch-off does not say there is no delete stage:\n%s", got)
	}

	if _, err := w.LC.Rollback(context.Background(), w.ARN, lifecycle.RollbackOptions{Reason: "test"}); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if err := w.Works(rotation.StagePrevious); err != nil {
		t.Fatalf("previous user after rollback: %v", err)
	}
	if _, err := w.LC.Resume(context.Background(), w.ARN); err != nil {
		t.Fatal(err)
	}
	if rep := w.Retire(); rep.State != lifecycle.StateDeactivated {
		t.Fatalf("retire after resume: state %q:\n%s", rep.State, sqlcredtest.Reasons(rep))
	}

	// The next rotation reuses the locked user: its setSecret unlocks it
	// as it sets the new password.
	v3 := w.MustRotate()
	_, cur = w.Version(rotation.StageCurrent)
	if cur.Username != w.u.app {
		t.Fatalf("third version's user %q, want %q", cur.Username, w.u.app)
	}
	for _, stage := range []string{rotation.StageCurrent, rotation.StagePrevious} {
		if err := w.Works(stage); err != nil {
			t.Fatalf("%s after the rotation that reused the locked user: %v", stage, err)
		}
	}
	if err := w.Login(prev); !errors.Is(err, postgres.ErrAuth) {
		t.Fatalf("the first version's password after the user was reused: %v, want ErrAuth", err)
	}
	// The lifecycle forgets the first version without touching the user,
	// and the second version's user (now previous) goes through drain.
	got = sqlcredtest.Reasons(w.Retire())
	if !strings.Contains(got, "provider is not touched") || slices.Contains(w.Labels()[v1], rotation.StageDeactivated) {
		t.Fatalf("retire after the reuse:\n%s\nlabels %v", got, w.Labels())
	}
	if err := w.Works(rotation.StageCurrent); err != nil {
		t.Fatalf("current after the lifecycle forgot the reused version: %v", err)
	}
	_ = v2
	_ = v3
	w.NoSecretsIn("the logs", w.Logs.String())
}

// Sessions whose details the master user may not read (no
// pg_read_all_stats) still count as use: hidden evidence is never turned
// into "unused".
func TestLastUsedHiddenSessionsCountAsUse(t *testing.T) {
	t.Parallel()
	w := newWorld(t, postgres.StrategyAlternating)
	w.MustRotate()
	prevID, prev := w.Version(rotation.StagePrevious)
	w.openSession(prev, "batch-job")
	u, err := w.Provider.LastUsed(context.Background(), w.Request(prevID))
	if err != nil {
		t.Fatal(err)
	}
	if !u.Known || u.LastUsed.IsZero() || !strings.Contains(u.Detail, "hidden") || !strings.Contains(u.Detail, "pg_read_all_stats") || !strings.Contains(u.Detail, `"batch-job"`) {
		t.Fatalf("usage with a hidden session: %+v", u)
	}
	if !u.LastUsed.Equal(w.Clock.Now()) {
		t.Fatalf("LastUsed %v, want the provider's now %v", u.LastUsed, w.Clock.Now())
	}
}

// TestLifecycle runs sqlcredtest's lifecycle scenarios against the world:
// the switch-off's refusals, a switch-off racing a rotation, and the
// single-user strategy's lifecycle.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	sqlcredtest.TestLifecycle(t, sqlcredtest.LifecycleKit{
		NewWorld: func(t testing.TB, strategy sqlcred.Strategy) *sqlcredtest.World {
			return newWorld(t, strategy).Shared()
		},
		ErrLocked: postgres.ErrLocked,
		RaceStep:  15 * time.Millisecond,
	})
}
