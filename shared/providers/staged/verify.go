package staged

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/vendorkey"
)

// ErrOtherIdentity: the new credential answers for another identity
// (account, merchant) than the current one.
var ErrOtherIdentity = errors.New("the new credential belongs to another identity")

// Test implements rotation.Provider: the probe with the pending credential
// gets the expected status and, when the probe declares an identity, the
// same identity as the current credential (or identity.expect). It changes
// nothing (probes are GET, HEAD or POST to a read such as a ping).
func (p *Provider) Test(ctx context.Context, req *rotation.TestRequest) error {
	pending, cur, err := vendorkey.TestValues(ctx, req, Parse, Parse)
	if err != nil {
		return err
	}
	spec := &cur.Probe // the current value's probe: the pending value's could point elsewhere
	pfp := pending.fingerprint()
	if sameCredential(pending, cur, spec.Fields()) {
		return fmt.Errorf("pending credential %s is the current one: nothing to rotate", pfp)
	}
	a, err := p.send(ctx, spec, pending.creds)
	if err != nil {
		return fmt.Errorf("pending credential %s: %w", pfp, err)
	}
	if !spec.ok(a.status) {
		return fmt.Errorf("probe %s %s with pending credential %s answered HTTP %d, want %s%s",
			spec.method(), rotation.SafeURL(spec.URL), pfp, a.status, spec.want(), refusedHint(a.status))
	}
	if id := spec.Identity; id != nil {
		if !a.identityFound {
			return fmt.Errorf("probe %s %s with pending credential %s: the answer has no value at identity pointer %s", spec.method(), rotation.SafeURL(spec.URL), pfp, id.Pointer)
		}
		want, whence := id.Expect, "probe.identity.expect"
		if want == "" {
			ca, err := p.send(ctx, spec, cur.creds)
			if err != nil {
				return fmt.Errorf("current credential %s: %w", cur.fingerprint(), err)
			}
			if !spec.ok(ca.status) || !ca.identityFound {
				why := fmt.Sprintf("answered HTTP %d", ca.status)
				if spec.ok(ca.status) {
					why = "answered without a value at " + id.Pointer
				}
				return fmt.Errorf("cannot tell which identity the pending credential %s must have: the probe with the current credential %s %s; "+
					"add \"expect\" to probe.identity", pfp, cur.fingerprint(), why)
			}
			want, whence = ca.identity, "the current credential "+cur.fingerprint()
		}
		if a.identity != want {
			return fmt.Errorf("%w: the probe's answer at %s differs between the pending credential %s and %s: the staged credential is another account's; "+
				"stage the one rolled for this account (nothing was changed)", ErrOtherIdentity, id.Pointer, pfp, whence)
		}
	}
	p.log.Info("the pending credential answers the probe", "secret", req.SecretID, "pending", pfp, "status", a.status, "identity_checked", spec.Identity != nil)
	return nil
}

func (spec *Probe) want() string {
	if spec.ExpectStatus != 0 {
		return fmt.Sprint(spec.ExpectStatus)
	}
	return "a 2xx"
}

func refusedHint(status int) string {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return ": the vendor refuses it; stage the credential the dashboard showed when you rolled it"
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return ": a redirect (not followed); set probe.url to where it leads"
	}
	return ""
}

// CheckDead implements rotation.ExpiryChecker: the probe with the version's
// credential. 401 or 403 is dead; the expected status is alive; anything
// else (or no answer) is an error. ExpiresAt is the expiry the operator
// gave when staging the credential that replaced it (previous_key_expires_at
// of AWSCURRENT, when the version is AWSPREVIOUS).
func (p *Provider) CheckDead(ctx context.Context, req *rotation.CredentialRequest) (*rotation.Liveness, error) {
	if req == nil || req.Version == nil {
		return nil, errors.New("staged: the request names no version")
	}
	s, err := Parse(req.Version.Value)
	if err != nil {
		return nil, fmt.Errorf("version %s: %w", req.Version.ID, err)
	}
	spec := &s.Probe
	l := &rotation.Liveness{}
	previous := false
	for _, st := range req.Version.Stages {
		previous = previous || st == rotation.StagePrevious
	}
	if previous && req.Versions != nil {
		if cv, err := req.Versions.Stage(ctx, rotation.StageCurrent); err == nil {
			if cur, err := Parse(cv.Value); err == nil {
				l.ExpiresAt = cur.expires
				spec = &cur.Probe // the probe as it is declared now
			}
		}
	}
	fp := s.fingerprint()
	a, err := p.send(ctx, spec, s.creds)
	if err != nil {
		return nil, fmt.Errorf("check whether credential %s still works: %w", fp, err)
	}
	switch {
	case a.status == http.StatusUnauthorized || a.status == http.StatusForbidden:
		l.Dead = true
		l.Detail = fmt.Sprintf("the probe %s %s with credential %s is refused (HTTP %d)", spec.method(), rotation.SafeURL(spec.URL), fp, a.status)
	case spec.ok(a.status):
		l.Detail = fmt.Sprintf("the probe %s %s with credential %s still works (HTTP %d)", spec.method(), rotation.SafeURL(spec.URL), fp, a.status)
	default:
		return nil, fmt.Errorf("check whether credential %s still works: the probe %s %s answered HTTP %d, neither %s nor 401/403",
			fp, spec.method(), rotation.SafeURL(spec.URL), a.status, spec.want())
	}
	if !l.ExpiresAt.IsZero() {
		l.Detail += "; the vendor was to switch it off at " + l.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return l, nil
}
