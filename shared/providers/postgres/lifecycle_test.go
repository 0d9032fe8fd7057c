package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/jackc/pgx/v5"

	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/providers/postgres"
	"github.com/dualkey/dualkey/shared/rotation"
)

// openSession opens a session as the user of s that stays open until the
// test ends or close is called, reporting application name app.
func (w *world) openSession(s *postgres.Secret, app string) (close func()) {
	w.t.Helper()
	u, err := url.Parse(w.u.srv.PostgresURL(s.Username, s.Password, s.DBName))
	if err != nil {
		w.t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	conn, err := pgx.Connect(context.Background(), u.String())
	if err != nil {
		w.t.Fatalf("open a session as %s: %s", s.Username, sqlState(err))
	}
	var once sync.Once
	closeFn := func() { once.Do(func() { conn.Close(context.Background()) }) }
	w.t.Cleanup(closeFn)
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
	v1, _ := w.version(rotation.StageCurrent)
	v2 := w.mustRotate()
	_, prev := w.version(rotation.StagePrevious)
	_, cur := w.version(rotation.StageCurrent)
	if prev.Username != w.u.app || cur.Username != w.u.app+"_clone" {
		t.Fatalf("after the first rotation: current %q, previous %q; want %q and %q", cur.Username, prev.Username, w.u.app+"_clone", w.u.app)
	}
	for _, stage := range []string{rotation.StageCurrent, rotation.StagePrevious} {
		if err := w.works(stage); err != nil {
			t.Fatalf("%s after promotion (dual-key window): %v", stage, err)
		}
	}

	closePool := w.openSession(prev, "orders-api")
	rep := w.retire()
	if !strings.Contains(reasons(rep), "drain window") {
		t.Fatalf("retire during the drain:\n%s", reasons(rep))
	}
	w.clock.Advance(90 * time.Minute)
	rep = w.retire()
	got := reasons(rep)
	if rep.State != lifecycle.StateInUse || !strings.Contains(got, "127.0.0.1") || !strings.Contains(got, `"orders-api"`) {
		t.Fatalf("retire with a session open as the previous user: state %q, want %q with the client's address and application name:\n%s", rep.State, lifecycle.StateInUse, got)
	}
	if err := w.works(rotation.StagePrevious); err != nil {
		t.Fatalf("the previous user was switched off while in use: %v", err)
	}

	closePool()
	// Close returns before the server ends the sessions (this one and
	// works' own): wait until it lists none, as a consumer's would be.
	if err := w.u.srv.WaitNoSessions(context.Background(), prev.Username, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	rep = w.retire()
	if rep.State != lifecycle.StateDeactivated {
		t.Fatalf("retire after the session closed: state %q, want %q:\n%s", rep.State, lifecycle.StateDeactivated, reasons(rep))
	}
	if err := w.login(prev); !errors.Is(err, postgres.ErrLocked) {
		t.Fatalf("login as the deactivated previous user: %v, want ErrLocked", err)
	}
	if err := w.works(rotation.StageCurrent); err != nil {
		t.Fatalf("current user after the switch-off: %v", err)
	}
	if !slices.Contains(w.labels()[v1], rotation.StageDeactivated) {
		t.Fatalf("version %s is not labelled %s: %v", v1, rotation.StageDeactivated, w.labels())
	}
	if got := reasons(w.retire()); !strings.Contains(got, "no delete stage") {
		t.Fatalf("retire after the switch-off does not say there is no delete stage:\n%s", got)
	}

	if _, err := w.lc.Rollback(context.Background(), w.arn, lifecycle.RollbackOptions{Reason: "test"}); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if err := w.works(rotation.StagePrevious); err != nil {
		t.Fatalf("previous user after rollback: %v", err)
	}
	if _, err := w.lc.Resume(context.Background(), w.arn); err != nil {
		t.Fatal(err)
	}
	if rep := w.retire(); rep.State != lifecycle.StateDeactivated {
		t.Fatalf("retire after resume: state %q:\n%s", rep.State, reasons(rep))
	}

	// The next rotation reuses the locked user: its setSecret unlocks it
	// as it sets the new password.
	v3 := w.mustRotate()
	_, cur = w.version(rotation.StageCurrent)
	if cur.Username != w.u.app {
		t.Fatalf("third version's user %q, want %q", cur.Username, w.u.app)
	}
	for _, stage := range []string{rotation.StageCurrent, rotation.StagePrevious} {
		if err := w.works(stage); err != nil {
			t.Fatalf("%s after the rotation that reused the locked user: %v", stage, err)
		}
	}
	if err := w.login(prev); !errors.Is(err, postgres.ErrAuth) {
		t.Fatalf("the first version's password after the user was reused: %v, want ErrAuth", err)
	}
	// The lifecycle forgets the first version without touching the user,
	// and the second version's user (now previous) goes through drain.
	got = reasons(w.retire())
	if !strings.Contains(got, "provider is not touched") || slices.Contains(w.labels()[v1], rotation.StageDeactivated) {
		t.Fatalf("retire after the reuse:\n%s\nlabels %v", got, w.labels())
	}
	if err := w.works(rotation.StageCurrent); err != nil {
		t.Fatalf("current after the lifecycle forgot the reused version: %v", err)
	}
	_ = v2
	_ = v3
	w.noSecretsIn("the logs", w.logs.String())
}

// Sessions whose details the master user may not read (no
// pg_read_all_stats) still count as use: hidden evidence is never turned
// into "unused".
func TestLastUsedHiddenSessionsCountAsUse(t *testing.T) {
	t.Parallel()
	w := newWorld(t, postgres.StrategyAlternating)
	w.mustRotate()
	prevID, prev := w.version(rotation.StagePrevious)
	w.openSession(prev, "batch-job")
	u, err := w.provider.LastUsed(context.Background(), w.request(prevID))
	if err != nil {
		t.Fatal(err)
	}
	if !u.Known || u.LastUsed.IsZero() || !strings.Contains(u.Detail, "hidden") || !strings.Contains(u.Detail, "pg_read_all_stats") || !strings.Contains(u.Detail, `"batch-job"`) {
		t.Fatalf("usage with a hidden session: %+v", u)
	}
	if !u.LastUsed.Equal(w.clock.Now()) {
		t.Fatalf("LastUsed %v, want the provider's now %v", u.LastUsed, w.clock.Now())
	}
}

// The lifecycle operations refuse what would lock out a working
// credential, and change nothing when they refuse.
func TestSwitchOffRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("current user", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, postgres.StrategyAlternating)
		w.mustRotate()
		curID, _ := w.version(rotation.StageCurrent)
		err := w.provider.Deactivate(ctx, w.request(curID))
		if err == nil || !strings.Contains(err.Error(), "AWSCURRENT") {
			t.Fatalf("Deactivate(AWSCURRENT): %v, want a refusal naming AWSCURRENT", err)
		}
		if err := w.works(rotation.StageCurrent); err != nil {
			t.Fatalf("current after the refusal: %v", err)
		}
	})
	t.Run("pending rotation reuses the user", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, postgres.StrategyAlternating)
		w.mustRotate()
		prevID, _ := w.version(rotation.StagePrevious)
		// A rotation that stopped after setSecret: AWSPENDING names the
		// previous user, with its next password already set.
		w.invoke = func(ctx context.Context, payload []byte) error {
			if strings.Contains(string(payload), `"testSecret"`) {
				return errors.New("stopped")
			}
			return w.engine.HandleJSON(ctx, payload)
		}
		if _, rec := w.rotate(""); rec.Succeeded || rec.FailedStep != rotation.StepTest {
			t.Fatalf("the held rotation: %+v", rec)
		}
		w.invoke = nil
		err := w.provider.Deactivate(ctx, w.request(prevID))
		if err == nil || !strings.Contains(err.Error(), "AWSPENDING") {
			t.Fatalf("Deactivate(previous) while AWSPENDING reuses its user: %v, want a refusal naming AWSPENDING", err)
		}
		if err := w.works(rotation.StagePending); err != nil {
			t.Fatalf("pending after the refusal: %v", err)
		}
	})
	t.Run("stale view", func(t *testing.T) {
		t.Parallel()
		// The lifecycle read the secret before a rotation reused the
		// previous user; the switch-off comes after it. The password is
		// proven before the lock, so the user now AWSCURRENT stays
		// unlocked.
		w := newWorld(t, postgres.StrategyAlternating)
		w.mustRotate()
		prevID, _ := w.version(rotation.StagePrevious)
		stale := w.request(prevID)
		w.mustRotate()
		err := w.provider.Deactivate(ctx, stale)
		if !errors.Is(err, postgres.ErrAuth) || !strings.Contains(err.Error(), "nothing was locked") {
			t.Fatalf("Deactivate with a stale view: %v, want ErrAuth saying nothing was locked", err)
		}
		if err := w.works(rotation.StageCurrent); err != nil {
			t.Fatalf("current after the refused switch-off: %v", err)
		}
		if err := w.provider.Reactivate(ctx, stale); !errors.Is(err, postgres.ErrAuth) || !strings.Contains(err.Error(), "rotate the secret instead") {
			t.Fatalf("Reactivate of a reused user's old version: %v, want ErrAuth saying to rotate", err)
		}
	})
	t.Run("already locked", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, postgres.StrategyAlternating)
		w.mustRotate()
		prevID, prev := w.version(rotation.StagePrevious)
		for i := 0; i < 2; i++ {
			if err := w.provider.Deactivate(ctx, w.request(prevID)); err != nil {
				t.Fatalf("Deactivate #%d: %v", i+1, err)
			}
		}
		if err := w.login(prev); !errors.Is(err, postgres.ErrLocked) {
			t.Fatalf("login after Deactivate: %v", err)
		}
		for i := 0; i < 2; i++ {
			if err := w.provider.Reactivate(ctx, w.request(prevID)); err != nil {
				t.Fatalf("Reactivate #%d: %v", i+1, err)
			}
		}
		if err := w.login(prev); err != nil {
			t.Fatalf("login after Reactivate: %v", err)
		}
	})
}

