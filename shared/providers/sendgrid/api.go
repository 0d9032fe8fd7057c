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
	"strings"
	"time"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/vendorhttp"
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

// maxBody bounds a response body read.
const maxBody = 1 << 20

// api sends SendGrid v3 requests with net/http.
type api struct {
	base  string
	hc    *http.Client
	limit vendorhttp.RateLimit
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
// vendorhttp.MaxRateLimitWait without one).
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
	var sendErr error // send's own error, already said
	resp, waited, err := a.limit.Do(ctx, func() (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, c.method, u, bytes.NewReader(body))
		if err != nil {
			sendErr = fmt.Errorf("%s: %w", c.op, err)
			return nil, sendErr
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
			sendErr = fmt.Errorf("%s: %s", c.op, rotation.RedactURLs(err.Error()))
			return nil, sendErr
		}
		return resp, nil
	})
	switch {
	case sendErr != nil:
		return sendErr
	case err != nil: // the wait for a retry was cut short
		return fmt.Errorf("%s: %w", c.op, err)
	}
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
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
			msg := vendorhttp.Printable(m.Message)
			if m.Field != nil && *m.Field != "" {
				msg = vendorhttp.Printable(*m.Field) + ": " + msg
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
	return vendorhttp.RetryAfter(h, now, rateLimitReset)
}

// rateLimitReset is SendGrid's header with the Unix time its limit resets.
const rateLimitReset = "X-RateLimit-Reset"
