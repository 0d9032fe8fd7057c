package twiliotoken

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	accountsv1 "github.com/twilio/twilio-go/rest/accounts/v1"
	api2010 "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/dualkey/dualkey/shared/vendorhttp"
	"github.com/dualkey/dualkey/shared/vendorhttp/twilioclient"
)

// Errors the provider wraps.
var (
	// ErrAdminRefused: Twilio answered 401 to the credential that manages
	// the tokens (the Main key master_secret_arn names, or the primary).
	ErrAdminRefused = errors.New("twilio refused the credential that manages the auth tokens")
	// ErrRateLimited: Twilio kept answering 429 within the step's deadline.
	ErrRateLimited = errors.New("twilio rate limit")
)

// Default hosts of the Twilio APIs the provider calls.
const (
	DefaultAPIURL      = "https://api.twilio.com"
	DefaultAccountsURL = "https://accounts.twilio.com"
)

// api builds twilio-go clients whose requests carry the step's context, are
// retried after a 429 within its deadline, and go to the configured hosts
// (vendorhttp).
type api struct {
	vendorhttp.Config
}

// services are the twilio-go services for one credential and context.
type services struct {
	api      *api2010.ApiService
	accounts *accountsv1.ApiService
	cred     *credential
}

// with returns services that authenticate with c and carry ctx. twilio-go
// sends every request with context.Background(); the client puts ctx
// back, so a step's deadline and cancellation reach each request.
func (a *api) with(ctx context.Context, c *credential) *services {
	cl := twilioclient.New(a.Client(ctx), c.user, c.pass, c.account)
	return &services{api: api2010.NewApiServiceWithClient(cl), accounts: accountsv1.NewApiServiceWithClient(cl), cred: c}
}

// RetryAfter reads how long a 429 asks to wait: Retry-After in seconds or
// as an HTTP date; one second when it is missing or unreadable.
func RetryAfter(h http.Header, now time.Time) time.Duration { return vendorhttp.RetryAfter(h, now, "") }

// isUnauthorized reports a 401.
func isUnauthorized(err error) bool { return twilioclient.IsStatus(err, http.StatusUnauthorized) }

// callError turns the error of a call made with cred into a message that
// says what failed and what to do, without a secret: a 401 to the
// credential that manages the tokens names it; the rest is
// twilioclient.CallError.
func callError(op string, cred *credential, err error) error {
	if te, ok := twilioclient.RestError(err); ok && te.Status == http.StatusUnauthorized && cred != nil {
		switch {
		case cred.adminARN != "":
			return &twilioclient.Error{Msg: fmt.Sprintf("%s: %v (%s) of admin secret %s, named by master_secret_arn: %s. It must be a valid Main API key of account %s "+
				"(Standard and restricted keys cannot manage keys or tokens): store the right key in that secret", op, ErrAdminRefused, cred.kind, cred.adminARN, twilioclient.Answer(te), cred.account),
				Errs: []error{ErrAdminRefused, err}}
		case cred.manager:
			return &twilioclient.Error{Msg: fmt.Sprintf("%s: %v (%s of account %s): %s", op, ErrAdminRefused, cred.kind, cred.account, twilioclient.Answer(te)),
				Errs: []error{ErrAdminRefused, err}}
		}
	}
	return twilioclient.CallError(op, err, ErrRateLimited)
}
