package postgres_test

import (
	"context"
	"crypto/rand"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dualkey/dualkey/internal/dbtest"
	"github.com/dualkey/dualkey/shared/providers/postgres"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// fixture is one test's corner of the shared server: a database with a
// table the app user may read (pub) and one it may not (priv), the app user,
// and an RDS-like master user (CREATEROLE, not a superuser).
type fixture struct {
	srv      *dbtest.Server
	db       string
	app      string
	appPW    string
	master   string
	masterPW string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	srv := dbtest.SharedPostgres(t)
	f := &fixture{
		srv: srv, db: dbtest.UniqueName("db"),
		app: dbtest.UniqueName("app"), appPW: password(t),
		master: dbtest.UniqueName("m"), masterPW: password(t),
	}
	srv.MustExec(t, "", "CREATE DATABASE "+f.db)
	srv.MustExec(t, f.db,
		"CREATE ROLE "+f.master+" LOGIN CREATEROLE PASSWORD '"+f.masterPW+"'",
		"CREATE ROLE "+f.app+" LOGIN PASSWORD '"+f.appPW+"'",
		"CREATE TABLE pub (v int)", "INSERT INTO pub VALUES (1)",
		"CREATE TABLE priv (v int)", "INSERT INTO priv VALUES (2)",
		"GRANT SELECT ON pub TO "+f.app,
	)
	return f
}

// cfg returns a verify-full connection to the fixture's database.
func (f *fixture) cfg(user, pw string) postgres.ConnConfig {
	return postgres.ConnConfig{
		Host: f.srv.Host, Port: f.srv.Port, User: user, Password: pw, DBName: f.db,
		TLS: postgres.TLSVerifyFull, RootCAs: f.srv.CA().Pool(),
	}
}

// masterConn logs in as the master user; closed when the test ends.
func (f *fixture) masterConn(t testing.TB) *postgres.Conn {
	t.Helper()
	c, err := postgres.Connect(ctx(t), f.cfg(f.master, f.masterPW))
	if err != nil {
		t.Fatalf("master login: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// login reports the error of logging in (nil: it worked).
func (f *fixture) login(t testing.TB, user, pw string) error {
	t.Helper()
	return postgres.Login(ctx(t), f.cfg(user, pw))
}

// query runs a statement as user and returns its error.
func (f *fixture) query(t testing.TB, user, pw, sql string) error {
	t.Helper()
	conn, err := pgx.Connect(ctx(t), f.srv.PostgresURL(user, pw, f.db))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx(t), sql)
	return err
}

// scalar runs a one-value query as user.
func (f *fixture) scalar(t testing.TB, user, pw, sql string) string {
	t.Helper()
	conn, err := pgx.Connect(ctx(t), f.srv.PostgresURL(user, pw, f.db))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	defer conn.Close(context.Background())
	var v string
	if err := conn.QueryRow(ctx(t), sql).Scan(&v); err != nil {
		t.Fatalf("%s as %s: %v", sql, user, err)
	}
	return v
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// password returns a password from GetRandomPassword's alphabet minus
// ExcludeCharacters, as the rotation would get.
func password(t testing.TB) string {
	t.Helper()
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._"
	for _, c := range alphabet {
		if strings.ContainsRune(postgres.ExcludeCharacters, c) {
			t.Fatalf("test alphabet has excluded %q", c)
		}
	}
	b := make([]byte, postgres.PasswordLength)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			t.Fatal(err)
		}
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}
