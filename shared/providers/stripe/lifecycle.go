package stripe

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dualkey/dualkey/shared/rotation"
)

// CheckDead implements rotation.ExpiryChecker with one GET /v1/account made
// with the version's key: 401 (api_key_expired, or an invalid key) is dead;
// 2xx, and 403 (a restricted key Stripe authenticated but that may not read
// the account), are alive; anything else is an error. ExpiresAt is the
// expiry the operator recorded when staging the key that replaced it
// (previous_key_expires_at of AWSCURRENT, when the version is AWSPREVIOUS).
func (p *Provider) CheckDead(ctx context.Context, req *rotation.CredentialRequest) (*rotation.Liveness, error) {
	if req == nil || req.Version == nil {
		return nil, errors.New("stripe: the request names no version")
	}
	s, err := Parse(req.Version.Value)
	if err != nil {
		return nil, fmt.Errorf("version %s: %w", req.Version.ID, err)
	}
	fp := Fingerprint(s.APIKey)
	l := &rotation.Liveness{ExpiresAt: expiryOf(ctx, req.Versions, req.Version)}
	var acct object
	err = p.api.get(ctx, s.APIKey, "/v1/account", &acct)
	var ae *APIError
	switch {
	case err == nil:
		l.Detail = fmt.Sprintf("Stripe still accepts key %s (GET /v1/account answered)", fp)
	case errors.As(err, &ae) && ae.Status == 403:
		l.Detail = fmt.Sprintf("Stripe still accepts key %s (GET /v1/account answered 403: authenticated, without the permission to read the account)", fp)
	case errors.As(err, &ae) && ae.Refused():
		l.Dead = true
		l.Detail = fmt.Sprintf("Stripe refuses key %s as %s", fp, ae.Why())
	default:
		return nil, fmt.Errorf("check whether Stripe still accepts key %s: %w", fp, err)
	}
	if !l.ExpiresAt.IsZero() {
		l.Detail += "; its expiry was set to " + l.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return l, nil
}
