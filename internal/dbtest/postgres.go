package dbtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresBinDir finds Debian's PostgreSQL binaries: $DUALKEY_PG_BINDIR, or
// the newest /usr/lib/postgresql/<major>/bin holding initdb and postgres.
func postgresBinDir() (string, error) {
	if d := os.Getenv("DUALKEY_PG_BINDIR"); d != "" {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
		return "", fmt.Errorf("%w: DUALKEY_PG_BINDIR=%s holds no initdb and postgres: %s", ErrNotInstalled, d, InstallHint)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: PostgreSQL (no /usr/lib/postgresql/*/bin/initdb): %s", ErrNotInstalled, InstallHint)
}

func majorOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// pgHBA allows password logins over TCP with or without TLS, so tests can
// exercise both, and trusts the Unix socket, which lives in the server's
// private directory, for the harness's own start-up check. The md5 method
// authenticates with SCRAM when the stored password is a SCRAM verifier and
// with MD5 when it is an MD5 hash, so tests can store either.
const pgHBA = `local all all trust
host all all 127.0.0.1/32 md5
host all all ::1/128 md5
`

func startPostgres(ctx context.Context, opts Options) (*Server, error) {
	bin, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	acct, err := postgresAccount()
	if err != nil {
		return nil, err
	}
	authority, err := testCA()
	if err != nil {
		return nil, err
	}
	dir, err := newInstanceDir(EnginePostgres)
	if err != nil {
		return nil, err
	}
	s := &Server{
		Engine: EnginePostgres, Host: "127.0.0.1", AdminUser: "postgres", AdminPassword: randomPassword(),
		CAPEM: authority.PEM, ca: authority, dir: dir, Socket: dir,
		logPath: filepath.Join(dir, "postgres.log"), stopSig: syscall.SIGINT,
	}
	fail := func(err error) (*Server, error) {
		_ = s.Stop()
		return nil, err
	}
	data := filepath.Join(dir, "data")
	key := binaryKey(EnginePostgres, filepath.Join(bin, "postgres"), acct, "-wal1")
	if tmpl := cachedTemplate(key); tmpl != "" {
		if err := copyTree(ctx, tmpl, data); err != nil {
			return fail(err)
		}
	} else {
		if err := acct.chownTree(dir); err != nil {
			return fail(err)
		}
		if err := run(ctx, acct, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
			"--auth-local=trust", "--auth-host=scram-sha-256", "-N", "-E", "UTF8", "--locale=C", "--wal-segsize=1"); err != nil {
			return fail(err)
		}
		storeTemplate(ctx, key, data)
	}
	if err := writeTLSFiles(s, dir); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(pgHBA), 0o600); err != nil {
		return fail(err)
	}
	if err := acct.chownTree(dir); err != nil {
		return fail(err)
	}
	logStatement := "ddl"
	if opts.LogStatements {
		logStatement = "all"
	}
	return launchOnFreePort(ctx, s, "postgres", filepath.Join(bin, "postgres"), acct, syscall.SIGQUIT, pgSetUp, func(port int) []string {
		return []string{
			"-D", data,
			"-c", "listen_addresses=127.0.0.1",
			"-c", "port=" + strconv.Itoa(port),
			"-c", "unix_socket_directories=" + dir,
			"-c", "ssl=on",
			"-c", "ssl_cert_file=" + filepath.Join(dir, "server.crt"),
			"-c", "ssl_key_file=" + filepath.Join(dir, "server.key"),
			"-c", "password_encryption=scram-sha-256",
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
			"-c", "max_connections=200",
			"-c", "log_statement=" + logStatement,
			"-c", "logging_collector=off",
		}
	})
}

// pgSetUp connects over the private Unix socket (trusted), sets the admin
// password for TCP logins and reads the version.
func pgSetUp(ctx context.Context, s *Server) error {
	cfg, err := pgx.ParseConfig("sslmode=disable")
	if err != nil {
		return err
	}
	cfg.Host = s.Socket
	cfg.Port = uint16(s.Port)
	cfg.User = "postgres"
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	// The admin password is this package's own random hex: a plain
	// literal is safe.
	if _, err := conn.Exec(ctx, "ALTER ROLE postgres PASSWORD '"+s.AdminPassword+"'"); err != nil {
		return err
	}
	return conn.QueryRow(ctx, "SHOW server_version").Scan(&s.Version)
}

// writeTLSFiles writes the server's certificate and key and the CA file.
func writeTLSFiles(s *Server, dir string) error {
	certPEM, keyPEM, err := s.ca.ServerCert()
	if err != nil {
		return err
	}
	s.CAFile = filepath.Join(dir, "ca.pem")
	for name, b := range map[string][]byte{"server.crt": certPEM, "server.key": keyPEM, "ca.pem": s.CAPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// PostgresURL returns a libpq URL for user on database dbname that
// verifies the server (sslmode=verify-full against CAFile). For PostgreSQL
// servers only.
func (s *Server) PostgresURL(user, password, dbname string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     s.Addr(),
		Path:     "/" + dbname,
		RawQuery: url.Values{"sslmode": {"verify-full"}, "sslrootcert": {s.CAFile}}.Encode(),
	}
	return u.String()
}

// pgAdmin connects to database dbname as the admin over TLS.
func (s *Server) pgAdmin(ctx context.Context, dbname string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(s.PostgresURL(s.AdminUser, s.AdminPassword, dbname))
	if err != nil {
		return nil, err
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// Exec runs set-up statements as the admin, in database dbname for
// PostgreSQL ("" means the postgres database) and ignored for MariaDB.
// Each statement runs on its own, in order.
func (s *Server) Exec(ctx context.Context, dbname string, stmts ...string) error {
	if s.Engine == EngineMariaDB {
		return s.mariaExec(ctx, stmts...)
	}
	if dbname == "" {
		dbname = "postgres"
	}
	conn, err := s.pgAdmin(ctx, dbname)
	if err != nil {
		return fmt.Errorf("connect as admin: %w", err)
	}
	defer conn.Close(context.Background())
	for _, q := range stmts {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", firstLine(q), err)
		}
	}
	return nil
}

// MustExec is Exec that fails the test on error.
func (s *Server) MustExec(t testing.TB, dbname string, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Exec(ctx, dbname, stmts...); err != nil {
		t.Fatalf("%s set-up: %v", s.Engine, err)
	}
}

func firstLine(q string) string {
	q, _, _ = strings.Cut(strings.TrimSpace(q), "\n")
	if len(q) > 120 {
		q = q[:120] + "…"
	}
	return q
}
