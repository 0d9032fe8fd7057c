package lambdamain_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dualkey/dualkey/shared/lambdamain"
	"github.com/dualkey/dualkey/shared/rotation"
)

// A misconfigured function does not crash: every invocation fails with a
// ConfigError that says what is wrong.
func TestMisconfiguredFunctionFailsEachInvocation(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	h := lambdamain.Handler(context.Background(), func(context.Context, rotation.Env) (rotation.Provider, error) {
		return nil, errors.New(`environment variable DUALKEY_KEY_LENGTH="x": must be a whole number`)
	})
	for range 2 {
		err := h(context.Background(), events.SecretsManagerSecretRotationEvent{Step: "createSecret"})
		var ce *lambdamain.ConfigError
		if !errors.As(err, &ce) || ce.Error() != `rotation function configuration: environment variable DUALKEY_KEY_LENGTH="x": must be a whole number` {
			t.Fatalf("got %v", err)
		}
	}
}
