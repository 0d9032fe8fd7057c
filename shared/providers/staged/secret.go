package staged

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/dualkey/dualkey/shared/rotation"
)

// Fields of the secret value dualkey reads besides the credential's own.
const (
	FieldProbe = "probe"
	// FieldPreviousKeyExpiresAt is when the vendor switches off the
	// credential that the version holding it replaced (RFC 3339), as the
	// operator said when staging.
	FieldPreviousKeyExpiresAt = "previous_key_expires_at"
)

// Limits of a probe.
const (
	maxURL     = 2048
	maxHeaders = 20
	maxBody    = 64 << 10
	maxPrefix  = 64
)

// Probe is the request testSecret sends with the new credential (and
// CheckDead with an old one).
type Probe struct {
	// Method is GET, HEAD or POST (default GET).
	Method string `json:"method,omitempty"`
	// URL is the absolute https URL (http only to 127.0.0.1 or localhost).
	URL string `json:"url"`
	// Auth says how the credential is sent.
	Auth Auth `json:"auth"`
	// Headers are sent as they are (no credential here: they are not
	// treated as secrets).
	Headers map[string]string `json:"headers,omitempty"`
	// Body is the request body (POST only).
	Body string `json:"body,omitempty"`
	// ExpectStatus is the status a working credential gets (default: any
	// 2xx).
	ExpectStatus int `json:"expect_status,omitempty"`
	// Identity, when set, names the account the credential belongs to in
	// the answer.
	Identity *Identity `json:"identity,omitempty"`
}

// Auth says how the credential is sent: in a header (Header, with Prefix,
// from the secret field Field, default api_key) or with HTTP basic auth
// (Basic).
type Auth struct {
	Header string `json:"header,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Field  string `json:"field,omitempty"`
	Basic  *Basic `json:"basic,omitempty"`
}

// Basic names the secret fields that hold the user name and the password.
type Basic struct {
	UsernameField string `json:"username_field"`
	PasswordField string `json:"password_field"`
}

// Identity is a JSON pointer (RFC 6901) into the probe's answer whose value
// must be the same for the new credential as for the current one, or equal
// Expect when set (needed when the current credential no longer works).
type Identity struct {
	Pointer string `json:"pointer"`
	Expect  string `json:"expect,omitempty"`
}

// Secret is the decoded secret value. Its String and GoString methods hide
// the credential.
type Secret struct {
	Probe Probe
	// creds holds the credential fields, by name.
	creds   map[string]string
	expires time.Time
	raw     []byte // the value, when kept
}

// String implements fmt.Stringer without the credential.
func (s Secret) String() string {
	return fmt.Sprintf("{Credential:%s Probe:%s %s}", s.fingerprint(), s.Probe.method(), rotation.SafeURL(s.Probe.URL))
}

// GoString implements fmt.GoStringer without the credential.
func (s Secret) GoString() string { return "staged.Secret" + s.String() }

// Fields returns the names of the credential's fields, in order.
func (p *Probe) Fields() []string {
	if p.Auth.Basic != nil {
		return []string{p.Auth.Basic.UsernameField, p.Auth.Basic.PasswordField}
	}
	if p.Auth.Field == "" {
		return []string{"api_key"}
	}
	return []string{p.Auth.Field}
}

func (p *Probe) method() string {
	if p.Method == "" {
		return http.MethodGet
	}
	return p.Method
}

var (
	fieldPattern   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)
	headerPattern  = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+.^_` + "`" + `|~-]{1,64}$`)
	pointerPattern = regexp.MustCompile(`^(/([^~/]|~[01])*){1,16}$`)
)

// forbiddenHeaders are set by the HTTP client or would change where or how
// the request goes.
var forbiddenHeaders = []string{"Host", "Content-Length", "Transfer-Encoding", "Connection", "Cookie", "Proxy-Authorization"}

const secretShape = `declare the probe as {"probe": {"url": "https://...", "auth": {"header": "Authorization", "prefix": "Bearer ", "field": "api_key"}}}`

