package lifecycle_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/providers/iamkey"
	"github.com/dualkey/dualkey/shared/providers/servicekey"
	"github.com/dualkey/dualkey/shared/rotation"
)

func TestPath(t *testing.T) {
	v := newVendor(time.Now)
	s := lifecycle.DefaultSettings
	s.Quiet = s.Drain
	cases := []struct {
		name string
		p    rotation.Provider
		want []string
		not  []string
	}{
		{"iamkey", iamkey.New(iamkey.Config{}), []string{"reversible: drain 1h → usage check (quiet 1h) → deactivate → grace 48h → delete", "reactivates"}, []string{"confirmation"}},
		{"servicekey", servicekey.New(servicekey.DefaultSettings, nil), []string{"label-gated: drain 1h → no usage evidence → remove AWSPREVIOUS", "grace 48h → delete", "check interval"}, []string{"confirmation"}},
		{"delete-only", deleteOnly{vendorBase{v}}, []string{"delete-only: drain 1h → usage check (quiet 1h) → confirmation 24h → delete", "no deactivated stage"}, []string{"deactivate →", "grace"}},
		{"reversible without delete", reversible{vendorBase{v}}, []string{"reversible: drain 1h → usage check (quiet 1h) → deactivate;", "no delete stage"}, []string{"grace", "→ delete"}},
		{"external", expiring{vendorBase{v}}, []string{"external: drain 1h → usage check (quiet 1h) → the vendor switches it off", "checked dead", "cannot switch it off"}, []string{"deactivate", "grace", "→ delete"}},
		{"per secret", inPlace{reversible{vendorBase{v}}, rotation.SwitchOffNone}, []string{"reversible: drain 1h", "for a secret whose old credential stops working at setSecret there is nothing to switch off (none)"}, nil},
	}
	for _, c := range cases {
		got := lifecycle.Path(c.p, s)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: Path = %q, want it to contain %q", c.name, got, w)
			}
		}
		for _, n := range c.not {
			if strings.Contains(got, n) {
				t.Errorf("%s: Path = %q, must not contain %q", c.name, got, n)
			}
		}
	}
}

// PathFor the path "none" says why and promises nothing it will not do.
func TestPathForNone(t *testing.T) {
	got := lifecycle.PathFor(reversible{}, rotation.SwitchOffNone, "single-user secret", lifecycle.DefaultSettings)
	for _, w := range []string{"none: nothing to switch off (single-user secret)", "no deactivation", "AWSPREVIOUS keeps its label", "no rollback"} {
		if !strings.Contains(got, w) {
			t.Errorf("PathFor(none) = %q, want it to contain %q", got, w)
		}
	}
	for _, n := range []string{"drain 1h", "→ deactivate", "grace"} {
		if strings.Contains(got, n) {
			t.Errorf("PathFor(none) = %q, must not contain %q", got, n)
		}
	}
}

// A reversible provider that is not a Deleter (databases: the next
// rotation reuses the user) stops at deactivated and says so; the next
// rotation's retirement drops the old label without touching the provider.
func TestReversibleWithoutDeleteStage(t *testing.T) {
	ctx := context.Background()
	e := newProviderEnv(t, func(v *vendor) rotation.Provider { return reversible{vendorBase{v}} }, map[string]string{lifecycle.TagDrain: "1h", lifecycle.TagGrace: "1h"})
	oldID := rotation.Holder(e.Labels(ctx, e.arn), rotation.StagePrevious)
	e.clock.Advance(2 * time.Hour)
	rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || ops(rep) != "deactivate" || !strings.Contains(rep.String(), "no delete stage") || e.v.use(e.first) == nil {
		t.Fatalf("retire: %v\n%s", err, rep)
	}
	e.clock.Advance(30 * 24 * time.Hour)
	rep, err = e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || ops(rep) != "wait" || !strings.Contains(rep.String(), "no delete stage") || rep.State != lifecycle.StateDeactivated {
		t.Fatalf("long after: %v\n%s", err, rep)
	}
	if strings.Contains(e.logs.String(), "CredentialDeleted") {
		t.Fatal("a provider that cannot delete reported a delete")
	}
	// Rollback is possible until the next rotation.
	if _, err := e.lc.Rollback(ctx, e.arn, lifecycle.RollbackOptions{}); err != nil || e.v.use(e.first) != nil {
		t.Fatalf("rollback: %v", err)
	}
	if _, err := e.lc.Resume(ctx, e.arn); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Hour)
	if _, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{}); err != nil {
		t.Fatal(err)
	}
	// The next rotation: the old label goes, the provider is not touched.
	if _, err := e.Rotate(ctx, e.arn); err != nil {
		t.Fatal(err)
	}
	calls := len(e.v.calls)
	rep, err = e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || !strings.Contains(ops(rep), "forget") {
		t.Fatalf("after the next rotation: %v\n%s", err, rep)
	}
	if _, ok := e.Labels(ctx, e.arn)[oldID]; ok || len(e.v.calls) != calls {
		t.Fatalf("labels %v, provider calls %v", e.Labels(ctx, e.arn), e.v.calls[calls:])
	}
}

