package rotation_test

import (
	"strings"
	"testing"

	"github.com/dualkey/dualkey/shared/rotation"
)

func TestRedactURLs(t *testing.T) {
	cases := []struct {
		name, in, want string
		secrets        []string
	}{
		{"user info", "GET https://svc:hunter2pass@billing.internal/health failed",
			"GET https://[REDACTED]@billing.internal/health failed", []string{"hunter2pass", "svc:"}},
		{"query token", `verify_url "https://billing.internal/health?token=s3cr3tvalue&x=1" refused`,
			`verify_url "https://billing.internal/health?token=[REDACTED]&x=[REDACTED]" refused`, []string{"s3cr3tvalue"}},
		{"fragment", "http://127.0.0.1:8080/cb#access_token=abcdef123", "http://127.0.0.1:8080/cb#[REDACTED]", []string{"abcdef123"}},
		{"sentence punctuation", "see https://u:p4ssw0rd@h.example/x.", "see https://[REDACTED]@h.example/x.", []string{"p4ssw0rd"}},
		{"no url", "nothing to see", "nothing to see", nil},
		{"plain url kept", "https://billing.internal/health", "https://billing.internal/health", nil},
		{"unparsable", "postgres://admin:pa%zzss@db:5432/app", "postgres://[REDACTED]@db:5432/[REDACTED]", []string{"pa%zzss"}},
		{"redacted before", "GET http://[REDACTED]@127.0.0.1:1/health?token=[REDACTED] refused", "GET http://[REDACTED]@127.0.0.1:1/health?token=[REDACTED] refused", nil},
		{"redacted query at the end of a sentence", "see http://h/x?t=[REDACTED].", "see http://h/x?t=[REDACTED].", nil},
		{"slash in the password", "GET https://svc:pa/ss0rd9@h.example/x?k=1 failed", "GET https://[REDACTED]@h.example/x?k=[REDACTED] failed", []string{"pa/ss", "ss0rd9"}},
		{"upper-case scheme kept", "A://h/x?t=s3cr3tt", "A://h/x?t=[REDACTED]", []string{"s3cr3tt"}},
		{"escaped host kept as spelt", "http://%80/x?t=s3cr3tt", "http://%80/x?t=[REDACTED]", []string{"s3cr3tt"}},
		{"two urls", "a http://x:yyyyyy@h1/ b http://h2/?k=vvvvvv", "a http://[REDACTED]@h1/ b http://h2/?k=[REDACTED]", []string{"yyyyyy", "vvvvvv"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := rotation.RedactURLs(c.in)
			if got != c.want {
				t.Fatalf("RedactURLs(%q) = %q, want %q", c.in, got, c.want)
			}
			if again := rotation.RedactURLs(got); again != got {
				t.Fatalf("RedactURLs is not idempotent: %q becomes %q", got, again)
			}
			for _, s := range c.secrets {
				if strings.Contains(got, s) {
					t.Fatalf("%q still contains %q", got, s)
				}
			}
		})
	}
}
