// Package testutil holds the small helpers dualkey's tests share: a clock
// that only moves when told to, a goroutine-safe buffer for log sinks, a
// transport that records what crosses the wire, the rule for a tool a test
// needs but cannot find, and an error check.
package testutil

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// FakeClock is an injectable clock that only moves when told to. It is safe
// for concurrent use.
type FakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewFakeClock returns a clock standing at t.
func NewFakeClock(t time.Time) *FakeClock { return &FakeClock{t: t} }

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WireRecorder is an http.RoundTripper that keeps the body of every request
// it passes on, one a line, so a test can look for a credential in what
// crossed the wire. It is safe for concurrent use.
type WireRecorder struct {
	// Base carries the requests; nil means http.DefaultTransport.
	Base http.RoundTripper

	mu  sync.Mutex
	all bytes.Buffer
}

var _ http.RoundTripper = (*WireRecorder)(nil)

// RoundTrip records req's body and passes req on to Base.
func (r *WireRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(b))
		r.mu.Lock()
		r.all.Write(b)
		r.all.WriteByte('\n')
		r.mu.Unlock()
	}
	base := r.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(req)
}

// String returns every request body recorded so far, one a line.
func (r *WireRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.all.String()
}

// Client returns an HTTP client whose requests r records.
func (r *WireRecorder) Client() *http.Client { return &http.Client{Transport: r} }

// Unavailable is what a test does when a tool it needs is missing: it fails
// t in CI (the CI environment variable set), where every tool must be
// installed, and skips it elsewhere. err should say what is missing and name
// the command that installs it.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(err)
	}
	t.Skip(err)
}

// Need returns the path of the tool find finds for a test; when find fails,
// the test fails in CI and is skipped elsewhere (Unavailable) with find's
// error, which should name the install command.
func Need(t testing.TB, find func() (string, error)) string {
	t.Helper()
	path, err := find()
	if err != nil {
		Unavailable(t, err)
	}
	return path
}

// ErrorContains fails t unless err is an error whose message contains every
// one of parts.
func ErrorContains(t testing.TB, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, part := range parts {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not contain %q", err, part)
		}
	}
}
