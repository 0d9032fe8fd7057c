package twilio

import (
	"context"
	"fmt"
	"net/http"

	api2010 "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/vendorhttp/twilioclient"
	"github.com/dualkey/dualkey/shared/vendorkey"
)

// Set implements rotation.Provider: a new Twilio key works as soon as it
// exists, so there is nothing to set.
func (p *Provider) Set(context.Context, *rotation.SetRequest) error { return nil }

// Test implements rotation.Provider. It proves the pending key without
// changing anything:
//
//   - the admin credential finds it among the account's keys, with
//     dualkey's marker for this rotation and exactly the current key's
//     policy (none for a Standard key);
//   - Twilio accepts a call signed with it for the account: one page of
//     the account's Messages (every Standard key may read it; a restricted
//     key whose policy does not allow it gets 403, which still proves that
//     Twilio authenticated it). While Twilio answers 401 it retries with
//     backoff within the propagation budget.
func (p *Provider) Test(ctx context.Context, req *rotation.TestRequest) error {
	pend, cur, err := vendorkey.TestValues(ctx, req, Parse, parseRef)
	if err != nil {
		return err
	}
	if pend.AccountSID != cur.AccountSID {
		return fmt.Errorf("the pending key %s is for account %s, the current key for %s: a rotation keeps the account; cancel it with %s",
			pend.APIKeySID, pend.AccountSID, cur.AccountSID, rotation.CancelCommand(req.SecretID))
	}
	if pend.APIKeySID == cur.APIKeySID {
		return fmt.Errorf("the pending version names the current key %s: a rotation needs a new key; cancel it with %s", cur.APIKeySID, rotation.CancelCommand(req.SecretID))
	}
	admin, err := p.admin(ctx, req.Versions, cur.AccountSID)
	if err != nil {
		return err
	}
	s := p.api.with(ctx, admin)
	nk, err := s.iam.FetchKey(pend.APIKeySID)
	if err != nil {
		if twilioclient.IsNotFound(err) {
			return fmt.Errorf("%w: the pending key %s is not a key of account %s (deleted?): cancel the rotation with %s and start a new one",
				ErrNoSuchKey, pend.APIKeySID, cur.AccountSID, rotation.CancelCommand(req.SecretID))
		}
		return callError("read the pending key "+pend.APIKeySID, admin, err)
	}
	if m, ok := parseMarker(twilioclient.Deref(nk.FriendlyName)); !ok || !m.of(req.SecretID, req.Token) {
		return fmt.Errorf("the pending key %s was not created by this rotation (its friendly name is not dualkey's marker for version %s): cancel the rotation with %s",
			pend.APIKeySID, req.Token, rotation.CancelCommand(req.SecretID))
	}
	ck, err := p.currentKey(s, cur.APIKeySID)
	if err != nil {
		return err
	}
	if a, b := canonicalPolicy(nk.Policy), canonicalPolicy(ck.Policy); a != b {
		return fmt.Errorf("the pending key %s has %s, the current key %s has %s: a rotation keeps the key's rights; cancel it with %s",
			pend.APIKeySID, describePolicy(nk.Policy), cur.APIKeySID, describePolicy(ck.Policy), rotation.CancelCommand(req.SecretID))
	}
	how, err := p.works(ctx, pend)
	if err != nil {
		return err
	}
	p.base.Log.Info("the new key works for the account", "secret", req.SecretID, "api_key_sid", pend.APIKeySID, "account_sid", pend.AccountSID, "evidence", how)
	return nil
}

// works signs one call with the key; it retries while Twilio answers 401
// (a new key propagating), within the budget.
func (p *Provider) works(ctx context.Context, k *Secret) (string, error) {
	self := p.api.with(ctx, &credential{user: k.APIKeySID, pass: k.APIKeySecret, account: k.AccountSID, kind: "API key " + k.APIKeySID})
	size := 1
	how := ""
	err := p.base.Propagate(ctx, func() (bool, error) {
		_, err := self.api.PageMessage(&api2010.ListMessageParams{PathAccountSid: &k.AccountSID, PageSize: &size}, "", "")
		switch {
		case err == nil:
			how = "read a page of the account's messages"
			return false, nil
		case twilioclient.IsStatus(err, http.StatusForbidden):
			how = "authenticated (its policy does not allow reading messages: 403)"
			return false, nil
		case !twilioclient.IsStatus(err, http.StatusUnauthorized):
			return false, callError("call Twilio with the pending key "+k.APIKeySID, nil, err)
		}
		return true, err
	}, func(err error) error {
		return fmt.Errorf("Twilio refused the pending key %s for account %s (401) for %s, the propagation budget: %w",
			k.APIKeySID, k.AccountSID, p.base.Budget, callError("call Twilio with the pending key", nil, err))
	})
	return how, err
}

// describePolicy names a policy for messages without its full text.
func describePolicy(p *map[string]any) string {
	if p == nil {
		return "no policy (a Standard key)"
	}
	n := 0
	if allow, ok := (*p)["allow"].([]any); ok {
		n = len(allow)
	}
	return fmt.Sprintf("a restricted policy of %d permissions", n)
}
