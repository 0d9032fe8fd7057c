package mysql_test

import (
	"testing"

	"github.com/dualkey/dualkey/shared/providers/mysql"
	"github.com/dualkey/dualkey/shared/sqlcred"
	"github.com/dualkey/dualkey/shared/sqlcred/sqlcredtest"
)

// TestHookCountsLoginAndStatements: a login makes the login, SELECT VERSION() and SELECT 1, each
// through the hook, and fails when the hook fails any of them.
func TestHookCountsLoginAndStatements(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sqlcredtest.TestHookCountsLoginAndStatements(t, func(hook sqlcred.CallHook) error {
		cfg := f.cfg(f.app, f.appPW)
		cfg.Hook = hook
		return mysql.Login(ctx(t), cfg)
	}, []string{"login", "SELECT VERSION()", "SELECT 1"})
}
