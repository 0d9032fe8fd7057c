package demo_test

import (
	"strings"
	"testing"

	"github.com/dualkey/dualkey/internal/demo"
)

// TestDemoPostgres runs the PostgreSQL part of the demo: three rotations of
// an application user through the real functions/postgres bootstrap while
// a client queries (0 failed), a pool of the previous user holds the
// switch-off with an alert naming its address, the quiet user is locked,
// and a rollback unlocks it.
func TestDemoPostgres(t *testing.T) {
	res, out := runPart(t, demo.RunPostgres)
	if res.Rotations != 3 || res.Queries == 0 || res.FailedQueries != 0 {
		t.Fatalf("rotations %d, queries %d, failed %d\n%s", res.Rotations, res.Queries, res.FailedQueries, out)
	}
	if len(res.ByUser) != 2 {
		t.Fatalf("queries ran as %v, want both users of the pair\n%s", res.ByUser, out)
	}
	if !strings.Contains(res.Alert, "127.0.0.1") || !strings.Contains(res.Alert, "legacy-billing-pool") {
		t.Fatalf("the alert does not name the pool's address and application: %q", res.Alert)
	}
	if !strings.Contains(res.LockedLogin, "NOLOGIN") || !res.UnlockedLogin {
		t.Fatalf("locked login %q, unlocked %v", res.LockedLogin, res.UnlockedLogin)
	}
	mustContain(t, out, "rotation 3 done", "FAILED: 0", "zero downtime", "old credential still in use", "AWSPREVIOUS", "reactivate")
}
