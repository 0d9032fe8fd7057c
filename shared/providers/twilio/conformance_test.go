package twilio_test

import (
	"testing"

	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

// The conformance kit talks to the Twilio fake directly: through Prism a
// request takes ~50 ms instead of ~2 ms (twilioprism's BenchmarkFetchAccount),
// and the kit's fault matrix makes thousands. Every request the provider
// sends goes through Prism in TestThroughPrism instead.

// TestConformance: a Standard key, the auth token as admin.
func TestConformance(t *testing.T) {
	rotationtest.Run(t, subject(opts{}, nil))
}

// TestConformanceRestricted: a restricted key, a Main key as admin.
func TestConformanceRestricted(t *testing.T) {
	rotationtest.Run(t, subject(opts{restricted: true, admin: "main"}, nil))
}
