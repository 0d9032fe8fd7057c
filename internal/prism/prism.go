// Package prism runs Stoplight Prism (the npm package @stoplight/prism-cli),
// an OpenAPI validating proxy, on loopback for tests. Prism sits between a
// real client (twilio-go, net/http) and one of dualkey's stateful vendor
// fakes (emulator/twiliofake, emulator/sendgridfake): it checks every request
// against the vendor's official OpenAPI document before forwarding it, and
// every response the fake sends back, so a shape the real API would not
// accept or produce fails the test.
//
// Prism is pinned by package.json and package-lock.json in this directory and
// installed with `npm ci --prefix internal/prism` (`make tools` runs it).
// Find also accepts $DUALKEY_PRISM or a prism on PATH, after checking its
// version.
//
// Behaviour checked with Prism 5.16.0 and the five vendor documents:
//   - proxy mode forwards method, path, query, headers (Authorization and
//     on-behalf-of included) and body to the upstream unchanged; the vendor
//     documents' servers (https://api.twilio.com, https://iam.twilio.com,
//     https://accounts.twilio.com, https://api.sendgrid.com) have no base
//     path, so a request path is matched against the document's paths as is
//     (Prism ignores servers in proxy mode: with a server base path /base it
//     matches and forwards /things, and /base/things is not found);
//   - a request without the credentials a security scheme demands (HTTP basic
//     for Twilio, bearer for SendGrid) is answered by Prism itself with 401
//     application/problem+json and never forwarded; the credentials' values
//     are not checked (the fake does that);
//   - a request that breaks the document (path parameter pattern, form or JSON
//     body, query type) gets 422 application/problem+json and is not forwarded;
//   - with --errors, a response that breaks the document (a field of the wrong
//     type or pattern, a 2xx status the operation does not declare) is replaced
//     by 500 application/problem+json; the violations are listed in the
//     sl-violations header;
//   - a 4xx/5xx status the operation does not declare (Twilio's documents
//     declare no error responses at all, SendGrid's no 429) passes through
//     with a Warning in sl-violations.
//
// Checker turns all of that into Go errors and records warnings.
package prism

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dualkey/dualkey/internal/proc"
	"github.com/dualkey/dualkey/internal/testutil"
)

// Package and Version pin the Prism the tests run.
const (
	Package = "@stoplight/prism-cli"
	Version = "5.16.0"
)

// InstallCommand installs the pinned Prism from package-lock.json (run it in
// the module root; `make tools` runs it for you).
const InstallCommand = "npm ci --prefix internal/prism --ignore-scripts --no-audit --no-fund"

// EnvPath names an environment variable that may point at the prism
// executable.
const EnvPath = "DUALKEY_PRISM"

// startTimeout bounds how long Start waits for Prism to listen. Loading the
// 1.8 MB Twilio 2010 document takes about 3 s on the project's machines.
const startTimeout = 60 * time.Second

// maxLog bounds the output kept from the process.
const maxLog = 64 << 10

// localBin is where `npm ci --prefix internal/prism` puts the executable,
// relative to the module root.
var localBin = filepath.Join("internal", "prism", "node_modules", ".bin", "prism")

// Find returns the prism to use: $DUALKEY_PRISM, internal/prism/node_modules
// of the module root, or PATH. It fails if none exists or if the one found is
// not the pinned version; the error names the install command.
func Find() (string, error) {
	return find(proc.Candidates(EnvPath, filepath.ToSlash(localBin), "prism"))
}

// find returns the first candidate that exists and is the pinned version.
func find(candidates []string) (string, error) {
	p, wrong := proc.FindPinned(candidates, Version, version)
	if p != "" {
		return p, nil
	}
	if len(wrong) > 0 {
		return "", fmt.Errorf("prism %s not found (%s): run `make tools` or, in the module root, `%s`", Version, strings.Join(wrong, "; "), InstallCommand)
	}
	return "", fmt.Errorf("prism not found in $%s, %s or PATH: run `make tools` or, in the module root, `%s` (needs node and npm)", EnvPath, localBin, InstallCommand)
}

