package sqlcred

import (
	"context"
	"crypto/x509"
	"log/slog"
	"time"

	"github.com/dualkey/dualkey/shared/rotation"
)

// Config configures a Provider.
type Config struct {
	// RootCAs verifies servers in TLSVerifyFull mode (nil: the system's
	// roots). The providers' FromEnv build it from the system's roots and
	// EnvCABundle.
	RootCAs *x509.CertPool
	// ConnectTimeout bounds each login (default DefaultConnectTimeout,
	// shortened to fit the step's deadline).
	ConnectTimeout time.Duration
	// Hook wraps every login and statement (tests count and fault them
	// with it); nil in production.
	Hook CallHook
	// Now is the clock of usage evidence (default time.Now).
	Now func() time.Time
	// Logger receives the provider's log lines (user names, never
	// passwords); default: discarded.
	Logger *slog.Logger
}

// Login is a credential to log in with: a secret (host, port, user,
// password, database, TLS mode) and what to call it in errors ("master
// secret", "AWSPENDING", "version <id>"). The engine adds the provider's
// TLS trust, timeout and hook.
type Login struct {
	Secret Secret
	Label  string
}

// AlternateRequest asks SetAlternate to make the pending user of an
// alternating pair log in with a new password and hold the current user's
// privileges.
type AlternateRequest struct {
	// Current is the user of the AWSCURRENT version.
	Current string
	// Pending is the user of the AWSPENDING version; it must be
	// AltUsername(Current).
	Pending string
	// Password is the pending version's password.
	Password string
}

// SetPasswordRequest asks SetPassword to change a user's password.
type SetPasswordRequest struct {
	User     string
	Password string
}

// AlternateResult is what the provider logs of a SetAlternate.
type AlternateResult struct {
	// Attrs follow "user" and "current_user" in the "alternate user set"
	// log line.
	Attrs []any
	// Warning, when set, is logged as a warning with "user" and
	// WarningAttrs.
	Warning      string
	WarningAttrs []any
}

// Engine is what a database engine does for the Provider: log in, and
// through a Session act as the master user or as the user itself.
type Engine interface {
	// Connect logs in with the credential l describes and returns the open
	// session. Errors are *Error values that never hold a password; a
	// refused password wraps ErrAuth, a switched-off user
	// Dialect.ErrLocked, an unreachable server ErrUnreachable.
	Connect(ctx context.Context, l Login) (Session, error)
	// Login proves the credential l works: it connects, runs a query and
	// disconnects. Errors as Connect's.
	Login(ctx context.Context, l Login) error
}

// Session is an open session of an Engine: the master user's (alternating
// users, the lifecycle) or the rotated user's own (single user).
type Session interface {
	// Close ends the session. ctx is not canceled (the caller detaches
	// it), so the goodbye reaches the server.
	Close(ctx context.Context)
	// SetAlternate makes req.Pending, the alternate of req.Current, log
	// in with req.Password and hold req.Current's privileges, creating or
	// unlocking it as needed; it refuses a user that is not a rotation's
	// clone (ErrNotClone). It holds the pair's lock, so it never
	// interleaves with LockCredential or UnlockCredential of the same
	// pair, and calling it again with the same request changes nothing a
	// client could notice. It returns what the provider logs.
	SetAlternate(ctx context.Context, req *AlternateRequest) (*AlternateResult, error)
	// SetPassword changes req.User's password to req.Password and nothing
	// else (the single-user strategy: the session is the user itself).
	SetPassword(ctx context.Context, req *SetPasswordRequest) error
	// Sessions describes the open sessions of user other than this one,
	// one phrase each (client, program, database, age; never a query),
	// from the database's own evidence. It fails, rather than report
	// none, when the session may not see them all.
	Sessions(ctx context.Context, user string) ([]string, error)
	// LockCredential switches off the credential l describes, and only
	// that one: under the pair's lock it proves that l logs in, then
	// locks its user; open sessions continue. It reports true when the
	// user was already locked (nothing changed) and changes nothing when
	// l does not log in. It refuses the session's own user.
	LockCredential(ctx context.Context, l Login) (alreadyLocked bool, err error)
	// UnlockCredential switches the credential l describes on again:
	// under the pair's lock it unlocks the user, then proves that l logs
	// in; ErrAuth when a newer rotation replaced l's password. It refuses
	// the session's own user.
	UnlockCredential(ctx context.Context, l Login) error
}

// Dialect is what the Provider says and checks differently per engine.
type Dialect struct {
	// Name is the provider's name: the prefix of its errors and the
	// "provider" of its log lines.
	Name string
	// Syntax is the engine's secret format.
	Syntax *Syntax
	// ErrLocked is the engine's kind of a login refused because the user
	// is switched off.
	ErrLocked error
	// AltUsername returns the other user of user's alternating pair on a
	// server of engine (see the function AltUsername).
	AltUsername func(user, engine string) (string, error)
	// PasswordSpec is what to ask GetRandomPassword for; CheckPassword
	// refuses a password the engine would not set.
	PasswordSpec  rotation.PasswordSpec
	CheckPassword func(pw string) error
	// MasterInUserDB is true when the master session opens the user
	// secret's database (PostgreSQL); otherwise it opens none.
	MasterInUserDB bool
	// SessionSource names where Sessions looks ("pg_stat_activity").
	SessionSource string
	// LockedLog and UnlockedLog are the log lines of Deactivate and
	// Reactivate ("user locked (NOLOGIN); open sessions continue").
	LockedLog, UnlockedLog string
}
