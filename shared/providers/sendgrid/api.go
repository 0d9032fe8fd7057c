package sendgrid

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dualkey/dualkey/shared/rotation"
)

// Errors the provider wraps.
var (
	// ErrAdminRefused: SendGrid answered 401 to the admin key of the secret
	// master_secret_arn names.
	ErrAdminRefused = errors.New("sendgrid refused the admin key")
	// ErrScopes: the admin key cannot grant a scope the rotated key has.
	ErrScopes = errors.New("the admin key cannot grant the key's scopes")
	// ErrNoSuchKey: the key a version names is not a key of its user.
	ErrNoSuchKey = errors.New("sendgrid API key does not exist")
	// ErrRateLimited: SendGrid kept answering 429 within the step's deadline.
	ErrRateLimited = errors.New("sendgrid rate limit")
)

// DefaultAPIURL is SendGrid's global API.
const DefaultAPIURL = "https://api.sendgrid.com"

// Rate-limit retries.
const (
	maxRateLimitRetries = 4
	maxRateLimitWait    = time.Minute
	deadlineMargin      = 2 * time.Second
	defaultRetryAfter   = time.Second
)

// maxBody bounds a response body read.
const maxBody = 1 << 20

// api sends SendGrid v3 requests with net/http.
type api struct {
	base  string
	hc    *http.Client
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time
}

// call is one request.
type call struct {
	op      string // what it does, for errors ("list the keys of subuser x")
	key     string // the bearer key
	admin   *admin // set when key is the admin key (401 names its secret)
	obo     string // on-behalf-of subuser
	method  string
	path    string
	query   url.Values
	body    any
	want    []int // accepted statuses
	replyTo any
}

// apiError is a SendGrid error answer.
type apiError struct {
	Status int
	// Messages are SendGrid's errors[].message (and field), bounded.
	Messages []string
}

func (e *apiError) Error() string {
	if len(e.Messages) == 0 {
		return fmt.Sprintf("SendGrid answered HTTP %d", e.Status)
	}
	return fmt.Sprintf("SendGrid answered HTTP %d: %s", e.Status, strings.Join(e.Messages, "; "))
}

func statusOf(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// do sends c and decodes the answer into c.replyTo. A 429 is retried after
// the wait SendGrid asks for while it fits the context's deadline (or
// maxRateLimitWait without one).
func (a *api) do(ctx context.Context, c call) error {
	var body []byte
	if c.body != nil {
		b, err := json.Marshal(c.body)
		if err != nil {
			return fmt.Errorf("%s: encode request: %w", c.op, err)
		}
		body = b
	}
	u := a.base + c.path
	if len(c.query) > 0 {
		u += "?" + c.query.Encode()
	}
	budget := maxRateLimitWait
	if dl, ok := ctx.Deadline(); ok {
		budget = dl.Sub(a.now()) - deadlineMargin
	}
	waited := time.Duration(0)
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, c.method, u, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("%s: %w", c.op, err)
		}
		if body == nil {
			req.Body, req.ContentLength = http.NoBody, 0
		} else {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+c.key)
		req.Header.Set("Accept", "application/json")
		if c.obo != "" {
			req.Header.Set("On-Behalf-Of", c.obo)
		}
		resp, err := a.hc.Do(req)
		if err != nil {
			return fmt.Errorf("%s: %s", c.op, rotation.RedactURLs(err.Error()))
		}
		raw, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests && attempt < maxRateLimitRetries {
			wait := RetryAfter(resp.Header, a.now())
			if waited+wait <= budget {
				if err := a.sleep(ctx, wait); err != nil {
					return fmt.Errorf("%s: %w", c.op, err)
				}
				waited += wait
				continue
			}
		}
		if rerr != nil {
			return fmt.Errorf("%s: read the answer: %w", c.op, rerr)
		}
		if !slices.Contains(c.want, resp.StatusCode) {
			return a.fail(c, resp.StatusCode, raw, waited)
		}
		if c.replyTo != nil && len(raw) > 0 {
			if err := json.Unmarshal(raw, c.replyTo); err != nil {
				return fmt.Errorf("%s: SendGrid's answer is not the documented JSON: %w", c.op, err)
			}
		}
		return nil
	}
}

// fail builds the error of an unexpected answer: SendGrid's messages
// (bounded), and for a 401 on the admin key the secret to fix.
func (a *api) fail(c call, status int, raw []byte, waited time.Duration) error {
	ae := &apiError{Status: status}
	var e struct {
		Errors []struct {
			Field   *string `json:"field"`
			Message string  `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(raw, &e) == nil {
		for i, m := range e.Errors {
			if i == 5 {
				break
			}
			msg := printable(m.Message)
			if m.Field != nil && *m.Field != "" {
				msg = printable(*m.Field) + ": " + msg
			}
			ae.Messages = append(ae.Messages, msg)
		}
	}
	switch {
	case status == http.StatusUnauthorized && c.admin != nil:
		return fmt.Errorf("%s: %w of secret %s, named by master_secret_arn (HTTP 401): store a valid SendGrid key with api_keys.create, api_keys.read and api_keys.delete "+
			"(of the subuser's parent user for a subuser's key) in that secret: %w", c.op, ErrAdminRefused, c.admin.arn, ae)
	case status == http.StatusTooManyRequests:
		return fmt.Errorf("%s: %w (HTTP 429), still after waiting %s within the step's deadline; Secrets Manager retries the step later: %w", c.op, ErrRateLimited, waited, ae)
	case status == http.StatusForbidden && c.admin != nil:
		return fmt.Errorf("%s: the admin key of secret %s may not do this (HTTP 403): it needs api_keys.create, api_keys.read and api_keys.delete, "+
			"and for a subuser's key it must be a key of the subuser's parent user: %w", c.op, c.admin.arn, ae)
	}
	return fmt.Errorf("%s: %w", c.op, ae)
}

// RetryAfter reads how long a 429 asks to wait: Retry-After (seconds or an
// HTTP date), else X-RateLimit-Reset (the Unix time the limit resets);
// one second when neither is usable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return time.Duration(n) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0)
		}
	}
	if v := strings.TrimSpace(h.Get("X-RateLimit-Reset")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return max(time.Unix(n, 0).Sub(now), 0)
		}
	}
	return defaultRetryAfter
}

// printable bounds a string SendGrid returned before it goes into an error.
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
func checkBaseURL(name, v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("environment variable %s=%q: must be a base URL such as https://api.sendgrid.com (no path, query or user info)", name, rotation.SafeURL(v))
	}
	switch u.Scheme {
	case "https":
	case "http":
		if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" && h != "::1" {
			return "", fmt.Errorf("environment variable %s=%q: http is allowed on loopback only (tests); use https", name, rotation.SafeURL(v))
		}
	default:
		return "", fmt.Errorf("environment variable %s=%q: must be an https URL", name, rotation.SafeURL(v))
	}
	return u.Scheme + "://" + u.Host, nil
}
