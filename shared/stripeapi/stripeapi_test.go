package stripeapi

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	stripego "github.com/stripe/stripe-go/v76"
)

func TestCheckAPIURL(t *testing.T) {
	tests := []struct {
		url  string
		want string // "" = accepted; else a part of the error
	}{
		{"https://api.stripe.com", ""},
		{"https://api.stripe.com/", ""},
		{"http://127.0.0.1:12111", ""},
		{"http://localhost:12111", ""},
		{"http://example.com", "must be https (http only on 127.0.0.1 or localhost, for tests)"},
		{"ftp://example.com", "must be https"},
		{"https://api.stripe.com/v1", "must be a base URL such as https://api.stripe.com"},
		{"https://user:hunter2@api.stripe.com", "must be a base URL"},
		{"https://api.stripe.com?x=1", "must be a base URL"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			err := CheckAPIURL(tc.url)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("CheckAPIURL = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("CheckAPIURL = %v, want %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "hunter2"):
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
}

func TestSettings(t *testing.T) {
	show := func(v string) string { return "<" + v + ">" }
	tests := []struct {
		name    string
		env     map[string]string
		url     string
		timeout time.Duration
		err     string
	}{
		{"unset", nil, DefaultAPIURL, 0, ""},
		{"set", map[string]string{"DUALKEY_STRIPE_API_URL": "http://127.0.0.1:1", "DUALKEY_STRIPE_TIMEOUT": "30s"}, "http://127.0.0.1:1", 30 * time.Second, ""},
		{"bad url", map[string]string{"DUALKEY_STRIPE_API_URL": "http://example.com"}, DefaultAPIURL, 0, "DUALKEY_STRIPE_API_URL"},
		{"bad timeout", map[string]string{"DUALKEY_STRIPE_TIMEOUT": "10m"}, DefaultAPIURL, 0,
			`environment variable DUALKEY_STRIPE_TIMEOUT="<10m>": must be a duration from 1s to 5m, such as 20s`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, d, err := Settings(func(k string) string { return tc.env[k] }, show)
			if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error = %v, want %q", err, tc.err)
			}
			if u != tc.url || d != tc.timeout {
				t.Fatalf("Settings = %q, %s, want %q, %s", u, d, tc.url, tc.timeout)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	stripeErr := &stripego.Error{HTTPStatusCode: http.StatusForbidden, Type: "invalid_request_error", Code: "secret_key_required",
		RequestID: "req_abc123", Msg: "The provided key 'rk_live_***1234' does not have access on account 'acct_1ABC'"}
	tests := []struct {
		name   string
		err    error
		want   string
		status int // of an *APIError; 0: none
	}{
		{"stripe answer", stripeErr, "Stripe answered HTTP 403 invalid_request_error (secret_key_required), request req_abc123", http.StatusForbidden},
		{"hostile fields", &stripego.Error{HTTPStatusCode: 500, Type: "x y", Code: "C\n", RequestID: "req_<script>"}, "Stripe answered HTTP 500", 500},
		{"transport", &url.Error{Op: "Get", URL: "https://user:pw@api.stripe.com/v1/account", Err: errors.New("connection refused")},
			`calling Stripe (Get https://[REDACTED]@api.stripe.com/v1/account): connection refused`, 0},
		{"other", errors.New("<html>sk_live_secret</html>"), "calling Stripe: " + ErrUnexpectedAnswer.Error(), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Classify(tc.err)
			if got.Error() != tc.want {
				t.Fatalf("Classify = %q, want %q", got.Error(), tc.want)
			}
			if (tc.status != 0) != HasStatus(got, tc.status) {
				t.Fatalf("HasStatus(%d) = %v", tc.status, HasStatus(got, tc.status))
			}
		})
	}
	var ae *APIError
	if !errors.As(Classify(stripeErr), &ae) || ae.Account != "acct_1ABC" || ae.Why() != "lacks a permission" {
		t.Fatalf("403 answer = %+v, want account acct_1ABC, lacks a permission", ae)
	}
	if !errors.Is(Classify(errors.New("x")), ErrUnexpectedAnswer) {
		t.Fatal("an unexpected answer does not wrap ErrUnexpectedAnswer")
	}
	expired := &APIError{Status: http.StatusUnauthorized, Code: string(stripego.ErrorCodeAPIKeyExpired)}
	if !expired.Expired() || !expired.Refused() || expired.Why() != "expired (api_key_expired)" {
		t.Fatalf("expired key: Expired %v Refused %v Why %q", expired.Expired(), expired.Refused(), expired.Why())
	}
}
