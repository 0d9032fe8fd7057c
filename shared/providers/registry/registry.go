// Package registry builds every provider dualkey ships from one AWS
// configuration, keyed by the name used in the dualkey:provider tag. The
// retire and rollback functions and the CLI serve all providers at once.
package registry

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/dualkey/dualkey/shared/providers/iamkey"
	"github.com/dualkey/dualkey/shared/providers/servicekey"
	"github.com/dualkey/dualkey/shared/rotation"
)

// Providers returns the providers by name. getenv supplies their settings
// (the same environment variables as their rotation functions); log
// receives the providers' own log lines (nil: discarded).
func Providers(_ context.Context, cfg aws.Config, log *slog.Logger, getenv func(string) string) (map[string]rotation.Provider, error) {
	keySettings, err := servicekey.SettingsFromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("internal provider: %w", err)
	}
	budget, err := iamkey.PropagationBudgetFromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("iamkey provider: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ps := []rotation.Provider{
		servicekey.New(keySettings, nil),
		iamkey.NewFromAWSConfig(cfg, nil, iamkey.Config{PropagationBudget: budget, Logger: log}),
	}
	out := make(map[string]rotation.Provider, len(ps))
	for _, p := range ps {
		out[p.Name()] = p
	}
	return out, nil
}
