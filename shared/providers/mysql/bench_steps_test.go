package mysql_test

import (
	"context"
	"errors"
	"testing"

	"github.com/dualkey/dualkey/shared/rotation"
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
		w := newWorld(tb, strategy)
		w.Invoke = func(context.Context, []byte) error { return errors.New("held: the benchmark runs the steps") }
		return &sqlcredtest.BenchWorld{
			Rotate:   func() string { token, _ := w.Rotate(""); return token },
			Engine:   w.Engine,
			ARN:      w.ARN,
			Previous: func() *rotation.CredentialRequest { id, _ := w.Version(rotation.StagePrevious); return w.Request(id) },
			Provider: w.Provider,
		}
	})
}
