package dbtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
)

// shared holds the servers one test binary shares.
var shared struct {
	mu      sync.Mutex
	main    bool
	servers map[string]*sharedServer
}

type sharedServer struct {
	once sync.Once
	srv  *Server
	err  error
}

// Main runs the package's tests and then stops the servers they shared. Call
// it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	for _, s := range shared.servers {
		if s.srv != nil {
			if err := s.srv.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "dbtest: stop %s: %v\n", s.srv.Engine, err)
				if code == 0 {
					code = 1
				}
			}
		}
	}
	shared.servers = nil
	return code
}

// SharedPostgres returns the PostgreSQL server this test binary shares,
// starting it on first use (statements are logged, as with
// Options.LogStatements). The package's TestMain must call Main.
func SharedPostgres(t testing.TB) *Server { return sharedFor(t, EnginePostgres) }

// SharedMariaDB returns the MariaDB server this test binary shares,
// starting it on first use (statements are logged, as with
// Options.LogStatements). The package's TestMain must call Main.
func SharedMariaDB(t testing.TB) *Server { return sharedFor(t, EngineMariaDB) }

func sharedFor(t testing.TB, engine string) *Server {
	t.Helper()
	shared.mu.Lock()
	if !shared.main {
		shared.mu.Unlock()
		t.Fatal("dbtest: shared servers need the package's TestMain to call dbtest.Main: func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }")
	}
	if shared.servers == nil {
		shared.servers = map[string]*sharedServer{}
	}
	s := shared.servers[engine]
	if s == nil {
		s = &sharedServer{}
		shared.servers[engine] = s
	}
	shared.mu.Unlock()
	s.once.Do(func() { s.srv, s.err = Start(context.Background(), engine, Options{LogStatements: true}) })
	if s.err != nil {
		SkipOrFail(t, s.err)
	}
	return s.srv
}
