package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/vendorkey"
)

// ErrNothingStaged: no key newer than AWSCURRENT's is staged
// (DUALKEY_INCOMING missing, or holding the current or previous key).
var ErrNothingStaged = errors.New("no new Stripe key is staged")

// stageCommand is the command that stages a rolled key.
func stageCommand(secretID string) string {
	return "dualkey stage " + secretID + " --old-key-expires-in 24h < new-key.txt (the expiry you chose in the Dashboard)"
}

// rollSteps says where the operator rolls a key.
const rollSteps = "roll the key in the Stripe Dashboard (Developers → API keys → ⋯ → Roll key…, choose when the old key expires)"

// staged reads and checks the DUALKEY_INCOMING version against current:
// it must hold a key of the same kind and mode that is neither the current
// nor the previous key. Errors wrap ErrNothingStaged or
// rotation.ErrInvalidSecret and say what to do.
func (p *Provider) staged(ctx context.Context, secretID string, versions rotation.VersionReader, cur *Secret) (*Secret, *rotation.Version, error) {
	v, err := vendorkey.Incoming(ctx, versions, ErrNothingStaged, rollSteps, stageCommand(secretID))
	if err != nil {
		return nil, nil, err
	}
	in, err := Parse(v.Value)
	if err != nil {
		return nil, nil, fmt.Errorf("staged version %s (%s): %w; stage the key again: %s", v.ID, rotation.StageIncoming, err, stageCommand(secretID))
	}
	if in.APIKey == cur.APIKey {
		return nil, nil, fmt.Errorf("%w: the staged key %s is the current key (it was adopted by an earlier rotation): %s, then run: %s",
			ErrNothingStaged, Fingerprint(in.APIKey), rollSteps, stageCommand(secretID))
	}
	if prev, err := versions.Stage(ctx, rotation.StagePrevious); err == nil && apiKeyOf(prev.Value) == in.APIKey {
		return nil, nil, fmt.Errorf("%w: the staged key %s is the previous key (AWSPREVIOUS): %s, then run: %s",
			ErrNothingStaged, Fingerprint(in.APIKey), rollSteps, stageCommand(secretID))
	}
	if in.kind != cur.kind {
		return nil, nil, rotation.SecretFieldError(FieldAPIKey,
			fmt.Sprintf("of the staged version %s is a %s, but the current key is a %s", v.ID, in.kind, cur.kind),
			"stage the key the Dashboard gave when you rolled the current key (rolling keeps kind and mode): "+stageCommand(secretID))
	}
	return in, v, nil
}

// Create implements rotation.Provider: the pending value is the current
// value with the staged key and the old key's expiry. It makes no call to
// Stripe (testSecret proves the key).
func (p *Provider) Create(ctx context.Context, req *rotation.CreateRequest) (*rotation.CreateResponse, error) {
	cur, err := Parse(req.Current.Value)
	if err != nil {
		return nil, fmt.Errorf("current version: %w", err)
	}
	in, v, err := p.staged(ctx, req.SecretID, req.Versions, cur)
	if err != nil {
		return nil, err
	}
	if in.expires.IsZero() {
		return nil, rotation.SecretFieldError(FieldPreviousKeyExpiresAt,
			fmt.Sprintf("is missing from the staged version %s: dualkey must know when Stripe expires the current key %s", v.ID, Fingerprint(cur.APIKey)),
			"stage the key again with the expiry you chose in the Dashboard: "+stageCommand(req.SecretID))
	}
	value, err := rotation.MergeSecret(req.Current.Value, map[string]any{
		FieldAPIKey:               in.APIKey,
		FieldPreviousKeyExpiresAt: in.expires.UTC().Format(time.RFC3339),
	})
	if err != nil {
		return nil, err
	}
	p.log.Info("adopting the staged Stripe key", "secret", req.SecretID, "staged_version", v.ID,
		"current", Fingerprint(cur.APIKey), "pending", Fingerprint(in.APIKey), "current_expires_at", in.expires.UTC().Format(time.RFC3339))
	return &rotation.CreateResponse{Value: value}, nil
}

// Staged implements rotation.StageChecker: whether a key newer than AWSCURRENT's is staged
// (DUALKEY_INCOMING holds a key that is neither the current nor the
// previous one and is of the same kind and mode). detail says what is
// staged, or what the operator must do, without any key. The retire
// function uses it to raise the "key not staged" alert before a rotation is
// due. err is for failures to read the versions and for a current value
// that cannot be parsed.
func (p *Provider) Staged(ctx context.Context, req *rotation.CredentialRequest) (staged bool, detail string, err error) {
	cur, err := vendorkey.CurrentOf(ctx, req)
	if err != nil {
		return false, "", err
	}
	c, err := Parse(cur.Value)
	if err != nil {
		return false, "", fmt.Errorf("current version %s: %w", cur.ID, err)
	}
	in, v, err := p.staged(ctx, req.SecretID, req.Versions, c)
	if err != nil {
		return vendorkey.NotStaged(err, ErrNothingStaged)
	}
	detail = fmt.Sprintf("key %s is staged in version %s to replace %s", Fingerprint(in.APIKey), v.ID, Fingerprint(c.APIKey))
	if !in.expires.IsZero() {
		detail += ", which Stripe expires at " + in.expires.UTC().Format(time.RFC3339)
	}
	return true, detail, nil
}

// expiryOf returns the expiry recorded for version v's key: the
// previous_key_expires_at of the version that replaced it, which is
// AWSCURRENT when v is AWSPREVIOUS. Zero when unknown.
func expiryOf(ctx context.Context, versions rotation.VersionReader, v *rotation.Version) time.Time {
	previous := false
	for _, st := range v.Stages {
		previous = previous || st == rotation.StagePrevious
	}
	if !previous || versions == nil {
		return time.Time{}
	}
	cur, err := versions.Stage(ctx, rotation.StageCurrent)
	if err != nil {
		return time.Time{}
	}
	var s struct {
		At string `json:"previous_key_expires_at"`
	}
	if json.Unmarshal([]byte(cur.Value), &s) != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s.At)
	if err != nil {
		return time.Time{}
	}
	return t
}
