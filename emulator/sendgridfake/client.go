package sendgridfake

import (
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/dualkey/dualkey/emulator/internal/vendorfake"
)

// BaseURL is SendGrid's global API base URL; clients keep using it and let
// Transport send the requests to the fake.
const BaseURL = "https://api.sendgrid.com"

// Endpoints gives the base URL serving each SendGrid OpenAPI document: the
// fake itself for both, or one Prism per document in front of it.
type Endpoints struct {
	APIKeys string // /v3/api_keys…
	Scopes  string // /v3/scopes
}

// For returns the base URL serving a request for host and path.
func (e Endpoints) For(host, path string) (string, bool) {
	host = strings.ToLower(host)
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	if host != "api.sendgrid.com" && host != "api.eu.sendgrid.com" {
		return "", false
	}
	base := e.APIKeys
	if path == "/v3/scopes" {
		base = e.Scopes
	}
	return base, base != ""
}

// Transport is an http.RoundTripper that sends requests for
// api.sendgrid.com (and api.eu.sendgrid.com) to Endpoints, keeping method,
// path, query, headers and body. Any other host fails: a test must never
// reach the real API.
type Transport struct {
	Endpoints Endpoints
	// Base does the round trips; http.DefaultTransport when nil.
	Base http.RoundTripper
}

var _ http.RoundTripper = (*Transport)(nil)

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base, ok := t.Endpoints.For(req.URL.Host, req.URL.Path)
	if !ok {
		return vendorfake.Refuse(req, fmt.Errorf("sendgridfake: no endpoint for host %q: only api.sendgrid.com is served here", req.URL.Host))
	}
	return vendorfake.Send(req, base, t.Base, func(err error) error { return fmt.Errorf("sendgridfake: endpoint: %w", err) })
}

// NewHTTPClient returns an *http.Client whose requests for api.sendgrid.com
// go to e through base (http.DefaultTransport when nil; a prism.Checker in
// the tests).
func NewHTTPClient(e Endpoints, base http.RoundTripper) *http.Client {
	return &http.Client{Transport: &Transport{Endpoints: e, Base: base}, Timeout: 30 * time.Second}
}

// Spec files shipped in spec/ (SendGrid's official OpenAPI documents, MIT).
const (
	SpecAPIKeys = "tsg_api_keys_v3.json"
	SpecScopes  = "tsg_scopes_v3.json"
)

// SpecPath returns the absolute path of one of the spec/ files, for Prism.
// It relies on the package's source being on disk (as it is for tests).
func SpecPath(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "spec", name)
}
