package twiliotoken_test

import (
	"testing"

	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

// The conformance kit talks to the Twilio fake directly (through Prism a
// request costs ~50 ms instead of ~2 ms and the kit makes thousands);
// TestThroughPrism sends every kind of request through Prism.

// TestConformance: a second secondary replaces the first (the fake's
// default, the harsher case), the account's own tokens manage the rotation.
func TestConformance(t *testing.T) {
	rotationtest.Run(t, subject(opts{}, nil))
}

// TestConformanceRejectingTwilio: Twilio refuses a second secondary; a Main
// key (master_secret_arn) manages the rotation.
func TestConformanceRejectingTwilio(t *testing.T) {
	rotationtest.Run(t, subject(opts{reject: true, mainKey: true}, nil))
}
