// Package lifecyclemain is the start-up of dualkey's retire and rollback
// Lambdas: it loads the AWS configuration, builds every provider through the
// registry (these functions serve every managed secret, whatever its
// provider) and the lifecycle, with settings from the environment
// (DUALKEY_DRAIN, DUALKEY_GRACE, DUALKEY_CONFIRM, ..., and the rollback
// function's DUALKEY_ROLLBACK_ALARM_PREFIX / DUALKEY_ROLLBACK_ALARMS).
// Rotation functions use shared/lambdamain instead and link only their own
// provider.
package lifecyclemain

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/lambdamain"
	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/notify"
	"github.com/dualkey/dualkey/shared/providers/registry"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/usagelogs"
)

// New loads the AWS configuration and builds the lifecycle over every
// provider.
func New(ctx context.Context) (*lifecycle.Lifecycle, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws configuration: %w", err)
	}
	red := rotation.NewRedactor()
	level := lambdamain.LogLevel(os.Getenv)
	providers, err := registry.Providers(ctx, rotation.Env{
		Getenv: os.Getenv,
		AWS:    cfg,
		Logger: slog.New(red.Handler(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))),
	})
	if err != nil {
		return nil, err
	}
	settings, err := lifecycle.SettingsFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	alarms, err := lifecycle.AlarmFilterFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	sweep, err := lifecycle.SweepConfigFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	pub, err := notify.PublisherFromEnv(os.Getenv, eventbridge.NewFromConfig(cfg), red.Redact)
	if err != nil {
		return nil, err
	}
	evidence, err := usagelogs.New(usagelogs.Config{Logs: cloudwatchlogs.NewFromConfig(cfg)})
	if err != nil {
		return nil, err
	}
	return lifecycle.New(lifecycle.Config{
		SecretsManager: secretsmanager.NewFromConfig(cfg),
		Providers:      providers,
		Defaults:       settings,
		Redactor:       red,
		Alarms:         alarms,
		Sweep:          sweep,
		Logs:           evidence,
		Events:         pub,
	})
}

// Start runs a Lambda whose handler uses the lifecycle. A configuration
// error fails every invocation with a lambdamain.ConfigError.
func Start[E any](handle func(ctx context.Context, lc *lifecycle.Lifecycle, ev E) error) {
	lc, err := New(context.Background())
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("function is misconfigured", "error", err.Error())
		lambda.Start(func(context.Context, E) error { return lambdamain.NewConfigError(err.Error()) })
		return
	}
	lambda.Start(func(ctx context.Context, ev E) error { return handle(ctx, lc, ev) })
}
