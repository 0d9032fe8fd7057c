package staged

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/vendorkey"
)

// ErrNothingStaged: no credential newer than AWSCURRENT's is staged
// (DUALKEY_INCOMING missing, or holding the current or previous
// credential).
var ErrNothingStaged = errors.New("no new credential is staged")

func stageCommand(secretID string) string {
	return "dualkey stage " + secretID + " < new-credential (one value, or a JSON object with the credential's fields)"
}

const rollSteps = "roll the credential in the vendor's dashboard"

// staged reads the DUALKEY_INCOMING version and takes from it the
// credential fields cur's probe names; they must not all equal the current
// or the previous credential. Errors wrap ErrNothingStaged or
// rotation.ErrInvalidSecret and say what to do.
func (p *Provider) staged(ctx context.Context, secretID string, versions rotation.VersionReader, cur *Secret) (*Secret, *rotation.Version, error) {
	v, err := vendorkey.Incoming(ctx, versions, ErrNothingStaged, rollSteps, stageCommand(secretID))
	if err != nil {
		return nil, nil, err
	}
	// The staged credential, checked against the current value's probe: a
	// staged value cannot change where the credential is sent.
	merged, err := takeCredential(cur.raw, v.Value, cur.Probe.Fields())
	if err != nil {
		return nil, nil, fmt.Errorf("staged version %s (%s): %w; stage the credential again: %s", v.ID, rotation.StageIncoming, err, stageCommand(secretID))
	}
	in, err := Parse(merged)
	if err != nil {
		return nil, nil, fmt.Errorf("staged version %s (%s): %w; stage the credential again: %s", v.ID, rotation.StageIncoming, err, stageCommand(secretID))
	}
	fields := cur.Probe.Fields()
	if sameCredential(in, cur, fields) {
		return nil, nil, fmt.Errorf("%w: the staged credential %s is the current one (an earlier rotation adopted it): %s, then run: %s",
			ErrNothingStaged, in.fingerprint(), rollSteps, stageCommand(secretID))
	}
	if prev, err := versions.Stage(ctx, rotation.StagePrevious); err == nil {
		if ps, err := Parse(prev.Value); err == nil && sameCredential(in, ps, fields) {
			return nil, nil, fmt.Errorf("%w: the staged credential %s is the previous one (AWSPREVIOUS): %s, then run: %s",
				ErrNothingStaged, in.fingerprint(), rollSteps, stageCommand(secretID))
		}
	}
	in.raw = []byte(merged)
	return in, v, nil
}

// takeCredential returns base with the credential fields (and
// previous_key_expires_at, or without it when the staged value has none)
// taken from staged.
func takeCredential(base []byte, staged string, fields []string) (string, error) {
	var b, s map[string]json.RawMessage
	if err := json.Unmarshal(base, &b); err != nil {
		return "", rotation.SecretFieldError("SecretString", "is not a JSON object", secretShape)
	}
	if err := json.Unmarshal([]byte(staged), &s); err != nil {
		return "", rotation.SecretFieldError("SecretString", "is not a JSON object", "stage the credential with dualkey stage")
	}
	for _, f := range fields {
		raw, ok := s[f]
		if !ok {
			return "", rotation.SecretFieldError(f, "is missing", fmt.Sprintf("stage the credential's field %q", f))
		}
		b[f] = raw
	}
	if raw, ok := s[FieldPreviousKeyExpiresAt]; ok {
		b[FieldPreviousKeyExpiresAt] = raw
	} else {
		delete(b, FieldPreviousKeyExpiresAt)
	}
	out, err := json.Marshal(b)
	if err != nil {
		return "", fmt.Errorf("encode secret: %w", err)
	}
	return string(out), nil
}

// Create implements rotation.Provider: the pending value is the current
// value with the staged credential fields (and the old credential's
// expiry, when the operator gave one). It makes no call to the vendor.
func (p *Provider) Create(ctx context.Context, req *rotation.CreateRequest) (*rotation.CreateResponse, error) {
	cur, err := parseValue(req.Current.Value)
	if err != nil {
		return nil, fmt.Errorf("current version: %w", err)
	}
	in, v, err := p.staged(ctx, req.SecretID, req.Versions, cur)
	if err != nil {
		return nil, err
	}
	args := []any{"secret", req.SecretID, "staged_version", v.ID, "current", cur.fingerprint(), "pending", in.fingerprint()}
	if !in.expires.IsZero() {
		args = append(args, "current_expires_at", in.expires.UTC().Format(time.RFC3339))
	}
	p.log.Info("adopting the staged credential", args...)
	return &rotation.CreateResponse{Value: string(in.raw)}, nil
}

// Staged implements rotation.StageChecker: whether a credential newer than
// AWSCURRENT's is staged.
// detail says what is staged, or what the operator must do, without any
// credential. The retire function uses it to raise the "not staged" alert
// before a rotation is due. err is for failures to read the versions and
// for a current value that cannot be parsed.
func (p *Provider) Staged(ctx context.Context, req *rotation.CredentialRequest) (staged bool, detail string, err error) {
	cv, err := vendorkey.CurrentOf(ctx, req)
	if err != nil {
		return false, "", err
	}
	cur, err := parseValue(cv.Value)
	if err != nil {
		return false, "", fmt.Errorf("current version %s: %w", cv.ID, err)
	}
	in, v, err := p.staged(ctx, req.SecretID, req.Versions, cur)
	if err != nil {
		return vendorkey.NotStaged(err, ErrNothingStaged)
	}
	detail = fmt.Sprintf("credential %s is staged in version %s to replace %s", in.fingerprint(), v.ID, cur.fingerprint())
	if !in.expires.IsZero() {
		detail += ", which the vendor switches off at " + in.expires.UTC().Format(time.RFC3339)
	}
	return true, detail, nil
}

// parseValue parses a value and keeps its raw JSON.
func parseValue(value string) (*Secret, error) {
	s, err := Parse(value)
	if err != nil {
		return nil, err
	}
	s.raw = []byte(value)
	return s, nil
}
