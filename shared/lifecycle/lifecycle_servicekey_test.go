package lifecycle_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/keyring"
	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/providers/servicekey"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

const oldKey = "internal-old-key-0123456789abcdefghijklmnopqrstuv"

type internalEnv struct {
	*rotationtest.Env
	clock *testutil.FakeClock
	arn   string
	lc    *lifecycle.Lifecycle
	logs  *bytes.Buffer
}

// newInternalEnv rotates an internal key secret once and returns a lifecycle over it.
func newInternalEnv(t *testing.T, tags map[string]string) *internalEnv {
	t.Helper()
	ctx := context.Background()
	clock := testutil.NewFakeClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)) // a Monday
	env := rotationtest.NewEnv(t, rotationtest.Subject{
		Emulator: &awsemu.Config{Now: clock.Now},
		Setup: func(testing.TB, *rotationtest.Env) *rotationtest.Fixture {
			return &rotationtest.Fixture{
				Initial:     `{"api_key":"` + oldKey + `"}`,
				NewProvider: func(c *http.Client) rotation.Provider { return servicekey.New(servicekey.DefaultSettings, c) },
				Works:       func(context.Context, string) error { return nil },
			}
		},
	})
	arn := env.CreateSecret(ctx)
	all := map[string]string{lifecycle.TagManaged: "true", lifecycle.TagProvider: "servicekey"}
	for k, v := range tags {
		all[k] = v
	}
	tagSecret(t, env.SM, arn, all)
	if _, err := env.Rotate(ctx, arn); err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	lc, err := lifecycle.New(lifecycle.Config{
		SecretsManager: env.SM,
		Providers:      map[string]rotation.Provider{"servicekey": servicekey.New(servicekey.DefaultSettings, nil)},
		Now:            clock.Now,
		LogWriter:      logs,
		MetricsWriter:  logs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &internalEnv{Env: env, clock: clock, arn: arn, lc: lc, logs: logs}
}

func tagSecret(t *testing.T, sm *secretsmanager.Client, arn string, kv map[string]string) {
	t.Helper()
	var tags []types.Tag
	for k, v := range kv {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	if _, err := sm.TagResource(context.Background(), &secretsmanager.TagResourceInput{SecretId: aws.String(arn), Tags: tags}); err != nil {
		t.Fatal(err)
	}
}

func (e *internalEnv) tags(t *testing.T) map[string]string {
	t.Helper()
	d, err := e.SM.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(e.arn)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, tg := range d.Tags {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

// oldKeyAccepted asks a real keyring, fresh from Secrets Manager, about the old key.
func (e *internalEnv) oldKeyAccepted(t *testing.T) bool {
	t.Helper()
	kr, err := keyring.New(context.Background(), e.SM, keyring.Config{SecretID: e.arn, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer kr.Close()
	_, ok := kr.Verify(context.Background(), oldKey)
	return ok
}

func ops(rep *lifecycle.Report) string {
	var s []string
	for _, a := range rep.Actions {
		if a.Op != lifecycle.OpCheck {
			s = append(s, string(a.Op))
		}
	}
	return strings.Join(s, ",")
}

func TestServiceKeyLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newInternalEnv(t, map[string]string{lifecycle.TagDrain: "1h", lifecycle.TagGrace: "48h"})
	oldID := rotation.Holder(e.Labels(ctx, e.arn), rotation.StagePrevious)

	rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || ops(rep) != "wait" || rep.State != lifecycle.StateDraining {
		t.Fatalf("during drain: %v %v %q", err, rep, rep.State)
	}
	if !e.oldKeyAccepted(t) {
		t.Fatal("old key refused during the drain window")
	}
	// Dry run after the drain: reports, changes nothing.
	e.clock.Advance(61 * time.Minute)
	labels, tags := e.Labels(ctx, e.arn), e.tags(t)
	rep, err = e.lc.Retire(ctx, e.arn, lifecycle.Options{DryRun: true})
	if err != nil || ops(rep) != "deactivate" || rep.Actions[len(rep.Actions)-1].Applied {
		t.Fatalf("dry run: %v\n%v", err, rep)
	}
	if !strings.Contains(rep.String(), "would deactivate") {
		t.Fatalf("dry-run report does not say what it would do:\n%s", rep)
	}
	if got := e.Labels(ctx, e.arn); !equal(got, labels) || !equalTags(e.tags(t), tags) {
		t.Fatal("dry run changed the secret")
	}
	// Real run: deactivated = AWSPREVIOUS taken off, DUALKEY_DEACTIVATED on.
	rep, err = e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || ops(rep) != "deactivate" || rep.State != lifecycle.StateDeactivated {
		t.Fatalf("after drain: %v\n%v", err, rep)
	}
	if got := e.Labels(ctx, e.arn)[oldID]; strings.Join(got, ",") != rotation.StageDeactivated {
		t.Fatalf("old version labels %v", got)
	}
	if e.oldKeyAccepted(t) {
		t.Fatal("old key still accepted after deactivation")
	}
	tg := e.tags(t)
	if tg[lifecycle.TagState] != lifecycle.StateDeactivated || tg[lifecycle.TagStateVersion] != oldID || tg[lifecycle.TagDeactivatedAt] == "" {
		t.Fatalf("state tags %v", tg)
	}
	// Running again changes nothing: it waits for the grace period.
	rep, _ = e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if ops(rep) != "wait" || !strings.Contains(rep.String(), "rollback possible") {
		t.Fatalf("during grace: %v", rep)
	}
	// After the grace period: deleted (label removed).
	e.clock.Advance(48 * time.Hour)
	rep, err = e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || ops(rep) != "delete" {
		t.Fatalf("after grace: %v\n%v", err, rep)
	}
	if _, ok := e.Labels(ctx, e.arn)[oldID]; ok {
		t.Fatal("old version still labelled after deletion")
	}
	if e.tags(t)[lifecycle.TagState] != lifecycle.StateDeleted {
		t.Fatalf("state %v", e.tags(t))
	}
	if _, err := e.lc.Rollback(ctx, e.arn, lifecycle.RollbackOptions{}); !errors.Is(err, lifecycle.ErrOutsideRollbackWindow) && !errors.Is(err, lifecycle.ErrNothingToRollBack) {
		t.Fatalf("rollback after deletion: %v", err)
	}
	if strings.Contains(e.logs.String(), oldKey) {
		t.Fatal("a key reached the logs")
	}
}

func TestServiceKeyRollbackWhileDeactivated(t *testing.T) {
	ctx := context.Background()
	e := newInternalEnv(t, map[string]string{lifecycle.TagDrain: "10m"})
	oldID := rotation.Holder(e.Labels(ctx, e.arn), rotation.StagePrevious)
	e.clock.Advance(11 * time.Minute)
	if _, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{}); err != nil {
		t.Fatal(err)
	}
	if e.oldKeyAccepted(t) {
		t.Fatal("not deactivated")
	}
	e.clock.Advance(20 * time.Hour) // far past the 15 min rollback window, but not deleted
	rep, err := e.lc.Rollback(ctx, e.arn, lifecycle.RollbackOptions{Reason: "payments 401s"})
	if err != nil || !strings.Contains(ops(rep), "reactivate") {
		t.Fatalf("rollback: %v\n%v", err, rep)
	}
	if !e.oldKeyAccepted(t) {
		t.Fatal("old key not accepted after rollback")
	}
	if got := e.Labels(ctx, e.arn)[oldID]; strings.Join(got, ",") != rotation.StagePrevious {
		t.Fatalf("old version labels after rollback %v", got)
	}
	tg := e.tags(t)
	if tg[lifecycle.TagState] != lifecycle.StateHeld || !strings.Contains(tg[lifecycle.TagStateNote], "payments 401s") {
		t.Fatalf("state tags %v", tg)
	}
	// Held: retire does nothing until resumed.
	rep, _ = e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if ops(rep) != "hold" || !e.oldKeyAccepted(t) {
		t.Fatalf("retire while held: %v", rep)
	}
	if _, err := e.lc.Resume(ctx, e.arn); err != nil {
		t.Fatal(err)
	}
	rep, _ = e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if ops(rep) != "deactivate" {
		t.Fatalf("retire after resume: %v", rep)
	}
}

func TestRollbackRestoresCurrent(t *testing.T) {
	ctx := context.Background()
	e := newInternalEnv(t, nil)
	labels := e.Labels(ctx, e.arn)
	oldID, newID := rotation.Holder(labels, rotation.StagePrevious), rotation.Holder(labels, rotation.StageCurrent)
	yes := true
	if _, err := e.lc.Rollback(ctx, e.arn, lifecycle.RollbackOptions{RestoreCurrent: &yes}); err != nil {
		t.Fatal(err)
	}
	labels = e.Labels(ctx, e.arn)
	if rotation.Holder(labels, rotation.StageCurrent) != oldID || rotation.Holder(labels, rotation.StagePrevious) != newID {
		t.Fatalf("labels after restore %v", labels)
	}
	if tg := e.tags(t); tg[lifecycle.TagStateVersion] != newID || tg[lifecycle.TagState] != lifecycle.StateHeld {
		t.Fatalf("the rolled-back credential's retirement is not held: %v", tg)
	}
}

func TestRollbackWindow(t *testing.T) {
	ctx := context.Background()
	e := newInternalEnv(t, map[string]string{lifecycle.TagRollbackWindow: "15m"})
	e.clock.Advance(16 * time.Minute)
	before := e.Labels(ctx, e.arn)
	_, err := e.lc.Rollback(ctx, e.arn, lifecycle.RollbackOptions{})
	if !errors.Is(err, lifecycle.ErrOutsideRollbackWindow) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("late rollback: %v", err)
	}
	if !equal(e.Labels(ctx, e.arn), before) {
		t.Fatal("refused rollback changed labels")
	}
	if _, err := e.lc.Rollback(ctx, e.arn, lifecycle.RollbackOptions{Force: true}); err != nil {
		t.Fatalf("forced rollback: %v", err)
	}
}

func TestDeactivationWindow(t *testing.T) {
	ctx := context.Background()
	// Rotated Monday 10:00 UTC; window 02:00-04:00 UTC, weekdays.
	e := newInternalEnv(t, map[string]string{lifecycle.TagDrain: "1h", lifecycle.TagWindow: "Mon-Fri 02:00-04:00 UTC"})
	e.clock.Advance(2 * time.Hour) // Monday 12:00
	rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || rep.State != lifecycle.StateWaitingWindow || !strings.Contains(rep.String(), "2026-11-24T02:00:00Z") {
		t.Fatalf("outside window: %v\n%v", err, rep)
	}
	if !e.oldKeyAccepted(t) {
		t.Fatal("deactivated outside the window")
	}
	e.clock.Advance(14*time.Hour + 30*time.Minute) // Tuesday 02:30
	rep, err = e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || ops(rep) != "deactivate" {
		t.Fatalf("inside window: %v\n%v", err, rep)
	}
}

func TestEmergency(t *testing.T) {
	ctx := context.Background()
	e := newInternalEnv(t, map[string]string{lifecycle.TagEmergency: "true", lifecycle.TagWindow: "Sat 02:00-03:00"})
	rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || ops(rep) != "deactivate" || !strings.Contains(rep.String(), "emergency") {
		t.Fatalf("emergency: %v\n%v", err, rep)
	}
	if e.oldKeyAccepted(t) {
		t.Fatal("leaked key still accepted")
	}
	if _, ok := e.tags(t)[lifecycle.TagEmergency]; ok {
		t.Fatal("emergency tag not cleared")
	}
}

func TestBadSettingsChangeNothing(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		tags map[string]string
		want string
	}{
		{"bad drain", map[string]string{lifecycle.TagDrain: "an hour"}, lifecycle.TagDrain},
		{"bad window", map[string]string{lifecycle.TagWindow: "Funday 09:00-17:00"}, lifecycle.TagWindow},
		{"unknown provider", map[string]string{lifecycle.TagProvider: "vault"}, lifecycle.TagProvider},
		{"bad restore", map[string]string{lifecycle.TagRestoreCurrent: "perhaps"}, lifecycle.TagRestoreCurrent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newInternalEnv(t, c.tags)
			e.clock.Advance(72 * time.Hour)
			labels, tags := e.Labels(ctx, e.arn), e.tags(t)
			_, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), rotationtest.SecretName) {
				t.Fatalf("got %v, want an error naming the secret and %s", err, c.want)
			}
			if _, err := e.lc.Rollback(ctx, e.arn, lifecycle.RollbackOptions{}); err == nil {
				t.Fatal("rollback accepted bad settings")
			}
			if !equal(e.Labels(ctx, e.arn), labels) || !equalTags(e.tags(t), tags) {
				t.Fatal("bad settings changed the secret")
			}
		})
	}
	t.Run("missing provider tag", func(t *testing.T) {
		e := newInternalEnv(t, nil)
		if _, err := e.SM.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String(e.arn), TagKeys: []string{lifecycle.TagProvider}}); err != nil {
			t.Fatal(err)
		}
		_, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{})
		if !errors.Is(err, lifecycle.ErrNotManaged) || !strings.Contains(err.Error(), lifecycle.TagProvider) {
			t.Fatalf("got %v", err)
		}
	})
}

