package sqlcredtest

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/dualkey/dualkey/shared/sqlcred"
)

// BlackHole accepts TCP connections and never answers, like a database
// behind a security group that drops packets after the handshake; it
// returns its loopback port and closes when the test ends.
func BlackHole(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

// ClosedPort returns a loopback port nothing listens on.
func ClosedPort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// Conn is what the login scenarios change in an engine's connection
// settings.
type Conn struct {
	Host           string
	Port           int
	User, Password string
	DBName, Label  string
	ConnectTimeout time.Duration
}

// LoginKit is an engine's login, for TestConnectErrors and
// TestConnectTimeoutInsideDeadline.
type LoginKit struct {
	// App is a working login of the app user (verify-full, its database);
	// Master is the master user's name.
	App    Conn
	Master string
	// Login logs in with c and the engine's other settings of App (TLS,
	// trusted roots).
	Login func(ctx context.Context, c Conn) error
	// NoSuchDB is the kind of error of a database that does not exist.
	NoSuchDB error
	// Password returns a password from the rotation's alphabet.
	Password func(testing.TB) string
}

// TestConnectErrors checks each kind of login failure is told apart, says
// what to do, and never contains the password.
func TestConnectErrors(t *testing.T, k LoginKit) {
	for _, tc := range []struct {
		name   string
		adjust func(*Conn)
		want   error
		says   []string
	}{
		{"wrong master password", func(c *Conn) { c.User = k.Master; c.Label = "master secret" }, sqlcred.ErrAuth,
			[]string{"master secret", "refused the password", k.Master}},
		{"unknown user", func(c *Conn) { c.User = "nobody_here" }, sqlcred.ErrAuth, []string{"refused the password"}},
		{"nothing listening", func(c *Conn) { c.Port = ClosedPort(t) }, sqlcred.ErrUnreachable,
			[]string{"connection refused", "VPC", "security group", "Secrets Manager", "VPC endpoint"}},
		{"packets dropped", func(c *Conn) { c.Port = BlackHole(t); c.ConnectTimeout = 300 * time.Millisecond }, sqlcred.ErrUnreachable,
			[]string{"no answer before the connect timeout", "security group"}},
		{"host does not resolve", func(c *Conn) { c.Host = "no-such-host.invalid" }, sqlcred.ErrUnreachable,
			[]string{"does not resolve", "VPC"}},
		{"no such database", func(c *Conn) { c.DBName = "no_such_db" }, k.NoSuchDB, []string{"dbname"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wrong := "Wrong-" + k.Password(t)
			cfg := k.App
			if tc.want == sqlcred.ErrAuth {
				cfg.Password = wrong
			}
			tc.adjust(&cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := k.Login(ctx, cfg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error lacks %q: %v", s, err)
				}
			}
			for _, pw := range []string{wrong, k.App.Password} {
				if strings.Contains(err.Error(), pw) {
					t.Fatalf("error shows a password: %v", err)
				}
			}
		})
	}
}

// TestConnectTimeoutInsideDeadline proves a connection to a database that
// never answers gives up with a clear error while the step still has time
// left, rather than running into the Lambda's deadline.
func TestConnectTimeoutInsideDeadline(t *testing.T, k LoginKit) {
	cfg := k.App
	cfg.Port = BlackHole(t)
	cfg.ConnectTimeout = time.Minute // longer than the step has
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := k.Login(c, cfg)
	if !errors.Is(err, sqlcred.ErrUnreachable) {
		t.Fatalf("error %v, want ErrUnreachable", err)
	}
	if c.Err() != nil {
		t.Fatalf("the step's own deadline passed before the connection gave up: %v", err)
	}
}
