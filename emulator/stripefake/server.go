package stripefake

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DefaultAPIVersion is the API version events are rendered with when an
// endpoint has none: the version stripe-go/v76 is pinned to.
const DefaultAPIVersion = "2023-10-16"

// maxBody bounds a request body.
const maxBody = 1 << 20

// idempotencyTTL is how long Stripe keeps an idempotency key's result.
const idempotencyTTL = 24 * time.Hour

// Config configures a Server. The zero value is usable.
type Config struct {
	// Now is the clock (key expiry, created times, signature timestamps);
	// time.Now when nil.
	Now func() time.Time
	// HTTPClient delivers events; a client with DeliveryTimeout when nil.
	HTTPClient *http.Client
	// DeliveryTimeout bounds one delivery; 10s when zero.
	DeliveryTimeout time.Duration
}

// Request is one API call as the fake saw it, without any key value.
type Request struct {
	Method string
	Path   string
	// Key is the masked key (MaskKey), "" when none was sent.
	Key            string
	AccountID      string
	Status         int
	IdempotencyKey string
	// Replayed is true when the answer was an idempotent replay.
	Replayed bool
}

// Fault makes matching requests fail, for tests of retries and crash
// safety.
type Fault struct {
	// Method and Path select requests ("" matches any). Path matches
	// exactly, or as a prefix when it ends in "*".
	Method, Path string
	// Times is how many matching requests fail; 0 means 1.
	Times int
	// Status, when set, answers this HTTP status without running the
	// request (429 as rate_limit, anything else as api_error).
	Status int
	// DropResponse runs the request (state changes happen) and then closes
	// the connection without answering: the response is lost.
	DropResponse bool
}

// Server is the fake. It is an http.Handler and safe for concurrent use.
type Server struct {
	cfg  Config
	now  func() time.Time
	http *http.Client

	mu         sync.Mutex
	accounts   map[string]*account
	keys       map[string]*key
	endpoints  map[string]*endpoint
	events     map[string]*event
	deliveries []Delivery
	idem       map[string]*idemEntry
	requests   []Request
	faults     []*Fault
	seq        int64
	dummyV0    string // test-mode v0 signatures use this secret, like Stripe's never-valid v0

	srvMu sync.Mutex
	srv   *http.Server
}

type idemEntry struct {
	fingerprint string
	done        bool
	status      int
	body        []byte
	created     time.Time
}

