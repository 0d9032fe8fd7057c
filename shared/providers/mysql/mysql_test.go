package mysql_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/dualkey/dualkey/internal/dbtest"
	"github.com/dualkey/dualkey/shared/providers/mysql"
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
		adjust  func(*mysql.ConnConfig)
		wantErr error
		wantTLS bool
		hint    string
	}{
		{"verify-full with the server's CA", func(*mysql.ConnConfig) {}, nil, true, ""},
		{"verify-full with another CA", func(c *mysql.ConnConfig) { c.RootCAs = other.Pool() }, mysql.ErrTLS, false, "CA bundle"},
		{"verify-full with system roots", func(c *mysql.ConnConfig) { c.RootCAs = nil }, mysql.ErrTLS, false, "CA bundle"},
		{"verify-full, name not in the certificate", func(c *mysql.ConnConfig) { c.ServerName = "db.example.com" }, mysql.ErrTLS, false, `not valid for host "db.example.com"`},
		{"insecure-skip-verify with another CA", func(c *mysql.ConnConfig) { c.RootCAs = other.Pool(); c.TLS = mysql.TLSInsecureSkipVerify }, nil, true, ""},
		{"insecure-disable", func(c *mysql.ConnConfig) { c.TLS = mysql.TLSInsecureDisable }, nil, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := f.cfg(f.app, f.appPW)
			tc.adjust(&cfg)
			c, err := mysql.Connect(ctx(t), cfg)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.hint) || strings.Contains(err.Error(), f.appPW) {
					t.Fatalf("error %v, want %v mentioning %q without the password", err, tc.wantErr, tc.hint)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Flavor() != mysql.FlavorMariaDB || !strings.Contains(c.ServerVersion(), "MariaDB") {
				t.Fatalf("flavor %q version %q", c.Flavor(), c.ServerVersion())
			}
			cipher, err := mysql.SessionCipher(ctx(t), c)
			if err != nil {
				t.Fatal(err)
			}
			if (cipher != "") != tc.wantTLS {
				t.Fatalf("session cipher %q, want encrypted = %v", cipher, tc.wantTLS)
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
			return mysql.Login(ctx, cfg)
		},
		NoSuchDB: mysql.ErrPrivilege,
		Password: func(t testing.TB) string { return password(t) },
	}
}

// TestConnectErrors checks each kind of login failure is told apart, says
// what to do, and never contains the password (sqlcredtest's table; a
// database that does not exist is mysql.ErrPrivilege).
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

