package lifecycle_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/rotation"
)

// inPlace is reversible, but answers per secret (like a single-user
// database secret): its answer, with a reason.
type inPlace struct {
	reversible
	answer rotation.SwitchOff
}

var _ rotation.SwitchOffPerSecret = inPlace{}

func (p inPlace) SwitchOffFor(*rotation.Version) (rotation.SwitchOff, string) {
	return p.answer, "the vendor replaced it in place"
}

func newInPlaceEnv(t *testing.T, answer rotation.SwitchOff) *vendorEnv {
	t.Helper()
	return newProviderEnv(t, func(v *vendor) rotation.Provider { return inPlace{reversible{vendorBase{v}}, answer} }, map[string]string{lifecycle.TagDrain: "1h"})
}

// A secret whose provider says nothing is left to switch off is recorded
// as replaced at the first run, within the drain window, without touching
// the provider or claiming a step; every later run (and the sweep, from
// the list entry alone) has nothing to do. Every Retire here also checks
// the sweep's decision against its own (verifyQuick).
func TestPerSecretNothingToSwitchOff(t *testing.T) {
	ctx := context.Background()
	e := newInPlaceEnv(t, rotation.SwitchOffNone)
	prev := rotation.Holder(e.Labels(ctx, e.arn), rotation.StagePrevious)
	rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || rep.State != lifecycle.StateReplaced || !strings.HasPrefix(rep.Path, "none: nothing to switch off (the vendor replaced it in place)") {
		t.Fatalf("retire: %v\n%s", err, rep)
	}
	for _, a := range rep.Actions {
		if a.Op.Changes() {
			t.Fatalf("a step claimed: %s: %s", a.Op, a.Reason)
		}
	}
	if e.v.use(e.first) != nil {
		t.Fatal("the provider was asked to switch the old key off")
	}
	if l := e.Labels(ctx, e.arn); rotation.Holder(l, rotation.StagePrevious) != prev || rotation.Holder(l, rotation.StageDeactivated) != "" {
		t.Fatalf("labels %v", l)
	}
	for _, m := range []string{"CredentialDeactivated", "CredentialDeleted", "RetireFailed"} {
		if strings.Contains(e.logs.String(), `"`+m+`":1`) {
			t.Errorf("metric %s", m)
		}
	}
	e.clock.Advance(48 * time.Hour)
	rep, err = e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || ops(rep) != "wait" || !strings.Contains(rep.String(), "nothing to switch off until the next rotation") || !strings.HasPrefix(rep.Path, "none:") {
		t.Fatalf("the next run: %v\n%s", err, rep)
	}
	var reps []*lifecycle.Report
	res, err := e.lc.Sweep(ctx, lifecycle.Options{}, collect(&reps))
	if err != nil || res.Idle != 1 || res.Worked != 0 || len(reps) != 1 || !strings.HasPrefix(reps[0].Path, "none:") {
		t.Fatalf("sweep: %v %+v %v", err, res, reps)
	}
	// The next rotation makes a new previous credential: its own path again.
	e.MustRotate(ctx, e.arn)
	if rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{}); err != nil || rep.State != lifecycle.StateReplaced || rotation.Holder(e.Labels(ctx, e.arn), rotation.StagePrevious) == prev {
		t.Fatalf("after the next rotation: %v\n%s", err, rep)
	}
}

// A per-secret answer outside the provider's own path (whose capabilities
// New checked) and SwitchOffNone is refused, and nothing changes.
func TestPerSecretAnswerOutsideItsPath(t *testing.T) {
	ctx := context.Background()
	e := newInPlaceEnv(t, rotation.SwitchOffDeleteOnly)
	e.clock.Advance(2 * time.Hour)
	before := e.tags(t)
	rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err == nil || !strings.Contains(err.Error(), "revkey") || !strings.Contains(err.Error(), `"delete-only"`) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("retire: %v\n%s", err, rep)
	}
	if after := e.tags(t); after[lifecycle.TagState] != before[lifecycle.TagState] || e.v.use(e.first) != nil {
		t.Fatalf("the refused answer changed something: %v -> %v", before, after)
	}
	if _, err := e.lc.Rollback(ctx, e.arn, lifecycle.RollbackOptions{}); err == nil || !strings.Contains(err.Error(), `"delete-only"`) {
		t.Fatalf("rollback: %v", err)
	}
}