// A crash between the hold and the reactivation leaves retirement held:
// the retire run never deletes a held credential.
func TestRollbackHoldsBeforeItActs(t *testing.T) {
	ctx := context.Background()
	e := newProviderEnv(t, func(v *vendor) rotation.Provider { return limited{reversible{vendorBase{v}}} }, map[string]string{lifecycle.TagDrain: "1h", lifecycle.TagGrace: "1h"})
	e.clock.Advance(2 * time.Hour)
	if _, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{}); err != nil {
		t.Fatal(err)
	}
	// The crash: the hold tag is written, nothing else happened.
	dv := rotation.Holder(e.Labels(ctx, e.arn), rotation.StageDeactivated)
	tagSecret(t, e.SM, e.arn, map[string]string{lifecycle.TagState: lifecycle.StateHeld, lifecycle.TagStateVersion: dv})
	e.clock.Advance(3 * time.Hour)
	rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || strings.Contains(ops(rep), "delete") || !strings.Contains(rep.String(), "dualkey rollback") {
		t.Fatalf("retire after a half rollback: %v\n%s", err, rep)
	}
	if _, err := e.lc.Rollback(ctx, e.arn, lifecycle.RollbackOptions{}); err != nil || e.v.use(e.first) != nil {
		t.Fatalf("rollback again: %v", err)
	}
}

func TestCheckRotationWarnsBeforeEndingRollback(t *testing.T) {
	ctx := context.Background()
	e := newProviderEnv(t, func(v *vendor) rotation.Provider { return limited{reversible{vendorBase{v}}} }, map[string]string{lifecycle.TagDrain: "1h"})
	c, err := e.lc.CheckRotation(ctx, e.arn)
	if err != nil || c.Ends != nil || c.Pending != "" {
		t.Fatalf("before retirement: %v %+v", err, c)
	}
	e.clock.Advance(2 * time.Hour)
	if _, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{}); err != nil {
		t.Fatal(err)
	}
	c, err = e.lc.CheckRotation(ctx, e.arn)
	if err != nil || c.Ends == nil || c.Ends.Fingerprint != vendorKeyID(e.first) || !strings.Contains(c.Ends.Reason, "rollback window") {
		t.Fatalf("with a deactivated key and a limit of two: %v %+v", err, c)
	}
	// A provider without a limit never warns.
	u := newProviderEnv(t, func(v *vendor) rotation.Provider { return reversible{vendorBase{v}} }, map[string]string{lifecycle.TagDrain: "1h"})
	u.clock.Advance(2 * time.Hour)
	if _, err := u.lc.Retire(ctx, u.arn, lifecycle.Options{}); err != nil {
		t.Fatal(err)
	}
	if c, err := u.lc.CheckRotation(ctx, u.arn); err != nil || c.Ends != nil {
		t.Fatalf("no limit: %v %+v", err, c)
	}
}

// failAfterCreate makes a rotation stop after createSecret (testSecret
// fails), leaving AWSPENDING on a version with a value.
func failAfterCreate(e *vendorEnv) {
	e.SetInvoke(func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
		if ev.Step == rotation.StepCreate {
			return e.Engine().Handle(ctx, ev)
		}
		return errors.New("the rotation function timed out")
	})
}