// TestSetAlternateCreatesCloneWithSamePrivileges replays every kind of grant
// and account attribute and checks the clone can do exactly what the current
// user can.
func TestSetAlternateCreatesCloneWithSamePrivileges(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	role := dbtest.UniqueName("role")
	app := "'" + f.app + "'@'%'"
	f.srv.MustExec(t, "",
		"CREATE TABLE "+f.db+".cols (a int, b int)",
		"CREATE PROCEDURE "+f.db+".p() SELECT 1",
		"CREATE TABLE "+f.db+".via_role (v int)",
		"CREATE ROLE "+role,
		"GRANT SELECT ON "+f.db+".via_role TO "+role,
		"GRANT "+role+" TO '"+f.master+"'@'%' WITH ADMIN OPTION",
		"GRANT "+role+" TO "+app,
		"SET DEFAULT ROLE "+role+" FOR "+app,
		"GRANT SELECT (a), UPDATE (a) ON "+f.db+".cols TO "+app,
		"GRANT EXECUTE ON PROCEDURE "+f.db+".p TO "+app,
		"GRANT INSERT ON "+f.db+".pub TO "+app+" WITH GRANT OPTION",
		"ALTER USER "+app+" REQUIRE SSL WITH MAX_USER_CONNECTIONS 7 MAX_QUERIES_PER_HOUR 5000 MAX_STATEMENT_TIME 9",
	)
	m := f.masterConn(t)
	clone, pw := f.app+"_clone", password(t)
	resp, err := m.SetAlternate(ctx(t), &mysql.AlternateRequest{Current: f.app, Pending: clone, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Created || resp.Account != (mysql.Account{User: clone, Host: "%"}) || resp.Grants != 5 {
		t.Fatalf("response %+v", resp)
	}
	if got, want := f.grants(t, clone), f.grants(t, f.app); !slices.Equal(got, want) {
		t.Fatalf("clone's grants\n%s\nwant the current user's\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	attrs := "SELECT CONCAT_WS('|', plugin, ssl_type, max_questions, max_user_connections, max_statement_time) FROM mysql.user WHERE User = ?"
	if got, want := f.adminStrings(t, attrs, clone), f.adminStrings(t, attrs, f.app); !slices.Equal(got, want) {
		t.Fatalf("clone's plugin, TLS requirement and limits %v, want %v", got, want)
	}
	if err := f.login(t, clone, pw); err != nil {
		t.Fatalf("clone cannot log in: %v", err)
	}
	if err := f.login(t, f.app, f.appPW); err != nil {
		t.Fatalf("the current user stopped working: %v", err)
	}
	noTLS := f.cfg(clone, pw)
	noTLS.TLS = mysql.TLSInsecureDisable
	if err := mysql.Login(ctx(t), noTLS); !errors.Is(err, mysql.ErrAuth) {
		t.Fatalf("clone without TLS: %v, want refused (REQUIRE SSL was copied)", err)
	}
	for _, tc := range []struct {
		sql     string
		allowed bool
	}{
		{"SELECT * FROM " + f.db + ".pub", true},
		{"SELECT * FROM " + f.db + ".via_role", true}, // through the default role
		{"SELECT a FROM " + f.db + ".cols", true},
		{"SELECT b FROM " + f.db + ".cols", false},
		{"CALL " + f.db + ".p()", true},
		{"SELECT * FROM " + f.db + ".priv", false},
		{"DELETE FROM " + f.db + ".pub", false},
	} {
		for _, u := range []struct{ user, pw string }{{f.app, f.appPW}, {clone, pw}} {
			err := f.query(t, u.user, u.pw, tc.sql)
			var my *gomysql.MySQLError
			switch {
			case tc.allowed && err != nil:
				t.Errorf("%s as %s: %v", tc.sql, u.user, err)
			case !tc.allowed && !(errors.As(err, &my) && (my.Number == 1142 || my.Number == 1143)):
				t.Errorf("%s as %s: %v, want access denied", tc.sql, u.user, err)
			}
		}
	}
	if err := m.CheckAlternate(ctx(t), f.app, clone); err != nil {
		t.Fatalf("the clone SetAlternate made fails CheckAlternate: %v", err)
	}
}

// TestSetAlternateAlternatesAndIsIdempotent rotates back and forth,
// repeating each call as a crashed-and-retried setSecret would, and checks
// grants added to the current user reach the other one.
func TestSetAlternateAlternatesAndIsIdempotent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.masterConn(t)
	current, currentPW := f.app, f.appPW
	for round := 0; round < 4; round++ {
		pending, _ := mysql.AltUsername(current, mysql.EngineMariaDB)
		if round == 2 {
			f.srv.MustExec(t, "", "GRANT SELECT ON "+f.db+".priv TO '"+current+"'@'%'")
		}
		pw := password(t)
		for attempt := 0; attempt < 2; attempt++ {
			resp, err := m.SetAlternate(ctx(t), &mysql.AlternateRequest{Current: current, Pending: pending, Password: pw})
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
		if got, want := f.grants(t, pending), f.grants(t, current); !slices.Equal(got, want) {
			t.Fatalf("round %d: grants differ:\n%v\n%v", round, got, want)
		}
		current, currentPW = pending, pw
	}
	if err := f.query(t, current, currentPW, "SELECT * FROM "+f.db+".priv"); err != nil {
		t.Fatalf("a grant given to the current user did not reach the other: %v", err)
	}
}

// TestSetAlternateRefusesForeignClone: an account named like the clone that
// a rotation did not make, or whose privileges drifted, is never given the
// secret's password.
func TestSetAlternateRefusesForeignClone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(f *fixture, clone, pw string) []string
		says  string
	}{
		{"more privileges", func(f *fixture, clone, pw string) []string {
			return []string{"CREATE USER '" + clone + "'@'%' IDENTIFIED BY '" + pw + "'", "GRANT SELECT ON " + f.db + ".priv TO '" + clone + "'@'%'"}
		}, "SELECT ON `" + "%s" + "`.`priv`"},
		{"other host", func(f *fixture, clone, pw string) []string {
			return []string{"CREATE USER '" + clone + "'@'10.%' IDENTIFIED BY '" + pw + "'"}
		}, "host"},
		{"socket authentication", func(f *fixture, clone, pw string) []string {
			return []string{"CREATE USER '" + clone + "'@'%' IDENTIFIED VIA unix_socket"}
		}, "unix_socket"},
		{"a revoke that reached only the current user", func(f *fixture, clone, pw string) []string {
			return []string{"CREATE USER '" + clone + "'@'%' IDENTIFIED BY '" + pw + "'", "GRANT SELECT, INSERT ON " + f.db + ".pub TO '" + clone + "'@'%'"}
		}, "INSERT ON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			clone, clonePW := f.app+"_clone", password(t)
			f.srv.MustExec(t, "", tc.setup(f, clone, clonePW)...)
			m := f.masterConn(t)
			newPW := password(t)
			says := strings.ReplaceAll(tc.says, "%s", f.db)
			_, err := m.SetAlternate(ctx(t), &mysql.AlternateRequest{Current: f.app, Pending: clone, Password: newPW})
			if !errors.Is(err, mysql.ErrNotClone) || !strings.Contains(err.Error(), says) || strings.Contains(err.Error(), newPW) {
				t.Fatalf("SetAlternate: %v, want ErrNotClone saying %q", err, says)
			}
			if err := m.CheckAlternate(ctx(t), f.app, clone); !errors.Is(err, mysql.ErrNotClone) {
				t.Fatalf("CheckAlternate: %v", err)
			}
			if err := f.login(t, clone, newPW); err == nil {
				t.Fatal("the foreign account got the secret's password")
			}
			if tc.name != "socket authentication" && tc.name != "other host" {
				if err := f.login(t, clone, clonePW); err != nil {
					t.Fatalf("the foreign account's own password stopped working: %v", err)
				}
			}
		})
	}
}

// TestSetAlternateHalfMadeClone: a crash after CREATE USER leaves a locked
// clone without grants. Logging in with the pending password fails (so a
// retried setSecret that logs in first does not stop early), and the retry
// completes it.
func TestSetAlternateHalfMadeClone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	clone, pw := f.app+"_clone", password(t)
	f.srv.MustExec(t, "", "CREATE USER '"+clone+"'@'%' IDENTIFIED BY '"+pw+"' ACCOUNT LOCK")
	if err := f.login(t, clone, pw); !errors.Is(err, mysql.ErrLocked) {
		t.Fatalf("half-made clone: %v, want ErrLocked", err)
	}
	m := f.masterConn(t)
	resp, err := m.SetAlternate(ctx(t), &mysql.AlternateRequest{Current: f.app, Pending: clone, Password: pw})
	if err != nil || resp.Created || !resp.Unlocked {
		t.Fatalf("retry: %+v, %v", resp, err)
	}
	if err := f.query(t, clone, pw, "SELECT * FROM "+f.db+".pub"); err != nil {
		t.Fatalf("completed clone: %v", err)
	}
}

