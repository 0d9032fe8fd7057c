package twiliotoken

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/vendorhttp"
	"github.com/dualkey/dualkey/shared/vendorhttp/twilioclient"
	"github.com/dualkey/dualkey/shared/vendorkey"
)

// Name is the provider's name: the dualkey:provider tag value.
const Name = "twiliotoken"

// Defaults of the settings.
const (
	DefaultTimeout = 20 * time.Second
	// DefaultPropagationBudget: Twilio says a token change takes about a
	// minute to reach everything.
	DefaultPropagationBudget = 90 * time.Second
	// MaxPropagationBudget is Lambda's longest timeout.
	MaxPropagationBudget = vendorkey.MaxPropagationBudget
)

// Endpoints replace Twilio's hosts (tests and the local demo point them at
// a fake). An empty field keeps Twilio's.
type Endpoints struct {
	API      string // in place of https://api.twilio.com
	Accounts string // in place of https://accounts.twilio.com
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
	// refuses the new token (default DefaultPropagationBudget).
	PropagationBudget time.Duration
	// Now is the clock that tells a crashed attempt's lock from a
	// concurrent delivery's (rotation.OrphanAge); time.Now when nil.
	Now func() time.Time
	// Sleep waits d or until ctx is done; rotation.Sleep when nil.
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives the provider's own lines (fingerprints, never tokens).
	Logger *slog.Logger
}

// Provider implements rotation.Provider for a Twilio account's auth token.
type Provider struct {
	api  *api
	base vendorkey.Base
	err  error
}

var (
	_ rotation.Provider  = (*Provider)(nil)
	_ rotation.Deleter   = (*Provider)(nil)
	_ rotation.Discarder = (*Provider)(nil)
	_ rotation.Auditor   = (*Provider)(nil)
)

// New returns a Provider. A bad Endpoints value makes every call fail with
// an error saying so.
func New(cfg Config) *Provider {
	p := &Provider{base: vendorkey.New(vendorkey.Settings{Name: Name, HTTPClient: cfg.HTTPClient, Timeout: cfg.Timeout, DefaultTimeout: DefaultTimeout,
		PropagationBudget: cfg.PropagationBudget, DefaultPropagationBudget: DefaultPropagationBudget, Now: cfg.Now, Sleep: cfg.Sleep, Logger: cfg.Logger})}
	hc := p.base.HTTP
	hc.Hosts, p.err = vendorhttp.Hosts(
		vendorhttp.Endpoint{Host: "api.twilio.com", Setting: "DUALKEY_TWILIO_API_URL", URL: cfg.Endpoints.API},
		vendorhttp.Endpoint{Host: "accounts.twilio.com", Setting: "DUALKEY_TWILIO_ACCOUNTS_URL", URL: cfg.Endpoints.Accounts},
	)
	p.api = &api{hc}
	return p
}

// FromEnv is the provider's rotation.Factory: DUALKEY_TWILIO_API_URL and
// DUALKEY_TWILIO_ACCOUNTS_URL (https, or http on loopback),
// DUALKEY_TWILIO_TIMEOUT (1s to 5m, default 20s) and
// DUALKEY_TWILIO_TOKEN_PROPAGATION_BUDGET (default 90s, at most 15m);
// requests go through env.HTTPClient when set.
func FromEnv(_ context.Context, env rotation.Env) (rotation.Provider, error) {
	cfg := Config{HTTPClient: env.HTTPClient, Logger: env.Log(),
		Endpoints: Endpoints{API: env.Get("DUALKEY_TWILIO_API_URL"), Accounts: env.Get("DUALKEY_TWILIO_ACCOUNTS_URL")}}
	var err error
	if cfg.Timeout, cfg.PropagationBudget, err = vendorkey.Durations(env.Get, "DUALKEY_TWILIO_TIMEOUT", "DUALKEY_TWILIO_TOKEN_PROPAGATION_BUDGET", "90s"); err != nil {
		return nil, err
	}
	p := New(cfg)
	return vendorkey.Checked(p, p.err)
}

var _ rotation.Factory = FromEnv

// Name implements rotation.Provider.
func (p *Provider) Name() string { return Name }

// Fingerprint implements rotation.Provider: TokenFingerprint of the token.
func (p *Provider) Fingerprint(value string) string { return TokenFingerprint(tokenOf(value)) }

// UsageFingerprint implements shared/usagelogs' Fingerprinter: consumers
// send the auth token as the basic-auth password, so its usage
// fingerprint is what they log ("" when the value holds none).
func (p *Provider) UsageFingerprint(value string) string { return TokenFingerprint(tokenOf(value)) }

// SwitchOff implements rotation.Provider: Twilio cannot disable a token; the
// old primary ends when the secondary is promoted (Delete).
func (p *Provider) SwitchOff() rotation.SwitchOff { return rotation.SwitchOffDeleteOnly }

// manager returns the credential that manages tokens and lock keys: the
// Main key master_secret_arn names (in the AWSCURRENT value), or the
// account's primary token. token is a token of the account known to work
// (or to be tried): the primary is what Twilio reports to a call made with
// it. It returns the primary token too.
func (p *Provider) manager(ctx context.Context, versions rotation.VersionReader, account, token string) (*credential, string, error) {
	if p.err != nil {
		return nil, "", p.err
	}
	a, err := versions.Admin(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("read the admin credential named by master_secret_arn: %w", err)
	}
	var c *credential
	if a != nil {
		if c, err = mainKey(a, account); err != nil {
			return nil, "", err
		}
	} else {
		c = tokenCred(account, token, "the secret's auth token "+TokenFingerprint(token))
		c.manager = true
	}
	primary, err := p.primary(ctx, c)
	if err != nil {
		return nil, "", err
	}
	if a == nil {
		c = managerToken(account, primary)
	}
	return c, primary, nil
}

// primary fetches the account with c and returns its primary auth token,
// which Twilio's Account resource carries.
func (p *Provider) primary(ctx context.Context, c *credential) (string, error) {
	acct, err := p.api.with(ctx, c).api.FetchAccount(c.account)
	if err != nil {
		return "", callError("fetch account "+c.account, c, err)
	}
	if twilioclient.Deref(acct.Sid) != c.account {
		return "", fmt.Errorf("fetch account %s: Twilio answered account %s", c.account, vendorhttp.Printable(twilioclient.Deref(acct.Sid)))
	}
	t := twilioclient.Deref(acct.AuthToken)
	if !tokenPattern.MatchString(t) {
		return "", fmt.Errorf("fetch account %s: Twilio's answer carries no auth token, so the primary cannot be told from the secondary", c.account)
	}
	return t, nil
}

// works reports whether Twilio accepts token for the account (a 401 is
// false, other failures an error).
func (p *Provider) works(ctx context.Context, account, token string) (bool, error) {
	c := tokenCred(account, token, "auth token "+TokenFingerprint(token))
	_, err := p.api.with(ctx, c).api.FetchAccount(account)
	switch {
	case err == nil:
		return true, nil
	case twilioclient.IsStatus(err, http.StatusUnauthorized):
		return false, nil
	}
	return false, callError("check whether auth token "+TokenFingerprint(token)+" works", nil, err)
}