func alarmEvent(t *testing.T, name, state string) events.CloudWatchEvent {
	t.Helper()
	detail, _ := json.Marshal(map[string]any{"alarmName": name, "state": map[string]string{"value": state, "timestamp": "2026-11-23T10:05:00Z"}})
	return events.CloudWatchEvent{Source: "aws.cloudwatch", DetailType: "CloudWatch Alarm State Change", Detail: detail}
}

func TestAlarmEvents(t *testing.T) {
	ctx := context.Background()
	e := newInternalEnv(t, map[string]string{lifecycle.TagAlarm: "payments-401-spike", lifecycle.TagDrain: "1m"})
	e.clock.Advance(2 * time.Minute)
	if _, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{}); err != nil {
		t.Fatal(err)
	}
	before := e.Labels(ctx, e.arn)
	cases := []struct {
		name string
		ev   events.CloudWatchEvent
		want error
	}{
		{"unknown alarm is ignored", alarmEvent(t, "no-such-alarm", "ALARM"), nil},
		{"bad state time", events.CloudWatchEvent{DetailType: "CloudWatch Alarm State Change", Detail: []byte(`{"alarmName":"payments-401-spike","state":{"value":"ALARM","timestamp":"yesterday"}}`)}, lifecycle.ErrInvalidEvent},
		{"wrong detail type", events.CloudWatchEvent{DetailType: "Scheduled Event", Detail: []byte(`{}`)}, lifecycle.ErrInvalidEvent},
		{"no alarm name", events.CloudWatchEvent{DetailType: "CloudWatch Alarm State Change", Detail: []byte(`{"state":{"value":"ALARM"}}`)}, lifecycle.ErrInvalidEvent},
		{"back to OK is ignored", alarmEvent(t, "payments-401-spike", "OK"), nil},
	}
	for _, c := range cases {
		_, err := e.lc.HandleAlarm(ctx, c.ev)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		if !equal(e.Labels(ctx, e.arn), before) {
			t.Fatalf("%s changed labels", c.name)
		}
	}
	reps, err := e.lc.HandleAlarm(ctx, alarmEvent(t, "payments-401-spike", "ALARM"))
	if err != nil || len(reps) != 1 || !strings.Contains(ops(reps[0]), "reactivate") {
		t.Fatalf("alarm rollback: %v %v", err, reps)
	}
	if !e.oldKeyAccepted(t) || !strings.Contains(e.tags(t)[lifecycle.TagStateNote], "payments-401-spike") {
		t.Fatalf("alarm did not roll back: %v", e.tags(t))
	}
}

