package stripewebhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	stripego "github.com/stripe/stripe-go/v76"

	"github.com/dualkey/dualkey/shared/stripeapi"
)

// DefaultAPIURL is Stripe's API.
const DefaultAPIURL = stripeapi.DefaultAPIURL

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

// newAPI talks to the API at baseURL through hc, or a client that times
// out after timeout when hc is nil (stripeapi.Backend). Secrets Manager
// retries a failed step, and the create's idempotency key makes that retry
// safe.
func newAPI(baseURL string, hc *http.Client, timeout time.Duration) *api {
	return &api{backend: stripeapi.Backend(baseURL, hc, timeout)}
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
type APIError = stripeapi.APIError

// isNotFound reports whether err is Stripe's 404 (the endpoint does not
// exist, or not in the key's account and mode).
func isNotFound(err error) bool {
	return stripeapi.HasStatus(err, http.StatusNotFound)
}

// isInFlight reports whether Stripe refused a request because another one
// with the same idempotency key is still running (409
// idempotency_key_in_use): a concurrent delivery of createSecret.
func isInFlight(err error) bool {
	return stripeapi.HasStatus(err, http.StatusConflict)
}

// classify turns stripe-go's errors into errors that hold no key and no
// message from Stripe (stripeapi.Classify).
func classify(err error) error { return stripeapi.Classify(err) }
