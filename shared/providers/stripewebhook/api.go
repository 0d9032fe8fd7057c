package stripewebhook

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

// defaultTimeout bounds one request to Stripe.
const defaultTimeout = 20 * time.Second

// Stripe's metadata limits.
const (
	maxMetadataKeys  = 50
	maxMetadataValue = 500
)

// api sends requests to Stripe through stripe-go's backend. The backend
// holds no key: each call names its own.
type api struct {
	backend stripego.Backend
}

func newAPI(baseURL string, client *http.Client) *api {
	return &api{backend: stripego.GetBackendWithConfig(stripego.APIBackend, &stripego.BackendConfig{
		URL:           stripego.String(baseURL),
		HTTPClient:    client,
		LeveledLogger: &stripego.LeveledLogger{Level: stripego.LevelNull},
		// Secrets Manager retries a failed step, and the create's
		// idempotency key makes that retry safe; a retry here would only
		// blur which call failed.
		MaxNetworkRetries: stripego.Int64(0),
		EnableTelemetry:   stripego.Bool(false),
	})}
}

// endpoint is a webhook endpoint as the API returns it.
type endpoint struct {
	stripego.APIResource
	ID            string            `json:"id"`
	Object        string            `json:"object"`
	URL           string            `json:"url"`
	APIVersion    *string           `json:"api_version"`
	Description   *string           `json:"description"`
	EnabledEvents []string          `json:"enabled_events"`
	Metadata      map[string]string `json:"metadata"`
	Status        string            `json:"status"`
	Livemode      bool              `json:"livemode"`
	Created       int64             `json:"created"`
	Secret        string            `json:"secret"`
	Deleted       bool              `json:"deleted"`
}

func (e *endpoint) apiVersion() string {
	if e.APIVersion == nil {
		return ""
	}
	return *e.APIVersion
}

func (e *endpoint) description() string {
	if e.Description == nil {
		return ""
	}
	return *e.Description
}

func (e *endpoint) mode() string {
	if e.Livemode {
		return "live"
	}
	return "test"
}

type endpointList struct {
	stripego.APIResource
	Data    []*endpoint `json:"data"`
	HasMore bool        `json:"has_more"`
}

// maxPages bounds a list: Stripe allows 16 endpoints per account and mode.
const maxPages = 10

func (a *api) list(ctx context.Context, key string) ([]*endpoint, error) {
	var all []*endpoint
	path := "/v1/webhook_endpoints?limit=100"
	for page := 0; page < maxPages; page++ {
		var l endpointList
		if err := a.backend.Call(http.MethodGet, path, key, &stripego.Params{Context: ctx}, &l); err != nil {
			return nil, fmt.Errorf("list webhook endpoints: %w", classify(err))
		}
		all = append(all, l.Data...)
		if !l.HasMore || len(l.Data) == 0 {
			return all, nil
		}
		last := l.Data[len(l.Data)-1].ID
		if !endpointPattern.MatchString(last) {
			return nil, errors.New("list webhook endpoints: Stripe answered an endpoint without an id")
		}
		path = "/v1/webhook_endpoints?limit=100&starting_after=" + last
	}
	return nil, fmt.Errorf("list webhook endpoints: more than %d pages", maxPages)
}

func (a *api) get(ctx context.Context, key, id string) (*endpoint, error) {
	var e endpoint
	if err := a.backend.Call(http.MethodGet, "/v1/webhook_endpoints/"+id, key, &stripego.Params{Context: ctx}, &e); err != nil {
		return nil, fmt.Errorf("get webhook endpoint %s: %w", id, classify(err))
	}
	return &e, nil
}

// create makes an endpoint; replayed is true when Stripe answered with the
// result of an earlier request with the same idempotency key.
func (a *api) create(ctx context.Context, key, idempotencyKey string, p *stripego.WebhookEndpointParams) (e *endpoint, replayed bool, err error) {
	p.Context = ctx
	p.IdempotencyKey = stripego.String(idempotencyKey)
	e = &endpoint{}
	if err := a.backend.Call(http.MethodPost, "/v1/webhook_endpoints", key, p, e); err != nil {
		return nil, false, fmt.Errorf("create webhook endpoint: %w", classify(err))
	}
	if e.LastResponse != nil {
		replayed = e.LastResponse.Header.Get("Idempotent-Replayed") == "true"
	}
	return e, replayed, nil
}

func (a *api) update(ctx context.Context, key, id string, p *stripego.WebhookEndpointParams) (*endpoint, error) {
	p.Context = ctx
	var e endpoint
	if err := a.backend.Call(http.MethodPost, "/v1/webhook_endpoints/"+id, key, p, &e); err != nil {
		return nil, fmt.Errorf("update webhook endpoint %s: %w", id, classify(err))
	}
	return &e, nil
}

func (a *api) delete(ctx context.Context, key, id string) error {
	var e endpoint
	if err := a.backend.Call(http.MethodDelete, "/v1/webhook_endpoints/"+id, key, &stripego.Params{Context: ctx}, &e); err != nil {
		return fmt.Errorf("delete webhook endpoint %s: %w", id, classify(err))
	}
	return nil
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

// isNotFound reports whether err is Stripe's 404 (the endpoint does not
// exist, or not in the key's account and mode).
func isNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// isInFlight reports whether Stripe refused a request because another one
// with the same idempotency key is still running (409
// idempotency_key_in_use): a concurrent delivery of createSecret.
func isInFlight(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusConflict
}

var (
	requestIDPattern = regexp.MustCompile(`^req_[A-Za-z0-9]{1,64}$`)
	typePattern      = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)
)

// classify turns stripe-go's errors into errors that hold no key and no
// message from Stripe.
func classify(err error) error {
	var se *stripego.Error
	if errors.As(err, &se) {
		ae := &APIError{Status: se.HTTPStatusCode, Type: string(se.Type), Code: string(se.Code), RequestID: se.RequestID}
		if !requestIDPattern.MatchString(ae.RequestID) {
			ae.RequestID = ""
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
	// stripe-go quotes an answer that is not a Stripe error object in its
	// error; none of it is shown.
	return &transportError{err: errUnexpectedAnswer, cause: err}
}

// errUnexpectedAnswer stands for an answer that is no Stripe error object.
var errUnexpectedAnswer = errors.New("the answer was not a Stripe API error object (a proxy or load balancer in between?)")

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
