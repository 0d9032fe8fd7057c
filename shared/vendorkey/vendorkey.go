// Package vendorkey is what the providers of a vendor's API credentials
// share beyond HTTP (twilio, twiliotoken, sendgrid; stripewebhook uses its
// lifecycle checks): the defaults of their settings, the reading of the
// timeout and propagation-budget settings, the retry of a new credential
// while the vendor refuses it (propagation), and the refusal to end the
// credential of a live version.
//
// It imports no vendor SDK, so a rotation function links only its own
// provider's.
package vendorkey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/vendorhttp"
)

// Limits of the settings.
const (
	// MaxPropagationBudget is Lambda's longest timeout.
	MaxPropagationBudget = 15 * time.Minute
	// MinDuration is the shortest timeout or propagation budget.
	MinDuration = time.Second
	// MaxTimeout is the longest timeout of one request.
	MaxTimeout = 5 * time.Minute
)

// Retry schedule of testSecret while the vendor does not accept a new
// credential yet: the waits double from FirstBackoff up to MaxBackoff.
const (
	FirstBackoff = time.Second
	MaxBackoff   = 8 * time.Second
)

// Settings are the fields every vendor-key provider's Config has, with the
// provider's name and defaults.
type Settings struct {
	// Name is the provider's name; the logger's lines carry it.
	Name string
	// HTTPClient's Transport carries every request (default
	// http.DefaultTransport); its other fields are not used.
	HTTPClient *http.Client
	// Timeout bounds one request (DefaultTimeout when not positive).
	Timeout, DefaultTimeout time.Duration
	// PropagationBudget is how long testSecret retries while the vendor
	// refuses the new credential (DefaultPropagationBudget when not
	// positive).
	PropagationBudget, DefaultPropagationBudget time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Sleep waits d or until ctx is done; rotation.Sleep when nil.
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives the provider's own lines; discarded when nil.
	Logger *slog.Logger
}

// Base is what every vendor-key provider holds, the defaults applied.
type Base struct {
	// Budget is the propagation budget.
	Budget time.Duration
	// Now is the clock.
	Now func() time.Time
	// Sleep waits d or until ctx is done.
	Sleep func(ctx context.Context, d time.Duration) error
	// Log carries the attribute provider=Name.
	Log *slog.Logger
	// HTTP has Transport, Timeout and RateLimit (Sleep, Now) set; Hosts
	// and RateLimit.ResetHeader are the provider's to add.
	HTTP vendorhttp.Config
}