// A retire run that switches the previous user off while a rotation gives
// that user its next password (retire read the secret before the
// rotation): whatever the interleaving, the rotation ends with a working
// AWSCURRENT, and the switch-off either locked the old credential before
// the rotation unlocked the user again, or refused.
func TestSwitchOffRacesRotation(t *testing.T) {
	t.Parallel()
	trials := 8
	if testing.Short() {
		trials = 3
	}
	for i := 0; i < trials; i++ {
		w := newWorld(t, postgres.StrategyAlternating)
		w.mustRotate()
		prevID, _ := w.version(rotation.StagePrevious)
		stale := w.request(prevID)
		var wg sync.WaitGroup
		var deactErr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 15 * time.Millisecond)
			deactErr = w.provider.Deactivate(context.Background(), stale)
		}()
		_, rec := w.rotate("")
		wg.Wait()
		if !rec.Succeeded {
			// testSecret saw the user locked between setSecret and it:
			// Secrets Manager's retry sets it again.
			if _, rec = w.rotate(rec.Token); !rec.Succeeded {
				t.Fatalf("trial %d: the retried rotation failed at %s: %s", i, rec.FailedStep, rec.Error)
			}
		}
		if err := w.works(rotation.StageCurrent); err != nil {
			t.Fatalf("trial %d: AWSCURRENT after a switch-off raced the rotation (switch-off: %v): %v", i, deactErr, err)
		}
		outcome := "the switch-off locked the old credential first"
		if deactErr != nil {
			outcome = "the switch-off refused: " + deactErr.Error()
		}
		t.Logf("trial %d: %s", i, outcome)
	}
}

