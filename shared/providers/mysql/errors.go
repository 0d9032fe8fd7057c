package mysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/dualkey/dualkey/shared/sqlcred"
)

// Kinds of failure. Every error this package returns from a database
// operation is an *Error that wraps one of these. All but ErrLocked and
// ErrPlugin are sqlcred's.
var (
	// ErrUnreachable: no connection (DNS, routing, security group,
	// timeout, server refusing connections).
	ErrUnreachable = sqlcred.ErrUnreachable
	// ErrTLS: the TLS handshake failed or the server's certificate was not
	// trusted.
	ErrTLS = sqlcred.ErrTLS
	// ErrAuth: the server refused the user name and password (MySQL and
	// MariaDB also say so when an account's REQUIRE SSL is not met).
	ErrAuth = sqlcred.ErrAuth
	// ErrLocked: the account exists but is locked (ACCOUNT LOCK).
	ErrLocked = errors.New("account locked")
	// ErrPrivilege: the connected user lacks a privilege the operation
	// needs.
	ErrPrivilege = sqlcred.ErrPrivilege
	// ErrNoSuchUser: an account the operation needs does not exist.
	ErrNoSuchUser = sqlcred.ErrNoSuchUser
	// ErrNotClone: an account named like the alternate user exists but is
	// not one a rotation made, or its grants drifted (see SetAlternate).
	ErrNotClone = sqlcred.ErrNotClone
	// ErrPlugin: the account authenticates with a plugin that has no
	// password dualkey can set (unix_socket, pam, IAM, ...).
	ErrPlugin = errors.New("unsupported authentication plugin")
	// ErrUnsafePassword: a password dualkey was asked to set is outside
	// the alphabet it sets.
	ErrUnsafePassword = sqlcred.ErrUnsafePassword
	// ErrServer: any other error the server reported.
	ErrServer = sqlcred.ErrServer
)

// Error is a failed database operation. Its message names the operation,
// the host and the user, explains the failure and says what to do; it never
// contains a password. Unwrap gives the kind and, for server errors, the
// *mysql.MySQLError.
type Error = sqlcred.Error

func newError(op string, kind error, detail, hint string, cause error, secrets ...string) *Error {
	return sqlcred.NewError(Name, op, kind, detail, hint, cause, secrets...)
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
	if e := sqlcred.ClassifyTLS(sqlcred.TLSFailure{
		Name: Name, Op: op, ServerName: cfg.serverName(),
		NoTLS:     errors.Is(err, gomysql.ErrNoTLS),
		NoTLSHint: `enable TLS on the server, or set the secret's "tls_mode" to "insecure-disable" to send the login unencrypted`,
		Secrets:   secrets,
	}, err); e != nil {
		return e
	}
	if isNetwork(ctx, err) {
		return newError(op, ErrUnreachable, sqlcred.NetworkDetail(err, errors.Is(err, gomysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn)), sqlcred.UnreachableHint(cfg.Port), err, secrets...)
	}
	return newError(op, ErrServer, err.Error(), "", err, secrets...)
}

func isNetwork(ctx context.Context, err error) bool {
	var netErr net.Error
	var opErr *net.OpError
	return errors.As(err, &netErr) || errors.As(err, &opErr) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || ctx.Err() != nil ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, gomysql.ErrInvalidConn) ||
		strings.Contains(err.Error(), "timeout")
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
