package twilio

import (
	"context"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/vendorkey"
)

// target decodes the version of a lifecycle request; with refuseLive it
// refuses the key of a live version (AWSCURRENT, AWSPENDING) or one a live
// version also names.
func (p *Provider) target(ctx context.Context, op string, req *rotation.CredentialRequest, refuseLive bool) (*Secret, *services, error) {
	s, err := vendorkey.Version(req, Name, parseRef)
	if err != nil {
		return nil, nil, err
	}
	if refuseLive {
		if err := vendorkey.RefuseLive(ctx, req, op, "key", s.APIKeySID, keySID); err != nil {
			return nil, nil, err
		}
	}
	admin, err := p.admin(ctx, req.Versions, s.AccountSID)
	if err != nil {
		return nil, nil, err
	}
	return s, p.api.with(ctx, admin), nil
}

// Delete implements rotation.Deleter: the key is deleted (already gone is
// success). It refuses the key of an AWSCURRENT or AWSPENDING version.
func (p *Provider) Delete(ctx context.Context, req *rotation.CredentialRequest) error {
	k, s, err := p.target(ctx, "delete", req, true)
	if err != nil {
		return err
	}
	if err := p.deleteKey(s, k.APIKeySID); err != nil {
		return err
	}
	p.base.Log.Info("deleted API key", "secret", req.SecretID, "version", req.Version.ID, "account_sid", k.AccountSID, "api_key_sid", k.APIKeySID)
	return nil
}

// Credentials implements rotation.Auditor: the keys of the account that
// belong to the secret: the ones its AWSCURRENT and AWSPREVIOUS versions
// name, and every key dualkey created for it (its marker names the
// secret). Other keys of the account (other consumers') are not listed.
func (p *Provider) Credentials(ctx context.Context, req *rotation.CredentialRequest) ([]rotation.Credential, error) {
	cur, s, err := p.target(ctx, "audit", req, false)
	if err != nil {
		return nil, err
	}
	keys, err := p.listKeys(s)
	if err != nil {
		return nil, err
	}
	named := map[string]bool{cur.APIKeySID: true}
	if v, err := req.Versions.Stage(ctx, rotation.StagePrevious); err == nil {
		named[keySID(v.Value)] = true
	}
	var out []rotation.Credential
	for _, k := range keys {
		m, marked := parseMarker(k.name)
		mine := marked && m.of(req.SecretID, "")
		if !named[k.sid] && !mine {
			continue
		}
		status := "active (Twilio keys cannot be disabled)"
		if mine {
			status += ", created by dualkey for version " + m.token
		}
		out = append(out, rotation.Credential{Fingerprint: k.sid, Status: status, Created: k.created})
	}
	return out, nil
}
