package postgres

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dualkey/dualkey/shared/rotation"
)

// Kinds of failure. Every error this package returns from a database
// operation is an *Error that wraps one of these, so callers can decide with
// errors.Is (for example: ErrAuth on the pending credential means "not set
// yet", ErrUnreachable means "stop, nothing else will work either").
var (
	// ErrUnreachable: no connection (DNS, routing, security group,
	// timeout).
	ErrUnreachable = errors.New("database unreachable")
	// ErrTLS: the TLS handshake failed or the server's certificate was not
	// trusted.
	ErrTLS = errors.New("tls failed")
	// ErrAuth: the server refused the user name and password.
	ErrAuth = errors.New("authentication failed")
	// ErrLocked: the user exists but may not log in (NOLOGIN).
	ErrLocked = errors.New("login disabled")
	// ErrPrivilege: the connected user lacks a privilege the operation
	// needs.
	ErrPrivilege = errors.New("missing privilege")
	// ErrNoSuchUser: a role the operation needs does not exist.
	ErrNoSuchUser = errors.New("no such user")
	// ErrNotClone: a role named like the alternate user exists but is not
	// one a rotation made (see CheckAlternate).
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

// Unwrap returns the kind and the underlying error (a *pgconn.PgError for
// server errors), for errors.Is and errors.As.
func (e *Error) Unwrap() []error { return []error{e.Kind, e.err} }

// newError builds an *Error, removing every secret from the message.
func newError(op string, kind error, detail, hint string, cause error, secrets ...string) *Error {
	msg := "postgres: " + op + ": " + kind.Error()
	if detail != "" {
		msg += ": " + detail
	}
	if hint != "" {
		msg += ": " + hint
	}
	return &Error{Op: op, Kind: kind, msg: redact(msg, secrets...), err: cause}
}

// redact removes secrets (and anything URL-shaped with user info) from s.
func redact(s string, secrets ...string) string {
	for _, v := range secrets {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, rotation.Redaction)
		}
	}
	return rotation.RedactURLs(s)
}

// SQLSTATE codes this package tells apart.
const (
	codeInvalidPassword      = "28P01"
	codeInvalidAuthorization = "28000"
	codeInsufficientPriv     = "42501"
	codeInvalidCatalog       = "3D000"
	codeTooManyConnections   = "53300"
	codeCannotConnectNow     = "57P03"
	codeDuplicateObject      = "42710"
)

// classifyConnect turns a connection failure into an *Error with a hint.
func classifyConnect(ctx context.Context, cfg *ConnConfig, err error) *Error {
	op := fmt.Sprintf("connect to %s as %q%s", cfg.addr(), cfg.User, cfg.labelSuffix())
	secrets := []string{cfg.Password}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == codeInvalidPassword:
			return newError(op, ErrAuth, "the server refused the password",
				"the password in the secret is not the user's password (was it changed outside the rotation?), or the user does not exist", err, secrets...)
		case pgErr.Code == codeInvalidAuthorization && strings.Contains(pgErr.Message, "not permitted to log in"):
			return newError(op, ErrLocked, fmt.Sprintf("role %q may not log in (NOLOGIN)", cfg.User),
				"it was switched off; a rollback or the next rotation switches it on again (ALTER ROLE ... LOGIN)", err, secrets...)
		case pgErr.Code == codeInvalidAuthorization:
			return newError(op, ErrAuth, pgErr.Message,
				"the server's pg_hba.conf refuses this client, user, database or TLS setting (on RDS: rds.force_ssl needs TLS)", err, secrets...)
		case pgErr.Code == codeInvalidCatalog:
			return newError(op, ErrServer, pgErr.Message, `fix the secret's "dbname" field`, err, secrets...)
		case pgErr.Code == codeTooManyConnections || pgErr.Code == codeCannotConnectNow:
			return newError(op, ErrUnreachable, pgErr.Message, "the server is not accepting connections now; the step is retried", err, secrets...)
		}
		return newError(op, ErrServer, pgErr.Message, "", err, secrets...)
	}
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknownCA):
		return newError(op, ErrTLS, "the server's certificate is not signed by a CA the function trusts",
			`package your database's CA bundle with the function and name it in DUALKEY_DB_CA_BUNDLE (for RDS, the global bundle from https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem); the secret's tls_mode "insecure-skip-verify" encrypts without checking who answers and is not recommended`, err, secrets...)
	case errors.As(err, &hostErr):
		name := cfg.ServerName
		if name == "" {
			name = cfg.Host
		}
		return newError(op, ErrTLS, fmt.Sprintf("the server's certificate is not valid for host %q", name),
			`set "host" to a name the certificate holds (the RDS endpoint, not a CNAME or an IP address)`, err, secrets...)
	case errors.As(err, &certErr):
		return newError(op, ErrTLS, "the server's certificate is invalid ("+certErr.Error()+")", "renew or fix the server's certificate", err, secrets...)
	case strings.Contains(err.Error(), "server refused TLS connection"):
		return newError(op, ErrTLS, "the server does not offer TLS",
			`enable TLS on the server (ssl=on), or set the secret's "tls_mode" to "insecure-disable" to send the login unencrypted`, err, secrets...)
	case strings.Contains(err.Error(), "tls:"):
		return newError(op, ErrTLS, "TLS handshake failed", "check the server's TLS settings", err, secrets...)
	}
	if isNetwork(ctx, err) {
		return newError(op, ErrUnreachable, networkDetail(err), unreachableHint(cfg.Port), err, secrets...)
	}
	return newError(op, ErrServer, err.Error(), "", err, secrets...)
}

// unreachableHint is the advice for a database the function cannot reach.
func unreachableHint(port int) string {
	return fmt.Sprintf("check the secret's host and port; that the function runs in subnets of the database's VPC; "+
		"that the database's security group allows inbound TCP %d from the function's security group; "+
		"and that the function reaches Secrets Manager through a VPC endpoint or a NAT gateway", port)
}

func isNetwork(ctx context.Context, err error) bool {
	var netErr net.Error
	var dnsErr *net.DNSError
	var opErr *net.OpError
	return errors.As(err, &netErr) || errors.As(err, &dnsErr) || errors.As(err, &opErr) ||
		errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil ||
		strings.Contains(err.Error(), "dial error") || strings.Contains(err.Error(), "timeout")
}

func networkDetail(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("host name %q does not resolve", dnsErr.Name)
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timeout"):
		return "no answer before the connect timeout (a security group or network ACL that drops packets looks like this)"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused (nothing listens on that host and port)"
	}
	return "network error"
}

// classifyExec turns a failed statement into an *Error.
func classifyExec(op, user string, err error, secrets ...string) *Error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if pgErr.Code == codeInsufficientPriv {
			return newError(op, ErrPrivilege, fmt.Sprintf("user %q: %s", user, pgErr.Message),
				"the master user needs CREATEROLE and the ADMIN OPTION on the rotated user's role (an RDS master user has both)", err, secrets...)
		}
		return newError(op, ErrServer, pgErr.Message+" (SQLSTATE "+pgErr.Code+")", "", err, secrets...)
	}
	if isNetwork(context.Background(), err) {
		return newError(op, ErrUnreachable, "the connection failed during the operation", "the step is retried", err, secrets...)
	}
	return newError(op, ErrServer, err.Error(), "", err, secrets...)
}
