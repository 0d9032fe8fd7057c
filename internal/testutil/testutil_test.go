package testutil

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records failures and skips; like the real
// ones Fatal, Fatalf and Skip end the goroutine that calls them.
type recorder struct {
	testing.TB
	fatal, skip string
	errs        []string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatal(args ...any) {
	r.fatal = fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Skip(args ...any) {
	r.skip = fmt.Sprint(args...)
	runtime.Goexit()
}

// run calls f with a recorder in a goroutine of its own and returns the
// recorder once f returned or ended it.
func run(t *testing.T, f func(r *recorder)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

// TestUnavailable: a missing tool fails the test in CI and skips it
// elsewhere, with the error (which names the install command) either way.
func TestUnavailable(t *testing.T) {
	err := errors.New("tool not found: run `make tools`")
	tests := []struct {
		ci          string
		fatal, skip string
	}{
		{"true", err.Error(), ""},
		{"1", err.Error(), ""},
		{"", "", err.Error()},
	}
	for _, tc := range tests {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := run(t, func(r *recorder) { Unavailable(r, err) })
			if r.fatal != tc.fatal || r.skip != tc.skip {
				t.Fatalf("fatal %q skip %q, want fatal %q skip %q", r.fatal, r.skip, tc.fatal, tc.skip)
			}
		})
	}
}

func TestNeed(t *testing.T) {
	t.Setenv("CI", "")
	var got string
	r := run(t, func(r *recorder) { got = Need(r, func() (string, error) { return "/bin/tool", nil }) })
	if got != "/bin/tool" || r.fatal != "" || r.skip != "" {
		t.Fatalf("found: %q, fatal %q, skip %q", got, r.fatal, r.skip)
	}
	got = "unchanged"
	r = run(t, func(r *recorder) {
		got = Need(r, func() (string, error) { return "", errors.New("tool not found: run `make tools`") })
	})
	if got != "unchanged" || r.skip != "tool not found: run `make tools`" || r.fatal != "" {
		t.Fatalf("missing: returned %q, fatal %q, skip %q", got, r.fatal, r.skip)
	}
}

func TestErrorContains(t *testing.T) {
	err := errors.New("prism not found in $X: run `npm ci`")
	tests := []struct {
		name  string
		err   error
		parts []string
		fatal bool
		errs  int
	}{
		{"all there", err, []string{"not found in", "npm ci"}, false, 0},
		{"no parts", err, nil, false, 0},
		{"one missing", err, []string{"not found in", "make tools"}, false, 1},
		{"both missing", err, []string{"a", "b"}, false, 2},
		{"no error", nil, []string{"x"}, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, func(r *recorder) { ErrorContains(r, tc.err, tc.parts...) })
			if (r.fatal != "") != tc.fatal || len(r.errs) != tc.errs {
				t.Fatalf("fatal %q, errors %q", r.fatal, r.errs)
			}
		})
	}
}

// TestWireRecorder: every request body reaches the server intact and is
// recorded, one a line; a request without a body records nothing.
func TestWireRecorder(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, string(b))
	}))
	defer srv.Close()
	rec := &WireRecorder{}
	c := rec.Client()
	for _, body := range []string{`{"a":1}`, `{"secret":"s3cr3t"}`} {
		resp, err := c.Post(srv.URL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "{\"a\":1}\n{\"secret\":\"s3cr3t\"}\n"; rec.String() != want {
		t.Fatalf("recorded %q, want %q", rec.String(), want)
	}
	if len(got) != 3 || got[0] != `{"a":1}` || got[1] != `{"secret":"s3cr3t"}` || got[2] != "" {
		t.Fatalf("the server received %q", got)
	}
}
