package twiliosig

// The tokens of the staged versions are kept by shared/secretwatch (the
// same watcher shared/keyring and shared/verifier/stripesig use); this file
// says what twiliosig keeps of a version and how it names it.

import (
	"context"
	"log/slog"
	"time"

	"github.com/dualkey/dualkey/shared/secretwatch"
)

// Staging labels.
const (
	StageCurrent  = secretwatch.StageCurrent
	StagePending  = secretwatch.StagePending
	StagePrevious = secretwatch.StagePrevious
)

// SecretsAPI is the subset of *secretsmanager.Client the verifier uses
// (IAM: secretsmanager:DescribeSecret and secretsmanager:GetSecretValue on
// the secret, and kms:Decrypt on its key when it is customer managed).
// DescribeSecret's label map tells a rotation without fetching a value;
// GetSecretValue is called only for a version not loaded yet.
type SecretsAPI = secretwatch.SecretsAPI

// Calls counts Secrets Manager calls.
type Calls struct {
	Describe int
	Get      int
}

// refreshTimeout bounds one refresh.
const refreshTimeout = 10 * time.Second

// token is what the verifier keeps of a version. key never leaves the
// package: it only keys the HMAC.
type token struct {
	key         string
	fingerprint string
}

// watch starts the watcher of the tokens of cfg.SecretID (cfg has its
// defaults) in the given stages, first label wins.
func watch(ctx context.Context, api SecretsAPI, cfg Config, stages []string, log *slog.Logger) (*secretwatch.Watcher[token], error) {
	return secretwatch.New(ctx, api, secretwatch.Config[token]{
		SecretID:  cfg.SecretID,
		Component: "twiliosig",
		Stages:    stages,
		Decode: func(s string) (token, error) {
			key, err := secretwatch.Field(s, cfg.Field, "store the auth token there (or set Config.Field)")
			if err != nil {
				return token{}, err
			}
			return token{key: key, fingerprint: Fingerprint(key)}, nil
		},
		Describe:           func(t token) string { return t.fingerprint },
		CheckInterval:      cfg.CheckInterval,
		CheckTimeout:       refreshTimeout,
		MinRefreshInterval: cfg.MinRefreshInterval,
		Unknown:            secretwatch.FreshCheck,
		SkipUnreadable:     true, // a broken AWSPENDING or AWSPREVIOUS must not stop the service
		Now:                cfg.Now,
		Logger:             log,
		Messages: secretwatch.Messages{
			Updated:       "twilio signature verifier: auth tokens updated",
			Unusable:      "twilio signature verifier: ignoring an unusable secret version",
			Failed:        "twilio signature verifier: refresh failed; keeping the last good tokens",
			UnknownReason: "unknown signature",
		},
	})
}

// VersionUsage is per-version evidence of use: how many requests each
// token verified. After the promotion the old token's count stops growing.
type VersionUsage struct {
	VersionID   string
	Stage       string // label at the last refresh; "" once no longer staged
	Fingerprint string
	Verified    uint64
	LastUsed    time.Time // zero if never
}
