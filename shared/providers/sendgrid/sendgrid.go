package sendgrid

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"github.com/dualkey/dualkey/shared/fingerprint"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/vendorhttp"
	"github.com/dualkey/dualkey/shared/vendorkey"
)

// Name is the provider's name: the dualkey:provider tag value.
const Name = "sendgrid"

// Defaults of the settings.
const (
	DefaultTimeout           = 20 * time.Second
	DefaultPropagationBudget = 30 * time.Second
	// MaxPropagationBudget is Lambda's longest timeout.
	MaxPropagationBudget = vendorkey.MaxPropagationBudget
)

// Config configures a Provider. The zero value talks to SendGrid.
type Config struct {
	// APIURL is SendGrid's API base URL (default DefaultAPIURL).
	APIURL string
	// HTTPClient's Transport carries every request (default
	// http.DefaultTransport); its other fields are not used.
	HTTPClient *http.Client
	// Timeout bounds one request (default DefaultTimeout).
	Timeout time.Duration
	// PropagationBudget is how long testSecret retries while SendGrid
	// refuses the new key (default DefaultPropagationBudget).
	PropagationBudget time.Duration
	// Now is the clock of the markers' creation times and of the orphan
	// check (rotation.OrphanAge); time.Now when nil.
	Now func() time.Time
	// Sleep waits d or until ctx is done (rate limits, propagation);
	// rotation.Sleep when nil.
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives the provider's own lines (key ids, never keys).
	Logger *slog.Logger
}

// Provider implements rotation.Provider for SendGrid API keys.
type Provider struct {
	api  *api
	base vendorkey.Base
	err  error // a configuration error every call returns
}

var (
	_ rotation.Provider  = (*Provider)(nil)
	_ rotation.Deleter   = (*Provider)(nil)
	_ rotation.Discarder = (*Provider)(nil)
	_ rotation.Auditor   = (*Provider)(nil)
)

// New returns a Provider. A bad APIURL makes every call fail with an error
// saying so.
func New(cfg Config) *Provider {
	p := &Provider{base: vendorkey.New(vendorkey.Settings{Name: Name, HTTPClient: cfg.HTTPClient, Timeout: cfg.Timeout, DefaultTimeout: DefaultTimeout,
		PropagationBudget: cfg.PropagationBudget, DefaultPropagationBudget: DefaultPropagationBudget, Now: cfg.Now, Sleep: cfg.Sleep, Logger: cfg.Logger})}
	base := DefaultAPIURL
	if cfg.APIURL != "" {
		u, err := vendorhttp.CheckBaseURL("DUALKEY_SENDGRID_API_URL", cfg.APIURL, DefaultAPIURL)
		if err != nil {
			p.err = err
		} else {
			base = u.String()
		}
	}
	limit := p.base.HTTP.RateLimit
	limit.ResetHeader = rateLimitReset
	p.api = &api{base: base, hc: p.base.HTTP.Plain(), limit: limit}
	return p
}

// FromEnv is the provider's rotation.Factory: DUALKEY_SENDGRID_API_URL
// (https, or http on loopback), DUALKEY_SENDGRID_TIMEOUT (1s to 5m, default
// 20s) and DUALKEY_SENDGRID_PROPAGATION_BUDGET (default 30s, at most 15m);
// requests go through env.HTTPClient when set.
func FromEnv(_ context.Context, env rotation.Env) (rotation.Provider, error) {
	cfg := Config{APIURL: env.Get("DUALKEY_SENDGRID_API_URL"), HTTPClient: env.HTTPClient, Logger: env.Log()}
	var err error
	if cfg.Timeout, cfg.PropagationBudget, err = vendorkey.Durations(env.Get, "DUALKEY_SENDGRID_TIMEOUT", "DUALKEY_SENDGRID_PROPAGATION_BUDGET", "30s"); err != nil {
		return nil, err
	}
	p := New(cfg)
	return vendorkey.Checked(p, p.err)
}

var _ rotation.Factory = FromEnv

// Name implements rotation.Provider.
func (p *Provider) Name() string { return Name }

// Fingerprint implements rotation.Provider: the key id (api_key_id), which
// SendGrid shows in its web app and is no secret.
func (p *Provider) Fingerprint(value string) string { return keyID(value) }

// UsageFingerprint implements shared/usagelogs' Fingerprinter: consumers
// send the whole key as the bearer token, so fingerprint.Of(api_key) is
// what they log; "" when the value holds no key.
func (p *Provider) UsageFingerprint(value string) string {
	s, err := parseRef(value)
	if err != nil || !keyPattern.MatchString(s.APIKey) {
		return ""
	}
	return fingerprint.Of(s.APIKey)
}

// SwitchOff implements rotation.Provider: SendGrid keys cannot be disabled,
// only deleted.
func (p *Provider) SwitchOff() rotation.SwitchOff { return rotation.SwitchOffDeleteOnly }

// admin returns the admin key from the secret master_secret_arn names.
func (p *Provider) admin(ctx context.Context, versions rotation.VersionReader) (*admin, error) {
	if p.err != nil {
		return nil, p.err
	}
	a, err := versions.Admin(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the SendGrid key that manages API keys: %w", err)
	}
	return adminKey(a)
}

func sortStrings(s []string) { sort.Strings(s) }
