// Command iamkey is the rotation Lambda for IAM user access keys (see
// shared/providers/iamkey). DUALKEY_IAM_PROPAGATION_BUDGET (a duration such
// as "90s", default 60s) bounds how long testSecret waits for IAM to
// propagate a new key.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/dualkey/dualkey/shared/lambdamain"
	"github.com/dualkey/dualkey/shared/providers/iamkey"
	"github.com/dualkey/dualkey/shared/rotation"
)

func main() {
	lambdamain.Start(func(_ context.Context, cfg aws.Config, r *rotation.Redactor) (rotation.Provider, error) {
		budget, err := iamkey.PropagationBudgetFromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		log := slog.New(r.Handler(slog.NewJSONHandler(os.Stdout, nil)))
		return iamkey.NewFromAWSConfig(cfg, nil, iamkey.Config{PropagationBudget: budget, Logger: log}), nil
	})
}
