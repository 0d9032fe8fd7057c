package lifecycle_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

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
