package sqlcredtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/sqlcred"
)

// World is one secret of an app user on an engine's test server, in an
// emulator whose RotateSecret runs dualkey's engine with the engine's
// provider, and dualkey's lifecycle on it: the engine's test world, seen
// by the shared lifecycle scenarios.
type World struct {
	// ARN is the secret's; App its user at creation.
	ARN, App string
	SM       *secretsmanager.Client
	Engine   *rotation.Engine
	LC       *lifecycle.Lifecycle
	Provider interface {
		rotation.UsageReporter
		rotation.Deactivator
	}
	// Invoke points at the world's rotation step runner: nil runs Engine.
	Invoke *func(ctx context.Context, payload []byte) error
	// Clock is the world's fake clock; Logs and Metrics receive the
	// engine's and the lifecycle's lines.
	Clock interface {
		Now() time.Time
		Advance(time.Duration)
	}
	Logs, Metrics fmt.Stringer
	// MustRotate rotates and fails the test unless the rotation succeeded.
	MustRotate func() string
	// Rotate runs RotateSecret (with token, when not empty) and returns
	// the version and the emulator's record of it.
	Rotate func(token string) (string, Rotation)
	// Version returns the version holding stage ("" when none) and its
	// value.
	Version func(stage string) (string, *sqlcred.Secret)
	// Labels returns version id -> stages.
	Labels func() map[string][]string
	// Login logs in with a decoded secret (nil: it worked).
	Login func(*sqlcred.Secret) error
	// Works logs in with the version holding stage and reads the table.
	Works func(stage string) error
	// Request is a lifecycle request for version id.
	Request func(id string) *rotation.CredentialRequest
	// Retire runs dualkey's retire on the secret.
	Retire func() *lifecycle.Report
	// NoSecretsIn fails the test when a password of the world appears in
	// s.
	NoSecretsIn func(what, s string)
}

// Rotation is the emulator's record of a rotation.
type Rotation struct {
	Token, FailedStep, Error string
	Succeeded                bool
}

// LifecycleKit is an engine's test world, for TestLifecycle.
type LifecycleKit struct {
	// NewWorld creates the app user and its secret of strategy.
	NewWorld func(t testing.TB, strategy sqlcred.Strategy) *World
	// ErrLocked is the engine's kind of a switched-off login.
	ErrLocked error
	// RaceStep spaces the trials of TestSwitchOffRacesRotation.
	RaceStep time.Duration
}

// TestLifecycle runs the lifecycle scenarios every SQL provider must pass
// against k's world: refusals, a switch-off racing a rotation, and the
// single-user strategy's lifecycle.
func TestLifecycle(t *testing.T, k LifecycleKit) {
	t.Run("SwitchOffRefusals", func(t *testing.T) { TestSwitchOffRefusals(t, k) })
	t.Run("SwitchOffRacesRotation", func(t *testing.T) { TestSwitchOffRacesRotation(t, k) })
	t.Run("SingleUserLifecycle", func(t *testing.T) { TestSingleUserLifecycle(t, k) })
	t.Run("SingleUserRecordsNoSwitchOff", func(t *testing.T) { TestSingleUserRecordsNoSwitchOff(t, k) })
}

// Reasons joins the report's actions as "op: reason" lines.
func Reasons(rep *lifecycle.Report) string {
	var b strings.Builder
	for _, a := range rep.Actions {
		fmt.Fprintf(&b, "%s: %s\n", a.Op, a.Reason)
	}
	return b.String()
}