// Parse decodes and validates a secret value. Errors name the field and
// never contain a credential.
func Parse(value string) (*Secret, error) {
	var head struct {
		Probe   *Probe `json:"probe"`
		Expires string `json:"previous_key_expires_at"`
	}
	if err := rotation.DecodeSecret(value, &head); err != nil {
		return nil, err
	}
	if head.Probe == nil {
		return nil, rotation.SecretFieldError(FieldProbe, "is missing", secretShape)
	}
	s := &Secret{Probe: *head.Probe, creds: map[string]string{}}
	if err := s.Probe.check(); err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal([]byte(value), &all); err != nil {
		return nil, rotation.SecretFieldError("SecretString", "is not a JSON object", secretShape)
	}
	for _, f := range s.Probe.Fields() {
		raw, ok := all[f]
		var v string
		if !ok || json.Unmarshal(raw, &v) != nil || v == "" {
			return nil, rotation.SecretFieldError(f, "is missing or not a non-empty string", fmt.Sprintf("store the credential in field %q, the field probe.auth names", f))
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return nil, rotation.SecretFieldError(f, "contains a line break or NUL", "store the credential without the trailing newline")
		}
		s.creds[f] = v
	}
	if b := s.Probe.Auth.Basic; b != nil && strings.Contains(s.creds[b.UsernameField], ":") {
		return nil, rotation.SecretFieldError(b.UsernameField, "contains ':', which HTTP basic auth cannot send in a user name", "check the field")
	}
	if head.Expires != "" {
		t, err := time.Parse(time.RFC3339, head.Expires)
		if err != nil {
			return nil, rotation.SecretFieldError(FieldPreviousKeyExpiresAt, "is not an RFC 3339 time such as 2025-01-31T12:00:00Z", "stage the credential again with dualkey stage --old-key-expires-at")
		}
		s.expires = t
	}
	return s, nil
}

