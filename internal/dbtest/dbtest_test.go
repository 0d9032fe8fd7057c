package dbtest_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/dualkey/dualkey/internal/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// TestPostgresVerifiedTLS logs in to the shared PostgreSQL server as the
// admin with the server's certificate verified against the harness's CA, and
// proves the session really is encrypted.
func TestPostgresVerifiedTLS(t *testing.T) {
	srv := dbtest.SharedPostgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.PostgresURL(srv.AdminUser, srv.AdminPassword, "postgres"))
	if err != nil {
		t.Fatalf("connect with verify-full: %v", err)
	}
	defer conn.Close(ctx)
	var ssl bool
	if err := conn.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil || !ssl {
		t.Fatalf("session encrypted = %v, %v; want true", ssl, err)
	}
	var super bool
	if err := conn.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil || !super {
		t.Fatalf("admin is superuser = %v, %v", super, err)
	}
	if !strings.HasPrefix(srv.Version, "1") {
		t.Fatalf("version %q", srv.Version)
	}
}

// TestMariaDBVerifiedTLS does the same for MariaDB.
func TestMariaDBVerifiedTLS(t *testing.T) {
	srv := dbtest.SharedMariaDB(t)
	db, err := sql.Open("mysql", srv.MySQLDSN(srv.AdminUser, srv.AdminPassword, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name, cipher string
	if err := db.QueryRow("SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err != nil || cipher == "" {
		t.Fatalf("ssl cipher %q, %v; want an encrypted session", cipher, err)
	}
	if !strings.Contains(srv.Version, "MariaDB") {
		t.Fatalf("version %q", srv.Version)
	}
}

// TestWrongCARefused proves that the servers' certificates are really
// checked: a client trusting another CA cannot connect.
func TestWrongCARefused(t *testing.T) {
	other, err := dbtest.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("postgres", func(t *testing.T) {
		srv := dbtest.SharedPostgres(t)
		cfg, err := pgx.ParseConfig(srv.PostgresURL(srv.AdminUser, srv.AdminPassword, "postgres"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.TLSConfig = other.TLSConfig(srv.Host)
		cfg.Fallbacks = nil
		conn, err := pgx.ConnectConfig(context.Background(), cfg)
		if err == nil {
			conn.Close(context.Background())
			t.Fatal("connected with a CA that did not sign the server's certificate")
		}
		if !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("error %v, want a certificate error", err)
		}
	})
	t.Run("mariadb", func(t *testing.T) {
		srv := dbtest.SharedMariaDB(t)
		cfg := srv.MySQLConfig(srv.AdminUser, srv.AdminPassword, "")
		cfg.TLS = other.TLSConfig(srv.Host)
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(conn)
		defer db.Close()
		err = db.Ping()
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("ping with another CA: %v, want a certificate error", err)
		}
	})
}

// TestStatementsLogged proves the shared servers log statements, which the
// providers' tests rely on to show that no password reaches a server log.
func TestStatementsLogged(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *dbtest.Server
	}{
		{"postgres", dbtest.SharedPostgres},
		{"mariadb", dbtest.SharedMariaDB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			marker := dbtest.UniqueName("mark")
			srv.MustExec(t, "", "CREATE DATABASE "+marker, "DROP DATABASE "+marker)
			log, err := srv.Log()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(log, "CREATE DATABASE "+marker) {
				t.Fatalf("server log lacks the statement; log:\n%s", log)
			}
		})
	}
}

// TestOwnServerStopsAndCleansUp starts servers of the test's own and checks
// that stopping them ends the processes and frees the ports.
func TestOwnServerStopsAndCleansUp(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *dbtest.Server
	}{
		{"postgres", dbtest.StartPostgres},
		{"mariadb", dbtest.StartMariaDB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := tc.start(t)
			srv.MustExec(t, "", "SELECT 1")
			if err := srv.Stop(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := srv.Exec(ctx, "", "SELECT 1"); err == nil {
				t.Fatal("server still answers after Stop")
			}
			if _, err := os.Stat(srv.Socket); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("server directory not removed: %v", err)
			}
		})
	}
}

// BenchmarkStart measures how long a throwaway server takes to start and
// stop (with the template cache warm).
func BenchmarkStart(b *testing.B) {
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *dbtest.Server
	}{
		{"postgres", dbtest.StartPostgres},
		{"mariadb", dbtest.StartMariaDB},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				srv := tc.start(b)
				if err := srv.Stop(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestMissingBinaries: without the servers, Start says how to install them.
func TestMissingBinaries(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("DUALKEY_PG_BINDIR", empty)
	t.Setenv("DUALKEY_MARIADB_BINDIR", empty)
	for _, engine := range []string{dbtest.EnginePostgres, dbtest.EngineMariaDB} {
		_, err := dbtest.Start(context.Background(), engine, dbtest.Options{})
		if !errors.Is(err, dbtest.ErrNotInstalled) || !strings.Contains(err.Error(), "make tools") || !strings.Contains(err.Error(), "apt-get install") {
			t.Errorf("%s: %v, want ErrNotInstalled with the install command", engine, err)
		}
	}
}

// recorder is a testing.TB that records how a helper ended the test.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()               {}
func (r *recorder) Skip(args ...any)      { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatal(args ...any)     { r.failed = fmt.Sprint(args...) }
func (r *recorder) Errorf(string, ...any) {}

// TestSkipOrFail: a missing server skips a developer's test but fails in
// CI, and any other start-up error always fails.
func TestSkipOrFail(t *testing.T) {
	missing := fmt.Errorf("%w: %s", dbtest.ErrNotInstalled, dbtest.InstallHint)
	for _, tc := range []struct {
		name, ci   string
		err        error
		skip, fail bool
	}{
		{"missing, developer", "", missing, true, false},
		{"missing, CI", "true", missing, false, true},
		{"broken, developer", "", errors.New("initdb failed"), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			dbtest.SkipOrFail(r, tc.err)
			if (r.skipped != "") != tc.skip || (r.failed != "") != tc.fail {
				t.Fatalf("skipped %q failed %q", r.skipped, r.failed)
			}
			if msg := r.skipped + r.failed; msg != tc.err.Error() {
				t.Fatalf("message %q, want the error's", msg)
			}
		})
	}
}

// TestInstallScriptAgrees: install-packages.sh --check finds the servers
// exactly when the harness does (it exits 0 here, where both start).
func TestInstallScriptAgrees(t *testing.T) {
	dbtest.SharedPostgres(t)
	dbtest.SharedMariaDB(t)
	out, err := exec.Command("bash", "install-packages.sh", "--check").CombinedOutput()
	if err != nil {
		t.Fatalf("install-packages.sh --check: %v\n%s", err, out)
	}
}

// TestDSN: the generic DSN logs in on both engines.
func TestDSN(t *testing.T) {
	pg := dbtest.SharedPostgres(t)
	conn, err := pgx.Connect(context.Background(), pg.DSN(pg.AdminUser, pg.AdminPassword, ""))
	if err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())
	my := dbtest.SharedMariaDB(t)
	db, err := sql.Open("mysql", my.DSN(my.AdminUser, my.AdminPassword, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
}
