package twilio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	api2010 "github.com/twilio/twilio-go/rest/api/v2010"
	iamv1 "github.com/twilio/twilio-go/rest/iam/v1"

	"github.com/dualkey/dualkey/shared/vendorhttp"
	"github.com/dualkey/dualkey/shared/vendorhttp/twilioclient"
)

// Errors the provider wraps.
var (
	// ErrAdminRefused: Twilio answered 401 to the admin credential of the
	// secret master_secret_arn names.
	ErrAdminRefused = errors.New("twilio refused the admin credential")
	// ErrNoSuchKey: the key a version names does not exist at Twilio.
	ErrNoSuchKey = errors.New("twilio API key does not exist")
	// ErrRateLimited: Twilio kept answering 429 within the step's deadline.
	ErrRateLimited = errors.New("twilio rate limit")
)

// Default hosts of the Twilio APIs the provider calls.
const (
	DefaultAPIURL = "https://api.twilio.com"
	DefaultIAMURL = "https://iam.twilio.com"
)

// api builds twilio-go clients whose requests carry the step's context, are
// retried after a 429 within its deadline, and go to the configured hosts
// (vendorhttp).
type api struct {
	vendorhttp.Config
}

// services are the twilio-go services for one credential and context.
type services struct {
	api  *api2010.ApiService
	iam  *iamv1.ApiService
	cred *credential
}

// with returns services that authenticate with c and carry ctx. twilio-go
// sends every request with context.Background(); the client puts ctx
// back, so a step's deadline and cancellation reach each request.
func (a *api) with(ctx context.Context, c *credential) *services {
	cl := twilioclient.New(a.Client(ctx), c.user, c.pass, c.account)
	return &services{api: api2010.NewApiServiceWithClient(cl), iam: iamv1.NewApiServiceWithClient(cl), cred: c}
}

// RetryAfter reads how long a 429 asks to wait: Retry-After in seconds or
// as an HTTP date; one second when it is missing or unreadable.
func RetryAfter(h http.Header, now time.Time) time.Duration { return vendorhttp.RetryAfter(h, now, "") }

// callError turns the error of a call made with cred into a message that
// says what failed and what to do, without a secret: a 401 to the admin
// credential names the secret to fix; the rest is twilioclient.CallError.
func callError(op string, cred *credential, err error) error {
	if te, ok := twilioclient.RestError(err); ok && te.Status == http.StatusUnauthorized && cred != nil && cred.adminARN != "" {
		return &twilioclient.Error{Msg: fmt.Sprintf("%s: %v (%s) of admin secret %s, named by master_secret_arn: %s. It must be the auth token or a Main API key of account %s, and valid; "+
			"Standard and restricted keys cannot manage keys: store the right credential in that secret", op, ErrAdminRefused, cred.kind, cred.adminARN, twilioclient.Answer(te), cred.account),
			Errs: []error{ErrAdminRefused, err}}
	}
	return twilioclient.CallError(op, err, ErrRateLimited)
}
