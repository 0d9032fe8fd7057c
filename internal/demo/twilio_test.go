package demo_test

import (
	"regexp"
	"testing"

	"github.com/dualkey/dualkey/internal/demo"
)

// TestDemoTwilioSendGrid runs the Twilio and SendGrid part: both keys are
// rotated by the real bootstraps under the RIE while the consumers keep
// calling with AWSCURRENT (0 failed calls, both keys used), the old keys
// stay active through the confirmation period and are deleted after it,
// and the output shows no key secret.
func TestDemoTwilioSendGrid(t *testing.T) {
	res, out := runPart(t, demo.RunTwilioSendGrid)
	if testing.Verbose() {
		t.Log(out)
	}
	for name, r := range map[string]demo.KeyRotationResult{"Twilio": res.Twilio, "SendGrid": res.SendGrid} {
		if r.Failed != 0 || r.Calls == 0 || r.ByKey[r.OldKey] == 0 || r.ByKey[r.NewKey] == 0 {
			t.Fatalf("%s: %d calls, %d failed, by key %v", name, r.Calls, r.Failed, r.ByKey)
		}
		want := []string{"active", "active", "deleted"} // the old key after promotion, the drain, the confirmation
		if len(r.States) != 3 {
			t.Fatalf("%s: states %v\n%s", name, r.States, out)
		}
		for i, st := range r.States {
			if st[r.OldKey] != want[i] || st[r.NewKey] != "active" {
				t.Fatalf("%s step %d: keys %v, want the old one %s and the new one active", name, i, st, want[i])
			}
		}
	}
	mustContain(t, out, "FAILED: 0", "zero failed calls", "confirmation period", "functions/twilio", "functions/sendgrid")
	if s := keyLike.FindString(out); s != "" {
		t.Fatalf("the output shows a key secret or token: %q", s)
	}
}

// keyLike matches SendGrid keys and bare 32-character Twilio secrets and
// tokens (SIDs are 34 characters with their AC/SK prefix).
var keyLike = regexp.MustCompile(`SG\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}|(?:^|[^A-Za-z0-9])[A-Za-z0-9]{32}(?:[^A-Za-z0-9]|$)`)
