package demo_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/internal/dbtest"
	"github.com/dualkey/dualkey/internal/demo"
	"github.com/dualkey/dualkey/internal/lambdarie"
)

// TestDemoPostgres runs the PostgreSQL part of the demo: three rotations of
// an application user through the real functions/postgres bootstrap while
// a client queries (0 failed), a pool of the previous user holds the
// switch-off with an alert naming its address, the quiet user is locked,
// and a rollback unlocks it.
func TestDemoPostgres(t *testing.T) {
	rie, err := lambdarie.FindRIE()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := demo.RunPostgres(context.Background(), &out, rie)
	if errors.Is(err, dbtest.ErrNotInstalled) && os.Getenv("CI") == "" {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatalf("PostgreSQL demo failed: %v\n%s", err, out.String())
	}
	if res.Rotations != 3 || res.Queries == 0 || res.FailedQueries != 0 {
		t.Fatalf("rotations %d, queries %d, failed %d\n%s", res.Rotations, res.Queries, res.FailedQueries, out.String())
	}
	if len(res.ByUser) != 2 {
		t.Fatalf("queries ran as %v, want both users of the pair\n%s", res.ByUser, out.String())
	}
	if !strings.Contains(res.Alert, "127.0.0.1") || !strings.Contains(res.Alert, "legacy-billing-pool") {
		t.Fatalf("the alert does not name the pool's address and application: %q", res.Alert)
	}
	if !strings.Contains(res.LockedLogin, "NOLOGIN") || !res.UnlockedLogin {
		t.Fatalf("locked login %q, unlocked %v", res.LockedLogin, res.UnlockedLogin)
	}
	for _, want := range []string{"rotation 3 done", "FAILED: 0", "zero downtime", "old credential still in use", "AWSPREVIOUS", "reactivate"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
