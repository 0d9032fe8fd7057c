package twiliotoken

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/twilio/twilio-go/client"
	accountsv1 "github.com/twilio/twilio-go/rest/accounts/v1"
	api2010 "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/dualkey/dualkey/shared/rotation"
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

// Rate-limit retries.
const (
	// maxRateLimitRetries bounds the retries of one request answered 429.
	maxRateLimitRetries = 4
	// maxRateLimitWait bounds the waits of one request when its context
	// has no deadline.
	maxRateLimitWait = time.Minute
	// deadlineMargin is the time left for the request itself after a wait.
	deadlineMargin = 2 * time.Second
	// defaultRetryAfter is the wait when a 429 has no usable Retry-After.
	defaultRetryAfter = time.Second
)

// api builds twilio-go clients whose requests carry the step's context, are
// retried after a 429 within its deadline, and go to the configured hosts.
type api struct {
	base    http.RoundTripper
	hosts   map[string]*url.URL // Twilio host -> replacement base URL
	timeout time.Duration
	sleep   func(ctx context.Context, d time.Duration) error
	now     func() time.Time
}

// services are the twilio-go services for one credential and context.
type services struct {
	api      *api2010.ApiService
	accounts *accountsv1.ApiService
	cred     *credential
}

// with returns services that authenticate with c and carry ctx. twilio-go
// sends every request with context.Background(); the transport puts ctx
// back, so a step's deadline and cancellation reach each request.
func (a *api) with(ctx context.Context, c *credential) *services {
	hc := &http.Client{
		Transport:     &ctxTransport{ctx: ctx, next: &rateLimitTransport{next: &hostTransport{next: a.base, hosts: a.hosts}, sleep: a.sleep, now: a.now}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       a.timeout,
	}
	cl := &client.Client{Credentials: client.NewCredentials(c.user, c.pass), HTTPClient: hc}
	cl.SetAccountSid(c.account)
	return &services{api: api2010.NewApiServiceWithClient(cl), accounts: accountsv1.NewApiServiceWithClient(cl), cred: c}
}

// ctxTransport gives every request the step's context.
type ctxTransport struct {
	ctx  context.Context
	next http.RoundTripper
}

func (t *ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.next.RoundTrip(r.WithContext(t.ctx))
}

// hostTransport sends requests for a Twilio host to its configured
// replacement (tests and the local demo point them at a fake).
type hostTransport struct {
	next  http.RoundTripper
	hosts map[string]*url.URL
}

func (t *hostTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	next := t.next
	if next == nil {
		next = http.DefaultTransport
	}
	to, ok := t.hosts[strings.ToLower(r.URL.Hostname())]
	if !ok {
		return next.RoundTrip(r)
	}
	out := r.Clone(r.Context())
	out.URL.Scheme, out.URL.Host, out.Host = to.Scheme, to.Host, to.Host
	return next.RoundTrip(out)
}

// rateLimitTransport retries a request answered 429 after the answer's
// Retry-After, as long as the wait fits the request's deadline (or
// maxRateLimitWait without one); otherwise it returns the 429.
type rateLimitTransport struct {
	next  http.RoundTripper
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time
}

func (t *rateLimitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx := r.Context()
	budget := maxRateLimitWait
	if dl, ok := ctx.Deadline(); ok {
		budget = dl.Sub(t.now()) - deadlineMargin
	}
	waited := time.Duration(0)
	for attempt := 0; ; attempt++ {
		resp, err := t.next.RoundTrip(r)
		if err != nil || resp.StatusCode != http.StatusTooManyRequests || attempt == maxRateLimitRetries {
			return resp, err
		}
		wait := RetryAfter(resp.Header, t.now())
		if waited+wait > budget || (r.Body != nil && r.GetBody == nil) {
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err := t.sleep(ctx, wait); err != nil {
			return nil, err
		}
		waited += wait
		if r.GetBody != nil {
			body, err := r.GetBody()
			if err != nil {
				return nil, err
			}
			r = r.Clone(ctx)
			r.Body = body
		}
	}
}

// RetryAfter reads how long a 429 asks to wait: Retry-After in seconds or
// as an HTTP date; one second when it is missing or unreadable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return defaultRetryAfter
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return defaultRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
		return 0
	}
	return defaultRetryAfter
}

// restError returns the Twilio error a twilio-go call failed with.
func restError(err error) (*client.TwilioRestError, bool) {
	var te *client.TwilioRestError
	ok := errors.As(err, &te)
	return te, ok
}

func isStatus(err error, status int) bool {
	te, ok := restError(err)
	return ok && te.Status == status
}

// isUnauthorized reports a 401.
func isUnauthorized(err error) bool { return isStatus(err, http.StatusUnauthorized) }

// isNotFound reports a 404.
func isNotFound(err error) bool { return isStatus(err, http.StatusNotFound) }

// callError turns the error of a call made with cred into a message that
// says what failed and what to do, without a secret: Twilio's answers are
// reduced to status, code and a bounded message. The result still wraps
// the twilio-go error (and the provider's sentinel, when one applies).
func callError(op string, cred *credential, err error) error {
	te, ok := restError(err)
	if !ok {
		return &callErr{msg: op + ": " + rotation.RedactURLs(err.Error()), errs: []error{err}}
	}
	answer := fmt.Sprintf("HTTP %d, code %d: %s", te.Status, te.Code, printable(te.Message))
	switch {
	case te.Status == http.StatusUnauthorized && cred != nil && cred.adminARN != "":
		return &callErr{msg: fmt.Sprintf("%s: %v (%s) of admin secret %s, named by master_secret_arn: %s. It must be a valid Main API key of account %s "+
			"(Standard and restricted keys cannot manage keys or tokens): store the right key in that secret", op, ErrAdminRefused, cred.kind, cred.adminARN, answer, cred.account),
			errs: []error{ErrAdminRefused, err}}
	case te.Status == http.StatusUnauthorized && cred != nil && cred.manager:
		return &callErr{msg: fmt.Sprintf("%s: %v (%s of account %s): %s", op, ErrAdminRefused, cred.kind, cred.account, answer), errs: []error{ErrAdminRefused, err}}
	case te.Status == http.StatusTooManyRequests:
		return &callErr{msg: fmt.Sprintf("%s: %v: %s, still after waiting within the step's deadline; Secrets Manager retries the step later", op, ErrRateLimited, answer),
			errs: []error{ErrRateLimited, err}}
	}
	return &callErr{msg: fmt.Sprintf("%s: Twilio answered %s", op, answer), errs: []error{err}}
}

// callErr is a failed call: its own message, and the errors it wraps.
type callErr struct {
	msg  string
	errs []error
}

func (e *callErr) Error() string   { return e.msg }
func (e *callErr) Unwrap() []error { return e.errs }

// printable bounds a string Twilio returned before it goes into an error.
func printable(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// checkBaseURL accepts https URLs, and http ones on loopback only.
func checkBaseURL(name, v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("environment variable %s=%q: must be a base URL such as https://api.twilio.com (no path, query or user info)", name, rotation.SafeURL(v))
	}
	switch u.Scheme {
	case "https":
	case "http":
		if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" && h != "::1" {
			return nil, fmt.Errorf("environment variable %s=%q: http is allowed on loopback only (tests); use https", name, rotation.SafeURL(v))
		}
	default:
		return nil, fmt.Errorf("environment variable %s=%q: must be an https URL", name, rotation.SafeURL(v))
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

// parseTwilioTime reads Twilio's RFC 2822 dates ("Mon, 13 Jun 2016
// 22:50:08 +0000"); zero when missing or unreadable.
func parseTwilioTime(s *string) time.Time {
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

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
