package twiliosig

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dualkey/dualkey/shared/secretwatch"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultField              = "auth_token"
	DefaultCheckInterval      = 30 * time.Second
	DefaultMinRefreshInterval = time.Second
	DefaultMaxBodyBytes       = 1 << 20
)

// Errors Verify returns (wrapped); none carries a token or a signature.
var (
	// ErrNotSigned: the request has no X-Twilio-Signature.
	ErrNotSigned = errors.New("request is not signed")
	// ErrNoMatch: no known token made the signature.
	ErrNoMatch = errors.New("signature matches no known auth token")
	// ErrBodyHash: the body's SHA-256 is not the URL's bodySHA256.
	ErrBodyHash = errors.New("body does not match bodySHA256")
	// ErrBadRequest: the request cannot be read (URL, form, body size).
	ErrBadRequest = errors.New("request cannot be verified")
)

// Config configures a Verifier. Zero fields take the documented defaults.
type Config struct {
	// SecretID is the name or ARN of the secret holding the account's auth
	// token (rotated by dualkey's twiliotoken provider). Required.
	SecretID string
	// Field is the JSON field with the token; default "auth_token". A
	// SecretString that is not a JSON object is used whole.
	Field string
	// AcceptPending also accepts the AWSPENDING version's token. Twilio
	// signs only with the primary, which is AWSCURRENT or AWSPREVIOUS, so
	// this is off by default.
	AcceptPending bool
	// CheckInterval is how often DescribeSecret is called to notice a
	// rotation; default 30s. The old token is refused at most this long
	// after its label is removed.
	CheckInterval time.Duration
	// MinRefreshInterval rate-limits the refresh a signature by an unknown
	// token triggers; default 1s.
	MinRefreshInterval time.Duration
	// MaxBodyBytes bounds a request body in VerifyRequest and Middleware;
	// default 1 MiB.
	MaxBodyBytes int64
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives refreshes and rejections (never a token or a
	// signature); default slog.Default().
	Logger *slog.Logger
}

// Verifier checks X-Twilio-Signature against the tokens of the staged
// versions of a secret. It is safe for concurrent use.
type Verifier struct {
	cfg      Config
	w        *secretwatch.Watcher[token]
	log      *slog.Logger
	rejected atomic.Uint64
	accepted atomic.Uint64
}

// Match tells which version's token verified a request.
type Match struct {
	// Stage is the version's label at the last refresh.
	Stage string
	// VersionID is the Secrets Manager version id.
	VersionID string
	// Fingerprint identifies the token (Fingerprint).
	Fingerprint string
}

// New creates a Verifier and loads the secret's staged versions once. It
// fails if AWSCURRENT cannot be loaded.
func New(ctx context.Context, api SecretsAPI, cfg Config) (*Verifier, error) {
	if api == nil {
		return nil, errors.New("twiliosig: nil SecretsAPI")
	}
	if cfg.SecretID == "" {
		return nil, errors.New("twiliosig: Config.SecretID is empty: set it to the name or ARN of the secret holding the account's auth token")
	}
	for name, d := range map[string]time.Duration{"CheckInterval": cfg.CheckInterval, "MinRefreshInterval": cfg.MinRefreshInterval} {
		if d < 0 {
			return nil, fmt.Errorf("twiliosig: Config.%s is negative (%v): use a positive duration or 0 for the default", name, d)
		}
	}
	if cfg.Field == "" {
		cfg.Field = DefaultField
	}
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = DefaultCheckInterval
	}
	if cfg.MinRefreshInterval == 0 {
		cfg.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	stages := []string{StageCurrent, StagePrevious}
	if cfg.AcceptPending {
		stages = append(stages, StagePending)
	}
	log := cfg.Logger.With("component", "twiliosig", "secret", cfg.SecretID)
	w, err := watch(ctx, api, cfg, stages, log)
	if err != nil {
		return nil, fmt.Errorf("twiliosig: load %s of secret %q (field %q): %w", StageCurrent, cfg.SecretID, cfg.Field, err)
	}
	return &Verifier{cfg: cfg, log: log, w: w}, nil
}

// Refresh re-reads the label map now (and any new version), regardless of
// CheckInterval. On error the previous tokens are kept.
func (v *Verifier) Refresh(ctx context.Context) error { return v.w.Refresh(ctx) }

// Verify checks the signature of a request to rawURL (the full URL Twilio
// requested, query string included) with the POST form parameters params
// (nil for a GET). A signature no known token made triggers one
// rate-limited refresh before it is refused. Errors wrap ErrNotSigned or
// ErrNoMatch.
func (v *Verifier) Verify(ctx context.Context, rawURL string, params url.Values, signature string) (*Match, error) {
	if signature == "" {
		return nil, v.reject(ErrNotSigned)
	}
	// CheckInterval passed: one refresh (a caller that finds one running
	// goes on with the current set).
	v.w.Poll(ctx)
	signed := func(t token) bool { return signedBy(t.key, rawURL, params, signature) }
	e, ok := v.w.Find(signed)
	if !ok {
		// A token no known version holds: one refresh, at most one per
		// MinRefreshInterval, after any running one.
		v.w.Unknown(ctx)
		e, ok = v.w.Find(signed)
	}
	if !ok {
		return nil, v.reject(ErrNoMatch)
	}
	v.w.Used(e)
	v.accepted.Add(1)
	return &Match{Stage: e.Stage, VersionID: e.VersionID, Fingerprint: e.Value.fingerprint}, nil
}

// VerifyBody checks a request whose body is not a form (Twilio's JSON
// webhooks): the signature covers rawURL alone, whose bodySHA256 query
// parameter must be the hex SHA-256 of body. Errors wrap ErrNotSigned,
// ErrBadRequest, ErrBodyHash or ErrNoMatch.
func (v *Verifier) VerifyBody(ctx context.Context, rawURL string, body []byte, signature string) (*Match, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, v.reject(fmt.Errorf("%w: the URL does not parse", ErrBadRequest))
	}
	want := u.Query().Get("bodySHA256")
	if want == "" {
		return nil, v.reject(fmt.Errorf("%w: a body that is not a form must be signed with bodySHA256 in the URL", ErrBadRequest))
	}
	m, err := v.Verify(ctx, rawURL, nil, signature)
	if err != nil {
		return nil, err
	}
	if !equal(strings.ToLower(want), bodyHash(body)) {
		return nil, v.reject(ErrBodyHash)
	}
	return m, nil
}

