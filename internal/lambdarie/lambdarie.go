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
	"sync"
	"time"
)

// InvokePath is the RIE's invoke path.
const InvokePath = "/2015-03-31/functions/function/invocations"

// Process is a running aws-lambda-rie with one function.
type Process struct {
	URL  string // invoke URL
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// FindRIE returns the aws-lambda-rie to use: $DUALKEY_RIE, ./bin in the module
// root, or PATH.
func FindRIE() (string, error) {
	if p := os.Getenv("DUALKEY_RIE"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if root, err := ModuleRoot(); err == nil {
		p := filepath.Join(root, "bin", "aws-lambda-rie")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p, nil
	}
	return "", errors.New("aws-lambda-rie not found: run `make tools` (it installs the pinned emulator into ./bin)")
}

// ModuleRoot finds the directory holding go.mod above the working directory.
func ModuleRoot() (string, error) {
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
	p := &Process{URL: "http://" + addr + InvokePath, cmd: cmd, logs: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", rie, err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("aws-lambda-rie exited at start: %s", p.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Close()
			return nil, fmt.Errorf("aws-lambda-rie did not listen on %s", addr)
		}
	}
}

// Logs returns everything the RIE and the function printed so far.
func (p *Process) Logs() string { return p.logs.String() }

// Close stops the RIE and the function.
func (p *Process) Close() error {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
	return nil
}

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
