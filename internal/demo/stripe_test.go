package demo_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/internal/demo"
)

// TestDemoStripe runs the Stripe part: the webhook secret rotates under
// live events with 0 rejected deliveries and each event processed once;
// the old endpoint is disabled after the drain and deleted after the grace
// period; a key of another account is refused, the rolled key promoted,
// and the old key proven dead after its expiry.
func TestDemoStripe(t *testing.T) {
	res, out := runPart(t, demo.RunStripe)
	if res.FailedDeliveries != 0 || len(res.Rejected) != 0 || res.ProcessedTwice != 0 || res.DeliveredTwice == 0 || res.Duplicates != uint64(res.DeliveredTwice) {
		t.Fatalf("events %d, twice %d, duplicates %d, failed %d, rejected %v, processed other than once %d",
			res.Events, res.DeliveredTwice, res.Duplicates, res.FailedDeliveries, res.Rejected, res.ProcessedTwice)
	}
	want := []string{"enabled", "disabled", "deleted"} // the old endpoint after promotion, the drain, the grace period
	if len(res.EndpointStates) != 3 {
		t.Fatalf("endpoint states %v\n%s", res.EndpointStates, out)
	}
	for i, st := range res.EndpointStates {
		if st[res.OldEndpoint] != want[i] || st[res.NewEndpoint] != "enabled" {
			t.Fatalf("step %d: endpoints %v, want the old one %s and the new one enabled", i, st, want[i])
		}
	}
	if !strings.Contains(res.OtherAccountRefused, "another Stripe account") || !res.KeyRotated || !res.OldKeyExpired {
		t.Fatalf("key part: refused %q, rotated %v, expired %v\n%s", res.OtherAccountRefused, res.KeyRotated, res.OldKeyExpired, out)
	}
	mustContain(t, out, "REJECTED: 0", "zero rejected", "refused at testSecret", "api_key_expired")
	if secretLike.MatchString(out) {
		t.Fatalf("the output shows a key or signing secret: %q", secretLike.FindString(out))
	}
}

// secretLike matches whole Stripe keys and signing secrets (fingerprints
// such as sk_live_…abcd do not match).
var secretLike = regexp.MustCompile(`(sk|rk)_(live|test)_[A-Za-z0-9]{8,}|whsec_[A-Za-z0-9]{8,}`)
