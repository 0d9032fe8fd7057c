package postgres_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dualkey/dualkey/internal/dbtest"
	"github.com/dualkey/dualkey/shared/providers/postgres"
	"github.com/dualkey/dualkey/shared/sqlcred/sqlcredtest"
)

// TestTLS proves the server is verified by default and that the relaxed
// modes do what their names say.
func TestTLS(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other, err := dbtest.NewCA("not the server's CA")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		adjust  func(*postgres.ConnConfig)
		wantErr error
		wantSSL bool
		hint    string
	}{
		{"verify-full with the server's CA", func(*postgres.ConnConfig) {}, nil, true, ""},
		{"verify-full with another CA", func(c *postgres.ConnConfig) { c.RootCAs = other.Pool() }, postgres.ErrTLS, false, "CA bundle"},
		{"verify-full with system roots", func(c *postgres.ConnConfig) { c.RootCAs = nil }, postgres.ErrTLS, false, "CA bundle"},
		{"verify-full, name not in the certificate", func(c *postgres.ConnConfig) { c.ServerName = "db.example.com" }, postgres.ErrTLS, false, "not valid for host"},
		{"insecure-skip-verify with another CA", func(c *postgres.ConnConfig) { c.RootCAs = other.Pool(); c.TLS = postgres.TLSInsecureSkipVerify }, nil, true, ""},
		{"insecure-disable", func(c *postgres.ConnConfig) { c.TLS = postgres.TLSInsecureDisable }, nil, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := f.cfg(f.app, f.appPW)
			tc.adjust(&cfg)
			c, err := postgres.Connect(ctx(t), cfg)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.hint) {
					t.Fatalf("error %v, want %v mentioning %q", err, tc.wantErr, tc.hint)
				}
				if strings.Contains(err.Error(), f.appPW) {
					t.Fatal("error shows the password")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			// The server's own view of the session.
			ssl := f.scalar(t, f.srv.AdminUser, f.srv.AdminPassword,
				"SELECT coalesce(bool_or(s.ssl), false)::text FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = '"+f.app+"'")
			if ssl != strconv.FormatBool(tc.wantSSL) {
				t.Fatalf("session encrypted = %s, want %v", ssl, tc.wantSSL)
			}
		})
	}
}

// loginKit is the fixture's app login for sqlcredtest's login scenarios.
func loginKit(t *testing.T) sqlcredtest.LoginKit {
	f := newFixture(t)
	base := f.cfg(f.app, f.appPW)
	return sqlcredtest.LoginKit{
		App:    sqlcredtest.Conn{Host: base.Host, Port: base.Port, User: base.User, Password: base.Password, DBName: base.DBName},
		Master: f.master,
		Login: func(ctx context.Context, c sqlcredtest.Conn) error {
			cfg := base
			cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.DBName, cfg.Label, cfg.ConnectTimeout = c.Host, c.Port, c.User, c.Password, c.DBName, c.Label, c.ConnectTimeout
			return postgres.Login(ctx, cfg)
		},
		NoSuchDB: postgres.ErrServer,
		Password: func(t testing.TB) string { return password(t) },
	}
}

// TestConnectErrors checks each kind of login failure is told apart, says
// what to do, and never contains the password (sqlcredtest's table; a
// database that does not exist is postgres.ErrServer).
func TestConnectErrors(t *testing.T) {
	t.Parallel()
	sqlcredtest.TestConnectErrors(t, loginKit(t))
}

// TestConnectTimeoutInsideDeadline: a database that never answers is given
// up on while the step still has time to report it.
func TestConnectTimeoutInsideDeadline(t *testing.T) {
	t.Parallel()
	sqlcredtest.TestConnectTimeoutInsideDeadline(t, loginKit(t))
}

