package twiliofake

import (
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/dualkey/dualkey/emulator/internal/vendorfake"
)

// DefaultMaxBodyBytes bounds a request body: Twilio's requests here are
// small forms.
const DefaultMaxBodyBytes = 64 << 10

// SecondaryMode says what creating a secondary auth token does while one
// exists. Twilio does not document it, so providers should work under both.
type SecondaryMode int

const (
	// SecondaryReplace: the new secondary replaces the old one, which stops
	// working (the default: the harsher case for a provider that creates twice).
	SecondaryReplace SecondaryMode = iota
	// SecondaryReject: the request fails with 400 (code 20001) and the
	// existing secondary stays.
	SecondaryReject
)

// Config configures a Server. The zero value is usable.
type Config struct {
	// Secondary says what creating a secondary auth token does while one
	// exists; SecondaryReplace by default.
	Secondary SecondaryMode
	// MaxBodyBytes bounds a request body; DefaultMaxBodyBytes when zero.
	MaxBodyBytes int64
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// RateLimit limits an account to Requests authenticated requests per Window
// (a fixed window opened by the first request). Beyond it requests get 429
// (code 20429) with Retry-After: the seconds until the window closes. The
// zero value is no limit.
type RateLimit = vendorfake.RateLimit

// Call is one request the fake answered. It holds no secret: Principal is a
// SID and Fingerprint the last four characters of the secret used.
type Call struct {
	Time time.Time
	// Method and Path of the request (no query string).
	Method, Path string
	// Operation is "<api>.<operationId>" from Twilio's OpenAPI documents,
	// e.g. "api.FetchAccount", "iam.CreateNewKey",
	// "accounts.UpdateAuthTokenPromotion"; "" when no operation matched.
	Operation string
	// AccountSid is the account of the credential ("" if it did not
	// authenticate).
	AccountSid string
	// Principal is the basic-auth user: the account SID (auth token) or the
	// key SID.
	Principal string
	// Credential is the kind of credential, CredInvalid when it did not
	// authenticate.
	Credential Credential
	// Fingerprint is the last four characters of the secret that
	// authenticated ("" when none did).
	Fingerprint string
	// Status is the HTTP status answered.
	Status int
}

// Failed reports whether the call was answered with an error status.
func (c Call) Failed() bool { return c.Status >= 400 }

// Server is the fake. It is an http.Handler and safe for concurrent use.
type Server struct {
	cfg     Config
	now     func() time.Time
	maxBody int64

	mu       sync.Mutex
	accounts map[string]*account
	keyIndex map[string]*key
	seq      uint64

	calls vendorfake.Calls[Call]
	ln    vendorfake.Listener
}

var _ http.Handler = (*Server)(nil)

// New builds a Server with no accounts.
func New(cfg Config) *Server {
	s := &Server{cfg: cfg, now: cfg.Now, maxBody: cfg.MaxBodyBytes,
		accounts: map[string]*account{}, keyIndex: map[string]*key{}, ln: vendorfake.Listener{Name: "twiliofake"}}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	return s
}

// Start listens on addr (for example "127.0.0.1:0") and serves in the
// background. It returns the base URL, e.g. "http://127.0.0.1:43121".
func (s *Server) Start(addr string) (string, error) { return s.ln.Start(addr, s) }

// Close stops a server started with Start. It is a no-op otherwise.
func (s *Server) Close() error { return s.ln.Close() }

// Endpoints returns the fake's base URL for every Twilio host (empty before
// Start).
func (s *Server) Endpoints() Endpoints {
	url := s.ln.URL()
	return Endpoints{API: url, IAM: url, Accounts: url}
}

// SetRateLimit sets the account's rate limit (the zero RateLimit removes it).
func (s *Server) SetRateLimit(accountSid string, limit RateLimit) error {
	return vendorfake.With(&s.mu, s.accounts, accountSid, ErrNoAccount, func(a *account) { a.limiter.Set(limit) })
}

// ThrottleNext answers the account's next n authenticated requests with 429
// and Retry-After (whole seconds, at least 1), whatever the rate limit says.
func (s *Server) ThrottleNext(accountSid string, n int, retryAfter time.Duration) error {
	return vendorfake.With(&s.mu, s.accounts, accountSid, ErrNoAccount, func(a *account) { a.limiter.ThrottleNext(n, retryAfter) })
}

// Calls returns every call answered since start or the last ResetCalls, in
// order.
func (s *Server) Calls() []Call { return s.calls.All() }

// ResetCalls forgets the recorded calls.
func (s *Server) ResetCalls() { s.calls.Reset() }

// req is one request being served.
type req struct {
	w    http.ResponseWriter
	r    *http.Request
	p    *principal
	vars []string
	form url.Values
}

type route struct {
	method string
	re     *regexp.Regexp
	op     string
	acc    access
	perm   string // restricted-key permission for accessProduct routes
	// accountVar is the index in vars of an AccountSid path segment (-1: none).
	accountVar int
	handle     func(s *Server, q *req) *apiError
}

const (
	acSid = `(AC[0-9a-fA-F]{32})`
	skSid = `(SK[0-9a-fA-F]{32})`
)

var routes = []route{
	{http.MethodGet, regexp.MustCompile(`^/2010-04-01/Accounts/` + acSid + `\.json$`), "api.FetchAccount", accessAdmin, "", 0, (*Server).fetchAccount},
	{http.MethodGet, regexp.MustCompile(`^/2010-04-01/Accounts/` + acSid + `/Keys\.json$`), "api.ListKey", accessAdmin, "", 0, (*Server).listKeys2010},
	{http.MethodPost, regexp.MustCompile(`^/2010-04-01/Accounts/` + acSid + `/Keys\.json$`), "api.CreateNewKey", accessAdmin, "", 0, (*Server).createKey2010},
	{http.MethodGet, regexp.MustCompile(`^/2010-04-01/Accounts/` + acSid + `/Keys/` + skSid + `\.json$`), "api.FetchKey", accessAdmin, "", 0, (*Server).fetchKey2010},
	{http.MethodPost, regexp.MustCompile(`^/2010-04-01/Accounts/` + acSid + `/Keys/` + skSid + `\.json$`), "api.UpdateKey", accessAdmin, "", 0, (*Server).updateKey2010},
	{http.MethodDelete, regexp.MustCompile(`^/2010-04-01/Accounts/` + acSid + `/Keys/` + skSid + `\.json$`), "api.DeleteKey", accessAdmin, "", 0, (*Server).deleteKey2010},
	{http.MethodGet, regexp.MustCompile(`^/2010-04-01/Accounts/` + acSid + `/Messages\.json$`), "api.ListMessage", accessProduct, "/twilio/messaging/messages/read", 0, (*Server).listMessages},
	{http.MethodPost, regexp.MustCompile(`^/2010-04-01/Accounts/` + acSid + `/Messages\.json$`), "api.CreateMessage", accessProduct, "/twilio/messaging/messages/create", 0, (*Server).createMessage},
	{http.MethodGet, regexp.MustCompile(`^/v1/Keys$`), "iam.ListGetKeys", accessAdmin, "", -1, (*Server).listKeysIAM},
	{http.MethodPost, regexp.MustCompile(`^/v1/Keys$`), "iam.CreateNewKey", accessAdmin, "", -1, (*Server).createKeyIAM},
	{http.MethodGet, regexp.MustCompile(`^/v1/Keys/` + skSid + `$`), "iam.FetchKey", accessAdmin, "", -1, (*Server).fetchKeyIAM},
	{http.MethodPost, regexp.MustCompile(`^/v1/Keys/` + skSid + `$`), "iam.UpdateKey", accessAdmin, "", -1, (*Server).updateKeyIAM},
	{http.MethodDelete, regexp.MustCompile(`^/v1/Keys/` + skSid + `$`), "iam.DeleteKey", accessAdmin, "", -1, (*Server).deleteKeyIAM},
	{http.MethodPost, regexp.MustCompile(`^/v1/AuthTokens/Secondary$`), "accounts.CreateSecondaryAuthToken", accessAdmin, "", -1, (*Server).createSecondary},
	{http.MethodDelete, regexp.MustCompile(`^/v1/AuthTokens/Secondary$`), "accounts.DeleteSecondaryAuthToken", accessAdmin, "", -1, (*Server).deleteSecondary},
	{http.MethodPost, regexp.MustCompile(`^/v1/AuthTokens/Promote$`), "accounts.UpdateAuthTokenPromotion", accessAdmin, "", -1, (*Server).promote},
}

// ServeHTTP implements http.Handler. The order is Twilio's as far as it can
// be observed: route, authentication (401), rate limit (429), the
// credential's right to the operation (401 for keys on admin resources, 403
// for a restricted key outside its policy), the account in the path, then
// the operation.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	call := Call{Method: r.Method, Path: r.URL.Path, Credential: CredInvalid}
	call.Status = vendorfake.Serve(w, func(w http.ResponseWriter) { s.serve(w, r, &call) })
	call.Time = s.now().UTC()
	s.calls.Add(call)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, call *Call) {
	var rt *route
	var vars []string
	pathMatched := false
	for i := range routes {
		m := routes[i].re.FindStringSubmatch(r.URL.Path)
		if m == nil {
			continue
		}
		pathMatched = true
		if routes[i].method == r.Method {
			rt, vars = &routes[i], m[1:]
			break
		}
	}
	if rt == nil {
		if pathMatched {
			writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Code: 20004, Message: "Method not allowed"})
			return
		}
		writeError(w, errNotFound(r.URL.Path))
		return
	}
	call.Operation = rt.op
	var form url.Values
	if r.Method == http.MethodPost {
		if r.ContentLength > s.maxBody {
			writeError(w, &apiError{Status: http.StatusRequestEntityTooLarge, Code: 20001, Message: "Request entity too large"})
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, s.maxBody+1))
		if err != nil || int64(len(body)) > s.maxBody {
			writeError(w, &apiError{Status: http.StatusRequestEntityTooLarge, Code: 20001, Message: "Request entity too large"})
			return
		}
		if form, err = url.ParseQuery(string(body)); err != nil {
			writeError(w, errInvalid("The request body is not a valid form"))
			return
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	p, user, aerr := s.authenticate(r)
	call.Principal = user
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	call.AccountSid, call.Credential, call.Fingerprint = p.account.sid, p.cred, p.fingerprint
	if aerr := s.throttle(p.account); aerr != nil {
		writeError(w, aerr)
		return
	}
	if aerr := authorize(p, rt.acc, rt.perm); aerr != nil {
		writeError(w, aerr)
		return
	}
	if rt.accountVar >= 0 && vars[rt.accountVar] != p.account.sid {
		// Another account's resources: Twilio answers 20003 (credentials of
		// one account used for another).
		writeError(w, errAuthenticate())
		return
	}
	if aerr := rt.handle(s, &req{w: w, r: r, p: p, vars: vars, form: form}); aerr != nil {
		writeError(w, aerr)
	}
}