// TestSwitchOffRefusals: the lifecycle operations refuse what would lock
// out a working credential, and change nothing when they refuse.
func TestSwitchOffRefusals(t *testing.T, k LifecycleKit) {
	t.Parallel()
	ctx := context.Background()
	t.Run("current user", func(t *testing.T) {
		t.Parallel()
		w := k.NewWorld(t, sqlcred.StrategyAlternating)
		w.MustRotate()
		curID, _ := w.Version(rotation.StageCurrent)
		err := w.Provider.Deactivate(ctx, w.Request(curID))
		if err == nil || !strings.Contains(err.Error(), "AWSCURRENT") {
			t.Fatalf("Deactivate(AWSCURRENT): %v, want a refusal naming AWSCURRENT", err)
		}
		if err := w.Works(rotation.StageCurrent); err != nil {
			t.Fatalf("current after the refusal: %v", err)
		}
	})
	t.Run("pending rotation reuses the user", func(t *testing.T) {
		t.Parallel()
		w := k.NewWorld(t, sqlcred.StrategyAlternating)
		w.MustRotate()
		prevID, _ := w.Version(rotation.StagePrevious)
		// A rotation that stopped after setSecret: AWSPENDING names the
		// previous user, with its next password already set.
		*w.Invoke = func(ctx context.Context, payload []byte) error {
			if strings.Contains(string(payload), `"testSecret"`) {
				return errors.New("stopped")
			}
			return w.Engine.HandleJSON(ctx, payload)
		}
		if _, rec := w.Rotate(""); rec.Succeeded || rec.FailedStep != rotation.StepTest {
			t.Fatalf("the held rotation: %+v", rec)
		}
		*w.Invoke = nil
		err := w.Provider.Deactivate(ctx, w.Request(prevID))
		if err == nil || !strings.Contains(err.Error(), "AWSPENDING") {
			t.Fatalf("Deactivate(previous) while AWSPENDING reuses its user: %v, want a refusal naming AWSPENDING", err)
		}
		if err := w.Works(rotation.StagePending); err != nil {
			t.Fatalf("pending after the refusal: %v", err)
		}
	})
	t.Run("stale view", func(t *testing.T) {
		t.Parallel()
		// The lifecycle read the secret before a rotation reused the
		// previous user; the switch-off comes after it. The password is
		// proven before the lock, so the user now AWSCURRENT stays
		// unlocked.
		w := k.NewWorld(t, sqlcred.StrategyAlternating)
		w.MustRotate()
		prevID, _ := w.Version(rotation.StagePrevious)
		stale := w.Request(prevID)
		w.MustRotate()
		err := w.Provider.Deactivate(ctx, stale)
		if !errors.Is(err, sqlcred.ErrAuth) || !strings.Contains(err.Error(), "nothing was locked") {
			t.Fatalf("Deactivate with a stale view: %v, want ErrAuth saying nothing was locked", err)
		}
		if err := w.Works(rotation.StageCurrent); err != nil {
			t.Fatalf("current after the refused switch-off: %v", err)
		}
		if err := w.Provider.Reactivate(ctx, stale); !errors.Is(err, sqlcred.ErrAuth) || !strings.Contains(err.Error(), "rotate the secret instead") {
			t.Fatalf("Reactivate of a reused user's old version: %v, want ErrAuth saying to rotate", err)
		}
	})
	t.Run("already locked", func(t *testing.T) {
		t.Parallel()
		w := k.NewWorld(t, sqlcred.StrategyAlternating)
		w.MustRotate()
		prevID, prev := w.Version(rotation.StagePrevious)
		for i := 0; i < 2; i++ {
			if err := w.Provider.Deactivate(ctx, w.Request(prevID)); err != nil {
				t.Fatalf("Deactivate #%d: %v", i+1, err)
			}
		}
		if err := w.Login(prev); !errors.Is(err, k.ErrLocked) {
			t.Fatalf("login after Deactivate: %v", err)
		}
		for i := 0; i < 2; i++ {
			if err := w.Provider.Reactivate(ctx, w.Request(prevID)); err != nil {
				t.Fatalf("Reactivate #%d: %v", i+1, err)
			}
		}
		if err := w.Login(prev); err != nil {
			t.Fatalf("login after Reactivate: %v", err)
		}
	})
}

// TestSwitchOffRacesRotation: a retire run that switches the previous user
// off while a rotation gives
// that user its next password (retire read the secret before the
// rotation): whatever the interleaving, the rotation ends with a working
// AWSCURRENT, and the switch-off either locked the old credential before
// the rotation unlocked the user again, or refused.
func TestSwitchOffRacesRotation(t *testing.T, k LifecycleKit) {
	t.Parallel()
	trials := 8
	if testing.Short() {
		trials = 3
	}
	for i := 0; i < trials; i++ {
		w := k.NewWorld(t, sqlcred.StrategyAlternating)
		w.MustRotate()
		prevID, _ := w.Version(rotation.StagePrevious)
		stale := w.Request(prevID)
		var wg sync.WaitGroup
		var deactErr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * k.RaceStep)
			deactErr = w.Provider.Deactivate(context.Background(), stale)
		}()
		_, rec := w.Rotate("")
		wg.Wait()
		if !rec.Succeeded {
			// testSecret saw the user locked between setSecret and it:
			// Secrets Manager's retry sets it again.
			if _, rec = w.Rotate(rec.Token); !rec.Succeeded {
				t.Fatalf("trial %d: the retried rotation failed at %s: %s", i, rec.FailedStep, rec.Error)
			}
		}
		if err := w.Works(rotation.StageCurrent); err != nil {
			t.Fatalf("trial %d: AWSCURRENT after a switch-off raced the rotation (switch-off: %v): %v", i, deactErr, err)
		}
		outcome := "the switch-off locked the old credential first"
		if deactErr != nil {
			outcome = "the switch-off refused: " + deactErr.Error()
		}
		t.Logf("trial %d: %s", i, outcome)
	}
}

