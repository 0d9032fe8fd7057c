package sqlcred

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/dualkey/dualkey/shared/rotation"
)

// Kinds of failure. Every error the providers return from a database
// operation is an *Error that wraps one of these (or the engine's kind of a
// switched-off login, Dialect.ErrLocked), so callers can decide with
// errors.Is (for example: ErrAuth on the pending credential means "not set
// yet", ErrUnreachable means "stop, nothing else will work either").
var (
	// ErrUnreachable: no connection (DNS, routing, security group,
	// timeout, server refusing connections).
	ErrUnreachable = errors.New("database unreachable")
	// ErrTLS: the TLS handshake failed or the server's certificate was not
	// trusted.
	ErrTLS = errors.New("tls failed")
	// ErrAuth: the server refused the user name and password.
	ErrAuth = errors.New("authentication failed")
	// ErrPrivilege: the connected user lacks a privilege the operation
	// needs.
	ErrPrivilege = errors.New("missing privilege")
	// ErrNoSuchUser: a user the operation needs does not exist.
	ErrNoSuchUser = errors.New("no such user")
	// ErrNotClone: a user named like the alternate user exists but is not
	// one a rotation made.
	ErrNotClone = errors.New("not a rotation's alternate user")
	// ErrUnsafePassword: a password dualkey was asked to set is outside
	// the alphabet it sets.
	ErrUnsafePassword = errors.New("unsafe password")
	// ErrServer: any other error the server reported.
	ErrServer = errors.New("database error")
)

// Error is a failed database operation. Its message names the operation,
// the host and the user, explains the failure and says what to do; it never
// contains a password (every password the operation knew is removed).
type Error struct {
	Op   string // "connect", "create alternate user", ...
	Kind error  // one of the Err* kinds
	msg  string
	err  error
}

// Error implements error.
func (e *Error) Error() string { return e.msg }

// Unwrap returns the kind and the underlying error (the driver's error for
// server errors), for errors.Is and errors.As.
func (e *Error) Unwrap() []error { return []error{e.Kind, e.err} }

// NewError builds an *Error of the provider name ("postgres: op: kind:
// detail: hint"), removing every secret from the message.
func NewError(name, op string, kind error, detail, hint string, cause error, secrets ...string) *Error {
	msg := name + ": " + op + ": " + kind.Error()
	if detail != "" {
		msg += ": " + detail
	}
	if hint != "" {
		msg += ": " + hint
	}
	return &Error{Op: op, Kind: kind, msg: Redact(msg, secrets...), err: cause}
}

// Redact removes secrets (and anything URL-shaped with user info) from s.
func Redact(s string, secrets ...string) string {
	for _, v := range secrets {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, rotation.Redaction)
		}
	}
	return rotation.RedactURLs(s)
}

// TLSFailure describes a failed login for ClassifyTLS.
type TLSFailure struct {
	Name string // the provider's name, the prefix of messages
	Op   string
	// ServerName is the name the certificate must hold.
	ServerName string
	// NoTLS is true when the server does not offer TLS; NoTLSHint is the
	// advice then.
	NoTLS     bool
	NoTLSHint string
	Secrets   []string
}

// ClassifyTLS returns the *Error of a login that failed in TLS (an
// untrusted or invalid certificate, a server without TLS, a failed
// handshake), or nil when err is no TLS failure.
func ClassifyTLS(f TLSFailure, err error) *Error {
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknownCA):
		return NewError(f.Name, f.Op, ErrTLS, "the server's certificate is not signed by a CA the function trusts",
			`package your database's CA bundle with the function and name it in DUALKEY_DB_CA_BUNDLE (for RDS, the global bundle from https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem); the secret's tls_mode "insecure-skip-verify" encrypts without checking who answers and is not recommended`, err, f.Secrets...)
	case errors.As(err, &hostErr):
		return NewError(f.Name, f.Op, ErrTLS, fmt.Sprintf("the server's certificate is not valid for host %q", f.ServerName),
			`set "host" to a name the certificate holds (the RDS endpoint, not a CNAME or an IP address)`, err, f.Secrets...)
	case errors.As(err, &certErr):
		return NewError(f.Name, f.Op, ErrTLS, "the server's certificate is invalid ("+certErr.Error()+")", "renew or fix the server's certificate", err, f.Secrets...)
	case f.NoTLS:
		return NewError(f.Name, f.Op, ErrTLS, "the server does not offer TLS", f.NoTLSHint, err, f.Secrets...)
	case strings.Contains(err.Error(), "tls:"):
		return NewError(f.Name, f.Op, ErrTLS, "TLS handshake failed", "check the server's TLS settings", err, f.Secrets...)
	}
	return nil
}

// UnreachableHint is the advice for a database the function cannot reach.
func UnreachableHint(port int) string {
	return fmt.Sprintf("check the secret's host and port; that the function runs in subnets of the database's VPC; "+
		"that the database's security group allows inbound TCP %d from the function's security group; "+
		"and that the function reaches Secrets Manager through a VPC endpoint or a NAT gateway", port)
}

// NetworkDetail says what a network failure was. timedOut adds the
// driver's own signs of a lost or silent connection to the context's
// deadline and a "timeout" in the message.
func NetworkDetail(err error, timedOut bool) string {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("host name %q does not resolve", dnsErr.Name)
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timeout") || timedOut:
		return "no answer before the connect timeout (a security group or network ACL that drops packets looks like this)"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused (nothing listens on that host and port)"
	}
	return "network error"
}
