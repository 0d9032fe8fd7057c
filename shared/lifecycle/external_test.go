package lifecycle_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/rotation"
)

func newExpiringEnv(t *testing.T, tags map[string]string) *vendorEnv {
	t.Helper()
	return newProviderEnv(t, func(v *vendor) rotation.Provider { return expiring{vendorBase{v}} }, tags)
}

// SwitchOffExternal (Stripe): dualkey cannot switch the old key off; it
// waits for the vendor's announced expiry, proves the key dead and only
// then lets AWSPREVIOUS go. It never claims a deactivation or a delete.
func TestExternalLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newExpiringEnv(t, map[string]string{lifecycle.TagDrain: "1h"})
	oldID := rotation.Holder(e.Labels(ctx, e.arn), rotation.StagePrevious)
	e.v.expire(vendorKeyID(e.first), e.clock.Now().Add(24*time.Hour))
	e.clock.Advance(2 * time.Hour)
	rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || ops(rep) != "wait" || rep.State != lifecycle.StateWaitingExpiry || !strings.Contains(rep.String(), "switches it off at") {
		t.Fatalf("before the expiry: %v\n%s", err, rep)
	}
	if !strings.Contains(rep.Path, "external:") || strings.Contains(rep.Path, "deactivate") {
		t.Fatalf("path %q", rep.Path)
	}
	// Rollback possible while the vendor accepts it (past the 15m window).
	rb, err := e.lc.Rollback(ctx, e.arn, lifecycle.RollbackOptions{DryRun: true})
	if err != nil || strings.Contains(ops(rb), "reactivate") || !strings.Contains(rb.String(), "cannot stop that") {
		t.Fatalf("rollback before the expiry: %v\n%s", err, rb)
	}
	e.clock.Advance(23 * time.Hour)
	rep, err = e.lc.Retire(ctx, e.arn, lifecycle.Options{})
	if err != nil || !strings.Contains(ops(rep), "forget") || rep.State != lifecycle.StateExpired {
		t.Fatalf("after the expiry: %v\n%s", err, rep)
	}
	if _, ok := e.Labels(ctx, e.arn)[oldID]; ok {
		t.Fatal("dead key's version still labelled")
	}
	for _, m := range []string{"CredentialDeactivated", "CredentialDeleted", "OldCredentialStillValid"} {
		if strings.Contains(e.logs.String(), m) {
			t.Errorf("metric %s for a key the vendor expired", m)
		}
	}
	if !strings.Contains(e.logs.String(), `"CredentialExpired":1`) {
		t.Error("no CredentialExpired metric")
	}
	if rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{}); err != nil || strings.Contains(ops(rep), "forget") {
		t.Fatalf("run after the expiry: %v\n%s", err, rep)
	}
	if _, err := e.lc.Rollback(ctx, e.arn, lifecycle.RollbackOptions{Force: true}); !errors.Is(err, lifecycle.ErrNothingToRollBack) {
		t.Fatalf("rollback of an expired key: %v", err)
	}
}

// A vendor that does not expire the key as announced (or an operator who
// forgot to choose an expiry) gets an alert every run, not silence.
func TestExternalStillValidAlerts(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		expiry time.Duration // after promotion; 0: none announced
		want   string
	}{
		{"past the announced expiry", time.Hour, "after its announced expiry"},
		{"no expiry announced", 0, "no expiry was announced"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newExpiringEnv(t, map[string]string{lifecycle.TagDrain: "1h"})
			e.v.ignoresExpiry = true
			if c.expiry > 0 {
				e.v.expire(vendorKeyID(e.first), e.clock.Now().Add(c.expiry))
			}
			e.clock.Advance(3 * time.Hour)
			rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{})
			if err != nil || ops(rep) != "alert" || !strings.Contains(rep.String(), c.want) || !strings.Contains(e.logs.String(), `"OldCredentialStillValid":1`) {
				t.Fatalf("%v\n%s", err, rep)
			}
			if rotation.Holder(e.Labels(ctx, e.arn), rotation.StagePrevious) == "" {
				t.Fatal("AWSPREVIOUS removed from a key that still works")
			}
		})
	}
}

// An emergency cannot switch off a key only the vendor can expire: it
// fails loudly and names what to do; once the vendor refuses it, the next
// run finishes.
func TestExternalEmergency(t *testing.T) {
	ctx := context.Background()
	e := newExpiringEnv(t, map[string]string{lifecycle.TagDrain: "24h"})
	rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{Emergency: true})
	if !errors.Is(err, lifecycle.ErrCannotSwitchOff) || !strings.Contains(err.Error(), "dashboard") || !strings.Contains(err.Error(), "dualkey retire") {
		t.Fatalf("emergency on a key only the vendor can expire: %v\n%s", err, rep)
	}
	prev := rotation.Holder(e.Labels(ctx, e.arn), rotation.StagePrevious)
	if !strings.Contains(e.tags(t)[lifecycle.TagStateLeaked], prev) {
		t.Fatal("leak not recorded")
	}
	e.v.expire(vendorKeyID(e.first), e.clock.Now()) // the operator expires it in the dashboard
	if rep, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{Emergency: true}); err != nil || rep.State != lifecycle.StateExpired {
		t.Fatalf("after the vendor expired it: %v\n%s", err, rep)
	}
}
