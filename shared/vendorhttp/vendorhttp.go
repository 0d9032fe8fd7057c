// Package vendorhttp is the HTTP plumbing the providers that call a
// vendor's REST API share (twilio, twiliotoken, sendgrid): a client whose
// requests carry the step's context and go to the configured hosts, the
// retry of an answer 429 within the step's deadline, the checks of a base
// URL and a duration setting, and the bounding of what a vendor answered
// before it goes into an error.
//
// It imports no vendor SDK, so a rotation function links only its own
// provider's (shared/vendorhttp/twilioclient holds what needs twilio-go).
package vendorhttp

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dualkey/dualkey/shared/rotation"
)

// Rate-limit retries.
const (
	// MaxRateLimitRetries bounds the retries of one request answered 429.
	MaxRateLimitRetries = 4
	// MaxRateLimitWait bounds the waits of one request when its context
	// has no deadline.
	MaxRateLimitWait = time.Minute
	// DeadlineMargin is the time left for the request itself after a wait.
	DeadlineMargin = 2 * time.Second
	// DefaultRetryAfter is the wait when a 429 says nothing usable.
	DefaultRetryAfter = time.Second
)

// RateLimit retries requests answered 429 after the wait the answer asks
// for, as long as the waits fit the context's deadline (less
// DeadlineMargin), or MaxRateLimitWait without one.
type RateLimit struct {
	// Sleep waits d or until ctx is done. Required.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock deadlines and HTTP dates are measured with.
	// Required.
	Now func() time.Time
	// ResetHeader, when set, is read when Retry-After is missing or
	// unusable: the Unix time the limit resets (SendGrid's
	// X-RateLimit-Reset).
	ResetHeader string
}

// Do calls send for each attempt (a fresh request each time) until the
// answer is not a 429, MaxRateLimitRetries retries were made, or the next
// wait would not fit; it returns the last answer (a 429 included) and the
// time it waited. A 429 that is retried is drained and closed. An error
// from send ends it at once; a wait cut short by ctx returns ctx's error.
func (l RateLimit) Do(ctx context.Context, send func() (*http.Response, error)) (*http.Response, time.Duration, error) {
	budget := MaxRateLimitWait
	if dl, ok := ctx.Deadline(); ok {
		budget = dl.Sub(l.Now()) - DeadlineMargin
	}
	waited := time.Duration(0)
	for attempt := 0; ; attempt++ {
		resp, err := send()
		if err != nil || resp.StatusCode != http.StatusTooManyRequests || attempt == MaxRateLimitRetries {
			return resp, waited, err
		}
		wait := RetryAfter(resp.Header, l.Now(), l.ResetHeader)
		if waited+wait > budget {
			return resp, waited, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err := l.Sleep(ctx, wait); err != nil {
			return nil, waited, err
		}
		waited += wait
	}
}

// RetryAfter reads how long a 429 asks to wait: Retry-After in seconds or
// as an HTTP date (a date past is 0); else, when resetHeader is set, that
// header as the Unix time the limit resets (past: 0); else
// DefaultRetryAfter.
func RetryAfter(h http.Header, now time.Time, resetHeader string) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			if n >= 0 {
				return time.Duration(n) * time.Second
			}
		} else if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0)
		}
	}
	if resetHeader != "" {
		if v := strings.TrimSpace(h.Get(resetHeader)); v != "" {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return max(time.Unix(n, 0).Sub(now), 0)
			}
		}
	}
	return DefaultRetryAfter
}

// Config is how a provider reaches its vendor.
type Config struct {
	// Transport carries every request (default http.DefaultTransport).
	Transport http.RoundTripper
	// Hosts send requests for a vendor host (lower case) to another base
	// URL (tests and the local demo point them at a fake; see Hosts).
	Hosts map[string]*url.URL
	// Timeout bounds one request.
	Timeout time.Duration
	// RateLimit retries 429s.
	RateLimit RateLimit
}

// Client returns a client for one step: every request carries ctx (SDKs
// such as twilio-go send with context.Background(), so the step's deadline
// and cancellation would not reach them otherwise), goes to Hosts'
// replacement of its host, and is retried after a 429 (RateLimit; a
// request whose body cannot be replayed is not). Redirects are not
// followed.
func (c Config) Client(ctx context.Context) *http.Client {
	var rt http.RoundTripper = &hostTransport{next: c.transport(), hosts: c.Hosts}
	rt = &rateLimitTransport{next: rt, limit: c.RateLimit}
	return &http.Client{Transport: &ctxTransport{ctx: ctx, next: rt}, CheckRedirect: noRedirect, Timeout: c.Timeout}
}

