package mysql_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"math/big"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dualkey/dualkey/internal/dbtest"
	"github.com/dualkey/dualkey/shared/providers/mysql"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// rdsMasterPrivileges is what an RDS for MariaDB master user holds (no
// SUPER), all WITH GRANT OPTION.
const rdsMasterPrivileges = "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, RELOAD, PROCESS, REFERENCES, INDEX, ALTER, " +
	"SHOW DATABASES, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, " +
	"ALTER ROUTINE, CREATE USER, EVENT, TRIGGER"

// fixture is one test's corner of the shared server: a database with a
// table the app user may read (pub) and one it may not (priv), the app
// account, and an RDS-like master account.
type fixture struct {
	srv      *dbtest.Server
	db       string
	app      string
	appPW    string
	master   string
	masterPW string
}

func newFixture(t testing.TB) *fixture { return newFixtureOn(t, dbtest.SharedMariaDB(t)) }

func newFixtureOn(t testing.TB, srv *dbtest.Server) *fixture {
	t.Helper()
	f := &fixture{
		srv: srv, db: dbtest.UniqueName("db"),
		app: dbtest.UniqueName("app"), appPW: password(t),
		master: dbtest.UniqueName("m"), masterPW: password(t),
	}
	srv.MustExec(t, "",
		"CREATE DATABASE "+f.db,
		"CREATE TABLE "+f.db+".pub (v int)", "INSERT INTO "+f.db+".pub VALUES (1)",
		"CREATE TABLE "+f.db+".priv (v int)", "INSERT INTO "+f.db+".priv VALUES (2)",
		"CREATE USER '"+f.master+"'@'%' IDENTIFIED BY '"+f.masterPW+"'",
		"GRANT "+rdsMasterPrivileges+" ON *.* TO '"+f.master+"'@'%' WITH GRANT OPTION",
		"CREATE USER '"+f.app+"'@'%' IDENTIFIED BY '"+f.appPW+"'",
		"GRANT SELECT ON "+f.db+".pub TO '"+f.app+"'@'%'",
	)
	return f
}

// cfg returns a verify-full connection.
func (f *fixture) cfg(user, pw string) mysql.ConnConfig {
	return mysql.ConnConfig{
		Host: f.srv.Host, Port: f.srv.Port, User: user, Password: pw,
		TLS: mysql.TLSVerifyFull, RootCAs: f.srv.CA().Pool(),
	}
}

// masterConn logs in as the master user; closed when the test ends.
func (f *fixture) masterConn(t testing.TB) *mysql.Conn {
	t.Helper()
	c, err := mysql.Connect(ctx(t), f.cfg(f.master, f.masterPW))
	if err != nil {
		t.Fatalf("master login: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (f *fixture) login(t testing.TB, user, pw string) error {
	t.Helper()
	return mysql.Login(ctx(t), f.cfg(user, pw))
}

// db opens a verified session as user for test queries.
func (f *fixture) open(t testing.TB, user, pw string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", f.srv.MySQLDSN(user, pw, ""))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// query runs a statement as user and returns its error.
func (f *fixture) query(t testing.TB, user, pw, q string) error {
	t.Helper()
	db := f.open(t, user, pw)
	defer db.Close()
	rows, err := db.QueryContext(ctx(t), q)
	if err != nil {
		return err
	}
	return rows.Close()
}

// adminStrings runs a query as the admin and returns the first column of
// every row.
func (f *fixture) adminStrings(t testing.TB, q string, args ...any) []string {
	t.Helper()
	db := f.open(t, f.srv.AdminUser, f.srv.AdminPassword)
	rows, err := db.QueryContext(ctx(t), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s sql.NullString
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s.String)
	}
	return out
}

var identified = regexp.MustCompile(` IDENTIFIED (BY PASSWORD|VIA \S+ USING) '[^']*'`)

// grants returns SHOW GRANTS FOR user@'%' with the user name replaced by
// X and the password hash removed, sorted, for comparing two accounts.
func (f *fixture) grants(t testing.TB, user string) []string {
	t.Helper()
	lines := f.adminStrings(t, "SHOW GRANTS FOR `"+user+"`@`%`")
	for i, l := range lines {
		l = strings.ReplaceAll(l, "`"+user+"`@`%`", "`X`@`%`")
		lines[i] = identified.ReplaceAllString(l, "")
	}
	sort.Strings(lines)
	return lines
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// password returns a password from GetRandomPassword's alphabet minus
// ExcludeCharacters, with at least one of each kind (as
// RequireEachIncludedType asks), as the rotation would get.
func password(t testing.TB) string {
	t.Helper()
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._"
	b := make([]byte, mysql.PasswordLength)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			t.Fatal(err)
		}
		b[i] = alphabet[n.Int64()]
	}
	copy(b, "aA0-")
	return string(b)
}
