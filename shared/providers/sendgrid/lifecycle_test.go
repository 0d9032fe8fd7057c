package sendgrid_test

import (
	"context"
	"testing"

	"github.com/dualkey/dualkey/shared/providers/sendgrid"
	"github.com/dualkey/dualkey/shared/vendorkey/vendorkeytest"
)

// TestDeleteOnlyLifecycle runs the real lifecycle on a rotated key: the old
// key keeps working through the drain and the confirmation period, a
// rollback in between holds it, and after the period it is deleted at
// SendGrid and loses AWSPREVIOUS; the audit finds no orphan; a rotation
// that did not finish is cancelled without leaving its key behind.
func TestDeleteOnlyLifecycle(t *testing.T) {
	w := newWorld(t, opts{subuser: true})
	vendorkeytest.DeleteOnlyLifecycle(t, vendorkeytest.LifecycleBed{Env: w.env, ARN: w.ARN, Vendor: "SendGrid", Name: sendgrid.Name, Provider: w.provider(nil),
		Logs: w.logs, FirstWorks: func(ctx context.Context) error { return w.works(ctx, w.value(w.first)) }, FirstID: w.first.ID, Keys: w.keys,
		CurrentID: func(ctx context.Context) string { return w.current(ctx, w.ARN).APIKeyID }, NoSecrets: w.noSecrets})
}
