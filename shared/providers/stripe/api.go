package stripe

import (
	"context"
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

// api sends requests to Stripe through stripe-go's backend. The backend
// holds no key: each call names its own.
type api struct {
	backend stripego.Backend
}

func newAPI(baseURL string, client *http.Client) *api {
	b := stripego.GetBackendWithConfig(stripego.APIBackend, &stripego.BackendConfig{
		URL:           stripego.String(baseURL),
		HTTPClient:    client,
		LeveledLogger: &stripego.LeveledLogger{Level: stripego.LevelNull},
		// Secrets Manager retries a failed step; a retry here would only
		// blur which call failed.
		MaxNetworkRetries: stripego.Int64(0),
		EnableTelemetry:   stripego.Bool(false),
	})
	return &api{backend: b}
}

// object decodes the fields of an answer the provider reads.
type object struct {
	stripego.APIResource
	ID       string `json:"id"`
	Object   string `json:"object"`
	Livemode *bool  `json:"livemode"`
}

// get sends GET path with key and decodes the answer into v.
func (a *api) get(ctx context.Context, key, path string, v stripego.LastResponseSetter) error {
	err := a.backend.Call(http.MethodGet, path, key, &stripego.Params{Context: ctx}, v)
	if err != nil {
		return classify(err)
	}
	return nil
}

// account returns the id of the account key belongs to (GET /v1/account).
// A restricted key without the permission to read the account gets a 403
// whose message names the account: that is taken as the answer (see the
// package documentation); how says which.
func (a *api) account(ctx context.Context, key string) (id, how string, err error) {
	var acct object
	err = a.get(ctx, key, "/v1/account", &acct)
	var ae *APIError
	switch {
	case err == nil:
		if !accountPattern.MatchString(acct.ID) {
			return "", "", fmt.Errorf("GET /v1/account answered an object without an account id")
		}
		return acct.ID, "GET /v1/account", nil
	case errors.As(err, &ae) && ae.Status == http.StatusForbidden && ae.Account != "":
		return ae.Account, "GET /v1/account (403: the restricted key may not read the account; Stripe's answer names it)", nil
	}
	return "", "", err
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

var accountInMessage = regexp.MustCompile(`on account '(acct_[A-Za-z0-9]{1,64})'`)

// classify turns stripe-go's errors into errors that hold no key and no
// message from Stripe: *APIError for Stripe's answers, a transport error
// with its URL's secrets removed otherwise.
func classify(err error) error {
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
	return &transportError{err: errUnexpectedAnswer, cause: err}
}

// errUnexpectedAnswer stands for an answer that is no Stripe error object.
var errUnexpectedAnswer = errors.New("the answer was not a Stripe API error object (a proxy or load balancer in between?)")

var (
	requestIDPattern = regexp.MustCompile(`^req_[A-Za-z0-9]{1,64}$`)
	typePattern      = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)
)

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

// checkAPIURL validates DUALKEY_STRIPE_API_URL: https, or http on loopback.
func checkAPIURL(raw string) error {
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

// defaultTimeout bounds one request to Stripe.
const defaultTimeout = 20 * time.Second