// A single-user secret has no old credential left after setSecret: the
// lifecycle gets no usage evidence, Deactivate changes nothing (and the
// current password keeps working), and Reactivate refuses to bring the old
// password back.
func TestSingleUserLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, postgres.StrategySingle)
	w.mustRotate()
	prevID, prev := w.version(rotation.StagePrevious)
	_, cur := w.version(rotation.StageCurrent)
	if prev.Username != cur.Username || prev.Password == cur.Password {
		t.Fatalf("single-user rotation: previous %q, current %q", prev.Username, cur.Username)
	}
	if err := w.login(prev); !errors.Is(err, postgres.ErrAuth) {
		t.Fatalf("the replaced password: %v, want ErrAuth (no dual-key window)", err)
	}
	u, err := w.provider.LastUsed(ctx, w.request(prevID))
	if err != nil || u.Known || !strings.Contains(u.Detail, "single-user") {
		t.Fatalf("LastUsed: %+v, %v; want no evidence, saying single-user", u, err)
	}
	if err := w.provider.Deactivate(ctx, w.request(prevID)); err != nil {
		t.Fatalf("Deactivate: %v", err)
	}
	if err := w.works(rotation.StageCurrent); err != nil {
		t.Fatalf("current after Deactivate: %v", err)
	}
	err = w.provider.Reactivate(ctx, w.request(prevID))
	if err == nil || !strings.Contains(err.Error(), "rotate the secret instead") {
		t.Fatalf("Reactivate: %v, want a refusal saying to rotate", err)
	}
	if err := w.works(rotation.StageCurrent); err != nil {
		t.Fatalf("current after the refused Reactivate: %v", err)
	}
}

