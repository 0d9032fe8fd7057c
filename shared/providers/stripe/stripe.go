package stripe

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/dualkey/dualkey/shared/fingerprint"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/stripeapi"
)

// Name is the provider's name: the dualkey:provider tag value.
const Name = "stripe"

// Config configures a Provider. The zero value talks to Stripe's API with a
// client that times out after 20 s.
type Config struct {
	// APIURL is Stripe's API base URL (default DefaultAPIURL).
	APIURL string
	// HTTPClient carries every request (default: a client with Timeout).
	HTTPClient *http.Client
	// Timeout bounds one request when HTTPClient is nil (default 20 s).
	Timeout time.Duration
	// Logger receives the provider's own lines (fingerprints only).
	Logger *slog.Logger
}

// Provider implements rotation.Provider for Stripe secret and restricted
// keys rolled in the Dashboard and staged by an operator.
type Provider struct {
	api *api
	log *slog.Logger
}

var (
	_ rotation.Provider           = (*Provider)(nil)
	_ rotation.ExpiryChecker      = (*Provider)(nil)
	_ rotation.StageChecker       = (*Provider)(nil)
	_ rotation.UsageFingerprinter = (*Provider)(nil)
)

// New returns a Provider.
func New(cfg Config) *Provider {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Provider{api: newAPI(cfg.APIURL, cfg.HTTPClient, cfg.Timeout), log: log}
}

// FromEnv is the provider's rotation.Factory: DUALKEY_STRIPE_API_URL
// (default https://api.stripe.com; http only on loopback) and
// DUALKEY_STRIPE_TIMEOUT (default 20s); requests go through env.HTTPClient
// when set.
func FromEnv(_ context.Context, env rotation.Env) (rotation.Provider, error) {
	cfg, err := ConfigFromEnv(env)
	if err != nil {
		return nil, err
	}
	return New(cfg), nil
}

var _ rotation.Factory = FromEnv

// ConfigFromEnv reads the provider's settings from env.
func ConfigFromEnv(env rotation.Env) (Config, error) {
	cfg := Config{HTTPClient: env.HTTPClient, Logger: env.Log()}
	var err error
	cfg.APIURL, cfg.Timeout, err = stripeapi.Settings(env.Get, printable)
	return cfg, err
}

// Name implements rotation.Provider.
func (p *Provider) Name() string { return Name }

// Fingerprint implements rotation.Provider: the key's prefix and last four
// characters (sk_live_…abcd).
func (p *Provider) Fingerprint(value string) string { return Fingerprint(apiKeyOf(value)) }

// UsageFingerprint implements rotation.UsageFingerprinter: consumers send
// api_key (sk_…/rk_…) as a bearer token.
func (p *Provider) UsageFingerprint(value string) string { return fingerprint.Of(apiKeyOf(value)) }

// SwitchOff implements rotation.Provider: Stripe expires the old key at the
// time the operator chose when rolling it; dualkey can only check.
func (p *Provider) SwitchOff() rotation.SwitchOff { return rotation.SwitchOffExternal }

// Set implements rotation.Provider: the key already exists at Stripe (the
// Dashboard made it), so there is nothing to install.
func (p *Provider) Set(context.Context, *rotation.SetRequest) error { return nil }
