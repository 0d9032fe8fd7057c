package postgres

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/sqlcred"
)

// Name is the provider's name: the dualkey:provider tag value of PostgreSQL
// secrets, the functions/ folder and the registry key.
const Name = "postgres"

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
	// working until dualkey's lifecycle switches it off (NOLOGIN).
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
// capabilities for PostgreSQL users (see the package documentation): the
// steps are sqlcred.Provider's, over this package's SQL. The previous user
// of an alternating pair is locked (NOLOGIN) and unlocked again (LOGIN) on
// rollback or by the next rotation, which reuses it.
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

// dialect is what the shared steps say and check for PostgreSQL.
var dialect = sqlcred.Dialect{
	Name:           Name,
	Syntax:         syntax,
	ErrLocked:      ErrLocked,
	AltUsername:    func(user, _ string) (string, error) { return AltUsername(user) },
	PasswordSpec:   PasswordSpec(),
	CheckPassword:  checkPassword,
	MasterInUserDB: true,
	SessionSource:  "pg_stat_activity",
	LockedLog:      "user locked (NOLOGIN); open sessions continue",
	UnlockedLog:    "user unlocked (LOGIN) and its password proven",
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

// engine logs in to PostgreSQL for sqlcred.Provider.
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
func (s session) Close(ctx context.Context) { s.c.Close(ctx) }

// SetAlternate implements sqlcred.Session.
func (s session) SetAlternate(ctx context.Context, req *AlternateRequest) (*sqlcred.AlternateResult, error) {
	resp, err := s.c.SetAlternate(ctx, req)
	if err != nil {
		return nil, err
	}
	r := &sqlcred.AlternateResult{Attrs: []any{"created", resp.Created, "unlocked", resp.Unlocked, "settings_copied", resp.Settings}}
	if len(resp.SettingsSkipped) > 0 {
		r.Warning = "per-user settings only a superuser may set were not copied to the alternate user; set them yourself"
		r.WarningAttrs = []any{"settings", resp.SettingsSkipped}
	}
	return r, nil
}

// SetPassword implements sqlcred.Session.
func (s session) SetPassword(ctx context.Context, req *SetPasswordRequest) error {
	return s.c.SetPassword(ctx, req)
}

// Sessions implements sqlcred.Session: client addresses and application
// names, never a query.
func (s session) Sessions(ctx context.Context, user string) ([]string, error) {
	sessions, err := s.c.Sessions(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(sessions))
	for _, s := range sessions {
		var b strings.Builder
		switch {
		case s.Hidden:
			b.WriteString("client address hidden (grant pg_read_all_stats to the master user)")
		case s.ClientAddr.IsValid():
			fmt.Fprintf(&b, "client %s:%d", s.ClientAddr, s.ClientPort)
		default:
			b.WriteString("local socket")
		}
		if s.ApplicationName != "" {
			fmt.Fprintf(&b, " application %q", printable(s.ApplicationName))
		}
		if s.Database != "" {
			fmt.Fprintf(&b, " database %q", printable(s.Database))
		}
		if !s.BackendStart.IsZero() {
			fmt.Fprintf(&b, " since %s", s.BackendStart.UTC().Format("2006-01-02T15:04:05Z"))
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
