package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dualkey/dualkey/shared/sqlcred"
)

// Kinds of failure. Every error this package returns from a database
// operation is an *Error that wraps one of these, so callers can decide with
// errors.Is (for example: ErrAuth on the pending credential means "not set
// yet", ErrUnreachable means "stop, nothing else will work either"). All but
// ErrLocked are sqlcred's.
var (
	// ErrUnreachable: no connection (DNS, routing, security group,
	// timeout).
	ErrUnreachable = sqlcred.ErrUnreachable
	// ErrTLS: the TLS handshake failed or the server's certificate was not
	// trusted.
	ErrTLS = sqlcred.ErrTLS
	// ErrAuth: the server refused the user name and password.
	ErrAuth = sqlcred.ErrAuth
	// ErrLocked: the user exists but may not log in (NOLOGIN).
	ErrLocked = errors.New("login disabled")
	// ErrPrivilege: the connected user lacks a privilege the operation
	// needs.
	ErrPrivilege = sqlcred.ErrPrivilege
	// ErrNoSuchUser: a role the operation needs does not exist.
	ErrNoSuchUser = sqlcred.ErrNoSuchUser
	// ErrNotClone: a role named like the alternate user exists but is not
	// one a rotation made (see CheckAlternate).
	ErrNotClone = sqlcred.ErrNotClone
	// ErrUnsafePassword: a password dualkey was asked to set is outside
	// the alphabet it sets.
	ErrUnsafePassword = sqlcred.ErrUnsafePassword
	// ErrServer: any other error the server reported.
	ErrServer = sqlcred.ErrServer
)

// Error is a failed database operation. Its message names the operation,
// the host and the user, explains the failure and says what to do; it never
// contains a password. Unwrap gives the kind and, for server errors, the
// *pgconn.PgError.
type Error = sqlcred.Error

// newError builds an *Error, removing every secret from the message.
func newError(op string, kind error, detail, hint string, cause error, secrets ...string) *Error {
	return sqlcred.NewError(Name, op, kind, detail, hint, cause, secrets...)
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
	if e := sqlcred.ClassifyTLS(sqlcred.TLSFailure{
		Name: Name, Op: op, ServerName: cfg.serverName(),
		NoTLS:     strings.Contains(err.Error(), "server refused TLS connection"),
		NoTLSHint: `enable TLS on the server (ssl=on), or set the secret's "tls_mode" to "insecure-disable" to send the login unencrypted`,
		Secrets:   secrets,
	}, err); e != nil {
		return e
	}
	if isNetwork(ctx, err) {
		return newError(op, ErrUnreachable, sqlcred.NetworkDetail(err, false), sqlcred.UnreachableHint(cfg.Port), err, secrets...)
	}
	return newError(op, ErrServer, err.Error(), "", err, secrets...)
}

func isNetwork(ctx context.Context, err error) bool {
	var netErr net.Error
	var dnsErr *net.DNSError
	var opErr *net.OpError
	return errors.As(err, &netErr) || errors.As(err, &dnsErr) || errors.As(err, &opErr) ||
		errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil ||
		strings.Contains(err.Error(), "dial error") || strings.Contains(err.Error(), "timeout")
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
