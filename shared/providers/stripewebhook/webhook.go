package stripewebhook

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/stripeapi"
)

// Name is the provider's name: the dualkey:provider tag value.
const Name = "stripewebhook"

// Config configures a Provider. The zero value talks to Stripe's API with a
// client that times out after 20 s.
type Config struct {
	// APIURL is Stripe's API base URL (default DefaultAPIURL).
	APIURL string
	// HTTPClient carries every request (default: a client with Timeout).
	HTTPClient *http.Client
	// Timeout bounds one request when HTTPClient is nil (default 20 s).
	Timeout time.Duration
	// Logger receives the provider's own lines (endpoint ids only).
	Logger *slog.Logger
	// Now is the clock that tells an earlier attempt's endpoint from a
	// concurrent delivery's (rotation.OrphanAge); time.Now when nil.
	Now func() time.Time
}

// Provider implements rotation.Provider for Stripe webhook signing secrets.
type Provider struct {
	api *api
	log *slog.Logger
	now func() time.Time
}

var (
	_ rotation.Provider           = (*Provider)(nil)
	_ rotation.Deactivator        = (*Provider)(nil)
	_ rotation.Deleter            = (*Provider)(nil)
	_ rotation.Discarder          = (*Provider)(nil)
	_ rotation.Auditor            = (*Provider)(nil)
	_ rotation.UsageFingerprinter = (*Provider)(nil)
)

// New returns a Provider.
func New(cfg Config) *Provider {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Provider{api: newAPI(cfg.APIURL, cfg.HTTPClient, cfg.Timeout), log: cfg.Logger, now: cfg.Now}
}

// FromEnv is the provider's rotation.Factory: DUALKEY_STRIPE_API_URL
// (default https://api.stripe.com; http only on loopback) and
// DUALKEY_STRIPE_TIMEOUT (default 20s); requests go through env.HTTPClient
// when set.
func FromEnv(_ context.Context, env rotation.Env) (rotation.Provider, error) {
	cfg := Config{HTTPClient: env.HTTPClient, Logger: env.Log()}
	var err error
	if cfg.APIURL, cfg.Timeout, err = stripeapi.Settings(env.Get, rotation.SafeURL); err != nil {
		return nil, err
	}
	return New(cfg), nil
}

var _ rotation.Factory = FromEnv

// Name implements rotation.Provider.
func (p *Provider) Name() string { return Name }

// Fingerprint implements rotation.Provider: the endpoint id (we_…), which
// is no secret.
func (p *Provider) Fingerprint(value string) string { return endpointOf(value) }

// UsageFingerprint implements rotation.UsageFingerprinter: always "".
// Consumers never send the webhook secret: Stripe signs each delivery with
// it and the consumers verify the signature, so no consumer log line can
// name it, and dualkey:usage-logs on such a secret is refused with the fix.
// The usage evidence of a webhook secret is the verifier's own count per
// version (shared/verifier/stripesig) and the deliveries Stripe reports.
func (p *Provider) UsageFingerprint(string) string { return "" }

// SwitchOff implements rotation.Provider: the old endpoint is disabled
// (reversible) and deleted after the grace period.
func (p *Provider) SwitchOff() rotation.SwitchOff { return rotation.SwitchOffReversible }

// admin returns the Stripe key that manages endpoints, from the secret
// master_secret_arn names.
func (p *Provider) admin(ctx context.Context, versions rotation.VersionReader) (string, error) {
	a, err := versions.Admin(ctx)
	if err != nil {
		return "", fmt.Errorf("read the Stripe key that manages webhook endpoints: %w", err)
	}
	return adminKey(a)
}