// A single-user secret has no old credential left once setSecret changed
// the password in place, and the lifecycle says so instead of claiming a
// switch-off: status and the dry run show the path "none" and why, even
// before the first rotation; retire records the state "replaced" at once
// (no drain, no deactivation, no DUALKEY_DEACTIVATED, no
// CredentialDeactivated, AWSPREVIOUS kept) and then has nothing to do;
// a rollback is refused by an operator and ignored for an alarm, changing
// nothing; and a cancel that would leave AWSCURRENT's replaced password as
// the secret's only credential is refused, while retrying the rotation
// finishes it.
func TestSingleUserRecordsNoSwitchOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, postgres.StrategySingle)
	tagSecretT(t, w, map[string]string{lifecycle.TagAlarm: "orders-5xx"})
	why := `single-user secret: user "` + w.u.app + `" changes its own password at setSecret`
	dry, err := w.lc.Retire(ctx, w.arn, lifecycle.Options{DryRun: true})
	if err != nil || !strings.HasPrefix(dry.Path, "none: nothing to switch off") || !strings.Contains(dry.Path, why) {
		t.Fatalf("dry run before the first rotation: %v; path %q, want none saying %q", err, dry.Path, why)
	}
	w.mustRotate()
	old, _ := w.version(rotation.StagePrevious)
	dry, err = w.lc.Retire(ctx, w.arn, lifecycle.Options{DryRun: true})
	if err != nil || !strings.Contains(dry.String(), "lifecycle: none: nothing to switch off ("+why) || !strings.Contains(dry.String(), "nothing to switch off: "+why) || dry.State != lifecycle.StateReplaced {
		t.Fatalf("dry run after the rotation: %v\n%s", err, dry)
	}
	if st := tagsOfWorld(t, w)[lifecycle.TagState]; st != "" {
		t.Fatalf("the dry run wrote state %q", st)
	}

	rep := w.retire() // within the drain window: nothing to drain
	if rep.State != lifecycle.StateReplaced || !strings.Contains(reasons(rep), "no deactivation is recorded") {
		t.Fatalf("retire: state %q\n%s", rep.State, reasons(rep))
	}
	for _, a := range rep.Actions {
		if a.Op.Changes() {
			t.Fatalf("retire claims a step: %s %s", a.Op, a.Reason)
		}
	}
	tags := tagsOfWorld(t, w)
	if tags[lifecycle.TagState] != lifecycle.StateReplaced || tags[lifecycle.TagStateVersion] != old || !strings.Contains(tags[lifecycle.TagStateNote], "single-user secret") {
		t.Fatalf("state tags %v", tags)
	}
	if _, ok := tags[lifecycle.TagDeactivatedAt]; ok {
		t.Fatalf("a deactivation time was recorded: %v", tags)
	}
	labels := w.labels()
	if rotation.Holder(labels, rotation.StageDeactivated) != "" || rotation.Holder(labels, rotation.StagePrevious) != old {
		t.Fatalf("labels %v: want AWSPREVIOUS kept on %s and no %s", labels, old, rotation.StageDeactivated)
	}
	if m := w.metrics.String(); strings.Contains(m, "CredentialDeactivated") || strings.Contains(m, "RetireFailed") {
		t.Fatalf("metrics:\n%s", m)
	}
	w.clock.Advance(3 * time.Hour)
	if rep := w.retire(); rep.State != lifecycle.StateReplaced || !strings.Contains(reasons(rep), "nothing to switch off until the next rotation") {
		t.Fatalf("the next run: %s", reasons(rep))
	}
	if err := w.works(rotation.StageCurrent); err != nil {
		t.Fatalf("current: %v", err)
	}

	_, err = w.lc.Rollback(ctx, w.arn, lifecycle.RollbackOptions{Reason: "test", Force: true})
	if !errors.Is(err, lifecycle.ErrNothingToRollBack) || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "dualkey rotate") {
		t.Fatalf("rollback: %v, want ErrNothingToRollBack saying why and naming dualkey rotate", err)
	}
	reps, err := w.lc.HandleAlarm(ctx, alarmEvent("orders-5xx", w.clock.Now()))
	if err != nil || len(reps) != 1 || !strings.Contains(reps[0].String(), "ignored") || !strings.Contains(reps[0].String(), why) {
		t.Fatalf("alarm: %v %v", err, reps)
	}
	if got := tagsOfWorld(t, w); got[lifecycle.TagState] != lifecycle.StateReplaced {
		t.Fatalf("a refused rollback changed the state: %v", got)
	}
	if strings.Contains(w.metrics.String(), "RollbackPerformed") {
		t.Fatal("a refused rollback was counted")
	}

	// A rotation that stops after setSecret: the password is already the
	// pending one, so AWSCURRENT's no longer works.
	w.invoke = func(ctx context.Context, payload []byte) error {
		if strings.Contains(string(payload), `"testSecret"`) {
			return errors.New("stopped")
		}
		return w.engine.HandleJSON(ctx, payload)
	}
	token, rec := w.rotate("")
	if rec.Succeeded || rec.FailedStep != rotation.StepTest {
		t.Fatalf("the held rotation: %+v", rec)
	}
	w.invoke = nil
	if err := w.works(rotation.StageCurrent); err == nil {
		t.Fatal("AWSCURRENT still logs in after a single-user setSecret: the test does not show the hazard")
	}
	_, err = w.lc.Cancel(ctx, w.arn, lifecycle.CancelOptions{})
	if !errors.Is(err, lifecycle.ErrCancelUnsafe) || !strings.Contains(err.Error(), "--client-request-token "+token) {
		t.Fatalf("cancel: %v, want ErrCancelUnsafe naming the retry", err)
	}
	if rotation.Holder(w.labels(), rotation.StagePending) != token {
		t.Fatal("the refused cancel removed AWSPENDING")
	}
	if _, rec := w.rotate(token); !rec.Succeeded {
		t.Fatalf("the retried rotation: %s %s", rec.FailedStep, rec.Error)
	}
	if err := w.works(rotation.StageCurrent); err != nil {
		t.Fatalf("current after the retried rotation: %v", err)
	}
	w.noSecretsIn("the logs", w.logs.String()+w.metrics.String())
}

// tagSecretT tags the world's secret.
func tagSecretT(t *testing.T, w *world, kv map[string]string) {
	t.Helper()
	var tags []types.Tag
	for k, v := range kv {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	if _, err := w.sm.TagResource(context.Background(), &secretsmanager.TagResourceInput{SecretId: aws.String(w.arn), Tags: tags}); err != nil {
		t.Fatal(err)
	}
}

// tagsOfWorld returns the world's secret's tags.
func tagsOfWorld(t *testing.T, w *world) map[string]string {
	t.Helper()
	d, err := w.sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(w.arn)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, tg := range d.Tags {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

// alarmEvent is EventBridge's event for an alarm entering ALARM at at.
func alarmEvent(name string, at time.Time) events.CloudWatchEvent {
	detail, _ := json.Marshal(map[string]any{"alarmName": name, "state": map[string]string{
		"value": "ALARM", "timestamp": at.UTC().Format("2006-01-02T15:04:05.000-0700")}})
	return events.CloudWatchEvent{Source: "aws.cloudwatch", DetailType: "CloudWatch Alarm State Change", Time: at, Detail: detail}
}
