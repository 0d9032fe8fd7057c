// Package servicekey rotates keys that a company's own services use to call
// each other. The services that accept such a key verify it with
// shared/keyring, which accepts AWSCURRENT, AWSPENDING and AWSPREVIOUS, so
// the old and the new key are both valid during the transition: a rotation
// needs no change at any server, only a new random key in Secrets Manager.
//
// Secret value (JSON):
//
//	{
//	  "api_key":    "the key",                      required
//	  "verify_url": "https://svc.internal/health",  optional: testSecret GETs it with the pending key and needs a 2xx
//	  "verify_header": "Authorization",             optional: header carrying the key (default "Authorization", sent as "Bearer <key>"; any other header gets the bare key)
//	  "key_length": 48,                             optional: 16..4096 (default DUALKEY_KEY_LENGTH or 48)
//	  "key_prefix": "svc_",                         optional: prepended to the random part
//	  "exclude_punctuation": true,                  optional (default DUALKEY_KEY_EXCLUDE_PUNCTUATION or true)
//	  "exclude_characters": "O0Il"                  optional (default DUALKEY_KEY_EXCLUDE_CHARACTERS)
//	}
//
// Every other field is copied unchanged to the new version.
package servicekey

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/dualkey/dualkey/shared/fingerprint"
	"github.com/dualkey/dualkey/shared/rotation"
)

// Settings are the defaults for secrets that do not set their own.
type Settings struct {
	KeyLength          int64
	ExcludePunctuation bool
	ExcludeCharacters  string
}

// DefaultSettings are used when neither the secret nor the environment says otherwise.
var DefaultSettings = Settings{KeyLength: 48, ExcludePunctuation: true}

// SettingsFromEnv reads DUALKEY_KEY_LENGTH, DUALKEY_KEY_EXCLUDE_PUNCTUATION
// and DUALKEY_KEY_EXCLUDE_CHARACTERS through getenv.
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	s := DefaultSettings
	if v := getenv("DUALKEY_KEY_LENGTH"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 16 || n > 4096 {
			return s, fmt.Errorf("environment variable DUALKEY_KEY_LENGTH=%q: must be a whole number from 16 to 4096", v)
		}
		s.KeyLength = n
	}
	if v := getenv("DUALKEY_KEY_EXCLUDE_PUNCTUATION"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("environment variable DUALKEY_KEY_EXCLUDE_PUNCTUATION=%q: must be true or false", v)
		}
		s.ExcludePunctuation = b
	}
	s.ExcludeCharacters = getenv("DUALKEY_KEY_EXCLUDE_CHARACTERS")
	return s, nil
}

// verifyAttempts is how often testSecret asks verify_url before giving up.
// A service verifying with shared/keyring answers the first request with a
// new key after the check that key triggers (the keyring waits up to 2 s
// for it), so that request is normally accepted; a service with another
// verifier, or a keyring whose Secrets Manager answers slowly, may still
// refuse it once.
const verifyAttempts = 4

// Provider implements rotation.Provider for internal service keys.
type Provider struct {
	settings Settings
	client   *http.Client
	// Sleep waits between verify_url attempts (injectable for tests).
	Sleep func(ctx context.Context, d time.Duration) error
}

var (
	_ rotation.Provider           = (*Provider)(nil)
	_ rotation.UsageFingerprinter = (*Provider)(nil)
)

// New returns a Provider. client is used for verify_url (nil: a client with a
// 10 s timeout).
func New(settings Settings, client *http.Client) *Provider {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Provider{settings: settings, client: client, Sleep: rotation.Sleep}
}

// Secret is the decoded secret value.
type Secret struct {
	APIKey             string `json:"api_key"`
	VerifyURL          string `json:"verify_url,omitempty"`
	VerifyHeader       string `json:"verify_header,omitempty"`
	KeyLength          *int64 `json:"key_length,omitempty"`
	KeyPrefix          string `json:"key_prefix,omitempty"`
	ExcludePunctuation *bool  `json:"exclude_punctuation,omitempty"`
	ExcludeCharacters  string `json:"exclude_characters,omitempty"`
}

// Parse decodes and validates a secret value.
func Parse(value string) (*Secret, error) {
	var s Secret
	if err := rotation.DecodeSecret(value, &s); err != nil {
		return nil, err
	}
	if s.APIKey == "" {
		return nil, rotation.SecretFieldError("api_key", "is missing or empty", `store the key as {"api_key": "..."}`)
	}
	if s.KeyLength != nil && (*s.KeyLength < 16 || *s.KeyLength > 4096) {
		return nil, rotation.SecretFieldError("key_length", "must be from 16 to 4096", "fix or remove key_length")
	}
	if s.VerifyURL != "" {
		u, err := url.Parse(s.VerifyURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, rotation.SecretFieldError("verify_url", "must be an absolute http or https URL", "fix or remove verify_url")
		}
	}
	return &s, nil
}

// Name implements rotation.Provider.
func (p *Provider) Name() string { return "servicekey" }

// Fingerprint implements rotation.Provider: the key's last four characters.
func (p *Provider) Fingerprint(value string) string {
	var s Secret
	if json.Unmarshal([]byte(value), &s) != nil {
		return ""
	}
	return rotation.LastFour(s.APIKey)
}

