package testutil

import (
	"errors"
	"fmt"
	"runtime"
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