// TestSetAlternateCreatesCloneWithSamePrivileges runs AWS's multi-user
// setSecret on a new pair and checks the clone can do exactly what the base
// user can.
func TestSetAlternateCreatesCloneWithSamePrivileges(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.srv.MustExec(t, f.db,
		"CREATE SCHEMA appschema", "CREATE TABLE appschema.only_here (v int)", "GRANT USAGE ON SCHEMA appschema TO "+f.app,
		"GRANT SELECT ON appschema.only_here TO "+f.app,
		"ALTER ROLE "+f.app+" SET search_path TO appschema, public",
		"ALTER ROLE "+f.app+" IN DATABASE "+f.db+" SET statement_timeout TO '42s'",
		"ALTER ROLE "+f.app+" SET log_statement TO 'none'", // only a superuser may set it
	)
	m := f.masterConn(t)
	clone := f.app + "_clone"
	pw := password(t)
	resp, err := m.SetAlternate(ctx(t), &postgres.AlternateRequest{Current: f.app, Pending: clone, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Created || resp.Settings != 2 || len(resp.SettingsSkipped) != 1 || resp.SettingsSkipped[0] != "log_statement" {
		t.Fatalf("response %+v, want created with 2 settings and log_statement skipped", resp)
	}
	if err := f.login(t, clone, pw); err != nil {
		t.Fatalf("clone cannot log in: %v", err)
	}
	if err := f.login(t, f.app, f.appPW); err != nil {
		t.Fatalf("the current user stopped working: %v", err)
	}
	for _, tc := range []struct {
		sql     string
		allowed bool
	}{
		{"SELECT * FROM pub", true},
		{"SELECT * FROM only_here", true}, // through the copied search_path
		{"SELECT * FROM priv", false},
		{"INSERT INTO pub VALUES (3)", false},
	} {
		for _, u := range []struct{ user, pw string }{{f.app, f.appPW}, {clone, pw}} {
			err := f.query(t, u.user, u.pw, tc.sql)
			var pgErr *pgconn.PgError
			switch {
			case tc.allowed && err != nil:
				t.Errorf("%s as %s: %v", tc.sql, u.user, err)
			case !tc.allowed && !(errors.As(err, &pgErr) && pgErr.Code == "42501"):
				t.Errorf("%s as %s: %v, want permission denied", tc.sql, u.user, err)
			}
		}
	}
	if got := f.scalar(t, clone, pw, "SHOW statement_timeout"); got != "42s" {
		t.Fatalf("clone's statement_timeout in the database is %q, want the base user's 42s", got)
	}
	if err := m.CheckAlternate(ctx(t), f.app, clone); err != nil {
		t.Fatalf("the clone SetAlternate made fails CheckAlternate: %v", err)
	}
}

// TestSetAlternateAlternatesAndIsIdempotent rotates back and forth, repeating
// each call as a crashed-and-retried setSecret would.
func TestSetAlternateAlternatesAndIsIdempotent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.masterConn(t)
	clone := f.app + "_clone"
	current, currentPW := f.app, f.appPW
	for round := 0; round < 4; round++ {
		pending, _ := postgres.AltUsername(current)
		pw := password(t)
		for attempt := 0; attempt < 2; attempt++ {
			resp, err := m.SetAlternate(ctx(t), &postgres.AlternateRequest{Current: current, Pending: pending, Password: pw})
			if err != nil {
				t.Fatalf("round %d attempt %d: %v", round, attempt, err)
			}
			if resp.Created != (round == 0 && attempt == 0) {
				t.Fatalf("round %d attempt %d: created = %v", round, attempt, resp.Created)
			}
		}
		if err := f.login(t, pending, pw); err != nil {
			t.Fatalf("round %d: pending user %s cannot log in: %v", round, pending, err)
		}
		if err := f.login(t, current, currentPW); err != nil {
			t.Fatalf("round %d: current user %s stopped working: %v", round, current, err)
		}
		current, currentPW = pending, pw
	}
	if err := m.CheckAlternate(ctx(t), f.app, clone); err != nil {
		t.Fatal(err)
	}
}

// TestSetAlternateRefusesForeignClone: a role named like the clone that a
// rotation did not make (or whose privileges drifted) is never given the
// secret's password.
func TestSetAlternateRefusesForeignClone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(f *fixture, clone, clonePW string) []string
		says  string
	}{
		{"not a member", func(f *fixture, clone, pw string) []string {
			return []string{"CREATE ROLE " + clone + " LOGIN PASSWORD '" + pw + "'"}
		}, "is not a member"},
		{"member without inheritance", func(f *fixture, clone, pw string) []string {
			return []string{"CREATE ROLE " + clone + " LOGIN NOINHERIT PASSWORD '" + pw + "'", "GRANT " + f.app + " TO " + clone}
		}, "without inheriting"},
		{"more powerful", func(f *fixture, clone, pw string) []string {
			return []string{"CREATE ROLE " + clone + " LOGIN CREATEDB PASSWORD '" + pw + "'", "GRANT " + f.app + " TO " + clone}
		}, "CREATEDB"},
		{"member of another role", func(f *fixture, clone, pw string) []string {
			other := dbtest.UniqueName("r")
			return []string{"CREATE ROLE " + other, "CREATE ROLE " + clone + " LOGIN PASSWORD '" + pw + "'", "GRANT " + f.app + " TO " + clone, "GRANT " + other + " TO " + clone}
		}, "also a member"},
		{"reversed (base user a member of the clone)", func(f *fixture, clone, pw string) []string {
			return []string{"CREATE ROLE " + clone + " LOGIN PASSWORD '" + pw + "'", "GRANT " + clone + " TO " + f.app}
		}, "is not a member"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			clone, clonePW := f.app+"_clone", password(t)
			f.srv.MustExec(t, f.db, tc.setup(f, clone, clonePW)...)
			m := f.masterConn(t)
			newPW := password(t)
			for _, req := range []*postgres.AlternateRequest{
				{Current: f.app, Pending: clone, Password: newPW},
				{Current: clone, Pending: f.app, Password: newPW},
			} {
				_, err := m.SetAlternate(ctx(t), req)
				if !errors.Is(err, postgres.ErrNotClone) || !strings.Contains(err.Error(), tc.says) {
					t.Fatalf("SetAlternate(%s -> %s): %v, want ErrNotClone saying %q", req.Current, req.Pending, err, tc.says)
				}
				if strings.Contains(err.Error(), newPW) {
					t.Fatal("error shows the password")
				}
			}
			if err := f.login(t, clone, newPW); err == nil {
				t.Fatal("the foreign role got the secret's password")
			}
			if err := f.login(t, clone, clonePW); err != nil {
				t.Fatalf("the foreign role's own password stopped working: %v", err)
			}
			if err := f.login(t, f.app, f.appPW); err != nil {
				t.Fatalf("the base user's password changed: %v", err)
			}
		})
	}
}

