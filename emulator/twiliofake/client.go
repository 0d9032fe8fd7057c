package twiliofake

import (
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"

	"github.com/dualkey/dualkey/emulator/internal/vendorfake"
)

// Endpoints gives the base URL (scheme://host:port, no path) that serves
// each Twilio API host: the fake itself, or a Prism in front of it.
type Endpoints struct {
	API      string // in place of https://api.twilio.com
	IAM      string // in place of https://iam.twilio.com
	Accounts string // in place of https://accounts.twilio.com
}

// For returns the base URL serving a Twilio host: the product is the host's
// first label, so regional and edge forms (api.dublin.ie1.twilio.com, which
// twilio-go builds from TWILIO_EDGE/TWILIO_REGION) map like api.twilio.com.
func (e Endpoints) For(host string) (string, bool) {
	host = strings.ToLower(host)
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	if !strings.HasSuffix(host, ".twilio.com") {
		return "", false
	}
	product, _, _ := strings.Cut(host, ".")
	var base string
	switch product {
	case "api":
		base = e.API
	case "iam":
		base = e.IAM
	case "accounts":
		base = e.Accounts
	}
	return base, base != ""
}

// Transport is an http.RoundTripper that sends requests for *.twilio.com to
// Endpoints instead, keeping method, path, query, headers and body. Any other
// host, and a Twilio product without an endpoint, fails: a test must never
// reach the real API.
type Transport struct {
	Endpoints Endpoints
	// Base does the round trips; http.DefaultTransport when nil.
	Base http.RoundTripper
}

var _ http.RoundTripper = (*Transport)(nil)

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base, ok := t.Endpoints.For(req.URL.Host)
	if !ok {
		return vendorfake.Refuse(req, fmt.Errorf("twiliofake: no endpoint for host %q: only api, iam and accounts.twilio.com are served here", req.URL.Host))
	}
	return vendorfake.Send(req, base, t.Base, func(err error) error { return fmt.Errorf("twiliofake: endpoint for %s: %w", req.URL.Host, err) })
}

// NewHTTPClient returns an *http.Client whose requests for *.twilio.com go
// to e, through base (http.DefaultTransport when nil; a prism.Checker in the
// tests). Like twilio-go's own client it does not follow redirects.
func NewHTTPClient(e Endpoints, base http.RoundTripper) *http.Client {
	return &http.Client{
		Transport:     &Transport{Endpoints: e, Base: base},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// NewRestClient returns the real twilio-go client authenticating as
// username/password (AccountSid and auth token, or key SID and secret) for
// accountSid, with every request sent to e through base. This is the
// injection recipe for twilio-go v1.31, which has no base-URL option:
//
//	c := &client.Client{Credentials: client.NewCredentials(user, pass), HTTPClient: httpClient}
//	c.SetAccountSid(accountSid)
//	rc := twilio.NewRestClientWithParams(twilio.ClientParams{Client: c})
//
// (with ClientParams.Client set, Username and Password are ignored, so the
// credentials go in the client.Client).
func NewRestClient(e Endpoints, base http.RoundTripper, username, password, accountSid string) *twilio.RestClient {
	c := &client.Client{Credentials: client.NewCredentials(username, password), HTTPClient: NewHTTPClient(e, base)}
	c.SetAccountSid(accountSid)
	return twilio.NewRestClientWithParams(twilio.ClientParams{Client: c})
}

// Spec files shipped in spec/ (Twilio's official OpenAPI documents, MIT).
const (
	SpecAPI      = "twilio_api_v2010.json"
	SpecIAM      = "twilio_iam_v1.json"
	SpecAccounts = "twilio_accounts_v1.json"
)

// SpecPath returns the absolute path of one of the spec/ files, for Prism.
// It relies on the package's source being on disk (as it is for tests).
func SpecPath(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "spec", name)
}
