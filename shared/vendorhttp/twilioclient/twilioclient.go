// Package twilioclient is what the twilio and twiliotoken providers share
// of twilio-go: a client over a vendorhttp client, the Twilio error of a
// failed call and an error message about it without a secret, and
// Twilio's dates. Only those two providers import it (it links twilio-go).
package twilioclient

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/vendorhttp"
)

// New returns a twilio-go client that authenticates as user:pass, acts on
// account and sends through hc (vendorhttp.Config.Client: twilio-go sends
// with context.Background(), hc puts the step's context back).
func New(hc *http.Client, user, pass, account string) *client.Client {
	cl := &client.Client{Credentials: client.NewCredentials(user, pass), HTTPClient: hc}
	cl.SetAccountSid(account)
	return cl
}

// RestError returns the Twilio error a twilio-go call failed with.
func RestError(err error) (*client.TwilioRestError, bool) {
	var te *client.TwilioRestError
	ok := errors.As(err, &te)
	return te, ok
}

// IsStatus reports whether Twilio answered err with status.
func IsStatus(err error, status int) bool {
	te, ok := RestError(err)
	return ok && te.Status == status
}

// IsNotFound reports a 404.
func IsNotFound(err error) bool { return IsStatus(err, http.StatusNotFound) }

// Answer says what Twilio answered: status, code and its message, bounded
// (vendorhttp.Printable).
func Answer(te *client.TwilioRestError) string {
	return fmt.Sprintf("HTTP %d, code %d: %s", te.Status, te.Code, vendorhttp.Printable(te.Message))
}

// Error is a failed call: its own message (no secret), and the errors it
// wraps (the twilio-go error, and the provider's sentinel when one
// applies).
type Error struct {
	Msg  string
	Errs []error
}

func (e *Error) Error() string   { return e.Msg }
func (e *Error) Unwrap() []error { return e.Errs }

// CallError turns the error of the call op into a message that says what
// failed and what to do, without a secret: Twilio's answers are reduced to
// Answer, and a 429 left after the retries wraps rateLimited. The result
// still wraps err. A provider says first what a refused credential means
// (a 401 names the secret to fix), then calls CallError for the rest.
func CallError(op string, err, rateLimited error) error {
	te, ok := RestError(err)
	if !ok {
		return &Error{Msg: op + ": " + rotation.RedactURLs(err.Error()), Errs: []error{err}}
	}
	if te.Status == http.StatusTooManyRequests {
		return &Error{Msg: fmt.Sprintf("%s: %v: %s, still after waiting within the step's deadline; Secrets Manager retries the step later", op, rateLimited, Answer(te)),
			Errs: []error{rateLimited, err}}
	}
	return &Error{Msg: fmt.Sprintf("%s: Twilio answered %s", op, Answer(te)), Errs: []error{err}}
}

// ParseTime reads Twilio's RFC 2822 dates ("Mon, 13 Jun 2016 22:50:08
// +0000"); zero when missing or unreadable.
func ParseTime(s *string) time.Time {
	if s == nil {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC1123Z, time.RFC1123, time.RFC3339} {
		if t, err := time.Parse(layout, *s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// Deref returns *s, or "" for nil.
func Deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
