package keyring

// The checks (the loop, the checks unknown keys start, the stale cut-off)
// are shared/secretwatch's, the watcher stripesig and twiliosig use too;
// this file says what the keyring keeps of a version (a SHA-256 digest and
// a fingerprint, never the key) and how it logs and reports.

import (
	"context"
	"crypto/sha256"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/secretwatch"
)

// key is what the keyring keeps of a version.
type key struct {
	digest      [sha256.Size]byte
	fingerprint string
}

// watch loads the key set and starts the check loop (cfg has its
// defaults).
func watch(ctx context.Context, api SecretsAPI, cfg Config) (*secretwatch.Watcher[key], error) {
	var metrics *rotation.Metrics
	if cfg.Metrics != nil {
		metrics = rotation.NewMetrics(cfg.Metrics, cfg.Now)
	}
	return secretwatch.New(ctx, api, secretwatch.Config[key]{
		SecretID:  cfg.SecretID,
		Component: "keyring",
		Stages:    stages,
		Decode: func(s string) (key, error) {
			k, err := ExtractKey(s, cfg.Field)
			if err != nil {
				return key{}, err
			}
			return key{digest: sha256.Sum256([]byte(k)), fingerprint: Fingerprint(k)}, nil
		},
		Describe:           func(k key) string { return k.fingerprint },
		CheckInterval:      cfg.CheckInterval,
		CheckTimeout:       cfg.CheckTimeout,
		MinRefreshInterval: cfg.MinRefreshInterval,
		MaxStaleness:       cfg.MaxStaleness,
		Background:         true,
		Unknown:            secretwatch.ShareCheck,
		UnknownWait:        cfg.UnknownKeyWait,
		Now:                cfg.Now,
		Timer:              cfg.timer,
		Logger:             cfg.Logger.With("component", "keyring", "secret", cfg.SecretID),
		Messages: secretwatch.Messages{
			Updated:   "keyring key set updated",
			Unchanged: "keyring checked; labels unchanged",
			Unusable:  "ignoring unusable secret version",
			Failed:    "keyring check failed; keeping the last key set",
			Stale: "keyring stale: no successful Secrets Manager check within max_staleness; " +
				"accepting only the AWSCURRENT key until a check succeeds",
			Fresh:         "keyring fresh again: Secrets Manager check succeeded; AWSPENDING and AWSPREVIOUS keys are accepted again",
			UnknownReason: "unknown key",
		},
		OnStale: func(stale bool, secretName string) {
			if metrics == nil {
				return
			}
			v := 0.0
			if stale {
				v = 1
			}
			metrics.Emit(map[string]string{"SecretName": secretName}, [][]string{{"SecretName"}},
				rotation.MetricDatum{Name: "KeyringStale", Unit: "Count", Value: v})
		},
	})
}