// New builds an empty Server.
func New(cfg Config) *Server {
	s := &Server{
		cfg:       cfg,
		now:       cfg.Now,
		http:      cfg.HTTPClient,
		accounts:  map[string]*account{},
		keys:      map[string]*key{},
		endpoints: map[string]*endpoint{},
		events:    map[string]*event{},
		idem:      map[string]*idemEntry{},
		dummyV0:   newWebhookSecret(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.http == nil {
		t := cfg.DeliveryTimeout
		if t <= 0 {
			t = 10 * time.Second
		}
		s.http = &http.Client{Timeout: t}
	}
	return s
}

// Start listens on addr (for example "127.0.0.1:0") and serves in the
// background. It returns the base URL, e.g. "http://127.0.0.1:43121", to use
// as stripe.BackendConfig.URL.
func (s *Server) Start(addr string) (string, error) {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv != nil {
		return "", errors.New("stripefake: server already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}
	go func(srv *http.Server) { _ = srv.Serve(ln) }(s.srv)
	return "http://" + ln.Addr().String(), nil
}

// Close stops a server started with Start. It is a no-op otherwise.
func (s *Server) Close() error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv == nil {
		return nil
	}
	err := s.srv.Close()
	s.srv = nil
	return err
}

// InjectFault adds a fault; faults match in the order added.
func (s *Server) InjectFault(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// Requests returns the API calls seen so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetRequests clears the call log.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// takeFault returns the first matching fault and uses it up.
func (s *Server) takeFault(method, path string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Method != "" && f.Method != method {
			continue
		}
		if f.Path != "" {
			if p, ok := strings.CutSuffix(f.Path, "*"); ok {
				if !strings.HasPrefix(path, p) {
					continue
				}
			} else if f.Path != path {
				continue
			}
		}
		f.Times--
		if f.Times <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		c := *f
		return &c
	}
	return nil
}

// call is one authenticated request being served.
type call struct {
	method, path string
	key          Key
	live         bool
	p            *params
}

// answer is a handler's result.
type answer struct {
	status int
	body   any
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := Request{Method: r.Method, Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key")}
	status, body, replayed, fault := s.serve(r, &rec)
	rec.Status, rec.Replayed = status, replayed
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()

	if fault != nil && fault.DropResponse {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Request-Id", newID("req_", 14))
	h.Set("Stripe-Version", DefaultAPIVersion)
	if rec.IdempotencyKey != "" && (r.Method == http.MethodPost || r.Method == http.MethodDelete) {
		h.Set("Idempotency-Key", rec.IdempotencyKey)
		if replayed {
			h.Set("Idempotent-Replayed", "true")
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// serve authenticates, applies faults and idempotency, routes, and returns
// the encoded answer.
func (s *Server) serve(r *http.Request, rec *Request) (status int, body []byte, replayed bool, fault *Fault) {
	k, aerr := s.authenticate(r)
	if k.Secret != "" {
		rec.Key, rec.AccountID = MaskKey(k.Secret), k.AccountID
	}
	if aerr != nil {
		return encodeErr(aerr)
	}
	if f := s.takeFault(r.Method, r.URL.Path); f != nil {
		fault = f
		if f.Status != 0 {
			e := newError(f.Status, TypeAPI, "", "", "An unknown error occurred")
			if f.Status == http.StatusTooManyRequests {
				e = newError(f.Status, TypeInvalidRequest, "rate_limit", "", "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.")
			}
			status, body, _, _ = encodeErr(e)
			return status, body, false, fault
		}
	}
	values, perr := readValues(r)
	if perr != nil {
		status, body, _, _ = encodeErr(perr)
		return status, body, false, fault
	}
	p, perr := parseParams(values)
	if perr != nil {
		status, body, _, _ = encodeErr(perr)
		return status, body, false, fault
	}
	c := &call{method: r.Method, path: r.URL.Path, key: k, live: k.Live, p: p}

	write := r.Method == http.MethodPost || r.Method == http.MethodDelete
	idemKey := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	if !write || idemKey == "" {
		status, body = s.route(c)
		return status, body, false, fault
	}
	fp := fingerprint(r.Method, r.URL.Path, values)
	slot := k.AccountID + "|" + keyPrefix(KindSecret, k.Live) + "|" + idemKey
	s.mu.Lock()
	s.expireIdemLocked()
	if e, ok := s.idem[slot]; ok {
		s.mu.Unlock()
		switch {
		case e.fingerprint != fp:
			status, body, _, _ = encodeErr(newError(http.StatusBadRequest, TypeIdempotency, "", "",
				"Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '%s' if you meant to execute a different request.", idemKey))
			return status, body, false, fault
		case !e.done:
			status, body, _, _ = encodeErr(newError(http.StatusConflict, TypeInvalidRequest, CodeIdempotencyKeyInUse, "",
				"There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): %s. Please try again later.", idemKey))
			return status, body, false, fault
		default:
			return e.status, e.body, true, fault
		}
	}
	e := &idemEntry{fingerprint: fp, created: s.now()}
	s.idem[slot] = e
	s.mu.Unlock()

	status, body = s.route(c)

	s.mu.Lock()
	if status == http.StatusBadRequest || status >= 500 {
		// Stripe saves a result only once the endpoint started executing;
		// a request refused by validation may be retried with the same key.
		delete(s.idem, slot)
	} else {
		e.done, e.status, e.body = true, status, body
	}
	s.mu.Unlock()
	return status, body, false, fault
}

func (s *Server) expireIdemLocked() {
	now := s.now()
	for k, e := range s.idem {
		if e.done && now.Sub(e.created) > idempotencyTTL {
			delete(s.idem, k)
		}
	}
}

func fingerprint(method, path string, v url.Values) string {
	h := sha256.Sum256([]byte(method + " " + path + "?" + v.Encode()))
	return hex.EncodeToString(h[:])
}

func encodeErr(e *apiError) (int, []byte, bool, *Fault) {
	b, _ := json.MarshalIndent(map[string]any{"error": e}, "", "  ")
	return e.status, append(b, '\n'), false, nil
}

// readValues returns the request's parameters: the query string for GET,
// the form body for POST and DELETE.
func readValues(r *http.Request) (url.Values, *apiError) {
	if r.Method == http.MethodGet {
		return r.URL.Query(), nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, newError(http.StatusBadRequest, TypeInvalidRequest, "", "", "Could not read the request body.")
	}
	if len(b) > maxBody {
		return nil, newError(http.StatusRequestEntityTooLarge, TypeInvalidRequest, "", "", "Request body too large.")
	}
	if len(bytes.TrimSpace(b)) > 0 {
		ct := r.Header.Get("Content-Type")
		if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
			return nil, newError(http.StatusBadRequest, TypeInvalidRequest, "", "",
				"Invalid request: unsupported Content-Type %s. If error persists and you need assistance, please contact support@stripe.com.", ct)
		}
	}
	v, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, newError(http.StatusBadRequest, TypeInvalidRequest, "", "", "Invalid request: the form body could not be parsed.")
	}
	// Stripe also reads parameters from the query string of a write.
	for k, vs := range r.URL.Query() {
		v[k] = append(v[k], vs...)
	}
	return v, nil
}

// authenticate finds the request's key: Bearer, or basic auth with the key
// as user name (the password is ignored, as on Stripe).
func (s *Server) authenticate(r *http.Request) (Key, *apiError) {
	auth := strings.TrimSpace(r.Header.Get("Authorization"))
	if auth == "" {
		return Key{}, errNoKey()
	}
	scheme, cred, _ := strings.Cut(auth, " ")
	cred = strings.TrimSpace(cred)
	var secret string
	switch strings.ToLower(scheme) {
	case "bearer":
		secret = cred
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return Key{}, errInvalidKey("")
		}
		secret, _, _ = strings.Cut(string(raw), ":")
	default:
		return Key{}, errInvalidKey("")
	}
	if secret == "" {
		return Key{}, errNoKey()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[secret]
	if !ok {
		return Key{}, errInvalidKey(secret)
	}
	if k.expired(s.now()) {
		return k.Key, errExpiredKey(secret)
	}
	return k.Key, nil
}

// require checks a restricted key's permission.
func (c *call) require(perm string) *apiError {
	k := key{Key: c.key}
	if k.allows(perm) {
		return nil
	}
	return errPermission(c.key.Secret, c.key.AccountID, perm)
}

// route dispatches an authenticated call and encodes the answer.
func (s *Server) route(c *call) (int, []byte) {
	a, err := s.dispatch(c)
	if err != nil {
		st, b, _, _ := encodeErr(err)
		return st, b
	}
	b, jerr := json.MarshalIndent(a.body, "", "  ")
	if jerr != nil {
		st, eb, _, _ := encodeErr(newError(http.StatusInternalServerError, TypeAPI, "", "", "An unknown error occurred"))
		return st, eb
	}
	return a.status, append(b, '\n')
}

func (s *Server) dispatch(c *call) (answer, *apiError) {
	path := strings.TrimSuffix(c.path, "/")
	switch {
	case path == "/v1/account" && c.method == http.MethodGet:
		return s.getAccount(c)
	case path == "/v1/balance" && c.method == http.MethodGet:
		return s.getBalance(c)
	case path == "/v1/charges" && c.method == http.MethodGet:
		return s.emptyList(c, PermChargeRead, "/v1/charges", "created", "customer", "payment_intent", "transfer_group")
	case path == "/v1/customers" && c.method == http.MethodGet:
		return s.emptyList(c, PermCustomerRead, "/v1/customers", "created", "email", "test_clock")
	case path == "/v1/webhook_endpoints":
		switch c.method {
		case http.MethodGet:
			return s.listEndpoints(c)
		case http.MethodPost:
			return s.createEndpoint(c)
		}
	case strings.HasPrefix(path, "/v1/webhook_endpoints/"):
		id := strings.TrimPrefix(path, "/v1/webhook_endpoints/")
		if id == "" || strings.Contains(id, "/") {
			break
		}
		switch c.method {
		case http.MethodGet:
			return s.getEndpoint(c, id)
		case http.MethodPost:
			return s.updateEndpoint(c, id)
		case http.MethodDelete:
			return s.deleteEndpoint(c, id)
		}
	}
	return answer{}, errUnrecognizedURL(c.method, c.path)
}

//go:embed account.json
var accountTemplate []byte

func (s *Server) getAccount(c *call) (answer, *apiError) {
	if err := c.require(PermAccountRead); err != nil {
		return answer{}, err
	}
	if err := c.p.check(); err != nil {
		return answer{}, err
	}
	s.mu.Lock()
	a, ok := s.accounts[c.key.AccountID]
	s.mu.Unlock()
	if !ok {
		return answer{}, errInvalidKey(c.key.Secret)
	}
	var m map[string]any
	if err := json.Unmarshal(accountTemplate, &m); err != nil {
		return answer{}, newError(http.StatusInternalServerError, TypeAPI, "", "", "An unknown error occurred")
	}
	m["id"] = a.ID
	m["email"] = nullable(a.Email)
	m["country"] = a.Country
	m["default_currency"] = a.DefaultCurrency
	m["created"] = a.Created.Unix()
	if bp, ok := m["business_profile"].(map[string]any); ok {
		bp["name"] = nullable(a.BusinessName)
	}
	if st, ok := m["settings"].(map[string]any); ok {
		if d, ok := st["dashboard"].(map[string]any); ok {
			d["display_name"] = nullable(a.BusinessName)
		}
	}
	if ea, ok := m["external_accounts"].(map[string]any); ok {
		ea["url"] = "/v1/accounts/" + a.ID + "/external_accounts"
	}
	return answer{http.StatusOK, m}, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) getBalance(c *call) (answer, *apiError) {
	if err := c.require(PermBalanceRead); err != nil {
		return answer{}, err
	}
	if err := c.p.check(); err != nil {
		return answer{}, err
	}
	s.mu.Lock()
	cur := "usd"
	if a, ok := s.accounts[c.key.AccountID]; ok {
		cur = a.DefaultCurrency
	}
	s.mu.Unlock()
	amount := func() []any {
		return []any{map[string]any{"amount": 0, "currency": cur, "source_types": map[string]any{"card": 0}}}
	}
	return answer{http.StatusOK, map[string]any{
		"object":           "balance",
		"available":        amount(),
		"pending":          amount(),
		"connect_reserved": []any{map[string]any{"amount": 0, "currency": cur}},
		"livemode":         c.live,
	}}, nil
}

// emptyList answers a list read of a resource the fake holds none of.
func (s *Server) emptyList(c *call, perm, url string, extra ...string) (answer, *apiError) {
	if err := c.require(perm); err != nil {
		return answer{}, err
	}
	if err := c.p.check(append([]string{"limit", "starting_after", "ending_before"}, extra...)...); err != nil {
		return answer{}, err
	}
	if _, err := listLimit(c.p); err != nil {
		return answer{}, err
	}
	return answer{http.StatusOK, map[string]any{"object": "list", "data": []any{}, "has_more": false, "url": url}}, nil
}