// Plain returns a client with Transport and Timeout alone: requests keep
// their own context and host, a 429 is returned as it is (callers that
// build their requests retry with RateLimit.Do). Redirects are not
// followed.
func (c Config) Plain() *http.Client {
	return &http.Client{Transport: c.transport(), CheckRedirect: noRedirect, Timeout: c.Timeout}
}

func (c Config) transport() http.RoundTripper {
	if c.Transport == nil {
		return http.DefaultTransport
	}
	return c.Transport
}

// TransportOf returns the transport of hc (a provider's Config.HTTPClient,
// whose other fields are not used), or nil for the default.
func TransportOf(hc *http.Client) http.RoundTripper {
	if hc == nil {
		return nil
	}
	return hc.Transport
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// ctxTransport gives every request the step's context.
type ctxTransport struct {
	ctx  context.Context
	next http.RoundTripper
}

func (t *ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.next.RoundTrip(r.WithContext(t.ctx))
}

// hostTransport sends requests for a vendor host to its replacement.
type hostTransport struct {
	next  http.RoundTripper
	hosts map[string]*url.URL
}

func (t *hostTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	to, ok := t.hosts[strings.ToLower(r.URL.Hostname())]
	if !ok {
		return t.next.RoundTrip(r)
	}
	out := r.Clone(r.Context())
	out.URL.Scheme, out.URL.Host, out.Host = to.Scheme, to.Host, to.Host
	return t.next.RoundTrip(out)
}

// rateLimitTransport retries a request answered 429 (RateLimit.Do).
type rateLimitTransport struct {
	next  http.RoundTripper
	limit RateLimit
}

func (t *rateLimitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody && r.GetBody == nil {
		return t.next.RoundTrip(r) // cannot be sent twice
	}
	ctx := r.Context()
	first := true
	resp, _, err := t.limit.Do(ctx, func() (*http.Response, error) {
		if first {
			first = false
			return t.next.RoundTrip(r)
		}
		again := r.Clone(ctx)
		if r.GetBody != nil {
			body, err := r.GetBody()
			if err != nil {
				return nil, err
			}
			again.Body = body
		}
		return t.next.RoundTrip(again)
	})
	return resp, err
}

// Endpoint is a vendor host and the base URL that replaces it ("" keeps
// the vendor's), with the setting it came from for errors.
type Endpoint struct {
	Host, Setting, URL string
	// Example is a base URL the error shows (default https://Host).
	Example string
}

// Hosts checks the endpoints (CheckBaseURL) and returns the replacements
// of the hosts whose URL is set and not the vendor's own; a bad URL is an
// error naming its setting (the last bad one when several are).
func Hosts(endpoints ...Endpoint) (map[string]*url.URL, error) {
	hosts := map[string]*url.URL{}
	var bad error
	for _, e := range endpoints {
		if e.URL == "" {
			continue
		}
		example := e.Example
		if example == "" {
			example = "https://" + e.Host
		}
		u, err := CheckBaseURL(e.Setting, e.URL, example)
		if err != nil {
			bad = err
			continue
		}
		if u.String() != "https://"+e.Host {
			hosts[e.Host] = u
		}
	}
	return hosts, bad
}

// CheckBaseURL accepts a base URL (no path, query or user info) with
// https, or http on loopback only (tests). Errors name the setting and
// show the URL without its password; example is a good value.
func CheckBaseURL(setting, v, example string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("environment variable %s=%q: must be a base URL such as %s (no path, query or user info)", setting, rotation.SafeURL(v), example)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" && h != "::1" {
			return nil, fmt.Errorf("environment variable %s=%q: http is allowed on loopback only (tests); use https", setting, rotation.SafeURL(v))
		}
	default:
		return nil, fmt.Errorf("environment variable %s=%q: must be an https URL", setting, rotation.SafeURL(v))
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

// Duration reads the duration setting name with get, within [lo, hi]; 0
// when unset. The error shows example as a good value.
func Duration(get func(string) string, name string, lo, hi time.Duration, example string) (time.Duration, error) {
	v := get(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		return 0, fmt.Errorf("environment variable %s=%q: must be a duration from %s to %s, such as %s", name, Printable(v), lo, hi, example)
	}
	return d, nil
}

// Printable bounds a string a vendor returned (or a setting) before it
// goes into an error: at most 200 bytes, control characters as '?'.
func Printable(s string) string {
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
