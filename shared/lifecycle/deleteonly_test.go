package lifecycle_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/rotation"
)

// A delete-only provider has no deactivated stage: after the drain and the
// usage check the lifecycle waits the confirmation period, then deletes. It
// never labels DUALKEY_DEACTIVATED, never reports a deactivation, and the
// old key works until the delete.
func TestDeleteOnlyLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newVendorEnv(t, map[string]string{lifecycle.TagDrain: "1h", lifecycle.TagConfirm: "24h", lifecycle.TagGrace: "48h"})
	oldID := rotation.Holder(e.Labels(ctx, e.arn), rotation.StagePrevious)
	oldKey := vendorKeyID(e.first)

	e.clock.Advance(61 * time.Minute)
	rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{DryRun: true})
	if err != nil || strings.Contains(ops(rep), "deactivate") || !strings.Contains(rep.String(), "confirmation") || !strings.Contains(rep.String(), "delete-only") {
		t.Fatalf("dry run after the drain: %v\n%s", err, rep)
	}
	rep, err = e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || strings.Contains(ops(rep), "deactivate") || rep.State != lifecycle.StateConfirming {
		t.Fatalf("after the drain: %v\n%s", err, rep)
	}
	if got := e.Labels(ctx, e.arn)[oldID]; !slices.Equal(got, []string{rotation.StagePrevious}) {
		t.Fatalf("old version labels %v, want only AWSPREVIOUS", got)
	}
	if err := e.v.use(e.first); err != nil {
		t.Fatalf("old key refused during the confirmation period: %v", err)
	}
	if strings.Contains(e.logs.String(), "CredentialDeactivated") {
		t.Fatal("CredentialDeactivated emitted for a provider that cannot deactivate")
	}
	// The use above puts it back in use: the confirmation starts again later.
	rep, _ = e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if rep.State != lifecycle.StateInUse {
		t.Fatalf("used during the confirmation period:\n%s", rep)
	}
	e.clock.Advance(2 * time.Hour)
	if rep, _ = e.lc.Retire(ctx, e.arn, lifecycle.Options{}); rep.State != lifecycle.StateConfirming {
		t.Fatalf("quiet again:\n%s", rep)
	}
	e.clock.Advance(23 * time.Hour)
	rep, err = e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || ops(rep) != "wait" || rep.State != lifecycle.StateConfirming || !slices.Contains(e.v.live(), oldKey) {
		t.Fatalf("during the confirmation period: %v\n%s", err, rep)
	}
	e.clock.Advance(2 * time.Hour)
	rep, err = e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || ops(rep) != "delete" || rep.State != lifecycle.StateDeleted {
		t.Fatalf("after the confirmation period: %v\n%s", err, rep)
	}
	if slices.Contains(e.v.live(), oldKey) || e.v.use(e.first) == nil {
		t.Fatal("old key not deleted at the vendor")
	}
	if got, ok := e.Labels(ctx, e.arn)[oldID]; ok {
		t.Fatalf("deleted key's version still labelled %v", got)
	}
	if !strings.Contains(e.logs.String(), `"CredentialDeleted":1`) || strings.Contains(e.logs.String(), "CredentialDeactivated") {
		t.Fatalf("metrics: %s", e.logs.String())
	}
	// Nothing left to do, and nothing to roll back.
	for i := 0; i < 2; i++ {
		rep, err = e.lc.Retire(ctx, e.arn, lifecycle.Options{})
		if err != nil || strings.Contains(ops(rep), "delete") {
			t.Fatalf("retire after the delete: %v\n%s", err, rep)
		}
	}
	if _, err := e.lc.Rollback(ctx, e.arn, lifecycle.RollbackOptions{Force: true}); !errors.Is(err, lifecycle.ErrNothingToRollBack) {
		t.Fatalf("rollback after the delete: %v", err)
	}
	if len(e.v.live()) != 1 {
		t.Fatalf("keys at the vendor: %v", e.v.live())
	}
}

