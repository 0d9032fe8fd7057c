package staged

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/dualkey/dualkey/shared/fingerprint"
	"github.com/dualkey/dualkey/shared/rotation"
)

// Name is the provider's name: the dualkey:provider tag value.
const Name = "staged"

// defaultTimeout bounds one probe.
const defaultTimeout = 20 * time.Second

// Config configures a Provider.
type Config struct {
	// HTTPClient sends the probes (default: a client with Timeout). The
	// provider never follows redirects, whatever the client says.
	HTTPClient *http.Client
	// Timeout bounds one probe when HTTPClient is nil (default 20 s).
	Timeout time.Duration
	// Logger receives the provider's own lines (fingerprints only).
	Logger *slog.Logger
}

// Provider implements rotation.Provider for credentials rolled in a
// vendor's dashboard and staged by an operator.
type Provider struct {
	client *http.Client
	log    *slog.Logger
}

var (
	_ rotation.Provider           = (*Provider)(nil)
	_ rotation.ExpiryChecker      = (*Provider)(nil)
	_ rotation.StageChecker       = (*Provider)(nil)
	_ rotation.UsageFingerprinter = (*Provider)(nil)
)

// New returns a Provider.
func New(cfg Config) *Provider {
	c := &http.Client{}
	if cfg.HTTPClient != nil {
		*c = *cfg.HTTPClient
	} else {
		c.Timeout = cfg.Timeout
		if c.Timeout <= 0 {
			c.Timeout = defaultTimeout
		}
	}
	// A redirect could carry the credential elsewhere (and downgrade to
	// http): its status is the probe's answer.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Provider{client: c, log: log}
}

// FromEnv is the provider's rotation.Factory: DUALKEY_STAGED_TIMEOUT
// (default 20s); probes go through env.HTTPClient when set.
func FromEnv(_ context.Context, env rotation.Env) (rotation.Provider, error) {
	cfg := Config{HTTPClient: env.HTTPClient, Logger: env.Log()}
	if v := env.Get("DUALKEY_STAGED_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > 5*time.Minute {
			return nil, fmt.Errorf("environment variable DUALKEY_STAGED_TIMEOUT=%q: must be a duration from 1s to 5m, such as 20s", printable(v))
		}
		cfg.Timeout = d
	}
	return New(cfg), nil
}

var _ rotation.Factory = FromEnv

// Name implements rotation.Provider.
func (p *Provider) Name() string { return Name }

// Fingerprint implements rotation.Provider: the last four characters of
// each credential field ("…abcd/…wxyz").
func (p *Provider) Fingerprint(value string) string {
	s, err := Parse(value)
	if err != nil {
		return ""
	}
	return s.fingerprint()
}

// UsageFingerprint implements rotation.UsageFingerprinter: the credential
// field the probe sends, as consumers send it: with basic auth the password
// (probe.auth.basic.password_field), else probe.auth.field (default
// api_key) without the header's prefix (a bearer token's scheme is not part
// of the credential).
func (p *Provider) UsageFingerprint(value string) string {
	s, err := Parse(value)
	if err != nil {
		return ""
	}
	if b := s.Probe.Auth.Basic; b != nil {
		return fingerprint.Of(s.creds[b.PasswordField])
	}
	return fingerprint.Of(s.creds[s.Probe.Fields()[0]])
}

// SwitchOff implements rotation.Provider: the vendor switches the old
// credential off (at the expiry chosen when rolling, or when the operator
// revokes it); dualkey can only check.
func (p *Provider) SwitchOff() rotation.SwitchOff { return rotation.SwitchOffExternal }

// Set implements rotation.Provider: the vendor's dashboard made the
// credential; there is nothing to install.
func (p *Provider) Set(context.Context, *rotation.SetRequest) error { return nil }
