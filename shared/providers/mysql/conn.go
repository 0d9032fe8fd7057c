package mysql

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/dualkey/dualkey/shared/sqlcred"
)

// DefaultConnectTimeout bounds each connection attempt (AWS's functions use
// 5 seconds); a context deadline that leaves less time shortens it.
const DefaultConnectTimeout = sqlcred.DefaultConnectTimeout

// DefaultProgramName is the program_name connection attribute dualkey's
// sessions report (performance_schema.session_connect_attrs).
const DefaultProgramName = "dualkey"

// ConnConfig says how to log in. Build it with Secret.ConnConfig and adjust
// the fields the secret does not carry (RootCAs, Label).
type ConnConfig struct {
	Host     string
	Port     int
	User     string
	Password string
	DBName   string // "" for none
	TLS      TLSMode
	// RootCAs verifies the server in TLSVerifyFull mode; nil means the
	// system's roots. See CAPool.
	RootCAs *x509.CertPool
	// ServerName is the name the certificate must hold; default Host.
	ServerName string
	// ProgramName is sent as the program_name connection attribute;
	// default DefaultProgramName.
	ProgramName string
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

func (c *ConnConfig) serverName() string {
	if c.ServerName != "" {
		return c.ServerName
	}
	return c.Host
}

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

// driverConfig builds the driver's configuration field by field: no DSN is
// ever assembled from the secret, so no character of a password can change
// its meaning.
func (c *ConnConfig) driverConfig(timeout time.Duration) (*gomysql.Config, error) {
	cfg := gomysql.NewConfig()
	cfg.User = c.User
	cfg.Passwd = c.Password
	cfg.Net = "tcp"
	cfg.Addr = c.addr()
	cfg.DBName = c.DBName
	cfg.Timeout = timeout
	cfg.Logger = &gomysql.NopLogger{}
	// Placeholders are interpolated by the driver, which quotes them for
	// the session's sql_mode (NO_BACKSLASH_ESCAPES included): account
	// management statements cannot be prepared with parameters.
	cfg.InterpolateParams = true
	cfg.AllowCleartextPasswords = false
	cfg.AllowOldPasswords = false
	cfg.AllowFallbackToPlaintext = false
	prog := c.ProgramName
	if prog == "" {
		prog = DefaultProgramName
	}
	if strings.ContainsAny(prog, ",:") {
		return nil, fmt.Errorf("mysql: program name %q may not contain a comma or a colon", prog)
	}
	cfg.ConnectionAttributes = "program_name:" + prog
	switch c.TLS {
	case TLSVerifyFull, "":
		cfg.TLS = &tls.Config{RootCAs: c.RootCAs, ServerName: c.serverName(), MinVersion: tls.VersionTLS12}
	case TLSInsecureSkipVerify:
		cfg.TLS = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // the operator chose it by name
	case TLSInsecureDisable:
		cfg.TLS = nil
		cfg.TLSConfig = "false"
	default:
		return nil, fmt.Errorf("mysql: unknown TLS mode %q", c.TLS)
	}
	return cfg, nil
}

// Flavors of server.
const (
	FlavorMySQL   = "mysql"
	FlavorMariaDB = "mariadb"
)

// Conn is one open session.
type Conn struct {
	cfg     ConnConfig
	db      *sql.DB
	conn    *sql.Conn
	version string
	flavor  string
	// plainOnly caches hashesRefused.
	plainOnly *bool
}

// Connect logs in and reads the server's version. Errors are *Error values
// of kind ErrUnreachable, ErrTLS, ErrAuth, ErrLocked, ErrPrivilege or
// ErrServer, with a hint and without the password.
func Connect(ctx context.Context, cfg ConnConfig) (*Conn, error) {
	timeout := connectTimeout(ctx, cfg.ConnectTimeout)
	dc, err := cfg.driverConfig(timeout)
	if err != nil {
		return nil, err
	}
	connector, err := gomysql.NewConnector(dc)
	if err != nil {
		return nil, classifyConnect(ctx, &cfg, err)
	}
	var dc2 driver.Connector = connector
	if cfg.Hook != nil {
		dc2 = hookConnector{Connector: connector, hook: cfg.Hook}
	}
	db := sql.OpenDB(dc2)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := db.Conn(cctx)
	if err == nil {
		c := &Conn{cfg: cfg, db: db, conn: conn}
		if err = conn.QueryRowContext(cctx, "SELECT VERSION()").Scan(&c.version); err == nil {
			c.flavor = FlavorMySQL
			if strings.Contains(strings.ToLower(c.version), "mariadb") {
				c.flavor = FlavorMariaDB
			}
			return c, nil
		}
		conn.Close()
	}
	db.Close()
	return nil, classifyConnect(ctx, &cfg, err)
}

// Close ends the session.
func (c *Conn) Close() error {
	err := c.conn.Close()
	if cerr := c.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// User is the user the session logged in as.
func (c *Conn) User() string { return c.cfg.User }

// ServerVersion is the server's VERSION().
func (c *Conn) ServerVersion() string { return c.version }

// Flavor is FlavorMariaDB or FlavorMySQL.
func (c *Conn) Flavor() string { return c.flavor }

// Ping runs SELECT 1.
func (c *Conn) Ping(ctx context.Context) error {
	var one int
	if err := c.conn.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
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
	defer c.Close()
	return c.Ping(ctx)
}

// FirstLogin tries the candidates in order (AWS's single-user order:
// AWSPENDING, AWSCURRENT, AWSPREVIOUS) and returns an open session of the
// first that logs in, with its index. It moves on only when a candidate's
// password is refused (ErrAuth) or its account locked (ErrLocked); any
// other failure ends the search. When none works the error lists each
// attempt.
func FirstLogin(ctx context.Context, candidates ...ConnConfig) (*Conn, int, error) {
	return sqlcred.FirstLogin(ctx, Connect, ErrLocked, candidates)
}

// exec runs one statement on the session.
func (c *Conn) exec(ctx context.Context, op string, secrets []string, query string, args ...any) error {
	if _, err := c.conn.ExecContext(ctx, query, args...); err != nil {
		return classifyExec(op, c.cfg.User, err, secrets...)
	}
	return nil
}
