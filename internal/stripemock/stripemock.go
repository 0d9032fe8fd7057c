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
	"bufio"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
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
	var candidates []string
	if p := os.Getenv(EnvPath); p != "" {
		candidates = append(candidates, p)
	}
	if root, err := moduleRoot(); err == nil {
		candidates = append(candidates, filepath.Join(root, "bin", binName))
	}
	if p, err := exec.LookPath(binName); err == nil {
		candidates = append(candidates, p)
	}
	return find(candidates)
}

// find returns the first candidate that exists and is the pinned version.
func find(candidates []string) (string, error) {
	var wrong []string
	for _, p := range candidates {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		v, err := version(p)
		if err != nil {
			wrong = append(wrong, fmt.Sprintf("%s (%v)", p, err))
			continue
		}
		if v != Version {
			wrong = append(wrong, fmt.Sprintf("%s is %s", p, v))
			continue
		}
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

// moduleRoot finds the directory holding go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Process is a running stripe-mock.
type Process struct {
	// URL is the HTTP base URL, e.g. "http://127.0.0.1:41234", to pass to
	// stripe.BackendConfig.URL.
	URL string

	cmd  *exec.Cmd
	log  *capped
	done chan struct{}
	once sync.Once
}

// Start runs the stripe-mock at path with HTTP and HTTPS on free loopback
// ports (stripe-mock opens HTTPS on all interfaces at :12112 unless told
// otherwise, so both are pinned to 127.0.0.1) and returns once it listens.
// The process stops when ctx is done or Close is called.
func Start(ctx context.Context, path string) (*Process, error) {
	cmd := exec.CommandContext(ctx, path, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("stripe-mock stdout: %w", err)
	}
	p := &Process{cmd: cmd, log: &capped{}, done: make(chan struct{})}
	cmd.Stderr = p.log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start stripe-mock %s: %w", path, err)
	}
	urls := make(chan string, 1)
	go func() {
		// Keep reading to the end: stripe-mock prints a line per request and
		// would block on a full pipe otherwise.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			_, _ = p.log.Write([]byte(line + "\n"))
			if addr, ok := strings.CutPrefix(line, "Listening for HTTP at address: "); ok {
				select {
				case urls <- "http://" + strings.TrimSpace(addr):
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(p.done)
	}()
	select {
	case u := <-urls:
		p.URL = u
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("stripe-mock exited at start: %s", p.Logs())
	case <-time.After(startTimeout):
		_ = p.Close()
		return nil, fmt.Errorf("stripe-mock did not report its HTTP address within %v: %s", startTimeout, p.Logs())
	}
}

// Logs returns the last output of the process (bounded).
func (p *Process) Logs() string { return p.log.String() }

// Close stops the process and waits for it. It is safe to call twice.
func (p *Process) Close() error {
	p.once.Do(func() {
		if p.cmd.Process != nil {
			_ = p.cmd.Process.Kill()
		}
	})
	<-p.done
	return nil
}

// StartT starts the pinned stripe-mock for a test and stops it in
// t.Cleanup. It returns the base URL. When the binary is missing it fails the
// test in CI (CI set) and skips it elsewhere, naming the install command
// either way.
func StartT(t testing.TB) string {
	t.Helper()
	path, err := Find()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	p, err := Start(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p.URL
}

// capped keeps the last maxLog bytes written to it.
type capped struct {
	mu sync.Mutex
	b  []byte
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.b = append(c.b, p...)
	if over := len(c.b) - maxLog; over > 0 {
		c.b = append(c.b[:0], c.b[over:]...)
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.b)
}
