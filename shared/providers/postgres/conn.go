package postgres

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dualkey/dualkey/shared/sqlcred"
)

// DefaultConnectTimeout bounds each connection attempt (AWS's functions use
// 5 seconds); a context deadline that leaves less time shortens it.
const DefaultConnectTimeout = sqlcred.DefaultConnectTimeout

// DefaultApplicationName is what connections report as application_name,
// so dualkey's own sessions are recognisable in pg_stat_activity.
const DefaultApplicationName = "dualkey"

// ConnConfig says how to log in. Build it with Secret.ConnConfig and adjust
// the fields the secret does not carry (RootCAs, Label).
type ConnConfig struct {
	Host     string
	Port     int
	User     string
	Password string
	DBName   string
	TLS      TLSMode
	// RootCAs verifies the server in TLSVerifyFull mode; nil means the
	// system's roots. See CAPool.
	RootCAs *x509.CertPool
	// ServerName is the name the certificate must hold; default Host.
	ServerName string
	// ApplicationName is reported to the server; default
	// DefaultApplicationName.
	ApplicationName string
	// ConnectTimeout bounds connecting and logging in; default
	// DefaultConnectTimeout, shortened to fit the context's deadline.
	ConnectTimeout time.Duration
	// Label says which credential this is ("master secret", "AWSPENDING"),
	// for error messages.
	Label string
	// Hook, when set, wraps the login and every statement (see CallHook);
	// tests only.
	Hook CallHook
}

// ConnConfig returns the connection settings the secret describes.
func (s *Secret) ConnConfig() ConnConfig {
	return ConnConfig{Host: s.Host, Port: s.Port, User: s.Username, Password: s.Password, DBName: s.DBName, TLS: s.TLSMode}
}

func (c *ConnConfig) addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

func (c *ConnConfig) labelSuffix() string {
	if c.Label == "" {
		return ""
	}
	return " (" + c.Label + ")"
}

// CAPool returns the system's roots plus the certificates in extraPEM (for
// example Amazon RDS's global bundle), for ConnConfig.RootCAs.
func CAPool(extraPEM []byte) (*x509.CertPool, error) { return sqlcred.CAPool(Name, extraPEM) }

// connectTimeout fits the configured timeout into what the context leaves
// (see sqlcred.ConnectTimeout).
func connectTimeout(ctx context.Context, max time.Duration) time.Duration {
	return sqlcred.ConnectTimeout(ctx, max)
}

// pgxConfig builds pgx's configuration field by field: no connection
// string is ever assembled from the secret, so no character of a password
// can change its meaning.
func (c *ConnConfig) pgxConfig(ctx context.Context) (*pgx.ConnConfig, error) {
	// ParseConfig is the only way to make a pgx.ConnConfig; give it
	// explicit settings so that PG* environment variables cannot add TLS
	// fallbacks, a passfile or a service file, then set every field.
	cfg, err := pgx.ParseConfig("sslmode=disable")
	if err != nil {
		return nil, err
	}
	cfg.Host = c.Host
	cfg.Port = uint16(c.Port)
	cfg.User = c.User
	cfg.Password = c.Password
	cfg.Database = c.DBName
	if cfg.Database == "" {
		cfg.Database = DefaultDBName
	}
	cfg.Fallbacks = nil
	cfg.ValidateConnect = nil
	cfg.KerberosSrvName, cfg.KerberosSpn = "", ""
	app := c.ApplicationName
	if app == "" {
		app = DefaultApplicationName
	}
	cfg.RuntimeParams = map[string]string{"application_name": app}
	cfg.ConnectTimeout = connectTimeout(ctx, c.ConnectTimeout)
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	switch c.TLS {
	case TLSVerifyFull, "":
		cfg.TLSConfig = &tls.Config{RootCAs: c.RootCAs, ServerName: c.serverName(), MinVersion: tls.VersionTLS12}
	case TLSInsecureSkipVerify:
		cfg.TLSConfig = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // the operator chose it by name
	case TLSInsecureDisable:
		cfg.TLSConfig = nil
	default:
		return nil, fmt.Errorf("postgres: unknown TLS mode %q", c.TLS)
	}
	return cfg, nil
}

// Conn is one open session.
type Conn struct {
	cfg ConnConfig
	pg  *pgx.Conn
}

// Connect logs in. Errors are *Error values of kind ErrUnreachable, ErrTLS,
// ErrAuth, ErrLocked or ErrServer, with a hint and without the password.
func Connect(ctx context.Context, cfg ConnConfig) (*Conn, error) {
	pc, err := cfg.pgxConfig(ctx)
	if err != nil {
		return nil, err
	}
	var conn *pgx.Conn
	connect := func() error {
		var err error
		conn, err = pgx.ConnectConfig(ctx, pc)
		return err
	}
	if cfg.Hook != nil {
		err = cfg.Hook(connect)
	} else {
		err = connect()
	}
	if err != nil {
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
		return nil, classifyConnect(ctx, &cfg, err)
	}
	return &Conn{cfg: cfg, pg: conn}, nil
}

// Close ends the session.
func (c *Conn) Close(ctx context.Context) error { return c.pg.Close(ctx) }

// User is the user the session logged in as.
func (c *Conn) User() string { return c.cfg.User }

// ServerVersion is the server's version string (server_version).
func (c *Conn) ServerVersion() string { return c.pg.PgConn().ParameterStatus("server_version") }

// Ping runs SELECT 1.
func (c *Conn) Ping(ctx context.Context) error {
	var one int
	if err := c.scanRow(ctx, c.pg, []any{&one}, "SELECT 1"); err != nil {
		return classifyExec("SELECT 1 as "+strconv.Quote(c.cfg.User), c.cfg.User, err, c.cfg.Password)
	}
	return nil
}

// Login proves a credential works: it connects, runs SELECT 1 and
// disconnects.
func Login(ctx context.Context, cfg ConnConfig) error {
	c, err := Connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	return c.Ping(ctx)
}

// FirstLogin tries the candidates in order (AWS's single-user order:
// AWSPENDING, AWSCURRENT, AWSPREVIOUS) and returns an open session of the
// first that logs in, with its index. It moves on only when a candidate's
// password is refused (ErrAuth) or its login disabled (ErrLocked); any
// other failure (unreachable, TLS) ends the search, since another password
// cannot help. When none works the error lists each attempt.
func FirstLogin(ctx context.Context, candidates ...ConnConfig) (*Conn, int, error) {
	return sqlcred.FirstLogin(ctx, Connect, ErrLocked, candidates)
}

func (c *ConnConfig) serverName() string {
	if c.ServerName != "" {
		return c.ServerName
	}
	return c.Host
}
