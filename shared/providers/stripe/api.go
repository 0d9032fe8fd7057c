package stripe

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

// api sends requests to Stripe through stripe-go's backend. The backend
// holds no key: each call names its own.
type api struct {
	backend stripego.Backend
}

// newAPI talks to the API at baseURL through hc, or a client that times
// out after timeout when hc is nil (stripeapi.Backend).
func newAPI(baseURL string, hc *http.Client, timeout time.Duration) *api {
	return &api{backend: stripeapi.Backend(baseURL, hc, timeout)}
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
type APIError = stripeapi.APIError

// classify turns stripe-go's errors into errors that hold no key and no
// message from Stripe (stripeapi.Classify).
func classify(err error) error { return stripeapi.Classify(err) }
