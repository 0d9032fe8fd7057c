package iamemu

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dualkey/dualkey/emulator/awsauth"
)

const (
	fuzzBootID     = "AKIAFUZZBOOTSTRAP000"
	fuzzBootSecret = "fuzz-bootstrap-SECRET-do-not-print"
)

// FuzzIAMRequest sends an arbitrary query-protocol body, as the bootstrap
// key, through Handler (signature already verified, as behind the
// emulator's front end). Every answer must be a success or an AWS-shaped
// XML error, never a panic, a hang or a 5xx; no error may contain a secret
// access key; and the state must stay one that Restore accepts (at most two
// keys per user, at most 50 tags with case-insensitively unique keys).
// `go test` runs the seed corpus in testdata/fuzz.
func FuzzIAMRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, service string, body []byte) {
		if service != ServiceIAM && service != ServiceSTS {
			service = ServiceIAM
		}
		s := New(Config{BootstrapAccessKeyID: fuzzBootID, BootstrapSecretAccessKey: fuzzBootSecret})
		s.mu.Lock()
		s.users["app"] = &user{name: "app", id: "AIDAFUZZAPP0000000000", path: "/", created: time.Unix(0, 0), tags: []Tag{{Key: "dualkey:managed", Value: "true"}}}
		s.mu.Unlock()
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:4566/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r = r.WithContext(awsauth.WithPrincipal(r.Context(), awsauth.Principal{AccessKeyID: fuzzBootID, Service: service, Region: "us-east-1"}))
		w := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.Handler().ServeHTTP(w, r)
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("request did not finish within 30s")
		}
		out := w.Body.Bytes()
		if w.Code >= 500 {
			t.Fatalf("status %d: %s", w.Code, out)
		}
		if w.Code != http.StatusOK {
			var e struct {
				XMLName xml.Name `xml:"ErrorResponse"`
				Code    string   `xml:"Error>Code"`
			}
			if err := xml.Unmarshal(out, &e); err != nil || e.Code == "" {
				t.Fatalf("status %d with a body that is not an AWS error: %q", w.Code, out)
			}
			if bytes.Contains(out, []byte(fuzzBootSecret)) {
				t.Fatal("an error response contains a secret access key")
			}
		} else if !strings.Contains(string(out), "<ResponseMetadata>") {
			t.Fatalf("200 without ResponseMetadata: %q", out)
		}
		if err := New(Config{}).Restore(s.Snapshot()); err != nil {
			t.Fatalf("the state is no longer valid: %v", err)
		}
	})
}
