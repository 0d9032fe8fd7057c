package stripewebhook

import (
	"context"
	"fmt"
	"time"

	stripego "github.com/stripe/stripe-go/v76"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/vendorkey"
)

// target decodes the version of a lifecycle request and refuses the
// endpoint of a live version (AWSCURRENT, AWSPENDING) or one a live version
// also names.
func (p *Provider) target(ctx context.Context, op string, req *rotation.CredentialRequest, refuseLive bool) (string, *Secret, error) {
	s, err := vendorkey.Version(req, Name, parseRef)
	if err != nil {
		return "", nil, err
	}
	if refuseLive {
		if err := vendorkey.RefuseLive(ctx, req, op, "webhook endpoint", s.EndpointID, endpointOf); err != nil {
			return "", nil, err
		}
	}
	key, err := p.admin(ctx, req.Versions)
	if err != nil {
		return "", nil, err
	}
	return key, s, nil
}

// Deactivate implements rotation.Deactivator: the endpoint is disabled
// (Stripe stops sending to it; already disabled is success). It refuses the
// endpoint of an AWSCURRENT or AWSPENDING version, and fails with
// ErrNoSuchEndpoint when the endpoint was deleted.
func (p *Provider) Deactivate(ctx context.Context, req *rotation.CredentialRequest) error {
	return p.setDisabled(ctx, "disable", req, true)
}

// Reactivate implements rotation.Deactivator: the endpoint is enabled
// again (already enabled is success); a deleted endpoint cannot come back
// (ErrNoSuchEndpoint).
func (p *Provider) Reactivate(ctx context.Context, req *rotation.CredentialRequest) error {
	return p.setDisabled(ctx, "enable", req, false)
}

func (p *Provider) setDisabled(ctx context.Context, op string, req *rotation.CredentialRequest, disabled bool) error {
	key, s, err := p.target(ctx, op, req, disabled)
	if err != nil {
		return err
	}
	if _, err := p.api.update(ctx, key, s.EndpointID, &stripego.WebhookEndpointParams{Disabled: stripego.Bool(disabled)}); err != nil {
		if isNotFound(err) {
			return fmt.Errorf("%s webhook endpoint %s: %w (it was deleted; it cannot come back: rotate the secret for a new one)", op, s.EndpointID, ErrNoSuchEndpoint)
		}
		return fmt.Errorf("%s webhook endpoint %s: %w", op, s.EndpointID, err)
	}
	p.log.Info(op+"d webhook endpoint", "secret", req.SecretID, "version", req.Version.ID, "endpoint", s.EndpointID)
	return nil
}

// Delete implements rotation.Deleter: the endpoint is deleted (already
// gone is success). It refuses the endpoint of an AWSCURRENT or AWSPENDING
// version.
func (p *Provider) Delete(ctx context.Context, req *rotation.CredentialRequest) error {
	key, s, err := p.target(ctx, "delete", req, true)
	if err != nil {
		return err
	}
	if err := p.api.delete(ctx, key, s.EndpointID); err != nil && !isNotFound(err) {
		return err
	}
	p.log.Info("deleted webhook endpoint", "secret", req.SecretID, "version", req.Version.ID, "endpoint", s.EndpointID)
	return nil
}

// Credentials implements rotation.Auditor: the endpoints that deliver to
// the URL of the version's endpoint, and every endpoint dualkey created for
// this secret (dualkey_secret metadata), with their status. Endpoints to
// other URLs that dualkey did not create are not listed.
func (p *Provider) Credentials(ctx context.Context, req *rotation.CredentialRequest) ([]rotation.Credential, error) {
	key, s, err := p.target(ctx, "audit", req, false)
	if err != nil {
		return nil, err
	}
	eps, err := p.api.list(ctx, key)
	if err != nil {
		return nil, err
	}
	url := ""
	if e := find(eps, s.EndpointID); e != nil {
		url = e.URL
	}
	name := secretName(req.SecretID)
	var out []rotation.Credential
	for _, e := range eps {
		if (url == "" || e.URL != url) && e.Metadata[MetaSecret] != name {
			continue
		}
		status := e.Status
		if t := e.Metadata[MetaRotation]; t != "" && e.Metadata[MetaSecret] == name {
			status += ", created by dualkey for version " + t
		}
		out = append(out, rotation.Credential{Fingerprint: e.ID, Status: status, Created: time.Unix(e.Created, 0).UTC()})
	}
	return out, nil
}
