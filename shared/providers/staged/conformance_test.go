package staged_test

import (
	"testing"

	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

// The conformance kit, with the operator rolling the key at the vendor and
// staging it before every rotation.
func TestConformance(t *testing.T) {
	for _, c := range []struct {
		name string
		kind kind
	}{
		{"basic auth with identity", basicKind},
		{"bearer header with identity", bearerKind},
	} {
		t.Run(c.name, func(t *testing.T) { rotationtest.Run(t, subject(c.kind, true, nil)) })
	}
}