// version reads the version of the prism at path: from the package.json npm
// installed beside it when it is an npm .bin link (cheap), else by running
// `prism --version`.
func version(path string) (string, error) {
	if filepath.Base(filepath.Dir(path)) == ".bin" {
		pkg := filepath.Join(filepath.Dir(filepath.Dir(path)), "@stoplight", "prism-cli", "package.json")
		if b, err := os.ReadFile(pkg); err == nil {
			var meta struct {
				Name    string `json:"name"`
				Version string `json:"version"`
			}
			if err := json.Unmarshal(b, &meta); err != nil {
				return "", fmt.Errorf("read %s: %w", pkg, err)
			}
			if meta.Name != Package {
				return "", fmt.Errorf("%s names %q, not %s", pkg, meta.Name, Package)
			}
			return meta.Version, nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("run --version: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Process is a running `prism proxy`.
type Process struct {
	// URL is Prism's base URL on loopback, e.g. "http://127.0.0.1:41315".
	URL string
	// Spec is the OpenAPI document it validates against.
	Spec string
	// Startup is how long Prism took from exec to listening.
	Startup time.Duration

	proc *proc.Process
}

// listening is the line Prism prints once it accepts connections.
const listening = "Prism is listening on "

// Start runs `prism proxy -h 127.0.0.1 -p 0 SPEC UPSTREAM --errors` with the
// prism at bin, and returns once Prism listens (on a free loopback port it
// reports). upstream is the fake's base URL, e.g. "http://127.0.0.1:38211".
// The process stops when ctx is done or Close is called; it runs in its own
// process group, which Close kills.
func Start(ctx context.Context, bin, spec, upstream string) (*Process, error) {
	if _, err := os.Stat(spec); err != nil {
		return nil, fmt.Errorf("prism: OpenAPI document: %w", err)
	}
	if !strings.HasPrefix(upstream, "http://127.0.0.1:") && !strings.HasPrefix(upstream, "http://localhost:") && !strings.HasPrefix(upstream, "http://[::1]:") {
		return nil, fmt.Errorf("prism: upstream %q is not a loopback http URL: tests must never proxy to a real API", upstream)
	}
	cmd := exec.CommandContext(ctx, bin, "proxy", "-h", "127.0.0.1", "-p", "0", "--no-cors", "--errors", spec, upstream)
	cmd.Env = append(os.Environ(), "SCARF_ANALYTICS=false", "DO_NOT_TRACK=1", "NO_COLOR=1", "FORCE_COLOR=0")
	urls := make(chan string, 1)
	started := false
	// Only the listening line and later lines are kept: at start Prism prints
	// one line per operation of the document (hundreds for Twilio 2010).
	keep := func(line string) bool {
		if i := strings.Index(line, listening); i >= 0 {
			started = true
			select {
			case urls <- strings.TrimSpace(line[i+len(listening):]):
			default:
			}
		}
		return started
	}
	began := time.Now()
	pr, err := proc.Start(cmd, proc.Options{Name: "prism (" + filepath.Base(spec) + ")", Group: true, MaxLog: maxLog, Line: keep, MaxLine: 1 << 20})
	if err != nil {
		return nil, err
	}
	p := &Process{Spec: spec, proc: pr}
	u, err := proc.Await(pr, urls, startTimeout, "listen")
	if err != nil {
		return nil, err
	}
	p.URL = strings.TrimSuffix(u, "/")
	p.Startup = time.Since(began)
	return p, nil
}

// Logs returns the last output of the process (bounded). Prism logs request
// URLs and violation messages, never header values or bodies, at the
// default level.
func (p *Process) Logs() string { return p.proc.Logs() }

// Close stops the process group and waits for it. It is safe to call twice.
func (p *Process) Close() error { return p.proc.Close() }

// Need returns the pinned prism for a test. When it is missing it fails the
// test in CI (CI set) and skips it elsewhere, naming the install command
// either way.
func Need(t testing.TB) string {
	t.Helper()
	return testutil.Need(t, Find)
}

// Unavailable fails t in CI and skips it elsewhere with err, which should
// name the install command.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	testutil.Unavailable(t, err)
}

// StartT starts the pinned Prism in front of upstream for a test and stops it
// in t.Cleanup. Prism takes seconds to start: share one per test package (see
// Group) where many tests need it.
func StartT(t testing.TB, spec, upstream string) *Process {
	t.Helper()
	bin := Need(t)
	p, err := Start(context.Background(), bin, spec, upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// Group starts several Prisms once, on first use, for a whole test package,
// and stops them in Close (call it from TestMain after m.Run). The zero value
// is ready to use.
type Group struct {
	once  sync.Once
	mu    sync.Mutex
	procs []*Process
	err   error
}

// Start runs start exactly once (the first caller's) and returns its error
// to every caller. start adds the Prisms it runs with Add.
func (g *Group) Start(start func(g *Group) error) error {
	g.once.Do(func() {
		if err := start(g); err != nil {
			g.err = err
			_ = g.Close()
		}
	})
	return g.err
}

// Add starts one Prism in the group.
func (g *Group) Add(spec, upstream string) (*Process, error) {
	bin, err := Find()
	if err != nil {
		return nil, err
	}
	p, err := Start(context.Background(), bin, spec, upstream)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
	return p, nil
}

// Processes returns the running Prisms, in start order.
func (g *Group) Processes() []*Process {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*Process(nil), g.procs...)
}

// Close stops every Prism of the group.
func (g *Group) Close() error {
	g.mu.Lock()
	procs := g.procs
	g.procs = nil
	g.mu.Unlock()
	for _, p := range procs {
		_ = p.Close()
	}
	return nil
}
