package mysql

import (
	"context"
	"crypto/x509"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/dualkey/dualkey/shared/rotation"
)

// Kinds of failure. Every error this package returns from a database
// operation is an *Error that wraps one of these.
var (
	// ErrUnreachable: no connection (DNS, routing, security group,
	// timeout, server refusing connections).
	ErrUnreachable = errors.New("database unreachable")
	// ErrTLS: the TLS handshake failed or the server's certificate was not
	// trusted.
	ErrTLS = errors.New("tls failed")
	// ErrAuth: the server refused the user name and password (MySQL and
	// MariaDB also say so when an account's REQUIRE SSL is not met).
	ErrAuth = errors.New("authentication failed")
	// ErrLocked: the account exists but is locked (ACCOUNT LOCK).
	ErrLocked = errors.New("account locked")
	// ErrPrivilege: the connected user lacks a privilege the operation
	// needs.
	ErrPrivilege = errors.New("missing privilege")
	// ErrNoSuchUser: an account the operation needs does not exist.
	ErrNoSuchUser = errors.New("no such user")
	// ErrNotClone: an account named like the alternate user exists but is
	// not one a rotation made, or its grants drifted (see SetAlternate).
	ErrNotClone = errors.New("not a rotation's alternate user")
	// ErrPlugin: the account authenticates with a plugin that has no
	// password dualkey can set (unix_socket, pam, IAM, ...).
	ErrPlugin = errors.New("unsupported authentication plugin")
	// ErrUnsafePassword: a password dualkey was asked to set is outside
	// the alphabet it sets.
	ErrUnsafePassword = errors.New("unsafe password")
	// ErrServer: any other error the server reported.
	ErrServer = errors.New("database error")
)

// Error is a failed database operation. Its message names the operation,
// the host and the user, explains the failure and says what to do; it never
// contains a password.
type Error struct {
	Op   string
	Kind error
	msg  string
	err  error
}

// Error implements error.
func (e *Error) Error() string { return e.msg }

// Unwrap returns the kind and the underlying error (a *mysql.MySQLError for
// server errors).
func (e *Error) Unwrap() []error { return []error{e.Kind, e.err} }

func newError(op string, kind error, detail, hint string, cause error, secrets ...string) *Error {
	msg := "mysql: " + op + ": " + kind.Error()
	if detail != "" {
		msg += ": " + detail
	}
	if hint != "" {
		msg += ": " + hint
	}
	return &Error{Op: op, Kind: kind, msg: redact(msg, secrets...), err: cause}
}

func redact(s string, secrets ...string) string {
	for _, v := range secrets {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, rotation.Redaction)
		}
	}
	return rotation.RedactURLs(s)
}

// Server error numbers this package tells apart (MySQL and MariaDB share
// them unless noted).
const (
	erDBAccessDenied          = 1044
	erAccessDenied            = 1045
	erBadDB                   = 1049
	erTooManyConnections      = 1040
	erHostIsBlocked           = 1129
	erHostNotPrivileged       = 1130
	erTableAccessDenied       = 1142
	erColumnAccessDenied      = 1143
	erSpecificAccessDenied    = 1227
	erProcAccessDenied        = 1370
	erCantCreateUserGrant     = 1410
	erOptionPreventsStatement = 1290
	erAccountLockedMySQL      = 3118
	erAccountLockedMariaDB    = 4151
	erNonexistingGrant        = 1141
	erPasswordNoMatch         = 1133
	erCannotUser              = 1396
	erAccessDeniedNoPassword  = 1698
)

func isPrivilegeError(n uint16) bool {
	switch n {
	case erDBAccessDenied, erTableAccessDenied, erColumnAccessDenied, erSpecificAccessDenied, erProcAccessDenied, erCantCreateUserGrant:
		return true
	}
	return false
}