// TestSetAlternateGuards: the request must name the current user's
// alternate, never the master itself, and the password must be one dualkey
// would set.
func TestSetAlternateGuards(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.masterConn(t)
	secret := "Pässword-" + password(t)
	for _, tc := range []struct {
		name string
		req  postgres.AlternateRequest
		want error
	}{
		{"pending is not the alternate", postgres.AlternateRequest{Current: f.app, Pending: f.master, Password: password(t)}, postgres.ErrNotClone},
		{"pending is the current user", postgres.AlternateRequest{Current: f.app, Pending: f.app, Password: password(t)}, postgres.ErrNotClone},
		{"pending is the master", postgres.AlternateRequest{Current: strings.TrimSuffix(f.master, "_clone") + "_clone", Pending: f.master, Password: password(t)}, postgres.ErrNotClone},
		{"non-ASCII password", postgres.AlternateRequest{Current: f.app, Pending: f.app + "_clone", Password: secret}, postgres.ErrUnsafePassword},
		{"base user missing", postgres.AlternateRequest{Current: "ghost_user", Pending: "ghost_user_clone", Password: password(t)}, postgres.ErrNoSuchUser},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.SetAlternate(ctx(t), &tc.req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), tc.req.Password) || strings.Contains(err.Error(), "Pässword") {
				t.Fatal("error shows the password")
			}
		})
	}
	if err := f.login(t, f.app+"_clone", password(t)); err == nil {
		t.Fatal("a refused request created the clone")
	}
}