func TestRunAllWalksManagedSecrets(t *testing.T) {
	ctx := context.Background()
	e := newInternalEnv(t, map[string]string{lifecycle.TagDrain: "1m"})
	// An unmanaged secret is left alone.
	if _, err := e.SM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("unmanaged"), SecretString: aws.String(`{"api_key":"x"}`)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)
	reps, err := e.lc.RunAll(ctx, lifecycle.Options{})
	if err != nil || len(reps) != 1 || reps[0].ARN != e.arn || ops(reps[0]) != "deactivate" {
		t.Fatalf("RunAll: %v %v", err, reps)
	}
}

func equal(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, ",") != strings.Join(b[k], ",") {
			return false
		}
	}
	return true
}

func equalTags(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestOverdueAndIncompleteAlerts(t *testing.T) {
	ctx := context.Background()
	e := newInternalEnv(t, nil) // rotated with AutomaticallyAfterDays=30
	e.clock.Advance(30*24*time.Hour + 2*time.Hour)
	rep, _ := e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if strings.Contains(rep.String(), "overdue") {
		t.Fatalf("alert within a day of the due date:\n%s", rep)
	}
	e.clock.Advance(24 * time.Hour)
	rep, _ = e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if !strings.Contains(rep.String(), "rotation overdue") || !strings.Contains(e.logs.String(), `"RotationOverdue":1`) {
		t.Fatalf("no overdue alert:\n%s", rep)
	}
	// A rotation stuck with AWSPENDING on a non-current version.
	e.SetInvoke(func(context.Context, events.SecretsManagerSecretRotationEvent) error {
		return errors.New("lambda down")
	})
	if _, err := e.Rotate(ctx, e.arn); err != nil {
		t.Fatal(err)
	}
	rep, _ = e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if !strings.Contains(rep.String(), "rotation is incomplete") || !strings.Contains(e.logs.String(), `"RotationIncomplete":1`) {
		t.Fatalf("no incomplete-rotation alert:\n%s", rep)
	}
}

// A value put by hand (no rotation) starts the drain again: LastRotatedDate
// is older, but the new AWSCURRENT version was created just now.
func TestManualPutRestartsDrain(t *testing.T) {
	ctx := context.Background()
	e := newInternalEnv(t, map[string]string{lifecycle.TagDrain: "1h"})
	e.clock.Advance(2 * time.Hour)
	if _, err := e.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(e.arn),
		SecretString: aws.String(`{"api_key":"manually-put-key-0123456789abcdefghij"}`)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Minute)
	rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || ops(rep) != "wait" || rep.State != lifecycle.StateDraining {
		t.Fatalf("retire 10 minutes after a manual put: %v\n%s", err, rep)
	}
}