// check validates the probe spec.
func (p *Probe) check() error {
	field := func(name string) string { return FieldProbe + "." + name }
	switch p.method() {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		return rotation.SecretFieldError(field("method"), fmt.Sprintf("is %q", printable(p.Method)), "use GET, HEAD or POST: a probe must not change anything at the vendor")
	}
	if err := checkURL(p.URL); err != nil {
		return rotation.SecretFieldError(field("url"), err.Error(), "set it to the vendor's https URL that answers the credential")
	}
	a := p.Auth
	switch {
	case a.Basic == nil && a.Header == "":
		return rotation.SecretFieldError(field("auth"), "says neither header nor basic", `use {"header": "Authorization", "prefix": "Bearer ", "field": "api_key"} or {"basic": {"username_field": "...", "password_field": "..."}}`)
	case a.Basic != nil && (a.Header != "" || a.Prefix != "" || a.Field != ""):
		return rotation.SecretFieldError(field("auth"), "says both header and basic", "keep one")
	case a.Basic != nil:
		for name, f := range map[string]string{"username_field": a.Basic.UsernameField, "password_field": a.Basic.PasswordField} {
			if !fieldPattern.MatchString(f) || f == FieldProbe || f == FieldPreviousKeyExpiresAt {
				return rotation.SecretFieldError(field("auth.basic."+name), "must name a field of the secret that holds the credential", "name the field, such as public_key")
			}
		}
		if a.Basic.UsernameField == a.Basic.PasswordField {
			return rotation.SecretFieldError(field("auth.basic"), "names the same field for the user name and the password", "name two fields")
		}
	default:
		if !headerPattern.MatchString(a.Header) || slices.ContainsFunc(forbiddenHeaders, func(h string) bool { return strings.EqualFold(h, a.Header) }) {
			return rotation.SecretFieldError(field("auth.header"), "is not a header name the credential can go in", "use Authorization or the vendor's header, such as X-Api-Key")
		}
		if len(a.Prefix) > maxPrefix || strings.ContainsAny(a.Prefix, "\r\n\x00") {
			return rotation.SecretFieldError(field("auth.prefix"), fmt.Sprintf("must be at most %d characters on one line", maxPrefix), `use something like "Bearer "`)
		}
		if a.Field != "" && (!fieldPattern.MatchString(a.Field) || a.Field == FieldProbe || a.Field == FieldPreviousKeyExpiresAt) {
			return rotation.SecretFieldError(field("auth.field"), "must name a field of the secret that holds the credential", "name the field, such as api_key")
		}
	}
	if len(p.Headers) > maxHeaders {
		return rotation.SecretFieldError(field("headers"), fmt.Sprintf("has more than %d headers", maxHeaders), "keep the ones the vendor needs")
	}
	for name, v := range p.Headers {
		switch {
		case !headerPattern.MatchString(name) || slices.ContainsFunc(forbiddenHeaders, func(h string) bool { return strings.EqualFold(h, name) }):
			return rotation.SecretFieldError(field("headers"), fmt.Sprintf("has %q, which is not a header the probe may set", printable(name)), "remove it")
		case strings.EqualFold(name, a.Header) || (a.Basic != nil && strings.EqualFold(name, "Authorization")):
			return rotation.SecretFieldError(field("headers"), fmt.Sprintf("sets %q, the header that carries the credential", printable(name)), "remove it: probe.auth sets it")
		case strings.ContainsAny(v, "\r\n\x00") || len(v) > 1024:
			return rotation.SecretFieldError(field("headers"), fmt.Sprintf("value of %q is not one line of at most 1024 characters", printable(name)), "fix it")
		}
	}
	if p.Body != "" && p.method() != http.MethodPost {
		return rotation.SecretFieldError(field("body"), "is set for a "+p.method()+" probe", "send a body with POST only, or remove it")
	}
	if len(p.Body) > maxBody {
		return rotation.SecretFieldError(field("body"), fmt.Sprintf("is longer than %d bytes", maxBody), "shorten it")
	}
	if p.ExpectStatus != 0 && (p.ExpectStatus < 200 || p.ExpectStatus > 299) {
		return rotation.SecretFieldError(field("expect_status"), fmt.Sprintf("is %d", p.ExpectStatus), "a working credential gets a 2xx; set the one the vendor answers (redirects are not followed)")
	}
	if id := p.Identity; id != nil && (!pointerPattern.MatchString(id.Pointer) || len(id.Pointer) > 256) {
		return rotation.SecretFieldError(field("identity.pointer"), "is not a JSON pointer such as /data/viewer/id", "fix it or remove identity")
	}
	return nil
}

// checkURL allows absolute https URLs, and http to loopback (tests), with
// no user info (credentials go in probe.auth).
func checkURL(raw string) error {
	if raw == "" {
		return fmt.Errorf("is missing")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || len(raw) > maxURL {
		return fmt.Errorf("is not an absolute URL of at most %d characters", maxURL)
	}
	if u.User != nil {
		return fmt.Errorf("%s carries user info; the credential goes in probe.auth, never in the URL", rotation.SafeURL(raw))
	}
	if u.Fragment != "" {
		return fmt.Errorf("%s has a fragment", rotation.SafeURL(raw))
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if loopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%s is http: the credential would travel in clear text; only https is allowed (http only to 127.0.0.1 or localhost, for tests)", rotation.SafeURL(raw))
	}
	return fmt.Errorf("%s is not https", rotation.SafeURL(raw))
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// fingerprint shows the credential as the last four characters of each of
// its fields ("…abcd/…wxyz"), or "" when a field is too short to show any.
func (s *Secret) fingerprint() string {
	var parts []string
	for _, f := range s.Probe.Fields() {
		fp := rotation.LastFour(s.creds[f])
		if fp == "" {
			return ""
		}
		parts = append(parts, fp)
	}
	return strings.Join(parts, "/")
}

// sameCredential reports whether two values hold the same credential.
func sameCredential(a, b *Secret, fields []string) bool {
	for _, f := range fields {
		if a.creds[f] != b.creds[f] {
			return false
		}
	}
	return true
}

// printable cuts s to 40 characters and replaces control characters, for
// echoing input in errors.
func printable(s string) string {
	r := []rune(s)
	if len(r) > 40 {
		r = append(r[:40], '…')
	}
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f {
			return '?'
		}
		return c
	}, string(r))
}
