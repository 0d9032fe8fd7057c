package twilio_test

import (
	"strings"
	"testing"

	"github.com/dualkey/dualkey/shared/providers/twilio"
)

// FuzzParse: any value parses or fails with a field error, never panics;
// errors never repeat the value; the fingerprint is the key SID and never
// contains the key secret, nor does String.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"account_sid":"AC0123456789abcdef0123456789abcdef","api_key_sid":"SK0123456789abcdef0123456789abcdef","api_key_secret":"S3cretS3cretS3cretS3cretS3cretXY","master_secret_arn":"arn:aws:secretsmanager:us-east-1:1:secret:a"}`,
		`{"account_sid":"AC0123456789abcdef0123456789abcdef","api_key_sid":"SK0123456789abcdef0123456789abcdef","api_key_secret":"x y"}`,
		`{"api_key_secret":{"nested":1}}`, `[]`, `null`, `{"account_sid":"AC`, "\xff\xfe",
	} {
		f.Add(s)
	}
	p := twilio.New(twilio.Config{})
	f.Fuzz(func(t *testing.T, value string) {
		s, err := twilio.Parse(value)
		fp := p.Fingerprint(value)
		if err != nil {
			if s != nil {
				t.Fatal("a value and an error")
			}
			if len(value) >= 12 && strings.Contains(err.Error(), value) {
				t.Fatalf("the error repeats the value")
			}
			return
		}
		if fp != "" && strings.Contains(fp, s.APIKeySecret) {
			t.Fatalf("fingerprint %q shows the key secret", fp)
		}
		if s.APIKeySecret == "" || !strings.HasPrefix(s.APIKeySID, "SK") || (fp != s.APIKeySID && fp != "") || strings.Contains(strings.Replace(s.String(), s.APIKeySID, "", 1), s.APIKeySecret) {
			t.Fatalf("parsed %v, fingerprint %q", s, fp)
		}
	})
}