// TestSetAlternateGuards: the request must name the current user's
// alternate, never the master, and the password must be one dualkey sets.
func TestSetAlternateGuards(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.masterConn(t)
	for _, tc := range []struct {
		name string
		req  mysql.AlternateRequest
		want error
	}{
		{"pending is not the alternate", mysql.AlternateRequest{Current: f.app, Pending: f.master, Password: password(t)}, mysql.ErrNotClone},
		{"pending is the master", mysql.AlternateRequest{Current: f.master + "_clone", Pending: f.master, Password: password(t)}, mysql.ErrNotClone},
		{"password with a quote", mysql.AlternateRequest{Current: f.app, Pending: f.app + "_clone", Password: "it's-" + password(t)}, mysql.ErrUnsafePassword},
		{"current user missing", mysql.AlternateRequest{Current: "ghost_user", Pending: "ghost_user_clone", Password: password(t)}, mysql.ErrNoSuchUser},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.SetAlternate(ctx(t), &tc.req)
			if !errors.Is(err, tc.want) || strings.Contains(err.Error(), tc.req.Password) {
				t.Fatalf("error %v, want %v without the password", err, tc.want)
			}
		})
	}
	if hosts := f.adminStrings(t, "SELECT Host FROM mysql.user WHERE User = ?", f.app+"_clone"); len(hosts) != 0 {
		t.Fatal("a refused request created the clone")
	}
}