// New applies the defaults of s.
func New(s Settings) Base {
	if s.Timeout <= 0 {
		s.Timeout = s.DefaultTimeout
	}
	if s.PropagationBudget <= 0 {
		s.PropagationBudget = s.DefaultPropagationBudget
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Sleep == nil {
		s.Sleep = rotation.Sleep
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	return Base{Budget: s.PropagationBudget, Now: s.Now, Sleep: s.Sleep, Log: s.Logger.With("provider", s.Name),
		HTTP: vendorhttp.Config{Transport: vendorhttp.TransportOf(s.HTTPClient), Timeout: s.Timeout,
			RateLimit: vendorhttp.RateLimit{Sleep: s.Sleep, Now: s.Now}}}
}

// Durations reads a provider's timeout setting (MinDuration to MaxTimeout)
// and propagation-budget setting (MinDuration to MaxPropagationBudget)
// with get; 0 for an unset one. Errors name the setting and show example
// as a good value.
func Durations(get func(string) string, timeout, budget, example string) (time.Duration, time.Duration, error) {
	t, err := vendorhttp.Duration(get, timeout, MinDuration, MaxTimeout, example)
	if err != nil {
		return 0, 0, err
	}
	b, err := vendorhttp.Duration(get, budget, MinDuration, MaxPropagationBudget, example)
	if err != nil {
		return 0, 0, err
	}
	return t, b, nil
}

// Checked returns p as a rotation.Provider, or err (a provider's
// configuration error) when it is set: the end of a provider's FromEnv.
func Checked[P rotation.Provider](p P, err error) (rotation.Provider, error) {
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Propagate calls try until it says the vendor no longer refuses the new
// credential (refused false: its error, nil or not, is returned), or until
// the next wait would end past the propagation budget: then it returns
// exhausted(try's last error). The waits double from FirstBackoff to
// MaxBackoff; a wait cut short by ctx returns the wait's error.
func (b Base) Propagate(ctx context.Context, try func() (refused bool, err error), exhausted func(last error) error) error {
	deadline := b.Now().Add(b.Budget)
	backoff := FirstBackoff
	for {
		refused, err := try()
		if !refused {
			return err
		}
		if b.Now().Add(backoff).After(deadline) {
			return exhausted(err)
		}
		if err := b.Sleep(ctx, backoff); err != nil {
			return err
		}
		backoff = min(2*backoff, MaxBackoff)
	}
}

// Version decodes the version of a lifecycle request with parse; provider
// (its name) prefixes the error of a request that names no version.
func Version[S any](req *rotation.CredentialRequest, provider string, parse func(value string) (S, error)) (S, error) {
	var zero S
	if req == nil || req.Version == nil {
		return zero, errors.New(provider + ": the request names no version")
	}
	s, err := parse(req.Version.Value)
	if err != nil {
		return zero, fmt.Errorf("version %s: %w", req.Version.ID, err)
	}
	return s, nil
}

// RefuseLive refuses to op (a verb: "delete", "disable") the credential id
// of req's version, called kind in the message ("key", "webhook
// endpoint"), when that version is AWSCURRENT or AWSPENDING, or when
// another version at one of those stages names it too (idOf reads the id a
// version's value names).
func RefuseLive(ctx context.Context, req *rotation.CredentialRequest, op, kind, id string, idOf func(value string) string) error {
	for _, st := range req.Version.Stages {
		if st == rotation.StageCurrent || st == rotation.StagePending {
			return fmt.Errorf("refusing to %s %s %s: its version %s is %s", op, kind, id, req.Version.ID, st)
		}
	}
	for _, st := range []string{rotation.StageCurrent, rotation.StagePending} {
		if v, err := req.Versions.Stage(ctx, st); err == nil && v.ID != req.Version.ID && idOf(v.Value) == id {
			return fmt.Errorf("refusing to %s %s %s: the %s version %s names it too", op, kind, id, st, v.ID)
		}
	}
	return nil
}

// KeepDiscarded reports whether a Discard must leave the vendor key id (an
// attribute idAttr in log lines) of req's value as it is, and logs why:
// without req.Destroy the value may have been stored after all and vendor
// cannot disable a key (its orphan check deletes it later if it was not);
// with it, a stored version (AWSPENDING, AWSCURRENT) other than req.Token
// still names the key (idOf reads the key id of a value).
func (b Base) KeepDiscarded(ctx context.Context, req *rotation.DiscardRequest, vendor, idAttr, id string, idOf func(value string) string) bool {
	if !req.Destroy {
		b.Log.Warn("the new key may have been stored after all, and "+vendor+" cannot disable a key: it is left as it is; "+
			"if it was not stored, the next createSecret of this version deletes it", "secret", req.SecretID, "token", req.Token, idAttr, id)
		return true
	}
	for _, st := range []string{rotation.StagePending, rotation.StageCurrent} {
		if v, err := req.Versions.Stage(ctx, st); err == nil && v.ID != req.Token && idOf(v.Value) == id {
			b.Log.Info("not deleting the key: a stored version names it", "secret", req.SecretID, idAttr, id, "stage", st)
			return true
		}
	}
	return false
}

// TestValues decodes the values a testSecret compares: req's pending value
// with parsePending, AWSCURRENT's with parseCurrent. Errors say which.
func TestValues[P, C any](ctx context.Context, req *rotation.TestRequest, parsePending func(string) (P, error), parseCurrent func(string) (C, error)) (P, C, error) {
	var p P
	var c C
	p, err := parsePending(req.Pending.Value)
	if err != nil {
		return p, c, fmt.Errorf("pending version: %w", err)
	}
	cv, err := req.Versions.Stage(ctx, rotation.StageCurrent)
	if err != nil {
		return p, c, fmt.Errorf("read AWSCURRENT: %w", err)
	}
	if c, err = parseCurrent(cv.Value); err != nil {
		return p, c, fmt.Errorf("current version: %w", err)
	}
	return p, c, nil
}
