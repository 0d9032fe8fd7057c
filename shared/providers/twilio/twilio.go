package twilio

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/dualkey/dualkey/shared/fingerprint"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/vendorhttp"
	"github.com/dualkey/dualkey/shared/vendorkey"
)

// Name is the provider's name: the dualkey:provider tag value.
const Name = "twilio"

// Defaults of the settings.
const (
	DefaultTimeout           = 20 * time.Second
	DefaultPropagationBudget = 30 * time.Second
	// MaxPropagationBudget is Lambda's longest timeout.
	MaxPropagationBudget = vendorkey.MaxPropagationBudget
)

// Endpoints replace Twilio's hosts (tests and the local demo point them at
// a fake). An empty field keeps Twilio's.
type Endpoints struct {
	API string // in place of https://api.twilio.com
	IAM string // in place of https://iam.twilio.com
}

// Config configures a Provider. The zero value talks to Twilio.
type Config struct {
	// HTTPClient's Transport carries every request (default
	// http.DefaultTransport); its other fields are not used.
	HTTPClient *http.Client
	// Endpoints replace Twilio's hosts.
	Endpoints Endpoints
	// Timeout bounds one request (default DefaultTimeout).
	Timeout time.Duration
	// PropagationBudget is how long testSecret retries while Twilio
	// refuses the new key (default DefaultPropagationBudget).
	PropagationBudget time.Duration
	// Now is the clock that tells a crashed attempt's key from a
	// concurrent delivery's (rotation.OrphanAge) and measures Retry-After
	// against deadlines; time.Now when nil.
	Now func() time.Time
	// Sleep waits d or until ctx is done (rate limits, propagation);
	// rotation.Sleep when nil.
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives the provider's own lines (key SIDs, never secrets).
	Logger *slog.Logger
}

// Provider implements rotation.Provider for Twilio API keys.
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

// New returns a Provider. A bad Endpoints value makes every call fail
// with an error saying so.
func New(cfg Config) *Provider {
	p := &Provider{base: vendorkey.New(vendorkey.Settings{Name: Name, HTTPClient: cfg.HTTPClient, Timeout: cfg.Timeout, DefaultTimeout: DefaultTimeout,
		PropagationBudget: cfg.PropagationBudget, DefaultPropagationBudget: DefaultPropagationBudget, Now: cfg.Now, Sleep: cfg.Sleep, Logger: cfg.Logger})}
	hc := p.base.HTTP
	hc.Hosts, p.err = vendorhttp.Hosts(
		vendorhttp.Endpoint{Host: "api.twilio.com", Setting: "DUALKEY_TWILIO_API_URL", URL: cfg.Endpoints.API},
		vendorhttp.Endpoint{Host: "iam.twilio.com", Setting: "DUALKEY_TWILIO_IAM_URL", URL: cfg.Endpoints.IAM},
	)
	p.api = &api{hc}
	return p
}

// FromEnv is the provider's rotation.Factory: DUALKEY_TWILIO_API_URL and
// DUALKEY_TWILIO_IAM_URL (https, or http on loopback), DUALKEY_TWILIO_TIMEOUT
// (1s to 5m, default 20s) and DUALKEY_TWILIO_PROPAGATION_BUDGET (default
// 30s, at most 15m); requests go through env.HTTPClient when set.
func FromEnv(_ context.Context, env rotation.Env) (rotation.Provider, error) {
	cfg := Config{HTTPClient: env.HTTPClient, Logger: env.Log(),
		Endpoints: Endpoints{API: env.Get("DUALKEY_TWILIO_API_URL"), IAM: env.Get("DUALKEY_TWILIO_IAM_URL")}}
	var err error
	if cfg.Timeout, cfg.PropagationBudget, err = vendorkey.Durations(env.Get, "DUALKEY_TWILIO_TIMEOUT", "DUALKEY_TWILIO_PROPAGATION_BUDGET", "30s"); err != nil {
		return nil, err
	}
	p := New(cfg)
	return vendorkey.Checked(p, p.err)
}

var _ rotation.Factory = FromEnv

// Name implements rotation.Provider.
func (p *Provider) Name() string { return Name }

// Fingerprint implements rotation.Provider: the key SID (SK…), which is no
// secret.
func (p *Provider) Fingerprint(value string) string { return keySID(value) }

// UsageFingerprint implements shared/usagelogs' Fingerprinter: consumers
// send the key secret as the basic-auth password (the SID is the user
// name), so fingerprint.Of(api_key_secret) is what they log; "" when the
// value holds no key.
func (p *Provider) UsageFingerprint(value string) string {
	s, err := parseRef(value)
	if err != nil || !secretPattern.MatchString(s.APIKeySecret) {
		return ""
	}
	return fingerprint.Of(s.APIKeySecret)
}

// SwitchOff implements rotation.Provider: Twilio keys cannot be disabled,
// only deleted.
func (p *Provider) SwitchOff() rotation.SwitchOff { return rotation.SwitchOffDeleteOnly }

// admin returns the admin credential for account, from the secret
// master_secret_arn names.
func (p *Provider) admin(ctx context.Context, versions rotation.VersionReader, account string) (*credential, error) {
	if p.err != nil {
		return nil, p.err
	}
	a, err := versions.Admin(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the admin credential that manages the account's keys: %w", err)
	}
	return adminCredential(a, account)
}
