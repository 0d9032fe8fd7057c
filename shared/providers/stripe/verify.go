package stripe

import (
	"context"
	"errors"
	"fmt"

	"github.com/dualkey/dualkey/shared/rotation"
)

// ErrOtherAccount: the pending key belongs to another Stripe account than
// the current one.
var ErrOtherAccount = errors.New("the new key belongs to another Stripe account")

// Test implements rotation.Provider. It proves, changing nothing at Stripe:
//   - the pending key differs from the current one and is of the same kind
//     (sk_/rk_) and mode (live/test);
//   - Stripe accepts it (GET /v1/account) and it belongs to the expected
//     account: account_id when the secret names one, else the account the
//     current key answers for;
//   - every probe read declared in the secret answers 2xx with it.
func (p *Provider) Test(ctx context.Context, req *rotation.TestRequest) error {
	pending, err := Parse(req.Pending.Value)
	if err != nil {
		return fmt.Errorf("pending version: %w", err)
	}
	curV, err := req.Versions.Stage(ctx, rotation.StageCurrent)
	if err != nil {
		return fmt.Errorf("read AWSCURRENT: %w", err)
	}
	cur, err := Parse(curV.Value)
	if err != nil {
		return fmt.Errorf("current version: %w", err)
	}
	pfp, cfp := Fingerprint(pending.APIKey), Fingerprint(cur.APIKey)
	switch {
	case pending.APIKey == cur.APIKey:
		return fmt.Errorf("pending key %s is the current key: nothing to rotate", pfp)
	case pending.kind != cur.kind:
		return fmt.Errorf("pending key %s is a %s but the current key %s is a %s: stage a key of the same kind and mode", pfp, pending.kind, cfp, cur.kind)
	}
	got, how, err := p.api.account(ctx, pending.APIKey)
	if err != nil {
		return p.keyError("the pending key", pfp, err)
	}
	want, whence := pending.AccountID, "account_id"
	if want == "" {
		want, _, err = p.api.account(ctx, cur.APIKey)
		if err != nil {
			var ae *APIError
			if errors.As(err, &ae) && ae.Refused() {
				return fmt.Errorf("cannot tell which Stripe account the pending key %s must belong to: Stripe refuses the current key %s as %s, and the secret has no account_id; "+
					"add \"account_id\": \"acct_...\" (Settings → Account details) to the secret", pfp, cfp, ae.Why())
			}
			return p.keyError("the current key", cfp, err)
		}
		whence = "the current key " + cfp
	}
	if got != want {
		return fmt.Errorf("%w: pending key %s belongs to Stripe account %s, but %s says %s: the staged key was rolled in another account; "+
			"roll the key of account %s and stage it again (nothing was changed)", ErrOtherAccount, pfp, got, whence, want, want)
	}
	for _, pr := range pending.probes {
		var o object
		if err := p.api.get(ctx, pending.APIKey, pr.path, &o); err != nil {
			var ae *APIError
			if errors.As(err, &ae) && ae.Status == 403 {
				return fmt.Errorf("probe %q with pending key %s: %w: the restricted key lacks a permission this read needs; roll a key with the same permissions as the current one", pr, pfp, err)
			}
			return fmt.Errorf("probe %q with pending key %s: %w", pr, pfp, err)
		}
	}
	p.log.Info("the pending Stripe key works for the same account", "secret", req.SecretID, "pending", pfp, "account", got, "account_from", how, "probes", len(pending.probes))
	return nil
}

// keyError words a failed call made with a key.
func (p *Provider) keyError(which, fp string, err error) error {
	var ae *APIError
	if errors.As(err, &ae) {
		if ae.Refused() {
			return fmt.Errorf("%s %s is refused by Stripe as %s (%w)", which, fp, ae.Why(), err)
		}
		if ae.Status == 403 {
			return fmt.Errorf("the account of %s %s is unknown: Stripe answered 403 without naming it (%w): grant the restricted key the rak_accounts_kyc_id_numbers_read permission", which, fp, err)
		}
	}
	return fmt.Errorf("ask Stripe which account %s %s belongs to: %w", which, fp, err)
}
