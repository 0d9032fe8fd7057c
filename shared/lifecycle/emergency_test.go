package lifecycle_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dualkey/dualkey/shared/keyring"
	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/rotation"
)

func alarmAt(name string, at time.Time) events.CloudWatchEvent {
	detail, _ := json.Marshal(map[string]any{"alarmName": name, "state": map[string]string{
		"value": "ALARM", "timestamp": at.UTC().Format("2006-01-02T15:04:05.000-0700")}})
	return events.CloudWatchEvent{Source: "aws.cloudwatch", DetailType: "CloudWatch Alarm State Change", Time: at, Detail: detail}
}

// Issue 6 item 1: a credential switched off by an emergency rotation
// leaked; an alarm must never bring it back, not even with
// dualkey:rollback-restore=true, and an operator only with a flag that
// says so.
func TestIAMEmergencyIsNotUndoneByRollback(t *testing.T) {
	ctx := context.Background()
	w := newIAMWorld(t, map[string]string{lifecycle.TagAlarm: "deploys-failing", lifecycle.TagRestoreCurrent: "true", lifecycle.TagDrain: "24h"})
	w.rotate()
	newCurrent := rotation.Holder(w.labels(), rotation.StageCurrent)
	leaked := rotation.Holder(w.labels(), rotation.StagePrevious)
	w.retire(lifecycle.Options{Emergency: true})
	if w.keys()[w.firstID] != "Inactive" {
		t.Fatal("leaked key not switched off")
	}
	w.clock.Advance(time.Minute)
	reps, err := w.lc.HandleAlarm(ctx, alarmAt("deploys-failing", w.clock.Now()))
	if err != nil {
		t.Fatalf("alarm on a leaked credential fails the invocation: %v", err)
	}
	if w.keys()[w.firstID] != "Inactive" || rotation.Holder(w.labels(), rotation.StageCurrent) != newCurrent {
		t.Fatalf("alarm brought the leaked key back: keys %v labels %v\n%v", w.keys(), w.labels(), reps)
	}
	if len(reps) != 1 || !strings.Contains(reps[0].String(), "leaked") || !strings.Contains(w.logs.String(), "leaked") {
		t.Fatalf("the ignored alarm does not say why: %v\n%s", reps, w.logs.String())
	}
	// An operator must say that the credential leaked.
	_, err = w.lc.Rollback(ctx, w.arn, lifecycle.RollbackOptions{})
	if !errors.Is(err, lifecycle.ErrLeakedCredential) || !strings.Contains(err.Error(), "--reactivate-leaked-credential") {
		t.Fatalf("manual rollback of a leaked key: %v", err)
	}
	if w.keys()[w.firstID] != "Inactive" {
		t.Fatal("refused rollback reactivated the key")
	}
	if _, err := w.lc.Rollback(ctx, w.arn, lifecycle.RollbackOptions{ReactivateLeaked: true}); err != nil || w.keys()[w.firstID] != "Active" {
		t.Fatalf("explicit rollback of a leaked key: %v", err)
	}
	if tg := tagsOf(t, w.sm, w.arn); !strings.Contains(tg[lifecycle.TagStateLeaked], leaked) {
		t.Fatalf("leaked version not recorded: %v", tg)
	}
}

// The emergency tag alone (the scheduled path) records the leak too, and an
// alarm that arrives between the rotation and the retire run must not hold
// the leaked key's retirement or restore it.
func TestServiceKeyEmergencyTagBlocksAlarm(t *testing.T) {
	ctx := context.Background()
	e := newInternalEnv(t, map[string]string{lifecycle.TagEmergency: "true", lifecycle.TagAlarm: "payments-401", lifecycle.TagRestoreCurrent: "true"})
	cur := rotation.Holder(e.Labels(ctx, e.arn), rotation.StageCurrent)
	e.clock.Advance(time.Minute)
	if _, err := e.lc.HandleAlarm(ctx, alarmAt("payments-401", e.clock.Now())); err != nil {
		t.Fatal(err)
	}
	if rotation.Holder(e.Labels(ctx, e.arn), rotation.StageCurrent) != cur || e.tags(t)[lifecycle.TagState] == lifecycle.StateHeld {
		t.Fatalf("alarm during an emergency rotation acted: %v %v", e.Labels(ctx, e.arn), e.tags(t))
	}
	rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || ops(rep) != "deactivate" || e.oldKeyAccepted(t) {
		t.Fatalf("emergency retire: %v\n%s", err, rep)
	}
	e.clock.Advance(time.Minute)
	if _, err := e.lc.HandleAlarm(ctx, alarmAt("payments-401", e.clock.Now())); err != nil || e.oldKeyAccepted(t) {
		t.Fatalf("alarm after the emergency: %v, old key accepted %v", err, e.oldKeyAccepted(t))
	}
}