// Issue 6 item 13: the EventBridge rule sends every alarm in the account.
// An alarm no secret is linked to, or one that is not a rollback alarm, is
// logged and ignored: it must not fail the invocation (and be retried).
func TestUnrelatedAlarmsIgnored(t *testing.T) {
	ctx := context.Background()
	e := newInternalEnv(t, map[string]string{lifecycle.TagAlarm: "dualkey-rollback-payments", lifecycle.TagDrain: "1m"})
	e.clock.Advance(2 * time.Minute)
	if _, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{}); err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	lc, err := lifecycle.New(lifecycle.Config{
		SecretsManager: e.SM, Providers: map[string]rotation.Provider{"servicekey": servicekey.New(servicekey.DefaultSettings, nil)},
		Now: e.clock.Now, LogWriter: logs, MetricsWriter: logs,
		Alarms: lifecycle.AlarmFilter{Prefix: "dualkey-rollback-"},
	})
	if err != nil {
		t.Fatal(err)
	}
	before := e.Labels(ctx, e.arn)
	for _, c := range []struct{ alarm, why string }{
		{"dualkey-RotationFailed", "not a rollback alarm"},
		{"dualkey-rollback-nobody", "no secret"},
	} {
		reps, err := lc.HandleAlarm(ctx, alarmAt(c.alarm, e.clock.Now()))
		if err != nil || len(reps) != 0 {
			t.Errorf("%s: %v %v", c.alarm, err, reps)
		}
		if !strings.Contains(logs.String(), c.why) || !strings.Contains(logs.String(), c.alarm) {
			t.Errorf("%s: the log does not say it was ignored because %q:\n%s", c.alarm, c.why, logs.String())
		}
		if !equal(e.Labels(ctx, e.arn), before) {
			t.Fatalf("%s changed labels", c.alarm)
		}
	}
	if _, err := lc.HandleAlarm(ctx, alarmAt("dualkey-rollback-payments", e.clock.Now())); err != nil || !e.oldKeyAccepted(t) {
		t.Fatalf("rollback alarm: %v", err)
	}
}

