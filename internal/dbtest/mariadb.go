package dbtest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// mariaDBBinaries finds mariadbd and mariadb-install-db: in
// $DUALKEY_MARIADB_BINDIR only when it is set, else in Debian's /usr/sbin
// and /usr/bin, or PATH.
func mariaDBBinaries() (server, installDB string, err error) {
	find := func(name, debianDir string) string {
		if d := os.Getenv("DUALKEY_MARIADB_BINDIR"); d != "" {
			if p := filepath.Join(d, name); isExec(p) {
				return p
			}
			return ""
		}
		if p := filepath.Join(debianDir, name); isExec(p) {
			return p
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		return ""
	}
	server = find("mariadbd", "/usr/sbin")
	installDB = find("mariadb-install-db", "/usr/bin")
	if server == "" || installDB == "" {
		return "", "", fmt.Errorf("%w: MariaDB (no mariadbd or mariadb-install-db): %s", ErrNotInstalled, InstallHint)
	}
	return server, installDB, nil
}

// mariaDBLogSize keeps the InnoDB redo log small, so that the template and
// each copy of it are small and quick to copy.
const mariaDBLogSize = "--innodb-log-file-size=8M"

func startMariaDB(ctx context.Context, opts Options) (*Server, error) {
	server, installDB, err := mariaDBBinaries()
	if err != nil {
		return nil, err
	}
	authority, err := testCA()
	if err != nil {
		return nil, err
	}
	dir, err := newInstanceDir(EngineMariaDB)
	if err != nil {
		return nil, err
	}
	s := &Server{
		Engine: EngineMariaDB, Host: "127.0.0.1", AdminUser: "dbtest", AdminPassword: randomPassword(),
		CAPEM: authority.PEM, ca: authority, dir: dir, Socket: filepath.Join(dir, "mariadbd.sock"),
		logPath: filepath.Join(dir, "mariadbd.log"), stopSig: syscall.SIGTERM,
	}
	fail := func(err error) (*Server, error) {
		_ = s.Stop()
		return nil, err
	}
	// mariadbd runs as whoever starts it; as root it insists on being told.
	acct := runAs{uid: os.Geteuid(), gid: os.Getegid()}
	var asUser []string
	if os.Geteuid() == 0 {
		asUser = []string{"--user=root"}
	}
	data := filepath.Join(dir, "data")
	key := binaryKey(EngineMariaDB, server, acct, "")
	if tmpl := cachedTemplate(key); tmpl != "" {
		if err := copyTree(ctx, tmpl, data); err != nil {
			return fail(err)
		}
	} else {
		args := append([]string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal",
			"--skip-test-db", "--skip-name-resolve", mariaDBLogSize}, asUser...)
		if err := run(ctx, acct, installDB, args...); err != nil {
			return fail(err)
		}
		storeTemplate(ctx, key, data)
	}
	if err := writeTLSFiles(s, dir); err != nil {
		return fail(err)
	}
	// The init file runs at every start, before connections are accepted:
	// it creates the admin and removes the password-less root accounts
	// mariadb-install-db made for TCP (root@localhost stays, reachable only
	// through the private socket).
	initSQL := strings.Join([]string{
		"CREATE USER IF NOT EXISTS 'dbtest'@'%' IDENTIFIED BY '" + s.AdminPassword + "';",
		"GRANT ALL PRIVILEGES ON *.* TO 'dbtest'@'%' WITH GRANT OPTION;",
		"DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1';",
		"DELETE FROM mysql.global_priv WHERE User = '';",
		"FLUSH PRIVILEGES;",
	}, "\n") + "\n"
	initFile := filepath.Join(dir, "init.sql")
	if err := os.WriteFile(initFile, []byte(initSQL), 0o600); err != nil {
		return fail(err)
	}
	return launchOnFreePort(ctx, s, "mariadbd", server, acct, syscall.SIGTERM, mariaSetUp, func(port int) []string {
		args := append([]string{
			"--no-defaults",
			"--datadir=" + data,
			"--port=" + strconv.Itoa(port),
			"--bind-address=127.0.0.1",
			"--socket=" + s.Socket,
			"--pid-file=" + filepath.Join(dir, "mariadbd.pid"),
			"--tmpdir=" + dir,
			"--skip-name-resolve",
			"--ssl-ca=" + filepath.Join(dir, "ca.pem"),
			"--ssl-cert=" + filepath.Join(dir, "server.crt"),
			"--ssl-key=" + filepath.Join(dir, "server.key"),
			"--init-file=" + initFile,
			"--character-set-server=utf8mb4",
			"--collation-server=utf8mb4_general_ci",
			"--max-connections=200",
			"--innodb-buffer-pool-size=32M",
			"--innodb-flush-log-at-trx-commit=0",
			"--innodb-doublewrite=0",
			"--innodb-flush-method=fsync", // tmpfs has no O_DIRECT
			"--performance-schema=ON",
			mariaDBLogSize,
		}, asUser...)
		if opts.LogStatements {
			args = append(args, "--general-log=1", "--general-log-file="+filepath.Join(dir, "general.log"))
		}
		return args
	})
}

// mariaSetUp logs in as the admin over TCP with TLS verified and reads the
// version.
func mariaSetUp(ctx context.Context, s *Server) error {
	if _, err := os.Stat(s.Socket); err != nil {
		return err
	}
	db, err := s.mariaAdmin()
	if err != nil {
		return err
	}
	defer db.Close()
	return db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&s.Version)
}

var registerTLS sync.Map // name -> struct{}

// MySQLConfig returns a go-sql-driver configuration for user that verifies
// the server's certificate (against CAPEM, for 127.0.0.1). For MariaDB
// servers only.
func (s *Server) MySQLConfig(user, password, dbname string) *mysql.Config {
	cfg := mysql.NewConfig()
	cfg.User = user
	cfg.Passwd = password
	cfg.Net = "tcp"
	cfg.Addr = s.Addr()
	cfg.DBName = dbname
	cfg.TLS = s.ca.TLSConfig(s.Host)
	cfg.Timeout = 5 * time.Second
	cfg.Logger = &mysql.NopLogger{}
	return cfg
}

// MySQLDSN returns a go-sql-driver DSN for user that verifies the server's
// certificate; the TLS configuration is registered under a name of its own.
func (s *Server) MySQLDSN(user, password, dbname string) string {
	name := "dbtest-" + strconv.Itoa(s.Port)
	if _, loaded := registerTLS.LoadOrStore(name, struct{}{}); !loaded {
		_ = mysql.RegisterTLSConfig(name, s.ca.TLSConfig(s.Host))
	}
	cfg := s.MySQLConfig(user, password, dbname)
	cfg.TLS = nil
	cfg.TLSConfig = name
	return cfg.FormatDSN()
}

func (s *Server) mariaAdmin() (*sql.DB, error) {
	conn, err := mysql.NewConnector(s.MySQLConfig(s.AdminUser, s.AdminPassword, ""))
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1)
	return db, nil
}

func (s *Server) mariaExec(ctx context.Context, stmts ...string) error {
	db, err := s.mariaAdmin()
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", firstLine(q), err)
		}
	}
	return nil
}