// TestSingleUserLifecycle: a single-user secret has no old credential left
// after setSecret: the
// lifecycle gets no usage evidence, Deactivate changes nothing (and the
// current password keeps working), and Reactivate refuses to bring the old
// password back.
func TestSingleUserLifecycle(t *testing.T, k LifecycleKit) {
	t.Parallel()
	ctx := context.Background()
	w := k.NewWorld(t, sqlcred.StrategySingle)
	w.MustRotate()
	prevID, prev := w.Version(rotation.StagePrevious)
	_, cur := w.Version(rotation.StageCurrent)
	if prev.Username != cur.Username || prev.Password == cur.Password {
		t.Fatalf("single-user rotation: previous %q, current %q", prev.Username, cur.Username)
	}
	if err := w.Login(prev); !errors.Is(err, sqlcred.ErrAuth) {
		t.Fatalf("the replaced password: %v, want ErrAuth (no dual-key window)", err)
	}
	u, err := w.Provider.LastUsed(ctx, w.Request(prevID))
	if err != nil || u.Known || !strings.Contains(u.Detail, "single-user") {
		t.Fatalf("LastUsed: %+v, %v; want no evidence, saying single-user", u, err)
	}
	if err := w.Provider.Deactivate(ctx, w.Request(prevID)); err != nil {
		t.Fatalf("Deactivate: %v", err)
	}
	if err := w.Works(rotation.StageCurrent); err != nil {
		t.Fatalf("current after Deactivate: %v", err)
	}
	err = w.Provider.Reactivate(ctx, w.Request(prevID))
	if err == nil || !strings.Contains(err.Error(), "rotate the secret instead") {
		t.Fatalf("Reactivate: %v, want a refusal saying to rotate", err)
	}
	if err := w.Works(rotation.StageCurrent); err != nil {
		t.Fatalf("current after the refused Reactivate: %v", err)
	}
}