// Rollback is possible until the delete: during the confirmation period,
// long after the rollback window, it holds retirement without claiming a
// reactivation that did not happen.
func TestDeleteOnlyRollbackDuringConfirmation(t *testing.T) {
	ctx := context.Background()
	e := newVendorEnv(t, map[string]string{lifecycle.TagDrain: "1h", lifecycle.TagConfirm: "24h"})
	e.clock.Advance(2 * time.Hour)
	if rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{}); err != nil || rep.State != lifecycle.StateConfirming {
		t.Fatalf("retire: %v\n%s", err, rep)
	}
	e.clock.Advance(10 * time.Hour)
	rep, err := e.lc.Rollback(ctx, e.arn, lifecycle.RollbackOptions{Reason: "sms failing"})
	if err != nil || strings.Contains(ops(rep), "reactivate") || !strings.Contains(ops(rep), "hold") {
		t.Fatalf("rollback during confirmation: %v\n%s", err, rep)
	}
	e.clock.Advance(48 * time.Hour)
	if rep, _ := e.lc.Retire(ctx, e.arn, lifecycle.Options{}); ops(rep) != "hold" || e.v.use(e.first) != nil {
		t.Fatalf("held key deleted:\n%s", rep)
	}
}

// An emergency deletes a delete-only key at once: it is the only way to
// switch it off.
func TestDeleteOnlyEmergency(t *testing.T) {
	ctx := context.Background()
	e := newVendorEnv(t, map[string]string{lifecycle.TagDrain: "24h", lifecycle.TagConfirm: "24h"})
	rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{Emergency: true})
	if err != nil || ops(rep) != "delete" || e.v.use(e.first) == nil {
		t.Fatalf("emergency: %v\n%s", err, rep)
	}
}

// lying declares one switch-off and implements another.
type lying struct {
	deleteOnly
	off rotation.SwitchOff
}

func (l lying) SwitchOff() rotation.SwitchOff { return l.off }

type lyingDeactivator struct{ lying }

func (lyingDeactivator) Deactivate(context.Context, *rotation.CredentialRequest) error { return nil }
func (lyingDeactivator) Reactivate(context.Context, *rotation.CredentialRequest) error { return nil }

type notDeleter struct{ rotation.Provider }

func TestNewRefusesMismatchedSwitchOff(t *testing.T) {
	v := newVendor(time.Now)
	cases := []struct {
		name string
		p    rotation.Provider
		want string
	}{
		{"reversible without Deactivator", lying{deleteOnly{vendorBase{v}}, rotation.SwitchOffReversible}, "Deactivator"},
		{"delete-only without Deleter", notDeleter{deleteOnly{vendorBase{v}}}, "Deleter"},
		{"label-gated with Deactivator", lyingDeactivator{lying{deleteOnly{vendorBase{v}}, rotation.SwitchOffLabelGated}}, "Deactivator"},
		{"delete-only with Deactivator", lyingDeactivator{lying{deleteOnly{vendorBase{v}}, rotation.SwitchOffDeleteOnly}}, "Deactivator"},
		{"external without ExpiryChecker", lying{deleteOnly{vendorBase{v}}, rotation.SwitchOffExternal}, "ExpiryChecker"},
		{"unknown", lying{deleteOnly{vendorBase{v}}, "sometimes"}, "sometimes"},
		{"none for every secret", lying{deleteOnly{vendorBase{v}}, rotation.SwitchOffNone}, "per-secret"},
	}
	for _, c := range cases {
		_, err := lifecycle.New(lifecycle.Config{SecretsManager: secretsmanager.New(secretsmanager.Options{Region: "us-east-1"}), Providers: map[string]rotation.Provider{"vendorkey": c.p}})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "vendorkey") {
			t.Errorf("%s: got %v, want an error naming the provider and %q", c.name, err, c.want)
		}
	}
}

