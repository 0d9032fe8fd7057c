package twilioclient_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/dualkey/dualkey/shared/vendorhttp/twilioclient"
)

// TestCallError: what each kind of failure says, and what it wraps; a
// Twilio message is bounded and a URL's password never shows.
func TestCallError(t *testing.T) {
	errLimited := errors.New("vendor rate limit")
	rest := func(status, code int, msg string) error {
		return fmt.Errorf("wrapped by twilio-go: %w", &client.TwilioRestError{Status: status, Code: code, Message: msg})
	}
	tests := []struct {
		name  string
		err   error
		want  []string
		wraps error
	}{
		{"network", errors.New(`Post "https://SK1:hunter2@api.twilio.com/x": dial tcp: refused`), []string{"list keys: ", "dial tcp"}, nil},
		{"refused", rest(401, 20003, "Authenticate"), []string{"list keys: Twilio answered HTTP 401, code 20003: Authenticate"}, nil},
		{"rate limited", rest(429, 20429, "Too Many Requests"), []string{"list keys: vendor rate limit: HTTP 429, code 20429", "retries the step later"}, errLimited},
		{"other", rest(404, 20404, "bad\nline "+strings.Repeat("x", 300)), []string{"list keys: Twilio answered HTTP 404, code 20404: bad?line", "..."}, nil},
	}
	for _, tc := range tests {
		err := twilioclient.CallError("list keys", tc.err, errLimited)
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.name, err, w)
			}
		}
		if strings.Contains(err.Error(), "hunter2") || len(err.Error()) > 400 {
			t.Errorf("%s: %q shows a password or is unbounded", tc.name, err)
		}
		if !errors.Is(err, tc.err) || (tc.wraps != nil && !errors.Is(err, tc.wraps)) {
			t.Errorf("%s: %v does not wrap the call's error and %v", tc.name, err, tc.wraps)
		}
		if _, ok := twilioclient.RestError(err); ok != (tc.name != "network") {
			t.Errorf("%s: RestError found = %v", tc.name, ok)
		}
	}
	if !twilioclient.IsNotFound(rest(404, 20404, "")) || twilioclient.IsNotFound(rest(401, 0, "")) || twilioclient.IsStatus(errors.New("x"), 404) {
		t.Error("IsNotFound/IsStatus")
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2016, 6, 13, 22, 50, 8, 0, time.UTC)
	for _, s := range []string{"Mon, 13 Jun 2016 22:50:08 +0000", "Mon, 13 Jun 2016 22:50:08 UTC", "2016-06-13T22:50:08Z"} {
		if got := twilioclient.ParseTime(&s); !got.Equal(want) {
			t.Errorf("%q: %v", s, got)
		}
	}
	bad := "yesterday"
	if !twilioclient.ParseTime(&bad).IsZero() || !twilioclient.ParseTime(nil).IsZero() || twilioclient.Deref(nil) != "" || twilioclient.Deref(&bad) != bad {
		t.Error("unreadable or missing values")
	}
}
