// Package stripemock finds and runs stripe-mock, Stripe's own mock of its API
// (github.com/stripe/stripe-mock), on loopback for tests. stripe-mock checks
// every request against Stripe's OpenAPI spec and answers with fixtures of
// the right shape; it is stateless and accepts any key that looks like
// sk_test_<x> or rk_test_<x>.
//
// The binary is installed at a pinned version into ./bin of the module root
// (`make tools`), or found on PATH. Find checks the version recorded in the
// binary's build information, so a stale install is reported instead of
// silently used.
package stripemock

import (
	"context"
	"debug/buildinfo"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dualkey/dualkey/internal/proc"
	"github.com/dualkey/dualkey/internal/testutil"
)

// Module and Version pin the stripe-mock the tests run.
const (
	Module  = "github.com/stripe/stripe-mock"
	Version = "v0.203.0"
)

// InstallCommand installs the pinned stripe-mock into ./bin (run it in the
// module root; `make tools` runs it for you).
const InstallCommand = "GOBIN=$PWD/bin go install " + Module + "@" + Version

// EnvPath names an environment variable that may point at the binary.
const EnvPath = "DUALKEY_STRIPE_MOCK"

// binName is the executable's name.
const binName = "stripe-mock"

// startTimeout bounds how long Start waits for the listening line.
const startTimeout = 20 * time.Second

// maxLog bounds the output kept from the process (it logs every request).
const maxLog = 64 << 10

// Find returns the stripe-mock to use: $DUALKEY_STRIPE_MOCK, ./bin of the
// module root, or PATH. It fails if none exists or if the one found is not
// the pinned version; the error names the install command.
func Find() (string, error) {
	return find(proc.Candidates(EnvPath, "bin/"+binName, binName))
}

// find returns the first candidate that exists and is the pinned version.
func find(candidates []string) (string, error) {
	p, wrong := proc.FindPinned(candidates, Version, version)
	if p != "" {
		return p, nil
	}
	if len(wrong) > 0 {
		return "", fmt.Errorf("stripe-mock %s not found (%s): run `make tools` or, in the module root, `%s`", Version, strings.Join(wrong, "; "), InstallCommand)
	}
	return "", fmt.Errorf("stripe-mock not found in $%s, ./bin or PATH: run `make tools` or, in the module root, `%s`", EnvPath, InstallCommand)
}

// version reads the module version go install recorded in the binary.
func version(path string) (string, error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read build info: %w", err)
	}
	if bi.Main.Path != Module {
		return "", fmt.Errorf("binary is module %q, not %s", bi.Main.Path, Module)
	}
	return bi.Main.Version, nil
}

// Process is a running stripe-mock.
type Process struct {
	// URL is the HTTP base URL, e.g. "http://127.0.0.1:41234", to pass to
	// stripe.BackendConfig.URL.
	URL string

	proc *proc.Process
}

// Start runs the stripe-mock at path with HTTP and HTTPS on free loopback
// ports (stripe-mock opens HTTPS on all interfaces at :12112 unless told
// otherwise, so both are pinned to 127.0.0.1) and returns once it listens.
// The process stops when ctx is done or Close is called.
func Start(ctx context.Context, path string) (*Process, error) {
	cmd := exec.CommandContext(ctx, path, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	urls := make(chan string, 1)
	seeAddr := func(line string) bool {
		if addr, ok := strings.CutPrefix(line, "Listening for HTTP at address: "); ok {
			select {
			case urls <- "http://" + strings.TrimSpace(addr):
			default:
			}
		}
		return true
	}
	pr, err := proc.Start(cmd, proc.Options{Name: "stripe-mock", MaxLog: maxLog, Line: seeAddr})
	if err != nil {
		return nil, err
	}
	u, err := proc.Await(pr, urls, startTimeout, "report its HTTP address")
	if err != nil {
		return nil, err
	}
	return &Process{URL: u, proc: pr}, nil
}

// Logs returns the last output of the process (bounded).
func (p *Process) Logs() string { return p.proc.Logs() }

// Close stops the process and waits for it. It is safe to call twice.
func (p *Process) Close() error { return p.proc.Close() }

// StartT starts the pinned stripe-mock for a test and stops it in
// t.Cleanup. It returns the base URL. When the binary is missing it fails the
// test in CI (CI set) and skips it elsewhere, naming the install command
// either way.
func StartT(t testing.TB) string {
	t.Helper()
	p, err := Start(context.Background(), testutil.Need(t, Find))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p.URL
}