// TestMissingPrivilege: a master without CREATE USER, or without PROCESS,
// gets an error saying what it lacks.
func TestMissingPrivilege(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	weak, weakPW := dbtest.UniqueName("weak"), password(t)
	f.srv.MustExec(t, "", "CREATE USER '"+weak+"'@'%' IDENTIFIED BY '"+weakPW+"'", "GRANT SELECT ON *.* TO '"+weak+"'@'%'")
	c, err := mysql.Connect(ctx(t), f.cfg(weak, weakPW))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pw := password(t)
	_, err = c.SetAlternate(ctx(t), &mysql.AlternateRequest{Current: f.app, Pending: f.app + "_clone", Password: pw})
	if !errors.Is(err, mysql.ErrPrivilege) || !strings.Contains(err.Error(), "CREATE USER") || strings.Contains(err.Error(), pw) {
		t.Fatalf("error %v, want ErrPrivilege naming CREATE USER without the password", err)
	}
	if _, err := c.Sessions(ctx(t), f.app); !errors.Is(err, mysql.ErrPrivilege) || !strings.Contains(err.Error(), "PROCESS") {
		t.Fatalf("sessions without PROCESS: %v, want ErrPrivilege naming PROCESS", err)
	}
}

// TestLockUnlock switches an account off and on; logins are refused with
// ErrLocked while it is off, and the next rotation unlocks it as it sets the
// new password.
func TestLockUnlock(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.masterConn(t)
	clone, pw := f.app+"_clone", password(t)
	if _, err := m.SetAlternate(ctx(t), &mysql.AlternateRequest{Current: f.app, Pending: clone, Password: pw}); err != nil {
		t.Fatal(err)
	}
	app := mysql.Account{User: f.app, Host: "%"}
	for i := 0; i < 2; i++ {
		if err := m.Lock(ctx(t), f.app); err != nil {
			t.Fatal(err)
		}
	}
	if locked, err := m.Locked(ctx(t), app); err != nil || !locked {
		t.Fatalf("Locked = %v, %v", locked, err)
	}
	err := f.login(t, f.app, f.appPW)
	if !errors.Is(err, mysql.ErrLocked) || strings.Contains(err.Error(), f.appPW) {
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
	if err := m.Lock(ctx(t), f.app); err != nil {
		t.Fatal(err)
	}
	pw2 := password(t)
	resp, err := m.SetAlternate(ctx(t), &mysql.AlternateRequest{Current: clone, Pending: f.app, Password: pw2})
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
		{"the master itself", f.master, mysql.ErrPrivilege},
		{"no such user", "ghost_user", mysql.ErrNoSuchUser},
	} {
		if err := m.Lock(ctx(t), tc.user); !errors.Is(err, tc.want) {
			t.Errorf("lock %s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestSessions lists the sessions of a user with the client address and the
// program name the client reported.
func TestSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.cfg(f.app, f.appPW)
	cfg.ProgramName = "billing-api"
	app, err := mysql.Connect(ctx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	m := f.masterConn(t)
	got, err := m.Sessions(ctx(t), f.app)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("sessions %+v, want one", got)
	}
	s := got[0]
	if s.ProgramName != "billing-api" || s.ClientAddr.String() != "127.0.0.1" || s.ClientPort == 0 || s.Command != "Sleep" || s.ID == 0 {
		t.Fatalf("session %+v", s)
	}
	other := f.masterConn(t)
	if got, err := other.Sessions(ctx(t), f.master); err != nil || len(got) != 1 || got[0].ProgramName != "dualkey" {
		t.Fatalf("the master's sessions: %+v, %v; want only the other master session, not the one asking", got, err)
	}
	app.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got, err := m.Sessions(ctx(t), f.app)
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
	c, i, err := mysql.FirstLogin(ctx(t), pending, current, f.cfg(f.app, password(t)))
	if err != nil || i != 1 {
		t.Fatalf("FirstLogin = %d, %v; want the current credential (1)", i, err)
	}
	c.Close()
	unreachable := current
	unreachable.Port = sqlcredtest.ClosedPort(t)
	if _, i, err = mysql.FirstLogin(ctx(t), unreachable, current); i != -1 || !errors.Is(err, mysql.ErrUnreachable) {
		t.Fatalf("FirstLogin with an unreachable first candidate = %d, %v; want it to stop", i, err)
	}
}

// TestSetPassword: AWS's single-user strategy (the user changes its own
// password) and a master changing another user's.
func TestSetPassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c, err := mysql.Connect(ctx(t), f.cfg(f.app, f.appPW))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pw := password(t)
	if err := c.SetPassword(ctx(t), &mysql.SetPasswordRequest{User: f.app, Password: pw}); err != nil {
		t.Fatal(err)
	}
	if err := f.login(t, f.app, pw); err != nil {
		t.Fatal(err)
	}
	if err := f.login(t, f.app, f.appPW); !errors.Is(err, mysql.ErrAuth) {
		t.Fatalf("old password: %v, want ErrAuth", err)
	}
	m := f.masterConn(t)
	pw2 := password(t)
	if err := m.SetPassword(ctx(t), &mysql.SetPasswordRequest{User: f.app, Password: pw2}); err != nil {
		t.Fatal(err)
	}
	if err := f.login(t, f.app, pw2); err != nil {
		t.Fatal(err)
	}
}

// TestEd25519 rotates an account that uses MariaDB's ed25519 plugin: the
// clone gets the same plugin, and the stored form is computed here.
func TestEd25519(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if n := f.adminStrings(t, "SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'ed25519'"); n[0] == "0" {
		f.srv.MustExec(t, "", "INSTALL SONAME 'auth_ed25519'")
	}
	ed, edPW := dbtest.UniqueName("ed"), password(t)
	f.srv.MustExec(t, "", "CREATE USER '"+ed+"'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('"+edPW+"')",
		"GRANT SELECT ON "+f.db+".pub TO '"+ed+"'@'%'")
	m := f.masterConn(t)
	pw := password(t)
	if _, err := m.SetAlternate(ctx(t), &mysql.AlternateRequest{Current: ed, Pending: ed + "_clone", Password: pw}); err != nil {
		t.Fatal(err)
	}
	if got := f.adminStrings(t, "SELECT plugin FROM mysql.user WHERE User = ?", ed+"_clone"); !slices.Equal(got, []string{"ed25519"}) {
		t.Fatalf("clone's plugin %v", got)
	}
	if err := f.query(t, ed+"_clone", pw, "SELECT * FROM "+f.db+".pub"); err != nil {
		t.Fatal(err)
	}
	c, err := mysql.Connect(ctx(t), f.cfg(ed, edPW))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pw2 := password(t)
	if err := c.SetPassword(ctx(t), &mysql.SetPasswordRequest{User: ed, Password: pw2}); err != nil {
		t.Fatal(err)
	}
	if err := f.login(t, ed, pw2); err != nil {
		t.Fatal(err)
	}
}

// TestStrictPasswordValidation: with a password-validation plugin loaded,
// MariaDB refuses pre-hashed passwords; the rotation falls back to sending
// the password, and works.
func TestStrictPasswordValidation(t *testing.T) {
	t.Parallel()
	srv := dbtest.StartMariaDB(t)
	srv.MustExec(t, "", "INSTALL SONAME 'simple_password_check'")
	f := newFixtureOn(t, srv)
	m := f.masterConn(t)
	clone, pw := f.app+"_clone", password(t)
	if _, err := m.SetAlternate(ctx(t), &mysql.AlternateRequest{Current: f.app, Pending: clone, Password: pw}); err != nil {
		t.Fatal(err)
	}
	if err := f.login(t, clone, pw); err != nil {
		t.Fatal(err)
	}
	pw2 := password(t)
	if _, err := m.SetAlternate(ctx(t), &mysql.AlternateRequest{Current: f.app, Pending: clone, Password: pw2}); err != nil {
		t.Fatal(err)
	}
	if err := f.login(t, clone, pw2); err != nil {
		t.Fatal(err)
	}
}

// TestNoPasswordInServerLog: the shared server writes every statement to its
// general query log (which MariaDB does not mask); none of the passwords
// dualkey set is in it.
func TestNoPasswordInServerLog(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.masterConn(t)
	clone := f.app + "_clone"
	var pws []string
	current := f.app
	for i := 0; i < 3; i++ {
		pending, _ := mysql.AltUsername(current, mysql.EngineMariaDB)
		pw := password(t)
		pws = append(pws, pw)
		if _, err := m.SetAlternate(ctx(t), &mysql.AlternateRequest{Current: current, Pending: pending, Password: pw}); err != nil {
			t.Fatal(err)
		}
		current = pending
	}
	c, err := mysql.Connect(ctx(t), f.cfg(current, pws[2]))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	single := password(t)
	pws = append(pws, single)
	if err := c.SetPassword(ctx(t), &mysql.SetPasswordRequest{User: current, Password: single}); err != nil {
		t.Fatal(err)
	}
	log, err := f.srv.Log()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, "CREATE USER `"+clone+"`@`%` IDENTIFIED WITH mysql_native_password AS '*") {
		t.Fatal("the general log lacks the CREATE USER statement; is it on?")
	}
	for _, pw := range pws {
		if strings.Contains(log, pw) {
			t.Fatal("a password reached the server log")
		}
	}
}

// TestNoPasswordInErrors drives failure paths that know a password and
// checks none of the errors contains it.
func TestNoPasswordInErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.masterConn(t)
	pw := password(t)
	foreign := dbtest.UniqueName("fx")
	f.srv.MustExec(t, "", "CREATE USER '"+foreign+"'@'%'", "CREATE USER '"+foreign+"_clone'@'%'", "GRANT SELECT ON "+f.db+".priv TO '"+foreign+"_clone'@'%'")
	for _, tc := range []struct {
		name string
		run  func() error
	}{
		{"login refused", func() error { return f.login(t, f.app, pw) }},
		{"login to a closed port", func() error { c := f.cfg(f.app, pw); c.Port = sqlcredtest.ClosedPort(t); return mysql.Login(ctx(t), c) }},
		{"login with an untrusted CA", func() error {
			c := f.cfg(f.app, pw)
			other, _ := dbtest.NewCA("x")
			c.RootCAs = other.Pool()
			return mysql.Login(ctx(t), c)
		}},
		{"foreign clone", func() error {
			_, err := m.SetAlternate(ctx(t), &mysql.AlternateRequest{Current: foreign, Pending: foreign + "_clone", Password: pw})
			return err
		}},
		{"unsafe password", func() error {
			_, err := m.SetAlternate(ctx(t), &mysql.AlternateRequest{Current: f.app, Pending: f.app + "_clone", Password: pw + "'"})
			return err
		}},
		{"set password of a missing user", func() error {
			return m.SetPassword(ctx(t), &mysql.SetPasswordRequest{User: "ghost_user", Password: pw})
		}},
		{"cancelled context", func() error {
			c, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := m.SetAlternate(c, &mysql.AlternateRequest{Current: f.app, Pending: f.app + "_clone", Password: pw})
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
			var me *mysql.Error
			if !errors.As(err, &me) {
				t.Fatalf("error %T is not a *mysql.Error: %v", err, err)
			}
		})
	}
}

// TestSetAlternateCopiesCertificateRequirements: REQUIRE ISSUER/SUBJECT/
// CIPHER values are arbitrary text (here with a quote and a backslash) and
// reach the clone intact.
func TestSetAlternateCopiesCertificateRequirements(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.srv.MustExec(t, "", `ALTER USER '`+f.app+`'@'%' REQUIRE ISSUER '/CN=it''s a \\ CA' AND SUBJECT '/CN=app' AND CIPHER 'ECDHE-ECDSA-AES256-GCM-SHA384'`)
	m := f.masterConn(t)
	clone := f.app + "_clone"
	if _, err := m.SetAlternate(ctx(t), &mysql.AlternateRequest{Current: f.app, Pending: clone, Password: password(t)}); err != nil {
		t.Fatal(err)
	}
	q := "SELECT CONCAT_WS('|', ssl_type, ssl_cipher, x509_issuer, x509_subject) FROM mysql.user WHERE User = ?"
	got, want := f.adminStrings(t, q, clone), f.adminStrings(t, q, f.app)
	if !slices.Equal(got, want) || !strings.Contains(want[0], `it's a \ CA`) {
		t.Fatalf("clone's requirements %q, want %q", got, want)
	}
}
