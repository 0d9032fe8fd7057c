package stripe_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/shared/providers/stripe"
)

// FuzzParse: any value parses or fails with a field error, never panics;
// errors never repeat the value; neither the fingerprint nor String nor %#v
// shows the key.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"api_key":"sk_test_4eC39HqLyjWDarjtT1zdp7dc"}`,
		`{"api_key":"rk_live_51AbCdEfGhIjKlMnOpQrStUv","account_id":"acct_1Abc","probes":["GET /v1/charges?limit=1"]}`,
		`{"api_key":"sk_test_4eC39HqLyjWDarjtT1zdp7dc","previous_key_expires_at":"2026-12-01T00:00:00Z"}`,
		`{"api_key":"pk_test_x"}`, `{"api_key":7}`, `{"probes":"x"}`, `[]`, `null`, `{"api_key":"sk_`, "\xff\xfe",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		s, err := stripe.Parse(value)
		if err != nil {
			if s != nil {
				t.Fatal("a value and an error")
			}
			if len(value) >= 12 && strings.Contains(err.Error(), value) {
				t.Fatal("the error repeats the value")
			}
			return
		}
		if s.APIKey == "" {
			t.Fatalf("parsed %v without a key", s)
		}
		if len(s.APIKey) > 8 {
			for what, shown := range map[string]string{
				"fingerprint": stripe.Fingerprint(s.APIKey), "String": s.String(), "%#v": fmt.Sprintf("%#v", s),
			} {
				if strings.Contains(shown, s.APIKey) {
					t.Fatalf("%s shows the key", what)
				}
			}
		}
	})
}
