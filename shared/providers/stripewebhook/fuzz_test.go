package stripewebhook_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/shared/providers/stripewebhook"
)

// FuzzParse: any value parses or fails with a field error, never panics;
// errors never repeat the value; the fingerprint is the endpoint id, and
// neither it nor String nor %#v shows the signing secret.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"endpoint_id":"we_1NnVqK2eZvKYlo2C","webhook_secret":"whsec_abcdefghijklmnop","master_secret_arn":"arn:aws:secretsmanager:us-east-1:123456789012:secret:stripe-admin-AbCdEf"}`,
		`{"endpoint_id":"we_1","webhook_secret":"whsec_short"}`,
		`{"endpoint_id":"acct_1","webhook_secret":"whsec_abcdefghijklmnop"}`,
		`{"webhook_secret":{"a":1}}`, `[]`, `null`, `{"endpoint_id":"we_`, "\xff\xfe",
	} {
		f.Add(s)
	}
	p := stripewebhook.New(stripewebhook.Config{})
	f.Fuzz(func(t *testing.T, value string) {
		s, err := stripewebhook.Parse(value)
		if err != nil {
			if s != nil {
				t.Fatal("a value and an error")
			}
			if len(value) >= 12 && strings.Contains(err.Error(), value) {
				t.Fatal("the error repeats the value")
			}
			return
		}
		if !strings.HasPrefix(s.EndpointID, "we_") || !strings.HasPrefix(s.WebhookSecret, "whsec_") {
			t.Fatalf("parsed %v", s)
		}
		if fp := p.Fingerprint(value); fp != s.EndpointID {
			t.Fatalf("fingerprint %q, want the endpoint id %q", fp, s.EndpointID)
		}
		for what, shown := range map[string]string{"String": s.String(), "%#v": fmt.Sprintf("%#v", s)} {
			if strings.Contains(shown, s.WebhookSecret) {
				t.Fatalf("%s shows the signing secret", what)
			}
		}
	})
}