// The lifecycle's side of minute-granular usage evidence, with a provider
// that reports minutes (as IAM does; TestIAMLastUsedIsMinuteGranular runs
// the same scenario against the emulator's IAM).
func TestLastUsedGranularity(t *testing.T) {
	cases := []struct {
		name      string
		quiet     string
		runAfter  time.Duration // after the use at 12:33:27
		wantErr   bool
		wantState string
	}{
		{"quiet shorter than the granularity is refused", "30s", 15 * time.Second, true, ""},
		{"used 43s ago within a 1m quiet period", "1m", 43 * time.Second, false, lifecycle.StateInUse},
		{"used 2m ago, 1m quiet period over", "1m", 2 * time.Minute, false, lifecycle.StateConfirming},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			e := newVendorEnv(t, map[string]string{lifecycle.TagDrain: "1h", lifecycle.TagQuiet: c.quiet})
			e.v.granularity = time.Minute
			e.clock.Advance(2*time.Hour + 33*time.Minute + 27*time.Second)
			if err := e.v.use(e.first); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(c.runAfter)
			tags := e.tags(t)
			rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{})
			if c.wantErr {
				if !errors.Is(err, lifecycle.ErrBadSetting) || !strings.Contains(err.Error(), lifecycle.TagQuiet) || !strings.Contains(err.Error(), "1m0s") {
					t.Fatalf("got %v, want a bad-setting error naming %s and the granularity", err, lifecycle.TagQuiet)
				}
				if !equalTags(e.tags(t), tags) {
					t.Fatal("refused run changed the tags")
				}
				return
			}
			if err != nil || rep.State != c.wantState {
				t.Fatalf("got %v state %q, want %q\n%s", err, rep.State, c.wantState, rep)
			}
		})
	}
}

// The deactivation window gates the delete of a delete-only key (its
// switch-off), not the start of the confirmation period; waiting for the
// window keeps the confirmation's start.
func TestDeleteOnlyWindowGatesTheDelete(t *testing.T) {
	ctx := context.Background()
	// Rotated Monday 10:00 UTC; deletes only 02:00-04:00.
	e := newVendorEnv(t, map[string]string{lifecycle.TagDrain: "1h", lifecycle.TagConfirm: "2h", lifecycle.TagWindow: "02:00-04:00"})
	e.clock.Advance(2 * time.Hour) // 12:00: the confirmation starts outside the window
	if rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{}); err != nil || rep.State != lifecycle.StateConfirming {
		t.Fatalf("confirmation outside the window: %v\n%s", err, rep)
	}
	since := e.tags(t)[lifecycle.TagStateSince]
	e.clock.Advance(3 * time.Hour) // 15:00: confirmation over, window closed
	rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || ops(rep) != "wait" || !strings.Contains(rep.String(), "window") || e.v.use(e.first) != nil {
		t.Fatalf("outside the window: %v\n%s", err, rep)
	}
	if tg := e.tags(t); tg[lifecycle.TagState] != lifecycle.StateConfirming || tg[lifecycle.TagStateSince] != since {
		t.Fatalf("waiting for the window lost the confirmation: %v", tg)
	}
	e.clock.Advance(12 * time.Hour) // 03:00
	if rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{}); err != nil || ops(rep) != "delete" || e.v.use(e.first) == nil {
		t.Fatalf("inside the window: %v\n%s", err, rep)
	}
}

// A crash after the vendor deleted the key but before the labels and tags
// followed: the next run finishes the delete (the vendor's delete of a gone
// key succeeds) instead of asking the vendor about a key that is gone.
func TestDeleteOnlyResumesInterruptedDelete(t *testing.T) {
	ctx := context.Background()
	e := newVendorEnv(t, map[string]string{lifecycle.TagDrain: "1h"})
	prev := rotation.Holder(e.Labels(ctx, e.arn), rotation.StagePrevious)
	e.v.remove(vendorKeyID(e.first))
	tagSecret(t, e.SM, e.arn, map[string]string{lifecycle.TagState: lifecycle.StateDeleting, lifecycle.TagStateVersion: prev})
	rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || ops(rep) != "delete" || rep.State != lifecycle.StateDeleted {
		t.Fatalf("resume: %v\n%s", err, rep)
	}
	if _, ok := e.Labels(ctx, e.arn)[prev]; ok {
		t.Fatal("the deleted key's version is still labelled")
	}
	if _, err := e.lc.Rollback(ctx, e.arn, lifecycle.RollbackOptions{Force: true}); !errors.Is(err, lifecycle.ErrNothingToRollBack) {
		t.Fatalf("rollback of a deleted key: %v", err)
	}
}
