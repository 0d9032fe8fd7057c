package twiliotoken

import (
	"context"
	"fmt"

	accountsv1 "github.com/twilio/twilio-go/rest/accounts/v1"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/vendorhttp/twilioclient"
	"github.com/dualkey/dualkey/shared/vendorkey"
)

// Delete implements rotation.Deleter for the delete-only lifecycle: it ends
// the token of the version (AWSPREVIOUS after a rotation).
//
//   - The version's token is Twilio's primary: the secondary is promoted
//     (POST /v1/AuthTokens/Promote), only when AWSCURRENT's token is that
//     secondary (Twilio accepts it and it is not the primary), so that
//     AWSCURRENT works afterwards. The old primary stops working at once,
//     and Twilio signs webhooks with AWSCURRENT's token from then on.
//   - The version's token is the secondary (a rollback restored AWSCURRENT
//     to the primary): the secondary is deleted.
//   - Twilio accepts it no more: success.
//
// It refuses the token of an AWSCURRENT or AWSPENDING version.
func (p *Provider) Delete(ctx context.Context, req *rotation.CredentialRequest) error {
	v, err := vendorkey.Version(req, Name, Parse)
	if err != nil {
		return err
	}
	fp := TokenFingerprint(v.AuthToken)
	for _, st := range req.Version.Stages {
		if st == rotation.StageCurrent || st == rotation.StagePending {
			return fmt.Errorf("refusing to end auth token %s: its version %s is %s", fp, req.Version.ID, st)
		}
	}
	cv, err := req.Versions.Stage(ctx, rotation.StageCurrent)
	if err != nil {
		return fmt.Errorf("read AWSCURRENT: %w", err)
	}
	curToken := tokenOf(cv.Value)
	if same(curToken, v.AuthToken) {
		return fmt.Errorf("refusing to end auth token %s: AWSCURRENT (version %s) holds it too", fp, cv.ID)
	}
	if pv, err := req.Versions.Stage(ctx, rotation.StagePending); err == nil && pv.ID != req.Version.ID && same(tokenOf(pv.Value), v.AuthToken) {
		return fmt.Errorf("refusing to end auth token %s: AWSPENDING (version %s) holds it too", fp, pv.ID)
	}
	// The manager credential: the Main key, or a token that works.
	probe := curToken
	if ok, err := p.works(ctx, v.AccountSID, curToken); err != nil {
		return err
	} else if !ok {
		probe = v.AuthToken
	}
	mgr, primary, err := p.manager(ctx, req.Versions, v.AccountSID, probe)
	if err != nil {
		return err
	}
	s := p.api.with(ctx, mgr)
	switch {
	case same(v.AuthToken, primary):
		ok, err := p.works(ctx, v.AccountSID, curToken)
		if err != nil {
			return err
		}
		if !ok || same(curToken, primary) {
			return fmt.Errorf("refusing to promote the secondary auth token: version %s holds the primary %s, but AWSCURRENT's token %s is not the secondary Twilio accepts, "+
				"so AWSCURRENT would not work afterwards; nothing was changed: store the working tokens (\"dualkey status %s\")", req.Version.ID, fp, TokenFingerprint(curToken), shellArg(req.SecretID))
		}
		got, err := s.accounts.UpdateAuthTokenPromotion(&accountsv1.UpdateAuthTokenPromotionParams{})
		if err != nil {
			return callError("promote the secondary auth token", mgr, err)
		}
		if !same(twilioclient.Deref(got.AuthToken), curToken) {
			return fmt.Errorf("promoted the secondary auth token, but Twilio reports a primary other than AWSCURRENT's token %s: check the account's tokens now", TokenFingerprint(curToken))
		}
		p.base.Log.Warn("promoted the secondary auth token at Twilio: the old primary no longer works, and Twilio signs webhooks with AWSCURRENT's token",
			"secret", req.SecretID, "version", req.Version.ID, "ended", fp, "primary", TokenFingerprint(curToken))
	default:
		ok, err := p.works(ctx, v.AccountSID, v.AuthToken)
		if err != nil {
			return err
		}
		if !ok {
			p.base.Log.Info("the auth token no longer works at Twilio: nothing to end", "secret", req.SecretID, "version", req.Version.ID, "token", fp)
			return nil
		}
		if err := s.accounts.DeleteSecondaryAuthToken(&accountsv1.DeleteSecondaryAuthTokenParams{}); err != nil && !twilioclient.IsNotFound(err) {
			return callError("delete the secondary auth token", mgr, err)
		}
		p.base.Log.Info("deleted the secondary auth token", "secret", req.SecretID, "version", req.Version.ID, "token", fp)
	}
	return nil
}

// Credentials implements rotation.Auditor: the account's primary token,
// the secondary when a labelled version holds it (Twilio cannot list or
// read a secondary), and any dualkey lock key of the secret.
func (p *Provider) Credentials(ctx context.Context, req *rotation.CredentialRequest) ([]rotation.Credential, error) {
	v, err := vendorkey.Version(req, Name, Parse)
	if err != nil {
		return nil, err
	}
	mgr, primary, err := p.manager(ctx, req.Versions, v.AccountSID, v.AuthToken)
	if err != nil {
		return nil, err
	}
	out := []rotation.Credential{{Fingerprint: TokenFingerprint(primary), Status: "primary auth token"}}
	for _, st := range []string{rotation.StageCurrent, rotation.StagePrevious, rotation.StagePending} {
		sv, err := req.Versions.Stage(ctx, st)
		if err != nil {
			continue
		}
		t := tokenOf(sv.Value)
		if t == "" || same(t, primary) {
			continue
		}
		if ok, err := p.works(ctx, v.AccountSID, t); err != nil {
			return nil, err
		} else if ok {
			out = append(out, rotation.Credential{Fingerprint: TokenFingerprint(t), Status: "secondary auth token"})
			break
		}
	}
	locks, err := p.locks(p.api.with(ctx, mgr))
	if err != nil {
		return nil, err
	}
	for _, l := range locks {
		if l.secret == secretTag(req.SecretID) {
			out = append(out, rotation.Credential{Fingerprint: l.sid, Status: "dualkey lock key of version " + l.token, Created: l.created})
		}
	}
	return out, nil
}