// TestMissingPrivilege: a master user without CREATEROLE gets an error that
// says what it lacks.
func TestMissingPrivilege(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	weak, weakPW := dbtest.UniqueName("weak"), password(t)
	f.srv.MustExec(t, f.db, "CREATE ROLE "+weak+" LOGIN PASSWORD '"+weakPW+"'")
	c, err := postgres.Connect(ctx(t), f.cfg(weak, weakPW))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	pw := password(t)
	_, err = c.SetAlternate(ctx(t), &postgres.AlternateRequest{Current: f.app, Pending: f.app + "_clone", Password: pw})
	if !errors.Is(err, postgres.ErrPrivilege) || !strings.Contains(err.Error(), "CREATEROLE") || strings.Contains(err.Error(), pw) {
		t.Fatalf("error %v, want ErrPrivilege naming CREATEROLE without the password", err)
	}
	if err := c.Lock(ctx(t), f.app); !errors.Is(err, postgres.ErrPrivilege) {
		t.Fatalf("lock without CREATEROLE: %v, want ErrPrivilege", err)
	}
}

// TestLockUnlock switches a user off and on: logins are refused with
// ErrLocked while it is off, and the next rotation switches it on as it sets
// the new password.
func TestLockUnlock(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.masterConn(t)
	clone, pw := f.app+"_clone", password(t)
	if _, err := m.SetAlternate(ctx(t), &postgres.AlternateRequest{Current: f.app, Pending: clone, Password: pw}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // idempotent
		if err := m.Lock(ctx(t), f.app); err != nil {
			t.Fatal(err)
		}
	}
	if locked, err := m.Locked(ctx(t), f.app); err != nil || !locked {
		t.Fatalf("Locked = %v, %v", locked, err)
	}
	err := f.login(t, f.app, f.appPW)
	if !errors.Is(err, postgres.ErrLocked) || !strings.Contains(err.Error(), "NOLOGIN") || strings.Contains(err.Error(), f.appPW) {
		t.Fatalf("login while locked: %v, want ErrLocked", err)
	}
	if err := f.login(t, clone, pw); err != nil {
		t.Fatalf("locking one user touched the other: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := m.Unlock(ctx(t), f.app); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.login(t, f.app, f.appPW); err != nil {
		t.Fatalf("login after unlock: %v", err)
	}

	// The next rotation unlocks the user it hands out.
	if err := m.Lock(ctx(t), f.app); err != nil {
		t.Fatal(err)
	}
	pw2 := password(t)
	resp, err := m.SetAlternate(ctx(t), &postgres.AlternateRequest{Current: clone, Pending: f.app, Password: pw2})
	if err != nil || !resp.Unlocked {
		t.Fatalf("SetAlternate on a locked user: %+v, %v; want unlocked", resp, err)
	}
	if err := f.login(t, f.app, pw2); err != nil {
		t.Fatalf("rotated-back user cannot log in: %v", err)
	}

	for _, tc := range []struct {
		name, user string
		want       error
	}{
		{"the master itself", f.master, postgres.ErrPrivilege},
		{"no such user", "ghost_user", postgres.ErrNoSuchUser},
	} {
		if err := m.Lock(ctx(t), tc.user); !errors.Is(err, tc.want) {
			t.Errorf("lock %s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestSessions lists the sessions of a user with what pg_stat_activity
// shows a master with and without pg_read_all_stats.
func TestSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.cfg(f.app, f.appPW)
	cfg.ApplicationName = "billing-api"
	app, err := postgres.Connect(ctx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(context.Background())

	m := f.masterConn(t)
	got, err := m.Sessions(ctx(t), f.app)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ApplicationName != "billing-api" || !got[0].Hidden || got[0].ClientAddr.IsValid() {
		t.Fatalf("sessions seen by a master without pg_read_all_stats: %+v; want one, hidden, with its application name", got)
	}

	f.srv.MustExec(t, f.db, "GRANT pg_read_all_stats TO "+f.master)
	m2, err := postgres.Connect(ctx(t), f.cfg(f.master, f.masterPW))
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close(context.Background())
	got, err = m2.Sessions(ctx(t), f.app)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("sessions %+v, want one", got)
	}
	s := got[0]
	if s.Hidden || s.ApplicationName != "billing-api" || s.ClientAddr.String() != "127.0.0.1" || s.ClientPort == 0 || s.BackendStart.IsZero() || s.Database != f.db {
		t.Fatalf("session %+v", s)
	}

	if got, err := m2.Sessions(ctx(t), f.master); err != nil || len(got) != 1 || got[0].ApplicationName != "dualkey" {
		t.Fatalf("the master's sessions: %+v, %v; want only the other master session, not the one asking", got, err)
	}
	app.Close(context.Background())
	// The server ends the backend shortly after the client says goodbye.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got, err := m2.Sessions(ctx(t), f.app)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions after the app disconnected: %+v", got)
		}
	}
}

// TestFirstLogin follows AWS's single-user order and stops at failures
// another password cannot fix.
func TestFirstLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	pending := f.cfg(f.app, password(t))
	current := f.cfg(f.app, f.appPW)
	c, i, err := postgres.FirstLogin(ctx(t), pending, current, f.cfg(f.app, password(t)))
	if err != nil || i != 1 {
		t.Fatalf("FirstLogin = %d, %v; want the current credential (1)", i, err)
	}
	c.Close(context.Background())

	unreachable := current
	unreachable.Port = sqlcredtest.ClosedPort(t)
	_, i, err = postgres.FirstLogin(ctx(t), unreachable, current)
	if i != -1 || !errors.Is(err, postgres.ErrUnreachable) {
		t.Fatalf("FirstLogin with an unreachable first candidate = %d, %v; want it to stop", i, err)
	}
	_, _, err = postgres.FirstLogin(ctx(t), pending, f.cfg(f.app, "wrong-"+f.appPW))
	if !errors.Is(err, postgres.ErrAuth) || strings.Contains(err.Error(), f.appPW) || strings.Contains(err.Error(), pending.Password) {
		t.Fatalf("no candidate works: %v", err)
	}
}

// TestSetPasswordSingleUser: AWS's single-user strategy, the user changes
// its own password.
func TestSetPasswordSingleUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c, err := postgres.Connect(ctx(t), f.cfg(f.app, f.appPW))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	pw := password(t)
	if err := c.SetPassword(ctx(t), &postgres.SetPasswordRequest{User: f.app, Password: pw}); err != nil {
		t.Fatal(err)
	}
	if err := f.login(t, f.app, pw); err != nil {
		t.Fatal(err)
	}
	if err := f.login(t, f.app, f.appPW); !errors.Is(err, postgres.ErrAuth) {
		t.Fatalf("old password: %v, want ErrAuth", err)
	}
}

