package sqlcredtest

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/sqlcred"
)

// BenchWorld is one secret of an engine's test world, for
// BenchmarkRotationSteps: its rotation engine must not run the steps itself
// (the benchmark does).
type BenchWorld struct {
	// Rotate starts a rotation (RotateSecret) and returns its token.
	Rotate func() string
	// Engine is dualkey's rotation engine of the secret ARN.
	Engine *rotation.Engine
	ARN    string
	// Previous is a lifecycle request for the AWSPREVIOUS version.
	Previous func() *rotation.CredentialRequest
	// Provider is the engine's provider.
	Provider interface {
		rotation.UsageReporter
		rotation.Deactivator
	}
}

// BenchmarkRotationSteps times each rotation step of a warm engine (the
// Lambda process lives on between steps, as it does at AWS) and, for
// alternating users, each lifecycle operation of the provider, for
// docs/benchmarks.md; newWorld makes the secret of a strategy. Each metric
// is the mean per rotation, in milliseconds.
func BenchmarkRotationSteps(b *testing.B, newWorld func(testing.TB, sqlcred.Strategy) *BenchWorld) {
	for _, strategy := range []sqlcred.Strategy{sqlcred.StrategyAlternating, sqlcred.StrategySingle} {
		b.Run(string(strategy), func(b *testing.B) {
			ctx := context.Background()
			w := newWorld(b, strategy)
			steps := []string{rotation.StepCreate, rotation.StepSet, rotation.StepTest, rotation.StepFinish}
			total := map[string]time.Duration{}
			n := 0
			for b.Loop() {
				token := w.Rotate()
				for _, step := range steps {
					start := time.Now()
					if err := w.Engine.Handle(ctx, events.SecretsManagerSecretRotationEvent{Step: step, SecretID: w.ARN, ClientRequestToken: token}); err != nil {
						b.Fatalf("%s: %v", step, err)
					}
					total[step] += time.Since(start)
				}
				if strategy == sqlcred.StrategyAlternating {
					req := w.Previous()
					for _, op := range []struct {
						name string
						fn   func() error
					}{
						{"usage", func() error { _, err := w.Provider.LastUsed(ctx, req); return err }},
						{"deactivate", func() error { return w.Provider.Deactivate(ctx, req) }},
						{"reactivate", func() error { return w.Provider.Reactivate(ctx, req) }},
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
