package servicekey_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/shared/providers/servicekey"
	"github.com/dualkey/dualkey/shared/rotation"
)

// FuzzParse: Parse never panics; what it accepts is usable (a key, a key
// length in range, an absolute http(s) verify_url); its errors and the
// fingerprint never show the key, and verify_url's secrets never survive
// rotation.SafeURL.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"api_key":"svc_initial0123456789abcdefghijklmnop"}`,
		`{"api_key":"k3y-value-0123","verify_url":"https://svc:pa55word@billing.internal/health?token=t0ken","key_length":48}`,
		`{"api_key":"k3y-value-0123","verify_url":"ftp:/x"}`, `{"api_key":"k3y-value-0123","key_length":3}`,
		`{"api_key":12}`, `{"api_key":["k3y-value-0123"]}`, `{"api_key":"k3y-value-0123","key_length":1e400}`,
		`{"api_key":"k3y-value-0123","exclude_punctuation":"yes"}`, `["x"]`, `not json`, ``,
	} {
		f.Add(s)
	}
	p := servicekey.New(servicekey.DefaultSettings, nil)
	f.Fuzz(func(t *testing.T, value string) {
		s, err := servicekey.Parse(value)
		key := keyOf(value)
		if err != nil {
			if !errors.Is(err, rotation.ErrInvalidSecret) {
				t.Fatalf("Parse error %v is not ErrInvalidSecret", err)
			}
			if leaks(key, err.Error(), value) {
				t.Fatalf("Parse(%q) error shows the key: %v", value, err)
			}
			return
		}
		if s.APIKey == "" || (s.KeyLength != nil && (*s.KeyLength < 16 || *s.KeyLength > 4096)) {
			t.Fatalf("Parse accepted %+v", s)
		}
		if s.VerifyURL != "" {
			u, err := url.Parse(s.VerifyURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				t.Fatalf("Parse accepted verify_url %q", s.VerifyURL)
			}
			safe := rotation.SafeURL(s.VerifyURL)
			if pw, ok := u.User.Password(); ok && len(pw) >= 6 && strings.Contains(safe, pw) && !strings.Contains(u.Host+u.Path, pw) {
				t.Fatalf("SafeURL(%q) = %q shows the password", s.VerifyURL, safe)
			}
			for _, vs := range u.Query() {
				for _, v := range vs {
					if len(v) >= 6 && strings.Contains(safe, v) && !strings.Contains(u.Host+u.Path+strings.Join(keys(u.Query()), ""), v) {
						t.Fatalf("SafeURL(%q) = %q shows the query value %q", s.VerifyURL, safe, v)
					}
				}
			}
		}
		fp := p.Fingerprint(value)
		if fp != "" && (len(s.APIKey) < 12 || fp != "…"+s.APIKey[len(s.APIKey)-4:]) {
			t.Fatalf("Fingerprint = %q for a key of %d bytes", fp, len(s.APIKey))
		}
	})
}

func keys(q url.Values) []string {
	out := make([]string, 0, len(q))
	for k := range q {
		out = append(out, k)
	}
	return out
}

// keyOf returns the api_key string of a JSON value, or "".
func keyOf(value string) string {
	var m map[string]any
	if json.Unmarshal([]byte(value), &m) != nil {
		return ""
	}
	s, _ := m["api_key"].(string)
	return s
}

// leaks reports whether text shows key although Parse's error would not if
// the key in value were another string of the same length (a key that
// happens to be a word of the message is no leak).
func leaks(key, text, value string) bool {
	if len(key) < 6 || !strings.Contains(text, key) {
		return false
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(value))
	dec.UseNumber()
	if dec.Decode(&m) != nil {
		return true
	}
	m["api_key"] = strings.Repeat("q", len(key))
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(m) != nil {
		return true
	}
	_, err := servicekey.Parse(b.String())
	return err == nil || !strings.Contains(err.Error(), key)
}
