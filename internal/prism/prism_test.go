package prism

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/dualkey/dualkey/internal/testutil"
)

// spec is a small OpenAPI document with one basic-auth operation, enough to
// exercise every way Prism answers.
const spec = `{
  "openapi": "3.0.1",
  "info": {"title": "t", "version": "1"},
  "servers": [{"url": "https://api.example.com"}],
  "security": [{"basic": []}],
  "components": {"securitySchemes": {"basic": {"type": "http", "scheme": "basic"}}},
  "paths": {
    "/v1/Things/{Sid}.json": {
      "get": {
        "parameters": [{"name": "Sid", "in": "path", "required": true,
          "schema": {"type": "string", "pattern": "^TH[0-9a-f]{4}$"}}],
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {
          "type": "object", "properties": {"sid": {"type": "string", "pattern": "^TH[0-9a-f]{4}$"}}}}}}}
      }
    }
  }
}`

// upstream answers according to the X-Mode header the test sends.
func upstream(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.Header.Get("X-Mode") {
		case "bad-body":
			_, _ = io.WriteString(w, `{"sid": 5}`)
		case "undeclared-2xx":
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"sid": "THabcd"}`)
		case "429":
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"code": 20429, "message": "Too Many Requests", "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429}`)
		default:
			_, _ = io.WriteString(w, `{"sid": "THabcd"}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestCheckerSeesEveryPrismAnswer runs the pinned Prism in front of a test
// upstream and proves each kind of answer reaches the client as this
// package documents: a valid exchange passes untouched, request and response
// violations become errors, an undeclared error status passes with a warning
// that Unexpected ignores.
func TestCheckerSeesEveryPrismAnswer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(path, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	p := StartT(t, path, upstream(t))
	t.Logf("prism started in %v", p.Startup)
	tests := []struct {
		name       string
		path, mode string
		noAuth     bool
		wantErr    string // "" = the call succeeds
		wantStatus int
		unexpected bool
	}{
		{name: "valid", path: "/v1/Things/THabcd.json", wantStatus: 200},
		{name: "request breaks path pattern", path: "/v1/Things/XX.json", wantErr: "Request path parameter sid must match pattern"},
		{name: "no credentials", path: "/v1/Things/THabcd.json", noAuth: true, wantErr: "UNAUTHORIZED"},
		{name: "response breaks schema", path: "/v1/Things/THabcd.json", mode: "bad-body", wantErr: "Response body property sid must be string"},
		{name: "undeclared 2xx", path: "/v1/Things/THabcd.json", mode: "undeclared-2xx", wantErr: "Unable to match the returned status code"},
		{name: "undeclared 429 passes", path: "/v1/Things/THabcd.json", mode: "429", wantStatus: 429},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &Checker{}
			req, err := http.NewRequest(http.MethodGet, p.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.noAuth {
				req.SetBasicAuth("ACuser", "secret")
			}
			if tc.mode != "" {
				req.Header.Set("X-Mode", tc.mode)
			}
			resp, err := (&http.Client{Transport: c}).Do(req)
			if tc.wantErr != "" {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("status %d, want an error containing %q", resp.StatusCode, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %q does not contain %q", err, tc.wantErr)
				}
				if len(c.Failures()) != 1 {
					t.Fatalf("Failures() = %v, want one", c.Failures())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if resp.StatusCode == 429 && resp.Header.Get("Retry-After") != "1" {
				t.Errorf("Retry-After = %q, want it passed through", resp.Header.Get("Retry-After"))
			}
			if u := c.Unexpected(); len(u) != 0 {
				t.Fatalf("Unexpected() = %v, want none", u)
			}
			if tc.mode == "429" && len(c.Reports()) != 1 {
				t.Fatalf("Reports() = %v, want the undeclared-status warning", c.Reports())
			}
		})
	}
}

// TestStartRefusesNonLoopbackUpstream: a test harness must never proxy to a
// real vendor API.
func TestStartRefusesNonLoopbackUpstream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(path, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, up := range []string{"https://api.twilio.com", "http://10.0.0.1:80", "http://127.0.0.1.example.com:80"} {
		if _, err := Start(context.Background(), "/nonexistent/prism", path, up); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("Start(upstream %q) error = %v, want a loopback refusal", up, err)
		}
	}
}

// TestCloseStopsProcess proves Close kills Prism's process group, waits for
// it and is safe to call twice.
func TestCloseStopsProcess(t *testing.T) {
	bin := Need(t)
	path := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(path, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Start(t.Context(), bin, path, upstream(t))
	if err != nil {
		t.Fatal(err)
	}
	pid := p.proc.Pid()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("process %d still exists after Close", pid)
	}
	if _, err := http.Get(p.URL + "/"); err == nil {
		t.Fatal("Prism still answers after Close")
	}
}

// TestFindRejects covers the two ways Find refuses: nothing there, and a
// binary that is not the pinned Prism. Both name the install command.
func TestFindRejects(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "prism")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 4.0.0\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		candidates []string
		want       string
	}{
		{"missing", []string{filepath.Join(dir, "absent")}, "not found in"},
		{"wrong version", []string{fake}, "is 4.0.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := find(tc.candidates)
			testutil.ErrorContains(t, err, tc.want, InstallCommand)
		})
	}
}

// TestFindPinned checks the installed Prism is the pinned one (and, in CI,
// that it is installed at all).
func TestFindPinned(t *testing.T) {
	bin := Need(t)
	v, err := version(bin)
	if err != nil {
		t.Fatal(err)
	}
	if v != Version {
		t.Fatalf("version %q, want %q", v, Version)
	}
}