// throttle applies the account's rate limit. The caller holds s.mu.
func (s *Server) throttle(a *account) *apiError {
	now := s.now()
	if limited, retryAt, _ := a.limiter.Take(now); limited {
		return &apiError{Status: http.StatusTooManyRequests, Code: CodeTooManyRequests, Message: "Too Many Requests",
			RetryAfter: ceilSeconds(retryAt.Sub(now))}
	}
	return nil
}

// ceilSeconds rounds d up to whole seconds, at least 1.
func ceilSeconds(d time.Duration) int {
	n := int(math.Ceil(d.Seconds()))
	if n < 1 {
		n = 1
	}
	return n
}

// pageParams reads PageSize (1..1000, default 50) and Page (>= 0).
func pageParams(q url.Values) (size, page int, err *apiError) {
	size, page = 50, 0
	if v := q.Get("PageSize"); v != "" {
		n, e := parseInt(v)
		if e != nil || n < 1 || n > 1000 {
			return 0, 0, errInvalid("PageSize must be an integer from 1 to 1000")
		}
		size = n
	}
	if v := q.Get("Page"); v != "" {
		n, e := parseInt(v)
		if e != nil || n < 0 {
			return 0, 0, errInvalid("Page must be a non-negative integer")
		}
		page = n
	}
	return size, page, nil
}

func parseInt(s string) (int, error) {
	var n int
	if len(s) == 0 || len(s) > 9 {
		return 0, errors.New("not a small integer")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("not an integer")
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}

// window returns the slice bounds of page number page of size size over n
// items.
func window(n, size, page int) (lo, hi int) {
	lo = size * page
	if lo > n {
		lo = n
	}
	hi = lo + size
	if hi > n {
		hi = n
	}
	return lo, hi
}

// friendlyName reads an optional FriendlyName of at most 64 characters.
func friendlyName(form url.Values) (string, *apiError) {
	name := form.Get("FriendlyName")
	if len([]rune(name)) > 64 {
		return "", errInvalid("FriendlyName must be at most 64 characters long")
	}
	return strings.TrimSpace(name), nil
}