// TestPasswordEncryptionMD5: on a server that stores MD5 hashes, the clone
// gets an MD5 hash too (clients without SCRAM keep working) and logs in.
func TestPasswordEncryptionMD5(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.srv.MustExec(t, f.db, "ALTER ROLE "+f.master+" SET password_encryption = 'md5'")
	m := f.masterConn(t)
	clone, pw := f.app+"_clone", password(t)
	if _, err := m.SetAlternate(ctx(t), &postgres.AlternateRequest{Current: f.app, Pending: clone, Password: pw}); err != nil {
		t.Fatal(err)
	}
	stored := f.scalar(t, f.srv.AdminUser, f.srv.AdminPassword, "SELECT left(rolpassword, 3) FROM pg_authid WHERE rolname = '"+clone+"'")
	if stored != "md5" {
		t.Fatalf("stored password starts %q, want md5", stored)
	}
	if err := f.login(t, clone, pw); err != nil {
		t.Fatal(err)
	}
	f.srv.MustExec(t, f.db, "ALTER ROLE "+f.master+" RESET password_encryption")
	m2 := f.masterConn(t)
	if _, err := m2.SetAlternate(ctx(t), &postgres.AlternateRequest{Current: f.app, Pending: clone, Password: pw}); err != nil {
		t.Fatal(err)
	}
	if stored := f.scalar(t, f.srv.AdminUser, f.srv.AdminPassword, "SELECT left(rolpassword, 13) FROM pg_authid WHERE rolname = '"+clone+"'"); stored != "SCRAM-SHA-256" {
		t.Fatalf("stored password starts %q, want SCRAM-SHA-256", stored)
	}
	if err := f.login(t, clone, pw); err != nil {
		t.Fatal(err)
	}
}