// An alarm whose state changed before the promotion is not about this
// rotation.
func TestAlarmBeforePromotionIgnored(t *testing.T) {
	ctx := context.Background()
	e := newInternalEnv(t, map[string]string{lifecycle.TagAlarm: "payments-401", lifecycle.TagDrain: "1m"})
	e.clock.Advance(2 * time.Minute)
	if _, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{}); err != nil {
		t.Fatal(err)
	}
	before := e.Labels(ctx, e.arn)
	reps, err := e.lc.HandleAlarm(ctx, alarmAt("payments-401", e.clock.Now().Add(-time.Hour)))
	if err != nil || !equal(e.Labels(ctx, e.arn), before) || e.oldKeyAccepted(t) {
		t.Fatalf("stale alarm: %v %v", err, reps)
	}
	if len(reps) != 1 || !strings.Contains(reps[0].String(), "before the promotion") {
		t.Fatalf("stale alarm report: %v", reps)
	}
}

// An emergency overrides a rollback hold: the operator says the held
// credential leaked.
func TestEmergencyOverridesHold(t *testing.T) {
	ctx := context.Background()
	e := newInternalEnv(t, map[string]string{lifecycle.TagDrain: "24h"})
	if _, err := e.lc.Rollback(ctx, e.arn, lifecycle.RollbackOptions{Reason: "payments 401s"}); err != nil {
		t.Fatal(err)
	}
	if rep, _ := e.lc.Retire(ctx, e.arn, lifecycle.Options{}); ops(rep) != "hold" {
		t.Fatalf("not held:\n%s", rep)
	}
	rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{Emergency: true})
	if err != nil || ops(rep) != "deactivate" || e.oldKeyAccepted(t) {
		t.Fatalf("emergency on a held secret: %v\n%s", err, rep)
	}
}

// keyAccepted asks a fresh keyring whether it accepts key.
func (e *internalEnv) keyAccepted(t *testing.T, key string) bool {
	t.Helper()
	kr, err := keyring.New(context.Background(), e.SM, keyring.Config{SecretID: e.arn, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer kr.Close()
	_, ok := kr.Verify(context.Background(), key)
	return ok
}

// The scheduled emergency path: dualkey:emergency=true set by hand, then a
// rotation. The rotation's createSecret records the AWSCURRENT it replaces
// as leaked, and the emergency switch-off acts only on that version. A
// retire run before the rotation leaves the older AWSPREVIOUS on its usual
// path (here: still draining) and keeps the tag; the run after the
// rotation switches the leaked key off at once, drain or not, and clears
// the tag. Both orders end the same.
func TestEmergencyTagActsOnlyOnTheLeakedVersion(t *testing.T) {
	for _, retireFirst := range []bool{true, false} {
		name := "rotation first"
		if retireFirst {
			name = "retire run before the rotation"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			e := newInternalEnv(t, map[string]string{lifecycle.TagDrain: "24h"})
			leakedID := rotation.Holder(e.Labels(ctx, e.arn), rotation.StageCurrent)
			var leakedKey struct {
				APIKey string `json:"api_key"`
			}
			if err := json.Unmarshal([]byte(e.Value(ctx, e.arn, rotation.StageCurrent)), &leakedKey); err != nil {
				t.Fatal(err)
			}
			tagSecret(t, e.SM, e.arn, map[string]string{lifecycle.TagEmergency: "true"})
			if retireFirst {
				rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{})
				if err != nil || ops(rep) != "wait,wait" || !strings.Contains(rep.String(), "no version is recorded as leaked yet") || !strings.Contains(rep.String(), "dualkey rotate --emergency") {
					t.Fatalf("retire before the rotation: %v\n%s", err, rep)
				}
				if !e.oldKeyAccepted(t) {
					t.Fatal("the older key, which did not leak, was switched off")
				}
				if tg := e.tags(t); tg[lifecycle.TagEmergency] != "true" || tg[lifecycle.TagStateLeaked] != "" {
					t.Fatalf("tags after the early run: %v", tg)
				}
			}
			e.MustRotate(ctx, e.arn)
			if got := e.tags(t)[lifecycle.TagStateLeaked]; got != leakedID {
				t.Fatalf("%s = %q after the rotation, want the replaced version %s", lifecycle.TagStateLeaked, got, leakedID)
			}
			if !e.keyAccepted(t, leakedKey.APIKey) {
				t.Fatal("the leaked key is refused before the retire run: the test shows nothing")
			}
			rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{})
			if err != nil || ops(rep) != "deactivate" || rep.Actions[len(rep.Actions)-1].Version != leakedID {
				t.Fatalf("retire after the rotation: %v\n%s", err, rep)
			}
			if e.keyAccepted(t, leakedKey.APIKey) || e.oldKeyAccepted(t) {
				t.Fatal("a key is still accepted after the emergency switch-off")
			}
			if tg := e.tags(t); tg[lifecycle.TagEmergency] != "" || tg[lifecycle.TagStateLeaked] != leakedID {
				t.Fatalf("tags after the emergency switch-off: %v", tg)
			}
		})
	}
}
