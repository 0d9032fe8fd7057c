package prism

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
)

// problemPrefix starts the type of every problem document Prism writes.
const problemPrefix = "https://stoplight.io/prism/errors#"

// Violation is one difference between a request or response and the
// OpenAPI document, as Prism reports it.
type Violation struct {
	// Location is where, e.g. ["request","body","scopes"] or ["response"].
	Location []string `json:"location"`
	// Severity is "Error" or "Warning".
	Severity string `json:"severity"`
	// Code is the JSON-schema keyword that failed, when there is one.
	Code string `json:"code,omitempty"`
	// Message is Prism's text; it names fields, never their values.
	Message string `json:"message"`
}

// String renders the violation on one line.
func (v Violation) String() string {
	return fmt.Sprintf("%s at %s: %s", v.Severity, strings.Join(v.Location, "."), v.Message)
}

// Report is what Prism said about one exchange.
type Report struct {
	// Method and Path identify the request (no query string: it may hold
	// values a test should not print).
	Method, Path string
	// Status is the status the client received.
	Status int
	// Problem is the type of the problem document Prism wrote instead of
	// forwarding or returning the upstream's answer ("" when it did not).
	Problem string
	// Violations lists what Prism reported.
	Violations []Violation
}

// Failed reports whether Prism rejected the exchange: it wrote a problem
// document or listed an Error-severity violation.
func (r Report) Failed() bool {
	if r.Problem != "" {
		return true
	}
	for _, v := range r.Violations {
		if v.Severity == "Error" {
			return true
		}
	}
	return false
}

// String renders the report on one line.
func (r Report) String() string {
	parts := make([]string, 0, len(r.Violations))
	for _, v := range r.Violations {
		parts = append(parts, v.String())
	}
	s := fmt.Sprintf("%s %s -> %d", r.Method, r.Path, r.Status)
	if r.Problem != "" {
		s += " " + strings.TrimPrefix(r.Problem, problemPrefix)
	}
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, "; ")
	}
	return s
}

// Checker is an http.RoundTripper for clients talking to Prism. A round trip
// Prism rejected (a problem document, or an Error-severity violation in the
// sl-violations header) fails with an error that lists the violations, so
// the client call fails the test; every exchange Prism said something about
// is recorded for assertions. It is safe for concurrent use.
type Checker struct {
	// Base does the round trips; http.DefaultTransport when nil.
	Base http.RoundTripper

	mu      sync.Mutex
	reports []Report
}

var _ http.RoundTripper = (*Checker)(nil)

// RoundTrip implements http.RoundTripper.
func (c *Checker) RoundTrip(req *http.Request) (*http.Response, error) {
	base := c.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	rep := Report{Method: req.Method, Path: req.URL.Path, Status: resp.StatusCode}
	if h := resp.Header.Get("sl-violations"); h != "" {
		if err := json.Unmarshal([]byte(h), &rep.Violations); err != nil {
			rep.Violations = []Violation{{Severity: "Error", Message: "unreadable sl-violations header: " + err.Error()}}
		}
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/problem+json" {
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if rerr == nil {
			var p struct {
				Type       string      `json:"type"`
				Title      string      `json:"title"`
				Detail     string      `json:"detail"`
				Validation []Violation `json:"validation"`
			}
			if json.Unmarshal(body, &p) == nil && strings.HasPrefix(p.Type, problemPrefix) {
				rep.Problem = p.Type
				if len(rep.Violations) == 0 {
					rep.Violations = p.Validation
				}
				if len(rep.Violations) == 0 {
					rep.Violations = []Violation{{Severity: "Error", Message: p.Title + ": " + p.Detail}}
				}
			}
		}
	}
	if rep.Problem == "" && len(rep.Violations) == 0 {
		return resp, nil
	}
	c.mu.Lock()
	c.reports = append(c.reports, rep)
	c.mu.Unlock()
	if rep.Failed() {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("prism: the exchange breaks the vendor's OpenAPI document: %s", rep)
	}
	return resp, nil
}

// Reports returns every exchange Prism reported something about.
func (c *Checker) Reports() []Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Report(nil), c.reports...)
}

// Failures returns the exchanges Prism rejected.
func (c *Checker) Failures() []Report {
	var out []Report
	for _, r := range c.Reports() {
		if r.Failed() {
			out = append(out, r)
		}
	}
	return out
}

// Unexpected returns the reports other than the one warning that cannot be
// avoided: an error status (4xx/5xx) the vendor's document does not declare
// for the operation, which Prism passes through as a Warning. Twilio's
// documents declare no error responses at all and SendGrid's no 429, but the
// real APIs send them, so a faithful fake must too.
func (c *Checker) Unexpected() []Report {
	var out []Report
	for _, r := range c.Reports() {
		if r.Failed() || !undeclaredErrorStatusOnly(r) {
			out = append(out, r)
		}
	}
	return out
}

func undeclaredErrorStatusOnly(r Report) bool {
	if r.Status < 400 {
		return false
	}
	for _, v := range r.Violations {
		if v.Severity != "Warning" || !strings.HasPrefix(v.Message, "Unable to match the returned status code") {
			return false
		}
	}
	return true
}

// Reset forgets the recorded reports.
func (c *Checker) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reports = nil
}
