package sendgrid

import (
	"context"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/vendorkey"
)

// target decodes the version of a lifecycle request; with refuseLive it
// refuses the key of a live version (AWSCURRENT, AWSPENDING) or one a live
// version also names.
func (p *Provider) target(ctx context.Context, op string, req *rotation.CredentialRequest, refuseLive bool) (*Secret, *admin, error) {
	s, err := vendorkey.Version(req, Name, parseRef)
	if err != nil {
		return nil, nil, err
	}
	if refuseLive {
		if err := vendorkey.RefuseLive(ctx, req, op, "key", s.APIKeyID, keyID); err != nil {
			return nil, nil, err
		}
	}
	adm, err := p.admin(ctx, req.Versions)
	if err != nil {
		return nil, nil, err
	}
	return s, adm, nil
}

// Delete implements rotation.Deleter: DELETE /v3/api_keys/{id} on behalf
// of the key's subuser (already gone is success). It refuses the key of an
// AWSCURRENT or AWSPENDING version.
func (p *Provider) Delete(ctx context.Context, req *rotation.CredentialRequest) error {
	k, adm, err := p.target(ctx, "delete", req, true)
	if err != nil {
		return err
	}
	if err := p.deleteKey(ctx, adm, k.Subuser, k.APIKeyID); err != nil {
		return err
	}
	p.base.Log.Info("deleted API key", "secret", req.SecretID, "version", req.Version.ID, "api_key_id", k.APIKeyID, "subuser", k.Subuser)
	return nil
}

// Credentials implements rotation.Auditor: the keys of the user that belong
// to the secret: the ones its AWSCURRENT and AWSPREVIOUS versions name, and
// every key dualkey created for it (its marker names the secret). The
// user's other keys are not listed.
func (p *Provider) Credentials(ctx context.Context, req *rotation.CredentialRequest) ([]rotation.Credential, error) {
	cur, adm, err := p.target(ctx, "audit", req, false)
	if err != nil {
		return nil, err
	}
	keys, err := p.listKeys(ctx, adm, cur.Subuser)
	if err != nil {
		return nil, err
	}
	named := map[string]bool{cur.APIKeyID: true}
	if v, err := req.Versions.Stage(ctx, rotation.StagePrevious); err == nil {
		named[keyID(v.Value)] = true
	}
	var out []rotation.Credential
	for _, k := range keys {
		m, marked := parseMarker(k.Name)
		mine := marked && m.of(req.SecretID, "")
		if !named[k.ID] && !mine {
			continue
		}
		c := rotation.Credential{Fingerprint: k.ID, Status: "active (SendGrid keys cannot be disabled)"}
		if mine {
			c.Status += ", created by dualkey for version " + m.token
			c.Created = m.created
		}
		out = append(out, c)
	}
	return out, nil
}
