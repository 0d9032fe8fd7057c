// Package lambdamain is the shared start-up of every dualkey rotation
// Lambda: it loads the AWS configuration (honouring AWS_ENDPOINT_URL_* so the
// same binary runs against the local emulator), builds the provider, and
// starts the engine. A configuration error does not crash the process: every
// invocation then fails with that error, so it shows up in the rotation's
// failure and in the logs.
package lambdamain

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/providers/registry"
	"github.com/dualkey/dualkey/shared/rotation"
)

// BuildFunc builds the provider from the loaded AWS configuration.
type BuildFunc func(ctx context.Context, cfg aws.Config, r *rotation.Redactor) (rotation.Provider, error)

// Handler builds the rotation handler, or one that reports why it could not.
func Handler(ctx context.Context, build BuildFunc) func(context.Context, events.SecretsManagerSecretRotationEvent) error {
	eng, err := NewEngine(ctx, build)
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("rotation function is misconfigured", "error", err.Error())
		return func(context.Context, events.SecretsManagerSecretRotationEvent) error {
			return &ConfigError{msg: err.Error()}
		}
	}
	return eng.Handle
}

// NewEngine loads the AWS configuration and builds an engine.
func NewEngine(ctx context.Context, build BuildFunc) (*rotation.Engine, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws configuration: %w", err)
	}
	red := rotation.NewRedactor()
	p, err := build(ctx, cfg, red)
	if err != nil {
		return nil, err
	}
	level := slog.LevelInfo
	if os.Getenv("DUALKEY_LOG_LEVEL") == "debug" {
		level = slog.LevelDebug
	}
	return rotation.New(rotation.Config{
		SecretsManager: secretsmanager.NewFromConfig(cfg),
		Provider:       p,
		Redactor:       red,
		LogLevel:       level,
	})
}

// Start runs the Lambda.
func Start(build BuildFunc) {
	lambda.Start(Handler(context.Background(), build))
}

// ConfigError is returned by every invocation of a misconfigured function,
// so Lambda reports errorType "ConfigError".
type ConfigError struct{ msg string }

// Error implements error.
func (e *ConfigError) Error() string { return "rotation function configuration: " + e.msg }

// NewLifecycle loads the AWS configuration and builds the lifecycle over
// every provider, with settings from the environment (DUALKEY_DRAIN, ...).
func NewLifecycle(ctx context.Context) (*lifecycle.Lifecycle, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws configuration: %w", err)
	}
	red := rotation.NewRedactor()
	providers, err := registry.Providers(ctx, cfg, slog.New(red.Handler(slog.NewJSONHandler(os.Stdout, nil))), os.Getenv)
	if err != nil {
		return nil, err
	}
	settings, err := lifecycle.SettingsFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	return lifecycle.New(lifecycle.Config{
		SecretsManager: secretsmanager.NewFromConfig(cfg),
		Providers:      providers,
		Defaults:       settings,
		Redactor:       red,
	})
}

// StartLifecycle runs a Lambda whose handler uses the lifecycle. A
// configuration error fails every invocation with a ConfigError.
func StartLifecycle[E any](handle func(ctx context.Context, lc *lifecycle.Lifecycle, ev E) error) {
	lc, err := NewLifecycle(context.Background())
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("function is misconfigured", "error", err.Error())
		lambda.Start(func(context.Context, E) error { return &ConfigError{msg: err.Error()} })
		return
	}
	lambda.Start(func(ctx context.Context, ev E) error { return handle(ctx, lc, ev) })
}
