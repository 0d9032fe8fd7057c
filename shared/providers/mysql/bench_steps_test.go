package mysql_test

import (
	"testing"

	"github.com/dualkey/dualkey/shared/sqlcred"
	"github.com/dualkey/dualkey/shared/sqlcred/sqlcredtest"
)

// BenchmarkRotationSteps times each rotation step of a warm engine through
// the emulator and against the real server with TLS verified, and each
// lifecycle operation of the provider (sqlcredtest.BenchmarkRotationSteps),
// for docs/benchmarks.md:
//
//	go test -run '^$' -bench RotationSteps ./shared/providers/mysql/
//
// Each metric is the mean per rotation, in milliseconds.
func BenchmarkRotationSteps(b *testing.B) {
	sqlcredtest.BenchmarkRotationSteps(b, func(tb testing.TB, strategy sqlcred.Strategy) *sqlcredtest.BenchWorld {
		return newWorld(tb, strategy).Bench()
	})
}
