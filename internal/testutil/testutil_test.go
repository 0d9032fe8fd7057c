package testutil

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
)

// recorder is a testing.TB that records Fatal and Skip; like the real ones
// they end the goroutine that calls them.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatal(args ...any) {
	r.fatal = fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recorder) Skip(args ...any) {
	r.skip = fmt.Sprint(args...)
	runtime.Goexit()
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
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Unavailable(r, err)
			}()
			<-done
			if r.fatal != tc.fatal || r.skip != tc.skip {
				t.Fatalf("fatal %q skip %q, want fatal %q skip %q", r.fatal, r.skip, tc.fatal, tc.skip)
			}
		})
	}
}
