// Package lambdarie runs a real Lambda `bootstrap` binary under the AWS Lambda
// Runtime Interface Emulator (aws-lambda-rie) on loopback, so tests, the demo
// and benchmarks invoke exactly what is deployed. It also builds bootstraps
// the way the Makefile does.
package lambdarie

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/dualkey/dualkey/internal/proc"
)

// InvokePath is the RIE's invoke path.
const InvokePath = "/2015-03-31/functions/function/invocations"

// Process is a running aws-lambda-rie with one function.
type Process struct {
	URL  string // invoke URL
	proc *proc.Process
}

// FindRIE returns the aws-lambda-rie to use: $DUALKEY_RIE, ./bin in the module
// root, or PATH.
func FindRIE() (string, error) {
	if p := proc.FirstExisting(proc.Candidates("DUALKEY_RIE", "bin/aws-lambda-rie", "aws-lambda-rie")); p != "" {
		return p, nil
	}
	return "", errors.New("aws-lambda-rie not found: run `make tools` (it installs the pinned emulator into ./bin)")
}

// ModuleRoot finds the directory holding go.mod above the working directory.
func ModuleRoot() (string, error) { return proc.ModuleRoot() }

// Build compiles ./functions/<name> as a static Lambda bootstrap for this
// machine's architecture into dir and returns its path.
func Build(ctx context.Context, name, dir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, name, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, "./functions/"+name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build functions/%s: %w: %s", name, err, b)
	}
	return out, nil
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start runs rie with bootstrap on a loopback port. env is added to the
// process environment (the function sees it). The process stops when ctx is
// done or Close is called.
func Start(ctx context.Context, rie, bootstrap string, port int, env []string) (*Process, error) {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var err error
	if rie, err = filepath.Abs(rie); err != nil {
		return nil, err
	}
	if bootstrap, err = filepath.Abs(bootstrap); err != nil {
		return nil, err
	}
	// The RIE's internal Runtime API defaults to 127.0.0.1:9001: give each
	// process its own so several can run at once (parallel test packages).
	apiPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, rie, "--runtime-interface-emulator-address", addr,
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort), bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = append(os.Environ(), env...)
	pr, err := proc.Start(cmd, proc.Options{Name: "aws-lambda-rie"})
	if err != nil {
		return nil, err
	}
	if err := pr.AwaitDial(addr, 10*time.Second); err != nil {
		return nil, err
	}
	return &Process{URL: "http://" + addr + InvokePath, proc: pr}, nil
}

// Logs returns everything the RIE and the function printed so far.
func (p *Process) Logs() string { return p.proc.Logs() }

// Close stops the RIE and the function.
func (p *Process) Close() error { return p.proc.Close() }

// InvokeError is a function error reported by the RIE.
type InvokeError struct {
	Message string `json:"errorMessage"`
	Type    string `json:"errorType"`
}

// Error implements error.
func (e *InvokeError) Error() string { return e.Type + ": " + e.Message }

// Invoke posts payload to the function and returns its raw result, or an
// *InvokeError when the function failed.
func (p *Process) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return Invoke(ctx, p.URL, payload)
}

// Invoke posts payload to an RIE invoke URL.
func Invoke(ctx context.Context, url string, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 6<<20))
	if err != nil {
		return nil, fmt.Errorf("invoke: read response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("invoke: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var ie InvokeError
	if json.Unmarshal(body, &ie) == nil && ie.Message != "" {
		return body, &ie
	}
	return body, nil
}
