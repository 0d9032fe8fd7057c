package twiliotoken_test

import (
	"strings"
	"testing"

	"github.com/dualkey/dualkey/shared/providers/twiliotoken"
)

// FuzzParse: any value parses or fails with a field error, never panics;
// errors and the fingerprint never contain the token.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"account_sid":"AC0123456789abcdef0123456789abcdef","auth_token":"0123456789abcdef0123456789abcdef"}`,
		`{"account_sid":"AC0123456789abcdef0123456789abcdef","auth_token":"0123456789abcdef 0123456789abcde"}`,
		`{"auth_token":null}`, `"0123456789abcdef0123456789abcdef"`, `{`,
	} {
		f.Add(s)
	}
	p := twiliotoken.New(twiliotoken.Config{})
	f.Fuzz(func(t *testing.T, value string) {
		s, err := twiliotoken.Parse(value)
		fp := p.Fingerprint(value)
		if err != nil {
			if len(value) >= 12 && strings.Contains(err.Error(), value) {
				t.Fatalf("the error repeats the value")
			}
			return
		}
		shown := strings.ReplaceAll(s.GoString(), s.AccountSID, "") // a token may, absurdly, be part of the SID
		if fp == "" || strings.Contains(fp, s.AuthToken) || strings.Contains(shown, s.AuthToken) {
			t.Fatalf("fingerprint %q or String shows the token", fp)
		}
	})
}
