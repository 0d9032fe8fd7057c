package stripewebhook_test

import (
	"testing"

	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

func TestConformance(t *testing.T) {
	rotationtest.Run(t, subject(opts{}, nil))
}
