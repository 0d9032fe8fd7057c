package mysql

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/sqlcred"
)

// Name is the provider's name: the dualkey:provider tag value of MySQL,
// Aurora MySQL and MariaDB secrets, the functions/ folder and the registry
// key.
const Name = "mysql"

// EnvCABundle names the environment variable that holds the path of a PEM
// file of CA certificates the provider trusts besides the system's roots
// (for Amazon RDS: the global bundle, packaged with the function). A
// relative path is taken from the function's package directory
// ($LAMBDA_TASK_ROOT).
const EnvCABundle = sqlcred.EnvCABundle

// Strategy is how a secret's credential is rotated.
type Strategy = sqlcred.Strategy

// Strategies. A secret that names a master secret (masterarn, or dualkey's
// master_secret_arn) rotates with alternating users; any other secret with
// a single user, as AWS's two families of rotation functions do.
const (
	// StrategyAlternating: the master user gives "<user>_clone" (or, on the
	// next rotation, "<user>" again) a new password; the previous user keeps
	// working until dualkey's lifecycle switches it off (ACCOUNT LOCK).
	StrategyAlternating = sqlcred.StrategyAlternating
	// StrategySingle: the user changes its own password; the old password
	// stops working at setSecret (no dual-key window).
	StrategySingle = sqlcred.StrategySingle
)

// StrategyOf returns the strategy of a secret value. Errors name the field.
func StrategyOf(value string) (Strategy, error) { return sqlcred.StrategyOf(value) }

// Config configures a Provider: RootCAs (FromEnv builds it from the
// system's roots and EnvCABundle), ConnectTimeout, Hook (tests only), Now
// and Logger.
type Config = sqlcred.Config

// Provider implements rotation.Provider and dualkey's lifecycle
// capabilities for MySQL and MariaDB accounts (see the package
// documentation): the steps are sqlcred.Provider's, over this package's
// SQL. The previous account of an alternating pair is locked (ACCOUNT LOCK)
// and unlocked again on rollback or by the next rotation, which reuses it.
type Provider struct {
	*sqlcred.Provider
}

var (
	_ rotation.Provider           = (*Provider)(nil)
	_ rotation.Deactivator        = (*Provider)(nil)
	_ rotation.UsageReporter      = (*Provider)(nil)
	_ rotation.UsageFingerprinter = (*Provider)(nil)
	_ rotation.SwitchOffPerSecret = (*Provider)(nil)
	_ rotation.Factory            = FromEnv
	_ sqlcred.Engine              = engine{}
	_ sqlcred.Session             = session{}
)

// dialect is what the shared steps say and check for MySQL and MariaDB.
var dialect = sqlcred.Dialect{
	Name:          Name,
	Syntax:        syntax,
	ErrLocked:     ErrLocked,
	AltUsername:   AltUsername,
	PasswordSpec:  PasswordSpec(),
	CheckPassword: checkPassword,
	SessionSource: "process list",
	LockedLog:     "account locked (ACCOUNT LOCK); open sessions continue",
	UnlockedLog:   "account unlocked (ACCOUNT UNLOCK) and its password proven",
}

// New returns a Provider.
func New(cfg Config) *Provider {
	return &Provider{sqlcred.NewProvider(dialect, engine{cfg: cfg}, cfg)}
}

// FromEnv is the provider's rotation.Factory: the system's roots plus the
// CA bundle EnvCABundle names, log lines to env.Logger.
func FromEnv(_ context.Context, env rotation.Env) (rotation.Provider, error) {
	pool, err := CABundleFromEnv(env.Get)
	if err != nil {
		return nil, err
	}
	return New(Config{RootCAs: pool, Logger: env.Log()}), nil
}

// CABundleFromEnv returns the system's roots plus the certificates of the
// file EnvCABundle names (nil, nil when it is unset: the system's roots).
func CABundleFromEnv(getenv func(string) string) (*x509.CertPool, error) {
	return sqlcred.CABundleFromEnv(Name, getenv)
}

// printable bounds a name that goes into a log line or a message.
func printable(s string) string { return sqlcred.Printable(s) }

// engine logs in to MySQL and MariaDB for sqlcred.Provider.
type engine struct{ cfg Config }

// conn returns the connection settings of a credential, with the
// provider's TLS trust and timeout.
func (e engine) conn(l sqlcred.Login) ConnConfig {
	s := Secret(l.Secret)
	c := s.ConnConfig()
	c.RootCAs = e.cfg.RootCAs
	c.ConnectTimeout = e.cfg.ConnectTimeout
	c.Hook = e.cfg.Hook
	c.Label = l.Label
	return c
}

// Connect implements sqlcred.Engine.
func (e engine) Connect(ctx context.Context, l sqlcred.Login) (sqlcred.Session, error) {
	c, err := Connect(ctx, e.conn(l))
	if err != nil {
		return nil, err
	}
	return session{c: c, e: e}, nil
}

// Login implements sqlcred.Engine.
func (e engine) Login(ctx context.Context, l sqlcred.Login) error { return Login(ctx, e.conn(l)) }

// session is a Conn for sqlcred.Provider.
type session struct {
	c *Conn
	e engine
}

// Close implements sqlcred.Session.
func (s session) Close(context.Context) { s.c.Close() }

// SetAlternate implements sqlcred.Session.
func (s session) SetAlternate(ctx context.Context, req *AlternateRequest) (*sqlcred.AlternateResult, error) {
	resp, err := s.c.SetAlternate(ctx, req)
	if err != nil {
		return nil, err
	}
	return &sqlcred.AlternateResult{Attrs: []any{"created", resp.Created, "unlocked", resp.Unlocked, "grants", resp.Grants}}, nil
}

// SetPassword implements sqlcred.Session.
func (s session) SetPassword(ctx context.Context, req *SetPasswordRequest) error {
	return s.c.SetPassword(ctx, req)
}

// Sessions implements sqlcred.Session: client addresses and program names,
// never a statement.
func (s session) Sessions(ctx context.Context, user string) ([]string, error) {
	sessions, err := s.c.Sessions(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(sessions))
	for _, s := range sessions {
		var b strings.Builder
		switch {
		case s.ClientAddr.IsValid():
			fmt.Fprintf(&b, "client %s:%d", s.ClientAddr, s.ClientPort)
		default:
			fmt.Fprintf(&b, "client %q", printable(s.Host))
		}
		if s.ProgramName != "" {
			fmt.Fprintf(&b, " program %q", printable(s.ProgramName))
		}
		if s.Database != "" {
			fmt.Fprintf(&b, " database %q", printable(s.Database))
		}
		if s.Command == "Sleep" {
			fmt.Fprintf(&b, " idle %ds", s.Seconds)
		} else if s.Command != "" {
			fmt.Fprintf(&b, " %s for %ds", printable(s.Command), s.Seconds)
		}
		out = append(out, b.String())
	}
	return out, nil
}

// LockCredential implements sqlcred.Session.
func (s session) LockCredential(ctx context.Context, l sqlcred.Login) (bool, error) {
	resp, err := s.c.LockCredential(ctx, s.e.conn(l))
	if err != nil {
		return false, err
	}
	return resp.AlreadyLocked, nil
}

// UnlockCredential implements sqlcred.Session.
func (s session) UnlockCredential(ctx context.Context, l sqlcred.Login) error {
	return s.c.UnlockCredential(ctx, s.e.conn(l))
}
