package twilio_test

import (
	"context"
	"testing"

	"github.com/dualkey/dualkey/shared/providers/twilio"
	"github.com/dualkey/dualkey/shared/vendorkey/vendorkeytest"
)

// TestDeleteOnlyLifecycle runs the real lifecycle on a rotated key: the old
// key keeps working through the drain and the confirmation period, a
// rollback in between holds it, and after the period it is deleted at
// Twilio and loses AWSPREVIOUS; the audit finds no orphan; a rotation that
// did not finish is cancelled without leaving its key behind.
func TestDeleteOnlyLifecycle(t *testing.T) {
	w := newWorld(t, opts{restricted: true})
	vendorkeytest.DeleteOnlyLifecycle(t, vendorkeytest.LifecycleBed{Env: w.env, ARN: w.ARN, Vendor: "Twilio", Name: twilio.Name, Provider: w.provider(nil),
		Logs: w.logs, FirstWorks: func(ctx context.Context) error { return w.works(ctx, w.value(w.first)) }, FirstID: w.first.Sid, Keys: w.keyNames,
		CurrentID: func(ctx context.Context) string { return w.current(ctx, w.ARN).APIKeySID }, NoSecrets: w.noSecrets})
}
