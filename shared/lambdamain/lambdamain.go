// Package lambdamain is the shared start-up of every dualkey rotation
// Lambda: it loads the AWS configuration (honouring AWS_ENDPOINT_URL_* so the
// same binary runs against the local emulator), builds the function's one
// provider with its rotation.Factory, and starts the engine. It imports no
// provider, so a rotation function links only the engine and its own
// provider. A configuration error does not crash the process: every
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
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/notify"
	"github.com/dualkey/dualkey/shared/rotation"
)

// Handler builds the rotation handler, or one that reports why it could not.
func Handler(ctx context.Context, factory rotation.Factory) func(context.Context, events.SecretsManagerSecretRotationEvent) error {
	eng, err := NewEngine(ctx, factory)
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("rotation function is misconfigured", "error", err.Error())
		return func(context.Context, events.SecretsManagerSecretRotationEvent) error {
			return &ConfigError{msg: err.Error()}
		}
	}
	return eng.Handle
}

// NewEngine loads the AWS configuration and builds an engine around the
// provider factory makes.
func NewEngine(ctx context.Context, factory rotation.Factory) (*rotation.Engine, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws configuration: %w", err)
	}
	red := rotation.NewRedactor()
	level := LogLevel(os.Getenv)
	p, err := factory(ctx, rotation.Env{
		Getenv: os.Getenv,
		AWS:    cfg,
		Logger: slog.New(red.Handler(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))),
	})
	if err != nil {
		return nil, err
	}
	pub, err := notify.PublisherFromEnv(os.Getenv, eventbridge.NewFromConfig(cfg), red.Redact)
	if err != nil {
		return nil, err
	}
	ref, err := notify.NewRefresher(notify.RefresherConfig{ECS: ecs.NewFromConfig(cfg)})
	if err != nil {
		return nil, err
	}
	return rotation.New(rotation.Config{
		Events:         pub,
		Refresher:      ref,
		SecretsManager: secretsmanager.NewFromConfig(cfg),
		Provider:       p,
		Redactor:       red,
		LogLevel:       level,
	})
}

// LogLevel reads DUALKEY_LOG_LEVEL ("debug" or the default, info).
func LogLevel(getenv func(string) string) slog.Level {
	if getenv("DUALKEY_LOG_LEVEL") == "debug" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// Start runs the rotation Lambda of the provider factory builds.
func Start(factory rotation.Factory) {
	lambda.Start(Handler(context.Background(), factory))
}

// ConfigError is returned by every invocation of a misconfigured function,
// so Lambda reports errorType "ConfigError".
type ConfigError struct{ msg string }

// NewConfigError returns a ConfigError with the given message.
func NewConfigError(msg string) *ConfigError { return &ConfigError{msg: msg} }

// Error implements error.
func (e *ConfigError) Error() string { return "rotation function configuration: " + e.msg }
