// Package vendorfake is what the in-process fakes of vendor APIs
// (twiliofake, sendgridfake) share: serving on a loopback port, the record
// of the calls answered with their status, the rate limit and forced
// throttling of one principal, and the creation order of keys.
package vendorfake

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"
)

// Listener serves a fake's handler in the background. The zero value with
// Name set is ready; it is safe for concurrent use.
type Listener struct {
	// Name prefixes its errors (the fake's package name).
	Name string

	mu  sync.Mutex
	srv *http.Server
	url string
}

// Start listens on addr (for example "127.0.0.1:0") and serves h in the
// background. It returns the base URL, e.g. "http://127.0.0.1:43121".
func (l *Listener) Start(addr string, h http.Handler) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.srv != nil {
		return "", errors.New(l.Name + ": server already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w", addr, err)
	}
	l.srv = &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	l.url = "http://" + ln.Addr().String()
	go func(srv *http.Server) { _ = srv.Serve(ln) }(l.srv)
	return l.url, nil
}

// Close stops a server started with Start. It is a no-op otherwise.
func (l *Listener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.srv == nil {
		return nil
	}
	err := l.srv.Close()
	l.srv = nil
	if err != nil {
		return fmt.Errorf("close server: %w", err)
	}
	return nil
}

// URL returns the base URL of the last Start ("" before it).
func (l *Listener) URL() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.url
}

// Serve calls serve with a writer that remembers the status written, and
// returns that status (200 when serve wrote none).
func Serve(w http.ResponseWriter, serve func(w http.ResponseWriter)) int {
	sw := &statusWriter{ResponseWriter: w}
	serve(sw)
	if sw.status == 0 {
		return http.StatusOK
	}
	return sw.status
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Calls records the calls a fake answered, in order. The zero value is
// ready; it is safe for concurrent use.
type Calls[C any] struct {
	mu    sync.Mutex
	calls []C
}

// Add records c.
func (l *Calls[C]) Add(c C) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, c)
}

// All returns a copy of the calls recorded since the start or the last
// Reset, in order.
func (l *Calls[C]) All() []C {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]C(nil), l.calls...)
}

// Reset forgets the recorded calls.
func (l *Calls[C]) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = nil
}

// RateLimit allows Requests requests per Window (fixed windows). The zero
// value is no limit.
type RateLimit struct {
	Requests int
	Window   time.Duration
}

// Limiter is one principal's rate limit and forced throttling. It is not
// safe for concurrent use: the fake's lock guards it.
type Limiter struct {
	limit         RateLimit
	windowStart   time.Time
	windowCount   int
	throttleNext  int
	throttleAfter time.Duration
}

// Set replaces the rate limit and starts a new window.
func (l *Limiter) Set(limit RateLimit) {
	l.limit, l.windowStart, l.windowCount = limit, time.Time{}, 0
}

// ThrottleNext refuses the next n requests, asking to retry after
// retryAfter, whatever the rate limit says.
func (l *Limiter) ThrottleNext(n int, retryAfter time.Duration) {
	l.throttleNext, l.throttleAfter = n, retryAfter
}

// Take counts a request made at now. When it is refused, limited is true,
// retryAt is when the client may try again and limit is the limit to
// report (the rate limit's Requests, at least 1 while forced throttling
// refuses it).
func (l *Limiter) Take(now time.Time) (limited bool, retryAt time.Time, limit int) {
	if l.throttleNext > 0 {
		l.throttleNext--
		return true, now.Add(l.throttleAfter), max(l.limit.Requests, 1)
	}
	if l.limit.Requests <= 0 || l.limit.Window <= 0 {
		return false, time.Time{}, 0
	}
	if l.windowStart.IsZero() || !now.Before(l.windowStart.Add(l.limit.Window)) {
		l.windowStart, l.windowCount = now, 0
	}
	if l.windowCount >= l.limit.Requests {
		return true, l.windowStart.Add(l.limit.Window), l.limit.Requests
	}
	l.windowCount++
	return false, time.Time{}, 0
}

// InOrder returns the values of m sorted by seq (creation order).
func InOrder[K any](m map[string]*K, seq func(*K) uint64) []*K {
	out := make([]*K, 0, len(m))
	for _, k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return seq(out[i]) < seq(out[j]) })
	return out
}

// Refuse closes req's body and returns err: a request a fake's transport
// does not carry (a test must never reach the real API).
func Refuse(req *http.Request, err error) (*http.Response, error) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return nil, err
}

// Send sends req to the scheme and host of base, keeping method, path,
// query, headers and body, through rt (http.DefaultTransport when nil). A
// base that does not parse refuses req with badBase of the parse error.
func Send(req *http.Request, base string, rt http.RoundTripper, badBase func(error) error) (*http.Response, error) {
	u, err := url.Parse(base)
	if err != nil {
		return Refuse(req, badBase(err))
	}
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host = u.Scheme, u.Host
	out.Host = u.Host
	if rt == nil {
		rt = http.DefaultTransport
	}
	return rt.RoundTrip(out)
}

// With runs fn, holding mu, on m's principal id (an account, a user), or
// returns missing when m has none.
func With[P any](mu *sync.Mutex, m map[string]*P, id string, missing error, fn func(p *P)) error {
	mu.Lock()
	defer mu.Unlock()
	p, ok := m[id]
	if !ok {
		return missing
	}
	fn(p)
	return nil
}
