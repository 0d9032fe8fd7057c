package stripe_test

import (
	"testing"

	"github.com/dualkey/dualkey/emulator/stripefake"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

// The conformance kit, with the operator's part played before every
// rotation: roll the current key in the "Dashboard" (the old one expiring
// in 24 hours) and stage the new one.
func TestConformance(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup setup
	}{
		{"secret key", setup{stageEachRotation: true}},
		{"restricted key that may not read the account", setup{stageEachRotation: true, spec: stripefake.KeySpec{Kind: stripefake.KindRestricted, Live: true,
			Permissions: []string{stripefake.PermChargeRead}}, extra: `,"account_id":"ACCT","probes":["GET /v1/charges?limit=1"]`}},
	} {
		t.Run(c.name, func(t *testing.T) { rotationtest.Run(t, subject(c.setup, nil)) })
	}
}