func TestAlarmFilterFromEnv(t *testing.T) {
	cases := []struct {
		env   map[string]string
		alarm string
		match bool
	}{
		{nil, "anything", true},
		{map[string]string{"DUALKEY_ROLLBACK_ALARM_PREFIX": "dualkey-rollback-"}, "dualkey-rollback-api", true},
		{map[string]string{"DUALKEY_ROLLBACK_ALARM_PREFIX": "dualkey-rollback-"}, "dualkey-RotationFailed", false},
		{map[string]string{"DUALKEY_ROLLBACK_ALARMS": "api-5xx, deploys-failing"}, "deploys-failing", true},
		{map[string]string{"DUALKEY_ROLLBACK_ALARMS": "api-5xx, deploys-failing"}, "api-5xx-2", false},
		{map[string]string{"DUALKEY_ROLLBACK_ALARMS": "api-5xx", "DUALKEY_ROLLBACK_ALARM_PREFIX": "rb-"}, "rb-x", true},
		{map[string]string{"DUALKEY_ROLLBACK_ALARMS": "api-5xx", "DUALKEY_ROLLBACK_ALARM_PREFIX": "rb-"}, "api-5xx", true},
		{map[string]string{"DUALKEY_ROLLBACK_ALARMS": "api-5xx", "DUALKEY_ROLLBACK_ALARM_PREFIX": "rb-"}, "other", false},
	}
	for _, c := range cases {
		f, err := lifecycle.AlarmFilterFromEnv(func(k string) string { return c.env[k] })
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Match(c.alarm); got != c.match {
			t.Errorf("%v: Match(%q) = %v, want %v", c.env, c.alarm, got, c.match)
		}
	}
	if _, err := lifecycle.AlarmFilterFromEnv(func(k string) string {
		return map[string]string{"DUALKEY_ROLLBACK_ALARMS": "a,,b"}[k]
	}); err == nil || !strings.Contains(err.Error(), "DUALKEY_ROLLBACK_ALARMS") {
		t.Fatalf("empty alarm name accepted: %v", err)
	}
}

