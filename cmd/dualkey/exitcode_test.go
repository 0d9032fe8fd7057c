package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/dualkey/dualkey/shared/lifecycle"
)

// Each exit code means the same for every command: a check's finding is 1,
// a refusal that protects a credential is 3 (a wrapped sentinel, as the
// lifecycle returns it), a failure 4.
func TestExitCodes(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{errOrphans, exitOrphans},
		{errScheduleFindings, exitOrphans},
		{lifecycle.ErrCannotAudit, exitCannotAudit},
		{errNeedsYes, exitRefused},
		{lifecycle.ErrLeakedCredential, exitRefused},
		{lifecycle.ErrOutsideRollbackWindow, exitRefused},
		{lifecycle.ErrNothingToRollBack, exitRefused},
		{lifecycle.ErrNothingToCancel, exitRefused},
		{lifecycle.ErrCancelUnsafe, exitRefused},
		{lifecycle.ErrRotationIncomplete, exitRefused},
		{errStageRefused, exitRefused},
		{lifecycle.ErrBadSetting, exitFailed},
		{errors.New("AccessDeniedException"), exitFailed},
	}
	for _, c := range cases {
		if got := exitCode(fmt.Errorf("secret x: %w: details", c.err)); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
