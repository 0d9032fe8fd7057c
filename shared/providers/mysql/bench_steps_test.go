package mysql_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dualkey/dualkey/shared/providers/mysql"
	"github.com/dualkey/dualkey/shared/rotation"
)

// BenchmarkRotationSteps times each rotation step of a warm engine (the
// Lambda process lives on between steps, as it does at AWS) through the
// emulator and against the real server with TLS verified, and each
// lifecycle operation of the provider, for docs/benchmarks.md:
//
//	go test -run '^$' -bench RotationSteps ./shared/providers/mysql/
//
// Each metric is the mean per rotation, in milliseconds.
func BenchmarkRotationSteps(b *testing.B) {
	for _, strategy := range []mysql.Strategy{mysql.StrategyAlternating, mysql.StrategySingle} {
		b.Run(string(strategy), func(b *testing.B) {
			ctx := context.Background()
			w := newWorld(b, strategy)
			w.invoke = func(context.Context, []byte) error { return errors.New("held: the benchmark runs the steps") }
			steps := []string{rotation.StepCreate, rotation.StepSet, rotation.StepTest, rotation.StepFinish}
			total := map[string]time.Duration{}
			n := 0
			for b.Loop() {
				token, _ := w.rotate("")
				for _, step := range steps {
					start := time.Now()
					if err := w.engine.Handle(ctx, events.SecretsManagerSecretRotationEvent{Step: step, SecretID: w.arn, ClientRequestToken: token}); err != nil {
						b.Fatalf("%s: %v", step, err)
					}
					total[step] += time.Since(start)
				}
				if strategy == mysql.StrategyAlternating {
					prevID, _ := w.version(rotation.StagePrevious)
					req := w.request(prevID)
					for _, op := range []struct {
						name string
						fn   func() error
					}{
						{"usage", func() error { _, err := w.provider.LastUsed(ctx, req); return err }},
						{"deactivate", func() error { return w.provider.Deactivate(ctx, req) }},
						{"reactivate", func() error { return w.provider.Reactivate(ctx, req) }},
					} {
						start := time.Now()
						if err := op.fn(); err != nil {
							b.Fatalf("%s: %v", op.name, err)
						}
						total[op.name] += time.Since(start)
					}
				}
				n++
			}
			for name, d := range total {
				b.ReportMetric(float64(d.Microseconds())/1000/float64(n), name+"-ms")
			}
		})
	}
}
