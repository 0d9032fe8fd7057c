package twiliotoken

import (
	"context"
	"fmt"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/vendorkey"
)

// Set implements rotation.Provider: the secondary token works once it
// exists; Set removes the lock key createSecret held, now that the token is
// stored (already removed is success).
func (p *Provider) Set(ctx context.Context, req *rotation.SetRequest) error {
	pend, err := Parse(req.Pending.Value)
	if err != nil {
		return fmt.Errorf("pending version: %w", err)
	}
	cv, err := req.Versions.Stage(ctx, rotation.StageCurrent)
	if err != nil {
		return fmt.Errorf("read AWSCURRENT: %w", err)
	}
	mgr, err := p.setCredential(ctx, req.Versions, pend.AccountSID, tokenOf(cv.Value))
	if err != nil {
		return err
	}
	return p.dropLocks(p.api.with(ctx, mgr), req.SecretID, req.Token)
}

// setCredential is the credential that removes lock keys: the Main key
// master_secret_arn names, or AWSCURRENT's token (the primary while a
// rotation runs).
func (p *Provider) setCredential(ctx context.Context, versions rotation.VersionReader, account, current string) (*credential, error) {
	if p.err != nil {
		return nil, p.err
	}
	a, err := versions.Admin(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the admin credential named by master_secret_arn: %w", err)
	}
	if a != nil {
		return mainKey(a, account)
	}
	return managerToken(account, current), nil
}

// Test implements rotation.Provider. It proves, without changing anything,
// that Twilio accepts the pending token for the account and that AWSCURRENT
// is still the primary (the account Twilio reports to a call with the
// pending token carries the primary). While Twilio answers 401 it retries
// with backoff within the propagation budget.
func (p *Provider) Test(ctx context.Context, req *rotation.TestRequest) error {
	pend, cur, err := vendorkey.TestValues(ctx, req, Parse, Parse)
	if err != nil {
		return err
	}
	if cur.AccountSID != pend.AccountSID {
		return fmt.Errorf("the pending token is for account %s, the current one for %s: a rotation keeps the account; cancel it with %s",
			pend.AccountSID, cur.AccountSID, rotation.CancelCommand(req.SecretID))
	}
	if same(cur.AuthToken, pend.AuthToken) {
		return fmt.Errorf("the pending version holds the current token %s: a rotation needs a new one; cancel it with %s", TokenFingerprint(cur.AuthToken), rotation.CancelCommand(req.SecretID))
	}
	if p.err != nil {
		return p.err
	}
	c := tokenCred(pend.AccountSID, pend.AuthToken, "the pending auth token "+TokenFingerprint(pend.AuthToken))
	return p.base.Propagate(ctx, func() (bool, error) {
		primary, err := p.primary(ctx, c)
		if err == nil {
			if !same(primary, cur.AuthToken) {
				return false, fmt.Errorf("Twilio accepts the pending token %s, but the account's primary is not AWSCURRENT's token %s: the tokens were changed outside this rotation; "+
					"cancel it with %s, store the primary as AWSCURRENT and rotate again", TokenFingerprint(pend.AuthToken), TokenFingerprint(cur.AuthToken), rotation.CancelCommand(req.SecretID))
			}
			p.base.Log.Info("Twilio accepts the secondary auth token for the account", "secret", req.SecretID, "account_sid", pend.AccountSID, "pending", TokenFingerprint(pend.AuthToken))
			return false, nil
		}
		return isUnauthorized(err), err
	}, func(err error) error {
		return fmt.Errorf("Twilio refused the pending token %s for %s, the propagation budget (a replaced or deleted secondary?): cancel the rotation with %s and start a new one: %w",
			TokenFingerprint(pend.AuthToken), p.base.Budget, rotation.CancelCommand(req.SecretID), err)
	})
}