// After a second rotation the label-gated secret has a newer previous key
// (still valid, draining) and an older deactivated one. Rollback concerns
// the newer one: it must not take AWSPREVIOUS away from it.
func TestServiceKeyRollbackTargetsNewestPrevious(t *testing.T) {
	ctx := context.Background()
	e := newInternalEnv(t, map[string]string{lifecycle.TagDrain: "1m"})
	e.clock.Advance(2 * time.Minute)
	if _, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Rotate(ctx, e.arn); err != nil {
		t.Fatal(err)
	}
	labels := e.Labels(ctx, e.arn)
	prev := rotation.Holder(labels, rotation.StagePrevious)
	if _, err := e.lc.Rollback(ctx, e.arn, lifecycle.RollbackOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := rotation.Holder(e.Labels(ctx, e.arn), rotation.StagePrevious); got != prev {
		t.Fatalf("rollback moved AWSPREVIOUS from %s to %s", prev, got)
	}
	if tg := e.tags(t); tg[lifecycle.TagStateVersion] != prev || tg[lifecycle.TagState] != lifecycle.StateHeld {
		t.Fatalf("hold on the wrong version: %v", tg)
	}
}

// A crash between the label-gated switch-off's two label moves
// (DUALKEY_DEACTIVATED on, AWSPREVIOUS off) leaves the key accepted; the
// next run finishes the switch-off instead of counting it as done.
func TestServiceKeyFinishesInterruptedSwitchOff(t *testing.T) {
	ctx := context.Background()
	e := newInternalEnv(t, map[string]string{lifecycle.TagDrain: "1m"})
	prev := rotation.Holder(e.Labels(ctx, e.arn), rotation.StagePrevious)
	if _, err := e.SM.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(e.arn),
		VersionStage: aws.String(rotation.StageDeactivated), MoveToVersionId: aws.String(prev)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)
	if !e.oldKeyAccepted(t) {
		t.Fatal("setup: the old key should still be accepted")
	}
	rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || !strings.Contains(ops(rep), "deactivate") || e.oldKeyAccepted(t) {
		t.Fatalf("interrupted switch-off not finished: %v\n%s", err, rep)
	}
}
