package awsemu

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dualkey/dualkey/emulator/awsauth"
	"github.com/dualkey/dualkey/emulator/internal/awsjson"
	"github.com/dualkey/dualkey/shared/rotation"
)

// Bootstrap identity and location everything local uses by default.
const (
	DefaultAccessKeyID     = "AKIADUALKEYBOOTSTRAP"
	DefaultSecretAccessKey = "dualkey-bootstrap-secret-key"
	DefaultRegion          = awsjson.DefaultRegion
	DefaultAccountID       = awsjson.DefaultAccountID
)

// serviceName is the SigV4 credential-scope service of Secrets Manager.
const serviceName = "secretsmanager"

// DefaultMaxBodyBytes bounds a request body. It fits every request of the
// services the emulator serves or mounts: a Secrets Manager value is at most
// 64 KiB (about 87 KiB once base64-encoded as SecretBinary), a CloudWatch
// Logs PutLogEvents batch at most 1 MiB of messages, which JSON escaping and
// per-event framing can roughly double.
const DefaultMaxBodyBytes = 2 << 20

// Config configures a Server. The zero value is usable.
type Config struct {
	// Region and AccountID appear in ARNs; DefaultRegion and DefaultAccountID
	// when empty.
	Region, AccountID string
	// Verifier checks SigV4 on every AWS request. Nil verifies against
	// awsauth.StaticKeys{DefaultAccessKeyID: DefaultSecretAccessKey}.
	Verifier *awsauth.Verifier
	// Services holds extra AWS services keyed by SigV4 credential-scope
	// service name ("iam", "sts"). Requests are routed there after signature
	// verification, with the body restored and awsauth.WithPrincipal set on the
	// request context.
	Services map[string]http.Handler
	// Lambdas maps a rotation Lambda name or ARN to an invoke URL, for example
	// an AWS Lambda Runtime Interface Emulator URL
	// http://127.0.0.1:9001/2015-03-31/functions/function/invocations.
	// Invocations of one URL are queued, first come first served, so at most
	// one runs at a time: an RIE handles one invocation at a time.
	Lambdas map[string]string
	// Invoker, when set, is used instead of HTTP for every Lambda.
	Invoker Invoker
	// StateFile, when set, is loaded by New and rewritten (atomically) after
	// every mutating call so that state survives restarts. New fails when
	// the file's directory is not writable.
	StateFile string
	// Admin serves extra unauthenticated helper endpoints by exact path
	// under /_dualkey/ (Full mounts the EventBridge and ECS views there).
	Admin map[string]http.Handler
	// MaxBodyBytes bounds a request body; DefaultMaxBodyBytes when zero. A
	// larger request gets HTTP 413 (RequestEntityTooLargeException) once it
	// is authenticated, and is never buffered.
	MaxBodyBytes int64
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Invoker invokes a rotation Lambda with a raw JSON event.
type Invoker interface {
	// Invoke runs function (the rotation Lambda ARN configured on the secret)
	// with payload, a Secrets Manager rotation event such as
	// {"Step":"createSecret","SecretId":ARN,"ClientRequestToken":T,"RotationToken":R}.
	// It returns only after the function finished; a non-nil error means the
	// function failed (or could not be run) and the rotation stops at this step.
	Invoke(ctx context.Context, function string, payload []byte) error
}

// InvokerFunc adapts a function to Invoker, as http.HandlerFunc does for handlers.
type InvokerFunc func(ctx context.Context, function string, payload []byte) error

// Invoke implements Invoker.
func (f InvokerFunc) Invoke(ctx context.Context, function string, payload []byte) error {
	return f(ctx, function, payload)
}

// Server is the emulator. It is an http.Handler and safe for concurrent use.
type Server struct {
	cfg        Config
	verifier   *awsauth.Verifier
	now        func() time.Time
	httpClient *http.Client
	maxBody    int64

	mu        sync.Mutex // guards st, rotations and the persistence fields; never held while a Lambda runs
	st        *state
	stats     awsjson.Calls // per Secrets Manager operation
	rotations []RotationRecord
	deadlines deadlines // scheduled deletions, earliest first

	// Persistence (see state.go): guarded by mu, except that persistMu
	// serializes writers of the state file.
	persistMu  sync.Mutex
	dirty      map[string]bool          // ARNs whose encoding is stale
	encoded    map[string]encodedSecret // ARN -> cached JSON
	gen        uint64                   // bumped by every change
	writtenGen uint64                   // gen last written to the state file
	persistErr error                    // result of the last write
	health     []func() error           // extra checks reported by /_dualkey/health

	queuesMu sync.Mutex
	queues   map[string]*invokeQueue // by invoke URL

	callsMu sync.Mutex
	calls   map[string]map[string]int // access key id -> "service:Action" -> count

	srvMu sync.Mutex
	srv   *http.Server
}

// New builds a Server, loading Config.StateFile when it exists.
func New(cfg Config) (*Server, error) {
	cfg.Region, cfg.AccountID, cfg.Now = awsjson.Defaults(cfg.Region, cfg.AccountID, cfg.Now)
	s := &Server{
		cfg:        cfg,
		verifier:   cfg.Verifier,
		now:        cfg.Now,
		httpClient: &http.Client{},
		st:         newState(),
		dirty:      map[string]bool{},
		encoded:    map[string]encodedSecret{},
		calls:      map[string]map[string]int{},
		queues:     map[string]*invokeQueue{},
	}
	if s.verifier == nil {
		s.verifier = &awsauth.Verifier{
			Keys:    awsauth.StaticKeys{DefaultAccessKeyID: DefaultSecretAccessKey},
			Now:     s.now,
			Regions: []string{cfg.Region},
		}
	}
	s.maxBody = cfg.MaxBodyBytes
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if cfg.StateFile != "" {
		if err := checkStateDir(cfg.StateFile); err != nil {
			return nil, err
		}
		st, err := loadState(cfg.StateFile)
		if err != nil {
			return nil, fmt.Errorf("load state file: %w", err)
		}
		s.st = st
		for arn, sec := range st.Secrets {
			s.dirty[arn] = true // encoded by the first write
			if sec.DeletionDate != nil {
				s.deadlines.add(*sec.DeletionDate, arn)
			}
		}
	}
	return s, nil
}

// Start listens on addr (for example "127.0.0.1:0") and serves in the
// background. It returns the base URL, e.g. "http://127.0.0.1:43121".
func (s *Server) Start(addr string) (string, error) {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv != nil {
		return "", errors.New("awsemu: server already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}
	go func(srv *http.Server) { _ = srv.Serve(ln) }(s.srv)
	return "http://" + ln.Addr().String(), nil
}

// Close stops a server started with Start and writes any change not yet in
// the state file (a purge of expired secrets, say).
func (s *Server) Close() error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	var err error
	if s.srv != nil {
		err = s.srv.Close()
		s.srv = nil
	}
	if err != nil {
		return fmt.Errorf("close server: %w", err)
	}
	if err := s.flush(); err != nil {
		return fmt.Errorf("save state file: %w", err)
	}
	return nil
}

// Stats returns the number of calls per Secrets Manager operation since start
// or the last reset. Every authenticated request that reached an operation is
// counted, whether it succeeded or failed.
func (s *Server) Stats() map[string]int { return s.stats.Snapshot() }

// ResetStats zeroes the operation counters.
func (s *Server) ResetStats() { s.stats.Reset() }

// ServeHTTP implements http.Handler.
//
// The order matters for a server anyone on the machine can reach: the
// Authorization header, the key, X-Amz-Date and the credential scope are
// checked before the body is read, so an unauthenticated client cannot make
// the emulator buffer anything; an authenticated body is read up to
// MaxBodyBytes and then the signature over it is checked.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_dualkey/") {
		s.serveAdmin(w, r)
		return
	}
	jsonProtocol := r.Header.Get("X-Amz-Target") != ""
	pending, p, err := s.verifier.Authenticate(r)
	if err != nil {
		s.writeAuthError(w, jsonProtocol, p.Service, err)
		return
	}
	if r.ContentLength > s.maxBody {
		s.writeTooLarge(w, r, jsonProtocol, p.Service)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, s.maxBody+1))
	if err != nil {
		awsjson.WriteError(w, &awsjson.Error{Code: awsjson.CodeSerialization, Message: "could not read request body", Status: http.StatusBadRequest})
		return
	}
	if int64(len(body)) > s.maxBody {
		s.writeTooLarge(w, r, jsonProtocol, p.Service)
		return
	}
	if p, err = pending.Verify(body); err != nil {
		s.writeAuthError(w, jsonProtocol, p.Service, err)
		return
	}
	if p.Service == serviceName {
		s.serveSecretsManager(w, r, body, p)
		return
	}
	h, ok := s.cfg.Services[p.Service]
	if !ok {
		if jsonProtocol {
			awsjson.WriteError(w, awsjson.Errorf(awsjson.CodeUnknownOperation, "The service %q is not served by this endpoint.", p.Service))
		} else {
			writeQueryError(w, http.StatusBadRequest, "InvalidAction", fmt.Sprintf("The service %q is not served by this endpoint.", p.Service), p.Service)
		}
		return
	}
	s.recordCall(p, actionOf(r, body, jsonProtocol))
	r2 := r.WithContext(awsauth.WithPrincipal(r.Context(), p))
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	h.ServeHTTP(w, r2)
}

