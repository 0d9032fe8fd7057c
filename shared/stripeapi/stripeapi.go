// Package stripeapi is how the stripe and stripewebhook providers reach
// Stripe's API: stripe-go's backend without retries, logging or telemetry,
// Stripe's error answers reduced to what may be shown (APIError: no
// message, no key), transport errors without a URL's secrets, and the
// DUALKEY_STRIPE_API_URL and DUALKEY_STRIPE_TIMEOUT settings.
//
// It imports stripe-go: only the providers that use Stripe's API import it
// (staged does not), so no other rotation function links stripe-go.
package stripeapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v76"

	"github.com/dualkey/dualkey/shared/rotation"
)

// DefaultAPIURL is Stripe's API.
const DefaultAPIURL = "https://api.stripe.com"

// DefaultTimeout bounds one request to Stripe.
const DefaultTimeout = 20 * time.Second

// Backend returns stripe-go's backend for the API at baseURL ("" for
// DefaultAPIURL). Requests go through hc or, when it is nil, a client that
// times out after timeout (DefaultTimeout when not positive). It holds no
// key: each call names its own. It never retries: Secrets Manager retries
// a failed step, and a retry here would only blur which call failed.
func Backend(baseURL string, hc *http.Client, timeout time.Duration) stripego.Backend {
	if baseURL == "" {
		baseURL = DefaultAPIURL
	}
	if hc == nil {
		if timeout <= 0 {
			timeout = DefaultTimeout
		}
		hc = &http.Client{Timeout: timeout}
	}
	return stripego.GetBackendWithConfig(stripego.APIBackend, &stripego.BackendConfig{
		URL:               stripego.String(baseURL),
		HTTPClient:        hc,
		LeveledLogger:     &stripego.LeveledLogger{Level: stripego.LevelNull},
		MaxNetworkRetries: stripego.Int64(0),
		EnableTelemetry:   stripego.Bool(false),
	})
}

// Settings reads DUALKEY_STRIPE_API_URL (checked; DefaultAPIURL when
// unset) and DUALKEY_STRIPE_TIMEOUT (1s to 5m; 0 when unset) with get. show
// bounds a bad timeout value before the error quotes it.
func Settings(get func(string) string, show func(string) string) (apiURL string, timeout time.Duration, err error) {
	apiURL = DefaultAPIURL
	if v := get("DUALKEY_STRIPE_API_URL"); v != "" {
		if err := CheckAPIURL(v); err != nil {
			return DefaultAPIURL, 0, err
		}
		apiURL = v
	}
	if v := get("DUALKEY_STRIPE_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > 5*time.Minute {
			return apiURL, 0, fmt.Errorf("environment variable DUALKEY_STRIPE_TIMEOUT=%q: must be a duration from 1s to 5m, such as 20s", show(v))
		}
		timeout = d
	}
	return apiURL, timeout, nil
}

// CheckAPIURL validates DUALKEY_STRIPE_API_URL: https, or http on loopback.
func CheckAPIURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return fmt.Errorf("environment variable DUALKEY_STRIPE_API_URL=%q: must be a base URL such as https://api.stripe.com", rotation.SafeURL(raw))
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if h := u.Hostname(); h == "127.0.0.1" || h == "localhost" || h == "::1" {
			return nil
		}
	}
	return fmt.Errorf("environment variable DUALKEY_STRIPE_API_URL=%q: must be https (http only on 127.0.0.1 or localhost, for tests)", rotation.SafeURL(raw))
}

// APIError is a Stripe error answer reduced to what may be shown: no
// message (Stripe quotes the key in it, masked) and no key.
type APIError struct {
	// Status is the HTTP status.
	Status int
	// Type and Code are Stripe's error type and code.
	Type, Code string
	// RequestID is Stripe's request id, for Stripe's support.
	RequestID string
	// Account is the account a 403 answer names ("… on account 'acct_…'").
	Account string
}

// Error implements error.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Stripe answered HTTP %d", e.Status)
	if e.Type != "" {
		b.WriteString(" " + e.Type)
	}
	if e.Code != "" {
		b.WriteString(" (" + e.Code + ")")
	}
	if e.RequestID != "" {
		b.WriteString(", request " + e.RequestID)
	}
	return b.String()
}

// Refused reports whether Stripe refused the key itself: 401, which Stripe
// answers to a missing, unknown, revoked or expired key.
func (e *APIError) Refused() bool { return e.Status == http.StatusUnauthorized }

// Expired reports whether Stripe said the key expired (401
// api_key_expired), as it does after a Dashboard roll's expiry.
func (e *APIError) Expired() bool {
	return e.Status == http.StatusUnauthorized && e.Code == string(stripego.ErrorCodeAPIKeyExpired)
}

// Why says in words why Stripe refused the key.
func (e *APIError) Why() string {
	switch {
	case e.Expired():
		return "expired (api_key_expired)"
	case e.Refused():
		return "invalid: unknown, revoked or expired"
	case e.Status == http.StatusForbidden:
		return "lacks a permission"
	}
	return e.Error()
}

// HasStatus reports whether err is Stripe's answer with that HTTP status.
func HasStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == status
}

var (
	requestIDPattern = regexp.MustCompile(`^req_[A-Za-z0-9]{1,64}$`)
	typePattern      = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)
	accountInMessage = regexp.MustCompile(`on account '(acct_[A-Za-z0-9]{1,64})'`)
)

// Classify turns stripe-go's errors into errors that hold no key and no
// message from Stripe: *APIError for Stripe's answers, a transport error
// with its URL's secrets removed otherwise.
func Classify(err error) error {
	var se *stripego.Error
	if errors.As(err, &se) {
		ae := &APIError{Status: se.HTTPStatusCode, Type: string(se.Type), Code: string(se.Code), RequestID: se.RequestID}
		if ae.RequestID == "" && se.LastResponse != nil {
			ae.RequestID = se.LastResponse.RequestID
		}
		if !requestIDPattern.MatchString(ae.RequestID) {
			ae.RequestID = ""
		}
		if se.HTTPStatusCode == http.StatusForbidden {
			if m := accountInMessage.FindStringSubmatch(se.Msg); m != nil {
				ae.Account = m[1]
			}
		}
		if !typePattern.MatchString(ae.Type) {
			ae.Type = ""
		}
		if !typePattern.MatchString(ae.Code) {
			ae.Code = ""
		}
		return ae
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return &transportError{op: ue.Op, url: rotation.SafeURL(ue.URL), err: ue.Err}
	}
	// stripe-go quotes an answer that is not a Stripe error object (a
	// proxy's HTML page, say) in its error; none of it is shown.
	return &transportError{err: ErrUnexpectedAnswer, cause: err}
}

// ErrUnexpectedAnswer stands for an answer that is no Stripe error object.
var ErrUnexpectedAnswer = errors.New("the answer was not a Stripe API error object (a proxy or load balancer in between?)")

// transportError is a request that got no answer from Stripe.
type transportError struct {
	op, url string
	err     error
	cause   error // not shown; kept for errors.Is
}

func (e *transportError) Error() string {
	msg := rotation.RedactURLs(e.err.Error())
	if e.url != "" {
		return fmt.Sprintf("calling Stripe (%s %s): %s", e.op, e.url, msg)
	}
	return "calling Stripe: " + msg
}

func (e *transportError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.err}
	}
	return []error{e.err, e.cause}
}