// VerifyRequest checks r as Twilio sent it to publicURL (what Twilio
// requested: scheme, host and path as configured in Twilio; r's query
// string is appended). A form body (application/x-www-form-urlencoded) is
// verified with its parameters, any other body with bodySHA256. The body
// is read (at most MaxBodyBytes) and put back, so handlers can read it or
// call ParseForm. Errors wrap ErrNotSigned, ErrBadRequest, ErrBodyHash or
// ErrNoMatch.
func (v *Verifier) VerifyRequest(r *http.Request, publicURL string) (*Match, error) {
	full := strings.TrimSuffix(publicURL, "?")
	if r.URL.RawQuery != "" {
		full += "?" + r.URL.RawQuery
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(r.Body, v.cfg.MaxBodyBytes+1))
		r.Body.Close()
		if err != nil {
			return nil, v.reject(fmt.Errorf("%w: read the body: %v", ErrBadRequest, err))
		}
		if int64(len(b)) > v.cfg.MaxBodyBytes {
			return nil, v.reject(fmt.Errorf("%w: the body is larger than %d bytes", ErrBadRequest, v.cfg.MaxBodyBytes))
		}
		body = b
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	sig := r.Header.Get(HeaderName)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case r.Method == http.MethodGet || len(body) == 0 && mt == "":
		return v.Verify(r.Context(), full, nil, sig)
	case mt == "application/x-www-form-urlencoded":
		params, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, v.reject(fmt.Errorf("%w: the form body does not parse", ErrBadRequest))
		}
		return v.Verify(r.Context(), full, params, sig)
	}
	return v.VerifyBody(r.Context(), full, body, sig)
}

type matchKey struct{}

// MatchFromContext returns the Match that Middleware put in the request's
// context.
func MatchFromContext(ctx context.Context) (*Match, bool) {
	m, ok := ctx.Value(matchKey{}).(*Match)
	return m, ok
}

// Middleware verifies each request before next sees it. publicBase is the
// scheme and host Twilio calls (e.g. "https://hooks.example.com", the URL
// configured in Twilio, not what a load balancer forwards); the request's
// path and query are appended. A refused request gets 403 (Twilio's
// guidance) without calling next; next runs with the body restored and
// the Match in the context (MatchFromContext).
func (v *Verifier) Middleware(publicBase string, next http.Handler) http.Handler {
	base := strings.TrimSuffix(publicBase, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, err := v.VerifyRequest(r, base+r.URL.EscapedPath())
		if err != nil {
			status := http.StatusForbidden
			if errors.Is(err, ErrBadRequest) {
				status = http.StatusBadRequest
			}
			http.Error(w, "twilio signature: "+publicReason(err), status)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), matchKey{}, m)))
	})
}

func publicReason(err error) string {
	for _, e := range []error{ErrNotSigned, ErrNoMatch, ErrBodyHash, ErrBadRequest} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "refused"
}

// signedBy reports whether token signed the request (trying every URL
// variant, in constant time per compare, without an early exit).
func signedBy(token, rawURL string, params url.Values, signature string) bool {
	ok := false
	for _, u := range urlVariants(rawURL) {
		ok = equal(Signature(token, u, params), signature) || ok
	}
	return ok
}

func (v *Verifier) reject(err error) error {
	v.rejected.Add(1)
	v.log.Warn("twilio request rejected", "reason", publicReason(err))
	return err
}

// Stats are counters since the Verifier was created.
type Stats struct {
	Accepted, Rejected uint64
	// Calls counts Secrets Manager calls.
	Calls Calls
}

// Stats returns the counters.
func (v *Verifier) Stats() Stats {
	st := v.w.Stats()
	return Stats{Accepted: v.accepted.Load(), Rejected: v.rejected.Load(),
		Calls: Calls{Describe: int(st.DescribeCalls), Get: int(st.GetValueCalls)}}
}

// Usage returns one record per version loaded since the Verifier was
// created (retired ones bounded), staged versions first: the evidence of
// which token Twilio still signs with.
func (v *Verifier) Usage() []VersionUsage {
	us := v.w.Usage()
	out := make([]VersionUsage, len(us))
	for i, u := range us {
		out[i] = VersionUsage{VersionID: u.VersionID, Stage: u.Stage, Fingerprint: u.Value.fingerprint, Verified: u.Uses, LastUsed: u.LastUsed}
	}
	return out
}
