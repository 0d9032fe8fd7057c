package lifecycle_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dualkey/dualkey/shared/lifecycle"
)

// Issue 6 item 10: IAM reports the last use to the minute. A use at
// 12:33:27 is reported as 12:33:00; it must count as a use at the end of
// that minute, and a quiet period shorter than a minute cannot be proved.
func TestIAMLastUsedIsMinuteGranular(t *testing.T) {
	cases := []struct {
		name      string
		quiet     string
		runAfter  time.Duration // after the use at 12:33:27
		wantErr   string
		wantState string
	}{
		{"quiet shorter than IAM's minute is refused", "30s", 15 * time.Second, lifecycle.TagQuiet, ""},
		{"used 43s ago within a 1m quiet period", "1m", 43 * time.Second, "", lifecycle.StateInUse},
		{"used 2m ago, 1m quiet period over", "1m", 2 * time.Minute, "", lifecycle.StateDeactivated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newIAMWorld(t, map[string]string{lifecycle.TagDrain: "1h", lifecycle.TagQuiet: c.quiet})
			w.rotate()
			w.clock.Advance(2*time.Hour + 33*time.Minute + 27*time.Second) // 12:33:27
			if err := w.useFirstKey(); err != nil {
				t.Fatal(err)
			}
			w.clock.Advance(c.runAfter)
			rep, err := w.lc.Retire(context.Background(), w.arn, lifecycle.Options{})
			if c.wantErr != "" {
				if !errors.Is(err, lifecycle.ErrBadSetting) || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), "1m0s") {
					t.Fatalf("got %v, want a bad-setting error naming %s and IAM's granularity\n%s", err, c.wantErr, rep)
				}
				if w.keys()[w.firstID] != "Active" {
					t.Fatal("refused run changed the key")
				}
				return
			}
			if err != nil || rep.State != c.wantState {
				t.Fatalf("got %v state %q, want %q\n%s", err, rep.State, c.wantState, rep)
			}
		})
	}
}
