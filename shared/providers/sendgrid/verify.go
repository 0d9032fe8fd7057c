package sendgrid

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/vendorkey"
)

// Set implements rotation.Provider: a new SendGrid key works as soon as it
// exists, so there is nothing to set.
func (p *Provider) Set(context.Context, *rotation.SetRequest) error { return nil }

// Test implements rotation.Provider. It proves the pending key without
// changing anything: the admin key finds it among the same user's keys,
// marked for this rotation, and GET /v3/scopes signed with it returns
// exactly the scopes of the current key (while SendGrid answers 401 it
// retries with backoff within the propagation budget).
func (p *Provider) Test(ctx context.Context, req *rotation.TestRequest) error {
	pend, cur, err := vendorkey.TestValues(ctx, req, Parse, parseRef)
	if err != nil {
		return err
	}
	if pend.Subuser != cur.Subuser {
		return fmt.Errorf("the pending key %s is for %s, the current key for %s: a rotation keeps the user; cancel it with %s",
			pend.APIKeyID, whose(pend.Subuser), whose(cur.Subuser), rotation.CancelCommand(req.SecretID))
	}
	if pend.APIKeyID == cur.APIKeyID {
		return fmt.Errorf("the pending version names the current key %s: a rotation needs a new key; cancel it with %s", cur.APIKeyID, rotation.CancelCommand(req.SecretID))
	}
	adm, err := p.admin(ctx, req.Versions)
	if err != nil {
		return err
	}
	nk, err := p.getKey(ctx, adm, pend.Subuser, pend.APIKeyID, "the pending key")
	if err != nil {
		return fmt.Errorf("%w; cancel the rotation with %s and start a new one", err, rotation.CancelCommand(req.SecretID))
	}
	if m, ok := parseMarker(nk.Name); !ok || !m.of(req.SecretID, req.Token) {
		return fmt.Errorf("the pending key %s was not created by this rotation (its name is not dualkey's marker for version %s): cancel the rotation with %s",
			pend.APIKeyID, req.Token, rotation.CancelCommand(req.SecretID))
	}
	old, err := p.getKey(ctx, adm, cur.Subuser, cur.APIKeyID, "the current key")
	if err != nil {
		return err
	}
	got, err := p.newKeyScopes(ctx, pend)
	if err != nil {
		return err
	}
	if extra, lack := minus(got, old.Scopes), minus(old.Scopes, got); len(extra) > 0 || len(lack) > 0 {
		return fmt.Errorf("the pending key %s does not have exactly the current key's scopes (more: %s; fewer: %s): dualkey never widens or narrows a key; cancel the rotation with %s",
			pend.APIKeyID, orNone(extra), orNone(lack), rotation.CancelCommand(req.SecretID))
	}
	p.base.Log.Info("the new key has exactly the current key's scopes", "secret", req.SecretID, "api_key_id", pend.APIKeyID, "subuser", pend.Subuser, "scopes", len(got))
	return nil
}

// newKeyScopes asks SendGrid for the pending key's scopes with the key
// itself, retrying while SendGrid answers 401 (a new key propagating).
func (p *Provider) newKeyScopes(ctx context.Context, k *Secret) ([]string, error) {
	var got []string
	err := p.base.Propagate(ctx, func() (bool, error) {
		var err error
		got, err = p.scopesOf(ctx, "read the scopes of the pending key "+k.APIKeyID+" with the key itself", k.APIKey, nil)
		return err != nil && statusOf(err) == http.StatusUnauthorized, err
	}, func(err error) error {
		return fmt.Errorf("SendGrid refused the pending key %s (401) for %s, the propagation budget: %w", k.APIKeyID, p.base.Budget, err)
	})
	if err != nil {
		return nil, err
	}
	return got, nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