// TestNoPasswordInServerLog: the shared server logs every statement; after
// creating, altering and single-user changes none of the passwords is in it.
func TestNoPasswordInServerLog(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.masterConn(t)
	clone := f.app + "_clone"
	var pws []string
	current := f.app
	for i := 0; i < 3; i++ {
		pending, _ := postgres.AltUsername(current)
		pw := password(t)
		pws = append(pws, pw)
		if _, err := m.SetAlternate(ctx(t), &postgres.AlternateRequest{Current: current, Pending: pending, Password: pw}); err != nil {
			t.Fatal(err)
		}
		current = pending
	}
	single := password(t)
	pws = append(pws, single)
	if err := m.SetPassword(ctx(t), &postgres.SetPasswordRequest{User: clone, Password: single}); err != nil {
		t.Fatal(err)
	}
	log, err := f.srv.Log()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, "CREATE ROLE \""+clone+"\" WITH LOGIN PASSWORD 'SCRAM-SHA-256$") {
		t.Fatalf("the server log lacks the CREATE ROLE statement; is statement logging on?")
	}
	for _, pw := range pws {
		if strings.Contains(log, pw) {
			t.Fatal("a password reached the server log")
		}
	}
}

// TestNoPasswordInErrors drives every failure path that knows a password
// and checks none of the errors contains it.
func TestNoPasswordInErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.masterConn(t)
	foreign := dbtest.UniqueName("fx")
	f.srv.MustExec(t, f.db, "CREATE ROLE "+foreign+"_clone LOGIN")
	pw := password(t)
	for _, tc := range []struct {
		name string
		run  func() error
	}{
		{"login refused", func() error { return f.login(t, f.app, pw) }},
		{"login to a closed port", func() error {
			c := f.cfg(f.app, pw)
			c.Port = sqlcredtest.ClosedPort(t)
			return postgres.Login(ctx(t), c)
		}},
		{"login with an untrusted CA", func() error {
			c := f.cfg(f.app, pw)
			other, _ := dbtest.NewCA("x")
			c.RootCAs = other.Pool()
			return postgres.Login(ctx(t), c)
		}},
		{"foreign clone", func() error {
			_, err := m.SetAlternate(ctx(t), &postgres.AlternateRequest{Current: foreign, Pending: foreign + "_clone", Password: pw})
			return err
		}},
		{"unsafe password", func() error {
			_, err := m.SetAlternate(ctx(t), &postgres.AlternateRequest{Current: f.app, Pending: f.app + "_clone", Password: pw + "\n"})
			return err
		}},
		{"set password of a missing role", func() error {
			return m.SetPassword(ctx(t), &postgres.SetPasswordRequest{User: "ghost_user", Password: pw})
		}},
		{"cancelled context", func() error {
			c, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := m.SetAlternate(c, &postgres.AlternateRequest{Current: f.app, Pending: f.app + "_clone", Password: pw})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), pw) {
				t.Fatalf("error shows the password: %v", err)
			}
			var pe *postgres.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *postgres.Error: %v", err, err)
			}
		})
	}
}

// TestServerVersion is a smoke check of the session's metadata.
func TestServerVersion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.masterConn(t)
	if m.User() != f.master || !strings.HasPrefix(f.srv.Version, m.ServerVersion()[:2]) {
		t.Fatalf("user %q version %q (server %q)", m.User(), m.ServerVersion(), f.srv.Version)
	}
}