// UsageFingerprint implements rotation.UsageFingerprinter: consumers send
// api_key (as a bearer token, or as the value of verify_header).
func (p *Provider) UsageFingerprint(value string) string {
	var s Secret
	if json.Unmarshal([]byte(value), &s) != nil {
		return ""
	}
	return fingerprint.Of(s.APIKey)
}

// Create implements rotation.Provider: a new random key, all other fields kept.
func (p *Provider) Create(ctx context.Context, req *rotation.CreateRequest) (*rotation.CreateResponse, error) {
	cur, err := Parse(req.Current.Value)
	if err != nil {
		return nil, fmt.Errorf("current version: %w", err)
	}
	spec := rotation.PasswordSpec{
		Length:             p.settings.KeyLength,
		ExcludePunctuation: p.settings.ExcludePunctuation,
		ExcludeCharacters:  p.settings.ExcludeCharacters,
	}
	if cur.KeyLength != nil {
		spec.Length = *cur.KeyLength
	}
	if cur.ExcludePunctuation != nil {
		spec.ExcludePunctuation = *cur.ExcludePunctuation
	}
	if cur.ExcludeCharacters != "" {
		spec.ExcludeCharacters = cur.ExcludeCharacters
	}
	spec.RequireEachIncludedType = true
	key, err := req.Passwords.RandomPassword(ctx, spec)
	if err != nil {
		return nil, err
	}
	value, err := rotation.MergeSecret(req.Current.Value, map[string]any{"api_key": cur.KeyPrefix + key})
	if err != nil {
		return nil, err
	}
	return &rotation.CreateResponse{Value: value}, nil
}

// Set implements rotation.Provider. Services verify keys against Secrets
// Manager, so there is nothing to install.
func (p *Provider) Set(context.Context, *rotation.SetRequest) error { return nil }

// Test implements rotation.Provider: the pending key must differ from the
// current one and, when verify_url is set, be accepted there.
func (p *Provider) Test(ctx context.Context, req *rotation.TestRequest) error {
	pending, err := Parse(req.Pending.Value)
	if err != nil {
		return fmt.Errorf("pending version: %w", err)
	}
	if cur, err := req.Versions.Stage(ctx, rotation.StageCurrent); err == nil {
		if c, err := Parse(cur.Value); err == nil && c.APIKey == pending.APIKey {
			return fmt.Errorf("pending key %s is the same as the current key", rotation.LastFour(pending.APIKey))
		}
	}
	if pending.VerifyURL == "" {
		return nil
	}
	var status int
	for attempt := 1; ; attempt++ {
		status, err = p.verify(ctx, pending)
		if err != nil {
			return fmt.Errorf("verify_url %s with pending key %s: %w", rotation.SafeURL(pending.VerifyURL), rotation.LastFour(pending.APIKey), err)
		}
		if status/100 == 2 {
			return nil
		}
		if attempt == verifyAttempts || (status != http.StatusUnauthorized && status != http.StatusForbidden && status/100 != 5) {
			break
		}
		if err := p.Sleep(ctx, time.Duration(attempt)*time.Second); err != nil {
			return fmt.Errorf("verify_url: %w", err)
		}
	}
	return fmt.Errorf("verify_url %s refused pending key %s with HTTP %d; make the service accept AWSPENDING keys (shared/keyring does)",
		rotation.SafeURL(pending.VerifyURL), rotation.LastFour(pending.APIKey), status)
}

func (p *Provider) verify(ctx context.Context, s *Secret) (int, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, s.VerifyURL, nil)
	if err != nil {
		return 0, err
	}
	switch h := s.VerifyHeader; h {
	case "", "Authorization":
		r.Header.Set("Authorization", "Bearer "+s.APIKey)
	default:
		r.Header.Set(h, s.APIKey)
	}
	resp, err := p.client.Do(r)
	if err != nil {
		// net/http quotes the URL, query included, in its errors.
		return 0, urlSafeError{err}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, nil
}

// SwitchOff implements rotation.Provider: services accept a key only while
// its version holds AWSCURRENT, AWSPENDING or AWSPREVIOUS.
func (p *Provider) SwitchOff() rotation.SwitchOff { return rotation.SwitchOffLabelGated }

// FromEnv is the provider's rotation.Factory: settings from
// DUALKEY_KEY_LENGTH, DUALKEY_KEY_EXCLUDE_PUNCTUATION and
// DUALKEY_KEY_EXCLUDE_CHARACTERS; verify_url requests through
// env.HTTPClient when set.
func FromEnv(_ context.Context, env rotation.Env) (rotation.Provider, error) {
	settings, err := SettingsFromEnv(env.Get)
	if err != nil {
		return nil, err
	}
	return New(settings, env.HTTPClient), nil
}

var _ rotation.Factory = FromEnv

// urlSafeError hides the user info and query values of every URL in the
// wrapped error's text.
type urlSafeError struct{ err error }

func (e urlSafeError) Error() string { return rotation.RedactURLs(e.err.Error()) }

func (e urlSafeError) Unwrap() error { return e.err }