// TestSingleUserRecordsNoSwitchOff: a single-user secret has no old
// credential left once setSecret changed
// the password in place, and the lifecycle says so instead of claiming a
// switch-off: status and the dry run show the path "none" and why, even
// before the first rotation; retire records the state "replaced" at once
// (no drain, no deactivation, no DUALKEY_DEACTIVATED, no
// CredentialDeactivated, AWSPREVIOUS kept) and then has nothing to do;
// a rollback is refused by an operator and ignored for an alarm, changing
// nothing; and a cancel that would leave AWSCURRENT's replaced password as
// the secret's only credential is refused, while retrying the rotation
// finishes it.
func TestSingleUserRecordsNoSwitchOff(t *testing.T, k LifecycleKit) {
	t.Parallel()
	ctx := context.Background()
	w := k.NewWorld(t, sqlcred.StrategySingle)
	tagSecret(t, w, map[string]string{lifecycle.TagAlarm: "orders-5xx"})
	why := `single-user secret: user "` + w.App + `" changes its own password at setSecret`
	dry, err := w.LC.Retire(ctx, w.ARN, lifecycle.Options{DryRun: true})
	if err != nil || !strings.HasPrefix(dry.Path, "none: nothing to switch off") || !strings.Contains(dry.Path, why) {
		t.Fatalf("dry run before the first rotation: %v; path %q, want none saying %q", err, dry.Path, why)
	}
	w.MustRotate()
	old, _ := w.Version(rotation.StagePrevious)
	dry, err = w.LC.Retire(ctx, w.ARN, lifecycle.Options{DryRun: true})
	if err != nil || !strings.Contains(dry.String(), "lifecycle: none: nothing to switch off ("+why) || !strings.Contains(dry.String(), "nothing to switch off: "+why) || dry.State != lifecycle.StateReplaced {
		t.Fatalf("dry run after the rotation: %v\n%s", err, dry)
	}
	if st := tagsOf(t, w)[lifecycle.TagState]; st != "" {
		t.Fatalf("the dry run wrote state %q", st)
	}

	rep := w.Retire() // within the drain window: nothing to drain
	if rep.State != lifecycle.StateReplaced || !strings.Contains(Reasons(rep), "no deactivation is recorded") {
		t.Fatalf("retire: state %q\n%s", rep.State, Reasons(rep))
	}
	for _, a := range rep.Actions {
		if a.Op.Changes() {
			t.Fatalf("retire claims a step: %s %s", a.Op, a.Reason)
		}
	}
	tags := tagsOf(t, w)
	if tags[lifecycle.TagState] != lifecycle.StateReplaced || tags[lifecycle.TagStateVersion] != old || !strings.Contains(tags[lifecycle.TagStateNote], "single-user secret") {
		t.Fatalf("state tags %v", tags)
	}
	if _, ok := tags[lifecycle.TagDeactivatedAt]; ok {
		t.Fatalf("a deactivation time was recorded: %v", tags)
	}
	labels := w.Labels()
	if rotation.Holder(labels, rotation.StageDeactivated) != "" || rotation.Holder(labels, rotation.StagePrevious) != old {
		t.Fatalf("labels %v: want AWSPREVIOUS kept on %s and no %s", labels, old, rotation.StageDeactivated)
	}
	if m := w.Metrics.String(); strings.Contains(m, "CredentialDeactivated") || strings.Contains(m, "RetireFailed") {
		t.Fatalf("metrics:\n%s", m)
	}
	w.Clock.Advance(3 * time.Hour)
	if rep := w.Retire(); rep.State != lifecycle.StateReplaced || !strings.Contains(Reasons(rep), "nothing to switch off until the next rotation") {
		t.Fatalf("the next run: %s", Reasons(rep))
	}
	if err := w.Works(rotation.StageCurrent); err != nil {
		t.Fatalf("current: %v", err)
	}

	_, err = w.LC.Rollback(ctx, w.ARN, lifecycle.RollbackOptions{Reason: "test", Force: true})
	if !errors.Is(err, lifecycle.ErrNothingToRollBack) || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "dualkey rotate") {
		t.Fatalf("rollback: %v, want ErrNothingToRollBack saying why and naming dualkey rotate", err)
	}
	reps, err := w.LC.HandleAlarm(ctx, alarmEvent("orders-5xx", w.Clock.Now()))
	if err != nil || len(reps) != 1 || !strings.Contains(reps[0].String(), "ignored") || !strings.Contains(reps[0].String(), why) {
		t.Fatalf("alarm: %v %v", err, reps)
	}
	if got := tagsOf(t, w); got[lifecycle.TagState] != lifecycle.StateReplaced {
		t.Fatalf("a refused rollback changed the state: %v", got)
	}
	if strings.Contains(w.Metrics.String(), "RollbackPerformed") {
		t.Fatal("a refused rollback was counted")
	}

	// A rotation that stops after setSecret: the password is already the
	// pending one, so AWSCURRENT's no longer works.
	*w.Invoke = func(ctx context.Context, payload []byte) error {
		if strings.Contains(string(payload), `"testSecret"`) {
			return errors.New("stopped")
		}
		return w.Engine.HandleJSON(ctx, payload)
	}
	token, rec := w.Rotate("")
	if rec.Succeeded || rec.FailedStep != rotation.StepTest {
		t.Fatalf("the held rotation: %+v", rec)
	}
	*w.Invoke = nil
	if err := w.Works(rotation.StageCurrent); err == nil {
		t.Fatal("AWSCURRENT still logs in after a single-user setSecret: the test does not show the hazard")
	}
	_, err = w.LC.Cancel(ctx, w.ARN, lifecycle.CancelOptions{})
	if !errors.Is(err, lifecycle.ErrCancelUnsafe) || !strings.Contains(err.Error(), "--client-request-token "+token) {
		t.Fatalf("cancel: %v, want ErrCancelUnsafe naming the retry", err)
	}
	if rotation.Holder(w.Labels(), rotation.StagePending) != token {
		t.Fatal("the refused cancel removed AWSPENDING")
	}
	if _, rec := w.Rotate(token); !rec.Succeeded {
		t.Fatalf("the retried rotation: %s %s", rec.FailedStep, rec.Error)
	}
	if err := w.Works(rotation.StageCurrent); err != nil {
		t.Fatalf("current after the retried rotation: %v", err)
	}
	w.NoSecretsIn("the logs", w.Logs.String()+w.Metrics.String())
}

// tagSecret tags the world's secret.
func tagSecret(t *testing.T, w *World, kv map[string]string) {
	t.Helper()
	var tags []types.Tag
	for k, v := range kv {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	if _, err := w.SM.TagResource(context.Background(), &secretsmanager.TagResourceInput{SecretId: aws.String(w.ARN), Tags: tags}); err != nil {
		t.Fatal(err)
	}
}

// tagsOf returns the world's secret's tags.
func tagsOf(t *testing.T, w *World) map[string]string {
	t.Helper()
	d, err := w.SM.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(w.ARN)})
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
