package sendgridfake

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dualkey/dualkey/emulator/internal/vendorfake"
)

// DefaultMaxBodyBytes bounds a request body.
const DefaultMaxBodyBytes = 64 << 10

// Config configures a Server. The zero value is usable.
type Config struct {
	// MaxKeys is the number of keys a user may have; DefaultMaxKeys (100)
	// when zero.
	MaxKeys int
	// MaxBodyBytes bounds a request body; DefaultMaxBodyBytes when zero.
	MaxBodyBytes int64
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// RateLimit limits a user to Requests authenticated requests per Window (a
// fixed window opened by the first request); beyond it requests get 429 with
// X-RateLimit-Reset at the window's end. The zero value is no limit.
type RateLimit = vendorfake.RateLimit

// Call is one request the fake answered. It holds no secret: KeyID is the
// key's public id and Fingerprint the last four characters of the key.
type Call struct {
	Time         time.Time
	Method, Path string // no query string
	// Operation is the operationId of SendGrid's OpenAPI documents
	// (CreateApiKey, ListApiKey, GetApiKey, UpdateApiKeyName, UpdateApiKey,
	// DeleteApiKey, ListScope), "" when none matched.
	Operation string
	// KeyID is the id of the key that authenticated ("" when none did).
	KeyID string
	// Username is the user the key belongs to; OnBehalfOf the subuser it
	// acted for ("" when it acted for itself).
	Username, OnBehalfOf string
	Fingerprint          string
	Status               int
}

// Failed reports whether the call was answered with an error status.
func (c Call) Failed() bool { return c.Status >= 400 }

// Server is the fake. It is an http.Handler and safe for concurrent use.
type Server struct {
	cfg     Config
	now     func() time.Time
	maxKeys int
	maxBody int64

	mu       sync.Mutex
	users    map[string]*user
	keyIndex map[string]*key
	seq      uint64

	calls vendorfake.Calls[Call]
	ln    vendorfake.Listener
}

var _ http.Handler = (*Server)(nil)

// New builds a Server with no users.
func New(cfg Config) *Server {
	s := &Server{cfg: cfg, now: cfg.Now, maxKeys: cfg.MaxKeys, maxBody: cfg.MaxBodyBytes,
		users: map[string]*user{}, keyIndex: map[string]*key{}, ln: vendorfake.Listener{Name: "sendgridfake"}}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxKeys <= 0 {
		s.maxKeys = DefaultMaxKeys
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	return s
}

// Start listens on addr (for example "127.0.0.1:0") and serves in the
// background. It returns the base URL.
func (s *Server) Start(addr string) (string, error) { return s.ln.Start(addr, s) }

// Close stops a server started with Start. It is a no-op otherwise.
func (s *Server) Close() error { return s.ln.Close() }

// Endpoints returns the fake's base URL for both documents (empty before
// Start).
func (s *Server) Endpoints() Endpoints {
	url := s.ln.URL()
	return Endpoints{APIKeys: url, Scopes: url}
}

// SetRateLimit sets a user's rate limit (the zero RateLimit removes it).
func (s *Server) SetRateLimit(username string, limit RateLimit) error {
	return vendorfake.With(&s.mu, s.users, username, ErrNoUser, func(u *user) { u.limiter.Set(limit) })
}

// ThrottleNext answers the user's next n authenticated requests with 429,
// X-RateLimit-Remaining 0 and X-RateLimit-Reset retryAfter from now.
func (s *Server) ThrottleNext(username string, n int, retryAfter time.Duration) error {
	return vendorfake.With(&s.mu, s.users, username, ErrNoUser, func(u *user) { u.limiter.ThrottleNext(n, retryAfter) })
}

// Calls returns every call answered since start or the last ResetCalls.
func (s *Server) Calls() []Call { return s.calls.All() }

// ResetCalls forgets the recorded calls.
func (s *Server) ResetCalls() { s.calls.Reset() }

// apiError is a SendGrid error: HTTP status and one entry of "errors".
type apiError struct {
	Status  int
	Field   *string
	Message string
	headers map[string]string
}

func field(name string) *string { return &name }

func errUnauthorized() *apiError {
	return &apiError{Status: http.StatusUnauthorized, Message: "authorization required"}
}

func errForbidden() *apiError {
	return &apiError{Status: http.StatusForbidden, Message: "access forbidden"}
}

func writeError(w http.ResponseWriter, e *apiError) {
	type item struct {
		Field   *string `json:"field"`
		Message string  `json:"message"`
	}
	body, _ := json.Marshal(struct {
		Errors []item `json:"errors"`
	}{[]item{{e.Field, e.Message}}})
	for k, v := range e.headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, &apiError{Status: http.StatusInternalServerError, Message: "internal server error"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

type req struct {
	w     http.ResponseWriter
	r     *http.Request
	key   *key  // the authenticating key
	actor *user // the user acted for
	id    string
	body  []byte
}

type route struct {
	method string
	re     *regexp.Regexp
	op     string
	scope  string // "" = any valid key
	handle func(s *Server, q *req) *apiError
}

var routes = []route{
	{http.MethodPost, regexp.MustCompile(`^/v3/api_keys$`), "CreateApiKey", "api_keys.create", (*Server).createKey},
	{http.MethodGet, regexp.MustCompile(`^/v3/api_keys$`), "ListApiKey", "api_keys.read", (*Server).listKeys},
	{http.MethodGet, regexp.MustCompile(`^/v3/api_keys/([^/]+)$`), "GetApiKey", "api_keys.read", (*Server).getKey},
	{http.MethodPatch, regexp.MustCompile(`^/v3/api_keys/([^/]+)$`), "UpdateApiKeyName", "api_keys.update", (*Server).patchKey},
	{http.MethodPut, regexp.MustCompile(`^/v3/api_keys/([^/]+)$`), "UpdateApiKey", "api_keys.update", (*Server).putKey},
	{http.MethodDelete, regexp.MustCompile(`^/v3/api_keys/([^/]+)$`), "DeleteApiKey", "api_keys.delete", (*Server).deleteKey},
	{http.MethodGet, regexp.MustCompile(`^/v3/scopes$`), "ListScope", "", (*Server).listScopes},
}

// ServeHTTP implements http.Handler: route, authentication (401), the
// on-behalf-of subuser (403 unless the key's user is its parent), rate limit
// (429), the endpoint's scope (403), then the operation.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	call := Call{Method: r.Method, Path: r.URL.Path}
	call.Status = vendorfake.Serve(w, func(w http.ResponseWriter) { s.serve(w, r, &call) })
	call.Time = s.now().UTC()
	s.calls.Add(call)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, call *Call) {
	var rt *route
	var id string
	for i := range routes {
		if m := routes[i].re.FindStringSubmatch(r.URL.Path); m != nil && routes[i].method == r.Method {
			rt = &routes[i]
			if len(m) > 1 {
				id = m[1]
			}
			break
		}
	}
	if rt == nil {
		writeError(w, &apiError{Status: http.StatusNotFound, Message: "not found"})
		return
	}
	call.Operation = rt.op
	var body []byte
	if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		b, err := io.ReadAll(io.LimitReader(r.Body, s.maxBody+1))
		if err != nil || int64(len(b)) > s.maxBody {
			writeError(w, &apiError{Status: http.StatusRequestEntityTooLarge, Message: "request body too large"})
			return
		}
		body = b
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.authenticate(r)
	if k == nil {
		writeError(w, errUnauthorized())
		return
	}
	call.KeyID, call.Username, call.Fingerprint = k.id, k.username, k.secret[len(k.secret)-4:]
	actor := s.users[k.username]
	if obo := strings.TrimSpace(r.Header.Get("on-behalf-of")); obo != "" {
		call.OnBehalfOf = obo
		sub, ok := s.users[obo]
		if !ok || sub.Parent != k.username {
			writeError(w, errForbidden())
			return
		}
		actor = sub
	}
	if e := s.throttle(s.users[k.username]); e != nil {
		writeError(w, e)
		return
	}
	if rt.scope != "" && len(missing([]string{rt.scope}, k.scopes)) > 0 {
		writeError(w, errForbidden())
		return
	}
	if e := rt.handle(s, &req{w: w, r: r, key: k, actor: actor, id: id, body: body}); e != nil {
		writeError(w, e)
	}
}

// authenticate finds the key in "Authorization: Bearer SG.<id>.<secret>".
// The caller holds s.mu.
func (s *Server) authenticate(r *http.Request) *key {
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		return nil
	}
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 || parts[0] != "SG" {
		return nil
	}
	k, ok := s.keyIndex[parts[1]]
	if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(k.secret)) != 1 {
		return nil
	}
	return k
}

// throttle applies the rate limit of the key's user. The caller holds s.mu.
func (s *Server) throttle(u *user) *apiError {
	limited, reset, limit := u.limiter.Take(s.now())
	if !limited {
		return nil
	}
	return &apiError{Status: http.StatusTooManyRequests, Message: "too many requests", headers: map[string]string{
		"X-RateLimit-Limit":     strconv.Itoa(limit),
		"X-RateLimit-Remaining": "0",
		"X-RateLimit-Reset":     strconv.FormatInt(int64(math.Ceil(float64(reset.UnixNano())/1e9)), 10),
	}}
}

// decode reads a JSON object body into v; unknown fields are ignored, as
// SendGrid does.
func decode(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		return &apiError{Status: http.StatusBadRequest, Message: "request body is required"}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &apiError{Status: http.StatusBadRequest, Message: "request body is invalid JSON"}
	}
	return nil
}
