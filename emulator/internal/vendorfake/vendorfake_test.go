package vendorfake

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestListener(t *testing.T) {
	l := &Listener{Name: "somefake"}
	if l.URL() != "" {
		t.Fatalf("URL before Start = %q, want empty", l.URL())
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close before Start = %v, want nil", err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, "hi "+r.URL.Path)
	})
	url, err := l.Start("127.0.0.1:0", h)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	if !strings.HasPrefix(url, "http://127.0.0.1:") || l.URL() != url {
		t.Fatalf("Start = %q, URL = %q", url, l.URL())
	}
	if _, err := l.Start("127.0.0.1:0", h); err == nil || err.Error() != "somefake: server already started" {
		t.Fatalf("second Start = %v, want %q", err, "somefake: server already started")
	}
	resp, err := http.Get(url + "/x")
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot || string(body) != "hi /x" {
		t.Fatalf("GET = %d %q", resp.StatusCode, body)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := http.Get(url + "/x"); err == nil {
		t.Fatal("GET after Close succeeded")
	}
	if _, err := l.Start("127.0.0.1:0", h); err != nil {
		t.Fatalf("Start after Close: %v", err)
	}
}

type recorder struct {
	http.ResponseWriter
	h http.Header
}

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(int)             {}

func TestServeStatus(t *testing.T) {
	tests := []struct {
		name  string
		serve func(w http.ResponseWriter)
		want  int
	}{
		{"nothing written", func(http.ResponseWriter) {}, http.StatusOK},
		{"body only", func(w http.ResponseWriter) { _, _ = w.Write([]byte("x")) }, http.StatusOK},
		{"status", func(w http.ResponseWriter) { w.WriteHeader(http.StatusTooManyRequests) }, http.StatusTooManyRequests},
		{"first status wins", func(w http.ResponseWriter) { w.WriteHeader(http.StatusNotFound); w.WriteHeader(http.StatusOK) }, http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Serve(&recorder{h: http.Header{}}, tc.serve); got != tc.want {
				t.Fatalf("Serve = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestCalls(t *testing.T) {
	var c Calls[string]
	c.Add("a")
	c.Add("b")
	got := c.All()
	got[0] = "changed"
	if fmt.Sprint(c.All()) != "[a b]" {
		t.Fatalf("All = %v, want [a b] (a copy)", c.All())
	}
	c.Reset()
	if len(c.All()) != 0 {
		t.Fatalf("All after Reset = %v", c.All())
	}
}

func TestLimiter(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	type take struct {
		at      time.Duration // since t0
		limited bool
		retryAt time.Duration // since t0, when limited
		limit   int
	}
	tests := []struct {
		name     string
		limit    RateLimit
		throttle int
		after    time.Duration
		takes    []take
	}{
		{"no limit", RateLimit{}, 0, 0, []take{{0, false, 0, 0}, {0, false, 0, 0}}},
		{"window", RateLimit{Requests: 2, Window: 10 * time.Second}, 0, 0, []take{
			{0, false, 0, 0}, {time.Second, false, 0, 0}, {2 * time.Second, true, 10 * time.Second, 2},
			{10 * time.Second, false, 0, 0}}},
		{"forced throttling without a limit", RateLimit{}, 2, 3 * time.Second, []take{
			{0, true, 3 * time.Second, 1}, {time.Second, true, 4 * time.Second, 1}, {time.Second, false, 0, 0}}},
		{"forced throttling with a limit", RateLimit{Requests: 5, Window: time.Minute}, 1, time.Second, []take{
			{0, true, time.Second, 5}, {0, false, 0, 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var l Limiter
			l.Set(tc.limit)
			l.ThrottleNext(tc.throttle, tc.after)
			for i, want := range tc.takes {
				limited, retryAt, limit := l.Take(t0.Add(want.at))
				if limited != want.limited || (limited && (!retryAt.Equal(t0.Add(want.retryAt)) || limit != want.limit)) {
					t.Fatalf("take %d = %v %s %d, want %+v", i, limited, retryAt.Sub(t0), limit, want)
				}
			}
		})
	}
}

func TestInOrder(t *testing.T) {
	type k struct{ seq uint64 }
	m := map[string]*k{"c": {3}, "a": {1}, "b": {2}}
	got := InOrder(m, func(x *k) uint64 { return x.seq })
	if len(got) != 3 || got[0].seq != 1 || got[1].seq != 2 || got[2].seq != 3 {
		t.Fatalf("InOrder = %v", got)
	}
}

type closeBody struct {
	io.Reader
	closed bool
}

func (b *closeBody) Close() error { b.closed = true; return nil }

func TestSend(t *testing.T) {
	l := &Listener{Name: "somefake"}
	url, err := l.Start("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, r.Method+" "+r.Host+" "+r.URL.RequestURI()+" "+r.Header.Get("X-Test")+" "+string(body))
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	req, _ := http.NewRequest(http.MethodPost, "https://api.vendor.example/v1/keys?page=2", strings.NewReader("name=x"))
	req.Header.Set("X-Test", "kept")
	resp, err := Send(req, url, nil, func(err error) error { return err })
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	host := strings.TrimPrefix(url, "http://")
	if want := "POST " + host + " /v1/keys?page=2 kept name=x"; string(got) != want {
		t.Fatalf("the fake saw %q, want %q", got, want)
	}

	body := &closeBody{Reader: strings.NewReader("x")}
	req, _ = http.NewRequest(http.MethodPost, "https://api.vendor.example/v1/keys", body)
	_, err = Send(req, "http://%zz", nil, func(err error) error { return fmt.Errorf("somefake: endpoint: %w", err) })
	if err == nil || !strings.HasPrefix(err.Error(), "somefake: endpoint: ") || !body.closed {
		t.Fatalf("Send to a bad base = %v (body closed: %v), want the badBase error and the body closed", err, body.closed)
	}

	body = &closeBody{Reader: strings.NewReader("x")}
	req, _ = http.NewRequest(http.MethodPost, "https://elsewhere.example/", body)
	if _, err := Refuse(req, errors.New("no endpoint")); err == nil || err.Error() != "no endpoint" || !body.closed {
		t.Fatalf("Refuse = %v (body closed: %v)", err, body.closed)
	}
}

func TestWith(t *testing.T) {
	type acct struct{ n int }
	var mu sync.Mutex
	m := map[string]*acct{"a": {}}
	missing := errors.New("no such account")
	if err := With(&mu, m, "a", missing, func(a *acct) { a.n++ }); err != nil || m["a"].n != 1 {
		t.Fatalf("With on a known id = %v, n = %d", err, m["a"].n)
	}
	called := false
	if err := With(&mu, m, "b", missing, func(*acct) { called = true }); err != missing || called {
		t.Fatalf("With on an unknown id = %v (fn called: %v), want the missing error", err, called)
	}
	if !mu.TryLock() {
		t.Fatal("With left the lock held")
	}
}
