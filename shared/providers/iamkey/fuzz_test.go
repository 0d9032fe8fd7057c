package iamkey_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/shared/providers/iamkey"
	"github.com/dualkey/dualkey/shared/rotation"
)

// FuzzParse: Parse never panics; what it accepts has the shape IAM gives
// names and key ids; its errors, a Secret's printed forms and the
// fingerprint never show the secret access key.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"user_name":"alice","access_key_id":"AKIAEXAMPLE000000001","secret_access_key":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}`,
		`{"user_name":"alice","access_key_id":"AKIAEXAMPLE000000001","secret_access_key":"s3cr3t-value","propagation_budget_seconds":90}`,
		`{"user_name":"arn:aws:iam::123456789012:user/alice","access_key_id":"AKIAEXAMPLE000000001","secret_access_key":"s3cr3t-value"}`,
		`{"user_name":"alice","access_key_id":"SAMESAMESAMESAME","secret_access_key":"SAMESAMESAMESAME"}`,
		`{"user_name":"alice","access_key_id":"wJalrXUtnFEMIK7MDENG","secret_access_key":"s3cr3t-value"}`,
		`{"user_name":7}`, `{"user_name":"alice","access_key_id":"AKIAEXAMPLE000000001","secret_access_key":"x","propagation_budget_seconds":1e400}`,
		`{"user_name":"alice","access_key_id":"AKIAEXAMPLE000000001","secret_access_key":["s3cr3t-value"]}`, `not json`, ``,
	} {
		f.Add(s)
	}
	userName := regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	keyID := regexp.MustCompile(`^[A-Z0-9]{16,128}$`)
	p := iamkey.New(iamkey.Config{})
	f.Fuzz(func(t *testing.T, value string) {
		s, err := iamkey.Parse(value)
		secret := secretOf(value)
		if err != nil {
			if !errors.Is(err, rotation.ErrInvalidSecret) {
				t.Fatalf("Parse error %v is not ErrInvalidSecret", err)
			}
			if leaks(secret, err.Error(), func(v string) string {
				if _, err := iamkey.Parse(v); err != nil {
					return err.Error()
				}
				return ""
			}, value) {
				t.Fatalf("Parse(%q) error shows the secret access key: %v", value, err)
			}
			return
		}
		if !userName.MatchString(s.UserName) || !keyID.MatchString(s.AccessKeyID) || s.SecretAccessKey == "" || s.SecretAccessKey == s.AccessKeyID {
			t.Fatalf("Parse accepted %+v", s)
		}
		if b := s.PropagationBudgetSeconds; b != nil && (*b <= 0 || *b > iamkey.MaxPropagationBudget.Seconds()) {
			t.Fatalf("Parse accepted a budget of %g s", *b)
		}
		if fp := p.Fingerprint(value); fp != s.AccessKeyID {
			t.Fatalf("Fingerprint = %q, want the key id %q", fp, s.AccessKeyID)
		}
		// A Secret's printed forms do not depend on the secret at all.
		other := *s
		other.SecretAccessKey = "another-secret-value"
		printed := func(s iamkey.Secret) string { return fmt.Sprintf("%v %+v %#v %s %v %+v %#v", s, s, s, s, &s, &s, &s) }
		if printed(*s) != printed(other) {
			t.Fatalf("a printed Secret shows the secret access key")
		}
	})
}

// secretOf returns the secret_access_key string of a JSON value, or "".
func secretOf(value string) string {
	var m map[string]any
	if json.Unmarshal([]byte(value), &m) != nil {
		return ""
	}
	s, _ := m["secret_access_key"].(string)
	return s
}

// leaks reports whether text shows secret although it would not if the
// secret in value were replaced by another string of the same length (a
// secret that happens to be a word of the message is no leak).
func leaks(secret, text string, again func(string) string, value string) bool {
	if len(secret) < 6 || !strings.Contains(text, secret) {
		return false
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(value))
	dec.UseNumber()
	if dec.Decode(&m) != nil {
		return true
	}
	m["secret_access_key"] = strings.Repeat("q", len(secret))
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(m) != nil {
		return true
	}
	return !strings.Contains(again(b.String()), secret)
}
