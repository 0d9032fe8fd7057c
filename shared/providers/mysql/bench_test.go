package mysql_test

import (
	"context"
	"testing"

	"github.com/dualkey/dualkey/internal/dbtest"
	"github.com/dualkey/dualkey/shared/providers/mysql"
)

// The benchmarks measure each operation against the real server on
// loopback with TLS verified (MariaDB), for docs/benchmarks.md (time per rotation step
// per engine): go test -run XXX -bench . ./shared/providers/mysql/

// BenchmarkLogin: connect with TLS verified, SELECT 1, disconnect (testSecret,
// and each login attempt of setSecret).
func BenchmarkLogin(b *testing.B) {
	f := newFixture(b)
	cfg := f.cfg(f.app, f.appPW)
	for b.Loop() {
		if err := mysql.Login(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetAlternateCreate: the first rotation, which creates the clone.
func BenchmarkSetAlternateCreate(b *testing.B) {
	f := newFixture(b)
	m := f.masterConn(b)
	for b.Loop() {
		b.StopTimer()
		base := dbtest.UniqueName("bc")
		f.srv.MustExec(b, "", "CREATE USER `"+base+"`@`%`", "GRANT SELECT ON "+f.db+".pub TO `"+base+"`@`%`")
		b.StartTimer()
		if _, err := m.SetAlternate(context.Background(), &mysql.AlternateRequest{Current: base, Pending: base + "_clone", Password: password(b)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetAlternate: a later rotation, which checks the clone and sets
// its password (the master session already open).
func BenchmarkSetAlternate(b *testing.B) {
	f := newFixture(b)
	m := f.masterConn(b)
	req := &mysql.AlternateRequest{Current: f.app, Pending: f.app + "_clone", Password: password(b)}
	for b.Loop() {
		if _, err := m.SetAlternate(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLockUnlock: switch-off and rollback, one of each per iteration.
func BenchmarkLockUnlock(b *testing.B) {
	f := newFixture(b)
	m := f.masterConn(b)
	for b.Loop() {
		if err := m.Lock(context.Background(), f.app); err != nil {
			b.Fatal(err)
		}
		if err := m.Unlock(context.Background(), f.app); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSessions: the usage check with one session of the user open.
func BenchmarkSessions(b *testing.B) {
	f := newFixture(b)
	app, err := mysql.Connect(context.Background(), f.cfg(f.app, f.appPW))
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	m := f.masterConn(b)
	for b.Loop() {
		if s, err := m.Sessions(context.Background(), f.app); err != nil || len(s) != 1 {
			b.Fatal(s, err)
		}
	}
}
