package vendorhttp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/vendorhttp"
)

// vendor is a loopback HTTP server standing in for a vendor's API: it
// answers 429 (with the headers a test sets) to the first n requests and
// 200 with the request's body afterwards, and records what it saw.
type vendor struct {
	srv *httptest.Server

	mu      sync.Mutex
	limited int         // 429s left to answer
	headers http.Header // on each 429
	bodies  []string
	hosts   []string
	ctxDone []bool // whether the request's context was already done
}

func newVendor(t *testing.T, limited int, headers http.Header) *vendor {
	t.Helper()
	v := &vendor{limited: limited, headers: headers}
	v.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		v.mu.Lock()
		v.bodies = append(v.bodies, string(b))
		v.hosts = append(v.hosts, r.Host)
		limited := v.limited > 0
		if limited {
			v.limited--
		}
		v.mu.Unlock()
		if limited {
			for k, vs := range v.headers {
				w.Header()[k] = vs
			}
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"message":"slow down"}`))
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(v.srv.Close)
	return v
}

func (v *vendor) requests() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.bodies)
}

// sleeper records the waits and moves a fake clock instead of sleeping.
type sleeper struct {
	clock  *testutil.FakeClock
	mu     sync.Mutex
	waited []time.Duration
}

func (s *sleeper) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waited = append(s.waited, d)
	s.mu.Unlock()
	s.clock.Advance(d)
	return ctx.Err()
}

// newSleeper starts its clock an hour ahead of the real one, so that a
// deadline set on it does not expire for real during the test.
func newSleeper() *sleeper {
	return &sleeper{clock: testutil.NewFakeClock(time.Now().Add(time.Hour))}
}

// TestRateLimitDo: 429s are retried after the wait they ask for, with a
// fresh request each time, while the waits fit the deadline (less the
// margin) and at most MaxRateLimitRetries times; otherwise the last 429 is
// returned.
func TestRateLimitDo(t *testing.T) {
	tests := []struct {
		name        string
		limited     int
		retryAfter  string
		deadline    time.Duration // 0: none
		wantStatus  int
		wantWaits   int
		wantWaitEch time.Duration
	}{
		{"one 429", 1, "3", 0, 200, 1, 3 * time.Second},
		{"no Retry-After", 2, "", 0, 200, 2, time.Second},
		{"retries run out", 10, "1", 0, 429, vendorhttp.MaxRateLimitRetries, time.Second},
		{"wait beyond the deadline", 1, "9", 10 * time.Second, 429, 0, 0},
		{"wait within the deadline", 2, "4", 10 * time.Second, 200, 2, 4 * time.Second},
		{"waits beyond MaxRateLimitWait", 3, "25", 0, 429, 2, 25 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.retryAfter != "" {
				h.Set("Retry-After", tc.retryAfter)
			}
			v := newVendor(t, tc.limited, h)
			s := newSleeper()
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, s.clock.Now().Add(tc.deadline))
				defer cancel()
			}
			l := vendorhttp.RateLimit{Sleep: s.Sleep, Now: s.clock.Now}
			resp, waited, err := l.Do(ctx, func() (*http.Response, error) {
				return http.Post(v.srv.URL, "text/plain", strings.NewReader("payload"))
			})
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || len(s.waited) != tc.wantWaits || waited != time.Duration(tc.wantWaits)*tc.wantWaitEch {
				t.Fatalf("status %d after waits %v (total %s); want %d after %d of %s", resp.StatusCode, s.waited, waited, tc.wantStatus, tc.wantWaits, tc.wantWaitEch)
			}
			for _, w := range s.waited {
				if w != tc.wantWaitEch {
					t.Fatalf("waits %v, want %s each", s.waited, tc.wantWaitEch)
				}
			}
			if v.requests() != tc.wantWaits+1 {
				t.Fatalf("%d requests for %d waits", v.requests(), tc.wantWaits)
			}
		})
	}
}

// TestRateLimitCancelled: a wait cut short by the context ends Do with the
// context's error; an error from send ends it at once.
func TestRateLimitCancelled(t *testing.T) {
	v := newVendor(t, 5, nil)
	ctx, cancel := context.WithCancel(context.Background())
	clock := testutil.NewFakeClock(time.Now())
	l := vendorhttp.RateLimit{Now: clock.Now, Sleep: func(ctx context.Context, d time.Duration) error { cancel(); return ctx.Err() }}
	resp, _, err := l.Do(ctx, func() (*http.Response, error) { return http.Get(v.srv.URL) })
	if resp != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, %v; want context.Canceled", resp, err)
	}
	boom := errors.New("dial failed")
	calls := 0
	if _, _, err := l.Do(context.Background(), func() (*http.Response, error) { calls++; return nil, boom }); !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("send error: %v after %d calls", err, calls)
	}
}

// TestClient: the client puts the step's context on requests made with
// context.Background() (as twilio-go makes them), sends a vendor host to
// its replacement, replays the body on a retry, does not retry a body it
// cannot replay, and does not follow redirects.
func TestClient(t *testing.T) {
	h := http.Header{}
	h.Set("Retry-After", "1")
	v := newVendor(t, 1, h)
	s := newSleeper()
	to, _ := url.Parse(v.srv.URL)
	cfg := vendorhttp.Config{Hosts: map[string]*url.URL{"api.vendor.example": to}, Timeout: time.Minute,
		RateLimit: vendorhttp.RateLimit{Sleep: s.Sleep, Now: s.clock.Now}}

	ctx, cancel := context.WithCancel(context.Background())
	hc := cfg.Client(ctx)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "https://API.vendor.example/v1/keys", strings.NewReader("body-1"))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != "body-1" || strings.Join(v.bodies, ",") != "body-1,body-1" || v.hosts[1] != to.Host {
		t.Fatalf("retried request: %d %q, vendor saw bodies %q hosts %q", resp.StatusCode, got, v.bodies, v.hosts)
	}

	// A body without GetBody cannot be replayed: the 429 is returned.
	v.mu.Lock()
	v.limited = 1
	v.mu.Unlock()
	req, _ = http.NewRequest(http.MethodPost, "https://api.vendor.example/v1/keys", io.MultiReader(strings.NewReader("once")))
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || v.requests() != 3 {
		t.Fatalf("unreplayable body: %d after %d requests", resp.StatusCode, v.requests())
	}

	// The step's context reaches a request made without it.
	cancel()
	req, _ = http.NewRequestWithContext(context.Background(), http.MethodGet, "https://api.vendor.example/v1/keys", nil)
	if _, err := hc.Do(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("request after the step's context ended: %v, want context.Canceled", err)
	}

	// Redirects are answers, not followed (Plain too).
	redirect := httptest.NewServer(http.RedirectHandler("https://elsewhere.example/", http.StatusFound))
	defer redirect.Close()
	for name, c := range map[string]*http.Client{"Client": cfg.Client(context.Background()), "Plain": cfg.Plain()} {
		resp, err := c.Get(redirect.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("%s followed a redirect: %d", name, resp.StatusCode)
		}
	}
}

// TestRetryAfter: Retry-After in seconds or as a date, then the reset
// header when one is named, then a second.
func TestRetryAfter(t *testing.T) {
	now := time.Unix(1_700_000_000, 0).UTC()
	reset := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	tests := []struct {
		retryAfter, reset, resetHeader string
		want                           time.Duration
	}{
		{"", "", "", time.Second},
		{"7", "", "", 7 * time.Second},
		{"0", "", "", 0},
		{"-3", "", "", time.Second},
		{"soon", "", "", time.Second},
		{now.Add(90 * time.Second).Format(http.TimeFormat), "", "", 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), "", "", 0},
		{"", reset(9 * time.Second), "", time.Second},
		{"", reset(9 * time.Second), "X-RateLimit-Reset", 9 * time.Second},
		{"", reset(-9 * time.Second), "X-RateLimit-Reset", 0},
		{"2", reset(9 * time.Second), "X-RateLimit-Reset", 2 * time.Second},
		{"-3", reset(9 * time.Second), "X-RateLimit-Reset", 9 * time.Second},
		{"", "soon", "X-RateLimit-Reset", time.Second},
	}
	for _, tc := range tests {
		h := http.Header{}
		if tc.retryAfter != "" {
			h.Set("Retry-After", tc.retryAfter)
		}
		if tc.reset != "" {
			h.Set("X-RateLimit-Reset", tc.reset)
		}
		if got := vendorhttp.RetryAfter(h, now, tc.resetHeader); got != tc.want {
			t.Errorf("Retry-After %q, reset %q (%q): %s, want %s", tc.retryAfter, tc.reset, tc.resetHeader, got, tc.want)
		}
	}
}

// TestHosts: https base URLs, http on loopback only, no path, query or
// user info (whose password never shows); the vendor's own URL maps
// nothing.
func TestHosts(t *testing.T) {
	tests := []struct {
		url     string
		wantErr string // "" = accepted
		mapped  string // the replacement, "" = none
	}{
		{"https://fake.example", "", "https://fake.example"},
		{"https://fake.example/", "", "https://fake.example"},
		{"http://127.0.0.1:8080", "", "http://127.0.0.1:8080"},
		{"http://localhost:1", "", "http://localhost:1"},
		{"http://[::1]:1", "", "http://[::1]:1"},
		{"https://api.vendor.example", "", ""},
		{"http://fake.example", "loopback only", ""},
		{"ftp://fake.example", "must be an https URL", ""},
		{"https://fake.example/v1", "such as https://api.vendor.example (no path", ""},
		{"https://fake.example?x=1", "no path, query or user info", ""},
		{"https://user:hunter2@fake.example", "no path, query or user info", ""},
		{"fake.example", "must be a base URL", ""},
	}
	for _, tc := range tests {
		hosts, err := vendorhttp.Hosts(vendorhttp.Endpoint{Host: "api.vendor.example", Setting: "DUALKEY_VENDOR_URL", URL: tc.url},
			vendorhttp.Endpoint{Host: "other.vendor.example", Setting: "DUALKEY_OTHER_URL"})
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "DUALKEY_VENDOR_URL") || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("%s: error %v, want one naming the setting and %q, without the password", tc.url, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		got := ""
		if u := hosts["api.vendor.example"]; u != nil {
			got = u.String()
		}
		if got != tc.mapped || len(hosts) > 1 {
			t.Errorf("%s: hosts %v, want api.vendor.example -> %q", tc.url, hosts, tc.mapped)
		}
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		v       string
		want    time.Duration
		wantErr bool
	}{
		{"", 0, false},
		{"1s", time.Second, false},
		{"5m", 5 * time.Minute, false},
		{"0s", 0, true},
		{"6m", 0, true},
		{"soon\x00\n", 0, true},
	}
	for _, tc := range tests {
		got, err := vendorhttp.Duration(func(string) string { return tc.v }, "DUALKEY_X_TIMEOUT", time.Second, 5*time.Minute, "20s")
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%q: %s, %v", tc.v, got, err)
		}
		if err != nil && (!strings.Contains(err.Error(), "DUALKEY_X_TIMEOUT") || !strings.Contains(err.Error(), "such as 20s") || strings.ContainsAny(err.Error(), "\x00\n")) {
			t.Errorf("%q: error %q does not name the setting and a good value, or shows control characters", tc.v, err)
		}
	}
}

func TestPrintable(t *testing.T) {
	if got := vendorhttp.Printable("a\x00b\nc\x7fd"); got != "a?b?c?d" {
		t.Errorf("control characters: %q", got)
	}
	if got := vendorhttp.Printable(strings.Repeat("x", 500)); got != strings.Repeat("x", 200)+"..." {
		t.Errorf("long string: %d bytes", len(got))
	}
}