// writeTooLarge answers a body over MaxBodyBytes as AWS's front end does.
func (s *Server) writeTooLarge(w http.ResponseWriter, r *http.Request, jsonProtocol bool, service string) {
	if jsonProtocol {
		op := r.Header.Get("X-Amz-Target")
		if i := strings.LastIndex(op, "."); i >= 0 {
			op = op[i+1:]
		}
		awsjson.WriteError(w, &awsjson.Error{Code: "RequestEntityTooLargeException",
			Message: fmt.Sprintf("Request must be smaller than %d bytes for the %s operation", s.maxBody, rotation.RedactURLs(op)),
			Status:  http.StatusRequestEntityTooLarge})
		return
	}
	writeQueryError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", fmt.Sprintf("Request must be smaller than %d bytes.", s.maxBody), service)
}

// writeAuthError maps awsauth errors to the codes the service would return:
// JSON 1.1 codes for JSON requests, query-protocol codes (as IAM and STS use)
// otherwise.
func (s *Server) writeAuthError(w http.ResponseWriter, jsonProtocol bool, service string, err error) {
	const sigMsg = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	const tokenMsg = "The security token included in the request is invalid."
	var code, qcode, msg string
	qstatus := http.StatusForbidden
	switch {
	case errors.Is(err, awsauth.ErrMissingAuth):
		code, qcode, msg = "MissingAuthenticationTokenException", "MissingAuthenticationToken", "Missing Authentication Token"
	case errors.Is(err, awsauth.ErrUnknownKey), errors.Is(err, awsauth.ErrInactiveKey):
		code, qcode, msg = "UnrecognizedClientException", "InvalidClientTokenId", tokenMsg
	case errors.Is(err, awsauth.ErrSignatureMismatch):
		code, qcode, msg = "InvalidSignatureException", "SignatureDoesNotMatch", sigMsg
	case errors.Is(err, awsauth.ErrRequestTime), errors.Is(err, awsauth.ErrCredentialScope):
		// The error's text is AWS's own message, e.g. "Signature expired: ...".
		code, qcode, msg = "InvalidSignatureException", "SignatureDoesNotMatch", err.Error()
	case errors.Is(err, awsauth.ErrMalformedAuth):
		code, qcode, msg = "IncompleteSignatureException", "IncompleteSignature", "Authorization header is malformed: "+err.Error()
		qstatus = http.StatusBadRequest
	default:
		code, qcode, msg = "UnrecognizedClientException", "InvalidClientTokenId", tokenMsg
	}
	if jsonProtocol {
		awsjson.WriteError(w, &awsjson.Error{Code: code, Message: msg, Status: http.StatusBadRequest})
		return
	}
	if service != "iam" && service != "sts" {
		service = ""
	}
	writeQueryError(w, qstatus, qcode, msg, service)
}

