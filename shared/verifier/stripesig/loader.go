package stripesig

// The signing secrets of the staged versions are kept by shared/secretwatch
// (the same watcher shared/keyring and shared/verifier/twiliosig use); this
// file says what stripesig keeps of a version and how it names it.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/dualkey/dualkey/shared/secretwatch"
)

// Staging labels, in the order a version's label is chosen when it carries
// several (first wins).
const (
	StageCurrent  = secretwatch.StageCurrent
	StagePending  = secretwatch.StagePending
	StagePrevious = secretwatch.StagePrevious
)

var stages = []string{StageCurrent, StagePending, StagePrevious}

// SecretsAPI is the subset of *secretsmanager.Client the verifier uses
// (IAM: secretsmanager:DescribeSecret and secretsmanager:GetSecretValue on
// the secret). The verifier reads only DescribeSecret's label map to
// notice a rotation without fetching any value, and calls GetSecretValue
// only for versions it has not loaded yet.
type SecretsAPI = secretwatch.SecretsAPI

// Calls counts Secrets Manager calls, to make the cost visible.
type Calls struct {
	Describe int
	Get      int
}

// refreshTimeout bounds one refresh.
const refreshTimeout = 10 * time.Second

// signingSecret is what the verifier keeps of a version. key is the HMAC
// key: it has to be held to verify signatures, and never leaves the
// package.
type signingSecret struct {
	key         []byte
	endpointID  string
	fingerprint string
}

// watch starts the watcher of the signing secrets of cfg.SecretID (cfg has
// its defaults).
func watch(ctx context.Context, api SecretsAPI, cfg Config, log *slog.Logger) (*secretwatch.Watcher[signingSecret], error) {
	return secretwatch.New(ctx, api, secretwatch.Config[signingSecret]{
		SecretID:           cfg.SecretID,
		Component:          "stripesig",
		Stages:             stages,
		Decode:             func(s string) (signingSecret, error) { return decode(s, cfg.Field, cfg.EndpointField) },
		Describe:           func(s signingSecret) string { return s.endpointID + " " + s.fingerprint },
		CheckInterval:      cfg.CheckInterval,
		CheckTimeout:       refreshTimeout,
		MinRefreshInterval: cfg.MinRefreshInterval,
		// Only refreshes triggered by unknown signatures count against the
		// limit: a periodic refresh a moment ago must not stop the first
		// event of a new endpoint from loading its secret.
		Unknown: secretwatch.FreshCheck,
		// A broken AWSPENDING/AWSPREVIOUS must not stop the service: skip
		// it and keep verifying with the others.
		SkipUnreadable: true,
		Now:            cfg.Now,
		Logger:         log,
		Messages: secretwatch.Messages{
			Updated:       "stripe webhook verifier: signing secrets updated",
			Unusable:      "stripe webhook verifier: ignoring unusable secret version",
			Failed:        "stripe webhook verifier: refresh failed; keeping the last good secrets",
			UnknownReason: "unknown signature",
		},
	})
}

// decode reads the signing secret and endpoint id from a SecretString: a
// JSON object with the secret in field (and the endpoint id, optional, in
// endpointField), or a bare whsec_ string. Errors never quote the secret.
func decode(s, field, endpointField string) (signingSecret, error) {
	secret, err := secretwatch.Field(s, field, "store the endpoint's whsec_ signing secret there (or set Config.Field)")
	if err != nil {
		return signingSecret{}, err
	}
	var endpointID string
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(s), &obj) == nil && obj != nil {
		if raw, ok := obj[endpointField]; ok {
			if json.Unmarshal(raw, &endpointID) != nil {
				return signingSecret{}, fmt.Errorf("JSON field %q is not a string", endpointField)
			}
		}
	}
	return signingSecret{key: []byte(secret), endpointID: endpointID, fingerprint: Fingerprint(secret)}, nil
}

// Fingerprint identifies a secret without revealing it: "…" and its last 4
// characters; "…" alone for secrets shorter than 12 characters.
func Fingerprint(secret string) string { return secretwatch.Last4(secret) }
