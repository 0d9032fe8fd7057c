package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/internal/testutil"
)

// TestCLIEmulatorRefusesUnwritableState: an unusable --state path stops the
// emulator at start with a non-zero exit status (exitFailed) and a message
// naming the path and the flag, instead of serving and silently keeping
// nothing.
func TestCLIEmulatorRefusesUnwritableState(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, path string
	}{
		{"missing directory", filepath.Join(dir, "missing", "state.json")},
		{"a directory", dir},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out testutil.SyncBuffer
			code := run(context.Background(), []string{"emulator", "--addr", "127.0.0.1:0", "--state", c.path}, &out, &out)
			if code != exitFailed || !strings.Contains(out.String(), c.path) || !strings.Contains(out.String(), "--state") {
				t.Fatalf("exit %d, output %q; want exit %d naming %s and --state", code, out.String(), exitFailed, c.path)
			}
			if strings.Contains(out.String(), "listening") {
				t.Fatal("the emulator started serving")
			}
		})
	}
}