// writeQueryError writes an AWS query-protocol (IAM/STS style) XML error.
func writeQueryError(w http.ResponseWriter, status int, code, msg, service string) {
	type errBody struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	type errResp struct {
		XMLName   xml.Name `xml:"ErrorResponse"`
		Xmlns     string   `xml:"xmlns,attr,omitempty"`
		Error     errBody  `xml:"Error"`
		RequestID string   `xml:"RequestId"`
	}
	ns := ""
	switch service {
	case "iam":
		ns = "https://iam.amazonaws.com/doc/2010-05-08/"
	case "sts":
		ns = "https://sts.amazonaws.com/doc/2011-06-15/"
	}
	id := awsjson.UUID()
	b, _ := xml.Marshal(errResp{Xmlns: ns, Error: errBody{Type: "Sender", Code: code, Message: msg}, RequestID: id})
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-RequestId", id)
	w.WriteHeader(status)
	_, _ = w.Write(append([]byte(xml.Header), b...))
}

// healthError returns why the emulator is not healthy: its state file could
// not be written.
func (s *Server) healthError() error {
	if err := s.PersistError(); err != nil {
		return fmt.Errorf("state file not saved: %w", err)
	}
	for _, check := range s.health {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// redactKeys passes every key of a two-level count table through
// rotation.RedactURLs: every string the admin endpoints serve is redacted.
func redactKeys(in map[string]map[string]int) map[string]map[string]int {
	out := make(map[string]map[string]int, len(in))
	for k, m := range in {
		rm := make(map[string]int, len(m))
		for name, n := range m {
			rm[rotation.RedactURLs(name)] += n
		}
		out[rotation.RedactURLs(k)] = rm
	}
	return out
}

// serveAdmin answers the unauthenticated /_dualkey/ helper endpoints. Every
// string they serve has URL user info and query values redacted
// (rotation.RedactURLs): a Lambda's error message may quote a URL with a
// password in it.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	send := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	switch {
	case r.URL.Path == "/_dualkey/health" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		if err := s.healthError(); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "degraded", "error": rotation.RedactURLs(err.Error())})
			return
		}
		send(map[string]string{"status": "ok"})
	case r.URL.Path == "/_dualkey/stats" && r.Method == http.MethodGet:
		send(redactKeys(map[string]map[string]int{"": s.Stats()})[""])
	case r.URL.Path == "/_dualkey/stats/reset" && r.Method == http.MethodPost:
		s.ResetStats()
		send(map[string]string{"status": "reset"})
	case r.URL.Path == "/_dualkey/rotations" && r.Method == http.MethodGet:
		send(s.Rotations())
	case r.URL.Path == "/_dualkey/calls" && r.Method == http.MethodGet:
		send(redactKeys(s.Calls()))
	case r.URL.Path == "/_dualkey/calls/reset" && r.Method == http.MethodPost:
		s.ResetCalls()
		send(map[string]string{"status": "reset"})
	case s.cfg.Admin[r.URL.Path] != nil:
		s.cfg.Admin[r.URL.Path].ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}