func classifyConnect(ctx context.Context, cfg *ConnConfig, err error) *Error {
	op := fmt.Sprintf("connect to %s as %q%s", cfg.addr(), cfg.User, cfg.labelSuffix())
	secrets := []string{cfg.Password}
	var my *gomysql.MySQLError
	if errors.As(err, &my) {
		switch my.Number {
		case erAccessDenied, erAccessDeniedNoPassword:
			return newError(op, ErrAuth, "the server refused the password",
				"the password in the secret is not the account's password (was it changed outside the rotation?), the account does not exist for this client's host, or the account requires TLS or a client certificate", err, secrets...)
		case erAccountLockedMariaDB, erAccountLockedMySQL:
			return newError(op, ErrLocked, fmt.Sprintf("account %q is locked", cfg.User),
				"it was switched off (ACCOUNT LOCK); a rollback or the next rotation unlocks it", err, secrets...)
		case erBadDB:
			return newError(op, ErrServer, my.Message, `fix the secret's "dbname" field`, err, secrets...)
		case erDBAccessDenied:
			return newError(op, ErrPrivilege, my.Message, `grant the user access to the secret's "dbname", or remove dbname`, err, secrets...)
		case erHostNotPrivileged:
			return newError(op, ErrAuth, my.Message, "the account's host part does not match the address the function connects from", err, secrets...)
		case erHostIsBlocked, erTooManyConnections:
			return newError(op, ErrUnreachable, my.Message, "the server refuses connections now (FLUSH HOSTS unblocks a blocked host)", err, secrets...)
		}
		return newError(op, ErrServer, fmt.Sprintf("%s (error %d)", my.Message, my.Number), "", err, secrets...)
	}
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknownCA):
		return newError(op, ErrTLS, "the server's certificate is not signed by a CA the function trusts",
			`package your database's CA bundle with the function and name it in DUALKEY_DB_CA_BUNDLE (for RDS, the global bundle from https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem); the secret's tls_mode "insecure-skip-verify" encrypts without checking who answers and is not recommended`, err, secrets...)
	case errors.As(err, &hostErr):
		return newError(op, ErrTLS, fmt.Sprintf("the server's certificate is not valid for host %q", cfg.serverName()),
			`set "host" to a name the certificate holds (the RDS endpoint, not a CNAME or an IP address)`, err, secrets...)
	case errors.As(err, &certErr):
		return newError(op, ErrTLS, "the server's certificate is invalid ("+certErr.Error()+")", "renew or fix the server's certificate", err, secrets...)
	case errors.Is(err, gomysql.ErrNoTLS):
		return newError(op, ErrTLS, "the server does not offer TLS",
			`enable TLS on the server, or set the secret's "tls_mode" to "insecure-disable" to send the login unencrypted`, err, secrets...)
	case strings.Contains(err.Error(), "tls:"):
		return newError(op, ErrTLS, "TLS handshake failed", "check the server's TLS settings", err, secrets...)
	}
	if isNetwork(ctx, err) {
		return newError(op, ErrUnreachable, networkDetail(err), unreachableHint(cfg.Port), err, secrets...)
	}
	return newError(op, ErrServer, err.Error(), "", err, secrets...)
}

func unreachableHint(port int) string {
	return fmt.Sprintf("check the secret's host and port; that the function runs in subnets of the database's VPC; "+
		"that the database's security group allows inbound TCP %d from the function's security group; "+
		"and that the function reaches Secrets Manager through a VPC endpoint or a NAT gateway", port)
}

func isNetwork(ctx context.Context, err error) bool {
	var netErr net.Error
	var opErr *net.OpError
	return errors.As(err, &netErr) || errors.As(err, &opErr) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || ctx.Err() != nil ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, gomysql.ErrInvalidConn) ||
		strings.Contains(err.Error(), "timeout")
}

func networkDetail(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("host name %q does not resolve", dnsErr.Name)
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timeout") ||
		errors.Is(err, gomysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn):
		return "no answer before the connect timeout (a security group or network ACL that drops packets looks like this)"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused (nothing listens on that host and port)"
	}
	return "network error"
}

// privilegeHint is the advice when the master user lacks a privilege.
const privilegeHint = "the master user needs CREATE USER, SELECT on the mysql database, PROCESS for sessions, " +
	"and every privilege it copies WITH GRANT OPTION (an RDS master user has them for what it can grant)"

func classifyExec(op, user string, err error, secrets ...string) *Error {
	var my *gomysql.MySQLError
	if errors.As(err, &my) {
		if isPrivilegeError(my.Number) {
			return newError(op, ErrPrivilege, fmt.Sprintf("user %q: %s", user, my.Message), privilegeHint, err, secrets...)
		}
		return newError(op, ErrServer, fmt.Sprintf("%s (error %d)", my.Message, my.Number), "", err, secrets...)
	}
	if isNetwork(context.Background(), err) {
		return newError(op, ErrUnreachable, "the connection failed during the operation", "the step is retried", err, secrets...)
	}
	return newError(op, ErrServer, err.Error(), "", err, secrets...)
}
