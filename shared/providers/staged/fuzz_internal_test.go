package staged

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzParse: any value parses or fails with a field error, never panics;
// errors never repeat the value; neither the fingerprint nor String nor %#v
// shows a credential field longer than the four characters a fingerprint
// keeps.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"token":"tok_0123456789abcdef","probe":{"url":"https://api.example.com/v1/me","auth":{"header":"Authorization","prefix":"Bearer ","field":"token"},"identity":{"pointer":"/account/id"}}}`,
		`{"public_key":"pub0123456789","private_key":"priv0123456789abcdef","probe":{"method":"POST","url":"https://payments.sandbox.braintree-api.com/graphql","body":"{\"query\":\"query { ping }\"}","auth":{"basic":{"username_field":"public_key","password_field":"private_key"}},"expect_status":200}}`,
		`{"api_key":"k","probe":{"url":"http://127.0.0.1:8080/x"}}`,
		`{"api_key":"k","probe":{"url":"http://example.com/x"}}`,
		`{"api_key":"k","probe":{"url":"https://user:pass@example.com/?token=abc"}}`,
		`{"probe":7}`, `[]`, `null`, `{"probe":{`, "\xff\xfe",
	} {
		f.Add(s)
	}
	p := New(Config{})
	f.Fuzz(func(t *testing.T, value string) {
		s, err := Parse(value)
		if err != nil {
			if s != nil {
				t.Fatal("a value and an error")
			}
			if len(value) >= 12 && strings.Contains(err.Error(), value) {
				t.Fatal("the error repeats the value")
			}
			return
		}
		if len(s.creds) == 0 {
			t.Fatalf("parsed %v without a credential", s)
		}
		shown := map[string]string{"fingerprint": p.Fingerprint(value), "String": s.String(), "%#v": fmt.Sprintf("%#v", s)}
		for f, v := range s.creds {
			if len(v) <= 4 {
				continue
			}
			for what, out := range shown {
				if strings.Contains(out, v) {
					t.Fatalf("%s shows credential field %q", what, f)
				}
			}
		}
	})
}
