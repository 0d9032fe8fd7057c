package sendgrid_test

import (
	"strings"
	"testing"

	"github.com/dualkey/dualkey/shared/providers/sendgrid"
)

// FuzzParse: any value parses or fails with a field error, never panics;
// errors and the fingerprint (the key id) never contain the key itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"api_key":"SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG","master_secret_arn":"arn:aws:secretsmanager:us-east-1:1:secret:a"}`,
		`{"api_key":"SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG","api_key_id":"other-id-123","subuser":"eu team"}`,
		`{"api_key":"SG..x"}`, `{"subuser":"a\r\nb"}`, `7`, `{"api_key":`,
	} {
		f.Add(s)
	}
	p := sendgrid.New(sendgrid.Config{})
	f.Fuzz(func(t *testing.T, value string) {
		s, err := sendgrid.Parse(value)
		fp := p.Fingerprint(value)
		if err != nil {
			if len(value) >= 12 && strings.Contains(err.Error(), value) {
				t.Fatalf("the error repeats the value")
			}
			return
		}
		if strings.Contains(fp, s.APIKey) {
			t.Fatalf("fingerprint %q shows the key", fp)
		}
		if !strings.HasPrefix(s.APIKey, "SG.") || fp == "" || strings.Contains(s.String(), s.APIKey) || strings.ContainsAny(s.Subuser, "\r\n ") {
			t.Fatalf("parsed %v, fingerprint %q", s, fp)
		}
	})
}