func TestCancel(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name        string
		setup       func(e *vendorEnv)
		wantDiscard bool
	}{
		{"pending credential at the provider", failAfterCreate, true},
		{"placeholder without a value", func(e *vendorEnv) {
			e.SetInvoke(func(context.Context, events.SecretsManagerSecretRotationEvent) error {
				return errors.New("lambda down")
			})
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newVendorEnv(t, nil)
			if _, err := e.lc.Cancel(ctx, e.arn, lifecycle.CancelOptions{}); !errors.Is(err, lifecycle.ErrNothingToCancel) || !strings.Contains(err.Error(), "dualkey status") {
				t.Fatalf("cancel with nothing pending: %v", err)
			}
			c.setup(e)
			if _, err := e.Rotate(ctx, e.arn); err != nil {
				t.Fatal(err)
			}
			pend := rotation.Holder(e.Labels(ctx, e.arn), rotation.StagePending)
			keys := e.v.live()
			if _, err := e.Rotate(ctx, e.arn); err == nil || !strings.Contains(err.Error(), "previous rotation isn't complete") {
				t.Fatalf("second rotation: %v", err)
			}
			labels := e.Labels(ctx, e.arn)
			rep, err := e.lc.Cancel(ctx, e.arn, lifecycle.CancelOptions{DryRun: true})
			if err != nil || !strings.Contains(rep.String(), "would remove-pending") || strings.Contains(rep.String(), "would discard") != c.wantDiscard {
				t.Fatalf("dry run: %v\n%s", err, rep)
			}
			if !equal(e.Labels(ctx, e.arn), labels) || !slices.Equal(e.v.live(), keys) {
				t.Fatal("dry run changed something")
			}
			rep, err = e.lc.Cancel(ctx, e.arn, lifecycle.CancelOptions{})
			if err != nil || slices.Contains(e.Labels(ctx, e.arn)[pend], rotation.StagePending) {
				t.Fatalf("cancel: %v\n%s", err, rep)
			}
			if len(e.v.live()) != 2 {
				t.Fatalf("keys at the vendor after cancel: %v (want the current and the previous one: no orphan)", e.v.live())
			}
			if _, err := e.lc.Cancel(ctx, e.arn, lifecycle.CancelOptions{}); !errors.Is(err, lifecycle.ErrNothingToCancel) {
				t.Fatalf("second cancel: %v", err)
			}
			e.SetInvoke(nil)
			if _, err := e.Rotate(ctx, e.arn); err != nil || rotation.Holder(e.Labels(ctx, e.arn), rotation.StagePending) != "" {
				t.Fatalf("rotation after cancel: %v %v", err, e.Labels(ctx, e.arn))
			}
		})
	}
}

// The pending credential is never destroyed while another version holds it.
func TestCancelKeepsSharedCredential(t *testing.T) {
	ctx := context.Background()
	e := newVendorEnv(t, nil)
	e.SetInvoke(func(context.Context, events.SecretsManagerSecretRotationEvent) error {
		return errors.New("lambda down")
	})
	token, err := e.Rotate(ctx, e.arn)
	if err != nil {
		t.Fatal(err)
	}
	// Someone put the current value into the pending version by hand.
	cur := e.Value(ctx, e.arn, rotation.StageCurrent)
	if _, err := e.SM.PutSecretValue(ctx, putPending(e.arn, token, cur)); err != nil {
		t.Fatal(err)
	}
	rep, err := e.lc.Cancel(ctx, e.arn, lifecycle.CancelOptions{})
	if err != nil || strings.Contains(ops(rep), "discard") || e.v.use(cur) != nil {
		t.Fatalf("cancel destroyed a shared credential: %v\n%s", err, rep)
	}
}

func TestPrepareEmergency(t *testing.T) {
	ctx := context.Background()
	e := newVendorEnv(t, map[string]string{lifecycle.TagDrain: "24h"})
	cur := rotation.Holder(e.Labels(ctx, e.arn), rotation.StageCurrent)
	if _, err := e.lc.PrepareEmergency(ctx, e.arn); err != nil {
		t.Fatal(err)
	}
	tg := e.tags(t)
	if tg[lifecycle.TagEmergency] != "true" || !strings.Contains(tg[lifecycle.TagStateLeaked], cur) {
		t.Fatalf("tags %v", tg)
	}
	// Before the rotation, the retire run waits: switching off the older
	// previous key would be the wrong one.
	rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || ops(rep) != "wait" || !strings.Contains(rep.String(), "emergency") {
		t.Fatalf("retire before the rotation: %v\n%s", err, rep)
	}
	if _, err := e.Rotate(ctx, e.arn); err != nil {
		t.Fatal(err)
	}
	if rotation.Holder(e.Labels(ctx, e.arn), rotation.StagePrevious) != cur {
		t.Fatal("the leaked version is not AWSPREVIOUS after the rotation")
	}
	rep, err = e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || !strings.Contains(ops(rep), "delete") {
		t.Fatalf("retire after the rotation: %v\n%s", err, rep)
	}
	if _, ok := e.tags(t)[lifecycle.TagEmergency]; ok {
		t.Fatal("emergency tag left after the leaked key was deleted")
	}
	// A pending rotation must be cancelled first.
	failAfterCreate(e)
	if _, err := e.Rotate(ctx, e.arn); err != nil {
		t.Fatal(err)
	}
	if _, err := e.lc.PrepareEmergency(ctx, e.arn); !errors.Is(err, lifecycle.ErrRotationIncomplete) || !strings.Contains(err.Error(), "dualkey cancel") {
		t.Fatalf("prepare with a pending rotation: %v", err)
	}
}
