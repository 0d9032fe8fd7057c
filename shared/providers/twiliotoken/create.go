package twiliotoken

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	accountsv1 "github.com/twilio/twilio-go/rest/accounts/v1"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/vendorhttp"
	"github.com/dualkey/dualkey/shared/vendorhttp/twilioclient"
)

// Create implements rotation.Provider: it creates the account's secondary
// auth token under a lock (see the package documentation) and returns the
// current value with it. Everything is read before the first write:
//
//   - AWSCURRENT must be Twilio's primary: while it is the secondary (the
//     previous rotation's promotion has not happened) the rotation is
//     refused, except in an emergency, which promotes it (the older
//     primary, AWSPREVIOUS, dies) and reports that version Retired;
//   - a secondary that AWSPREVIOUS holds (a rollback restored AWSCURRENT
//     to the primary) is refused likewise, and deleted in an emergency;
//   - a lock of this rotation older than rotation.OrphanAge is a crashed
//     attempt's: it is deleted, and the secondary that attempt may have
//     made is replaced; a younger lock, or a lock of another rotation of
//     this secret, is a concurrent delivery's (rotation.ErrConcurrentDelivery);
//     a lock of another secret means two secrets rotate one account's
//     token, which is refused.
func (p *Provider) Create(ctx context.Context, req *rotation.CreateRequest) (*rotation.CreateResponse, error) {
	cur, err := Parse(req.Current.Value)
	if err != nil {
		return nil, fmt.Errorf("current version: %w", err)
	}
	mgr, primary, err := p.manager(ctx, req.Versions, cur.AccountSID, cur.AuthToken)
	if err != nil {
		return nil, err
	}
	s := p.api.with(ctx, mgr)
	var retired []rotation.RetiredCredential
	promote, deleteSecondary := false, false

	prev, err := req.Versions.Stage(ctx, rotation.StagePrevious)
	if err != nil && !errors.Is(err, rotation.ErrNoVersion) {
		return nil, fmt.Errorf("read the AWSPREVIOUS version: %w", err)
	}
	prevToken := ""
	if prev != nil && prev.ID != req.Current.ID {
		prevToken = tokenOf(prev.Value)
	}
	if !same(cur.AuthToken, primary) {
		// AWSCURRENT is not the primary: the secondary, or dead.
		ok, err := p.works(ctx, cur.AccountSID, cur.AuthToken)
		if err != nil {
			return nil, err
		}
		switch {
		case !ok:
			return nil, fmt.Errorf("Twilio refuses AWSCURRENT's auth token %s for account %s: if the token was changed in the Console, store the account's primary token as AWSCURRENT "+
				"(aws secretsmanager put-secret-value), then rotate; nothing was changed", TokenFingerprint(cur.AuthToken), cur.AccountSID)
		case !req.Emergency:
			return nil, fmt.Errorf("AWSCURRENT's auth token %s is still Twilio's secondary token: the previous rotation's retirement, which promotes it at Twilio, is not done, "+
				"and a new secondary would replace it. Finish it: run \"dualkey retire %s\" (\"dualkey status %s\" shows where it stands), then rotate again; nothing was changed",
				TokenFingerprint(cur.AuthToken), shellArg(req.SecretID), shellArg(req.SecretID))
		}
		promote = true
		if prev != nil && same(prevToken, primary) {
			retired = append(retired, rotation.RetiredCredential{VersionID: prev.ID, Fingerprint: TokenFingerprint(prevToken),
				Reason: "emergency rotation: the secondary auth token was promoted at Twilio before its retirement finished, so the older primary no longer works"})
		}
	} else if prevToken != "" && !same(prevToken, primary) && !same(prevToken, cur.AuthToken) {
		ok, err := p.works(ctx, cur.AccountSID, prevToken)
		if err != nil {
			return nil, err
		}
		if ok && !req.Emergency {
			return nil, fmt.Errorf("AWSPREVIOUS (version %s) holds Twilio's secondary auth token %s (a rollback moved AWSCURRENT back to the primary), and a new secondary would replace it. "+
				"Finish its retirement: \"dualkey retire --resume %s\", then \"dualkey retire %s\" (it deletes that secondary), then rotate again; nothing was changed",
				prev.ID, TokenFingerprint(prevToken), shellArg(req.SecretID), shellArg(req.SecretID))
		}
		if req.Emergency {
			// Deleted now, or gone already (an earlier attempt of this
			// emergency rotation promoted or deleted it).
			deleteSecondary = ok
			retired = append(retired, rotation.RetiredCredential{VersionID: prev.ID, Fingerprint: TokenFingerprint(prevToken),
				Reason: "emergency rotation: AWSPREVIOUS's auth token was switched off at Twilio before its retirement finished"})
		}
	}

	// The lock: look at the existing ones before writing anything. A stale
	// lock of this secret (older than OrphanAge) is an attempt's that did
	// not finish: it proves that the secondary the account may have is that
	// attempt's orphan (no labelled version holds it: AWSCURRENT is the
	// primary, AWSPREVIOUS was checked above, AWSPENDING has no value). It
	// is deleted only once the new secondary exists, so that a crash before
	// then leaves the proof for the retry.
	all, err := p.locks(s)
	if err != nil {
		return nil, err
	}
	ours := secretTag(req.SecretID)
	stale := map[string]bool{}
	for _, l := range all {
		age := p.base.Now().Sub(l.created)
		switch {
		case l.secret != ours:
			return nil, fmt.Errorf("account %s has lock key %s of another dualkey secret (tag %s): two secrets rotate this account's auth token, and Twilio keeps one secondary token; "+
				"keep one secret for the token (if the other secret is gone, delete the key in the Twilio Console); nothing was changed", cur.AccountSID, l.sid, l.secret)
		case l.created.IsZero() || age < rotation.OrphanAge:
			return nil, fmt.Errorf("%w: lock key %s of version %s, created %s, may belong to a delivery that is still running (a delivery stores its token within %s or never); "+
				"nothing was changed: retry after %s", rotation.ErrConcurrentDelivery, l.sid, l.token, l.created.UTC().Format(time.RFC3339), rotation.StoreWithin,
				l.created.Add(rotation.OrphanAge).UTC().Format(time.RFC3339))
		}
		stale[l.sid] = true
	}
	earlierAttempt := len(stale) > 0
	// An earlier attempt's value may have been stored since (a slow delivery).
	if earlierAttempt {
		if v, err := req.Versions.Stage(ctx, rotation.StagePending); err == nil && tokenOf(v.Value) != "" {
			return nil, fmt.Errorf("%w: another delivery of this step stored the pending version; nothing was changed: retry, and createSecret finds its work done", rotation.ErrConcurrentDelivery)
		} else if err != nil && !errors.Is(err, rotation.ErrNoVersion) {
			return nil, fmt.Errorf("read the pending version: %w", err)
		}
	}

	// Writes.
	// The lock comes before any change to the tokens: a concurrent
	// delivery that read the same state must not act on it too.
	mine, err := p.takeLock(s, req.SecretID, req.Token, stale)
	if err != nil {
		return nil, err
	}
	if promote {
		if _, err := s.accounts.UpdateAuthTokenPromotion(&accountsv1.UpdateAuthTokenPromotionParams{}); err != nil {
			return nil, callError("emergency rotation: promote AWSCURRENT's secondary auth token", mgr, err)
		}
		p.base.Log.Warn("emergency rotation: promoted the secondary auth token at Twilio before its retirement finished; the older primary no longer works",
			"secret", req.SecretID, "primary", TokenFingerprint(cur.AuthToken))
		if mgr.adminARN == "" {
			mgr = managerToken(cur.AccountSID, cur.AuthToken)
			s = p.api.with(ctx, mgr)
		}
	}
	if deleteSecondary {
		if err := s.accounts.DeleteSecondaryAuthToken(&accountsv1.DeleteSecondaryAuthTokenParams{}); err != nil && !twilioclient.IsNotFound(err) {
			return nil, callError("emergency rotation: delete AWSPREVIOUS's secondary auth token", mgr, err)
		}
		p.base.Log.Warn("emergency rotation: deleted AWSPREVIOUS's secondary auth token before its retirement finished", "secret", req.SecretID, "token", TokenFingerprint(prevToken))
	}
	token, err := p.createSecondary(s, earlierAttempt)
	if err != nil {
		// Keep the lock unless Twilio surely made nothing: a lost reply may
		// hide a new secondary, and the lock proves it to the retry.
		if refusedByTwilio(err) {
			if derr := p.deleteKey(s, mine); derr != nil {
				p.base.Log.Error("could not delete this delivery's lock key", "lock", mine, "error", derr.Error())
			}
		}
		return nil, err
	}
	for sid := range stale {
		if err := p.deleteKey(s, sid); err != nil {
			p.base.Log.Warn("could not delete a stale lock key; the next rotation deletes it", "lock", sid, "error", err.Error())
			continue
		}
		p.base.Log.Info("deleted the lock key of an attempt that did not finish", "secret", req.SecretID, "lock", sid)
	}
	value, err := rotation.MergeSecret(req.Current.Value, map[string]any{FieldAuthToken: token})
	if err != nil {
		return nil, fmt.Errorf("build the pending value: %w", err)
	}
	p.base.Log.Info("created the secondary auth token", "secret", req.SecretID, "token", req.Token, "account_sid", cur.AccountSID,
		"pending", TokenFingerprint(token), "current", TokenFingerprint(cur.AuthToken), "lock", mine)
	return &rotation.CreateResponse{Value: value, Retired: retired}, nil
}

// refusedByTwilio reports an error that is Twilio's 4xx answer: the
// request was refused and changed nothing.
func refusedByTwilio(err error) bool {
	te, ok := twilioclient.RestError(err)
	return ok && te.Status >= 400 && te.Status < 500
}

// createSecondary creates the secondary token. When Twilio refuses because
// one exists and an earlier attempt of this rotation held the lock (so
// that secondary is its orphan), it deletes it and creates again;
// otherwise a refusal names the way out.
func (p *Provider) createSecondary(s *services, earlierAttempt bool) (string, error) {
	for attempt := 0; ; attempt++ {
		sec, err := s.accounts.CreateSecondaryAuthToken(&accountsv1.CreateSecondaryAuthTokenParams{})
		if err == nil {
			t := twilioclient.Deref(sec.SecondaryAuthToken)
			if !tokenPattern.MatchString(t) || twilioclient.Deref(sec.AccountSid) != s.cred.account {
				return "", errors.New("create the secondary auth token: Twilio answered without a token for the account; retry the rotation")
			}
			return t, nil
		}
		te, ok := twilioclient.RestError(err)
		refused := ok && te.Status >= 400 && te.Status < 500 && te.Status != http.StatusUnauthorized && te.Status != http.StatusTooManyRequests && te.Status != http.StatusForbidden
		if !refused {
			return "", callError("create the secondary auth token", s.cred, err)
		}
		if !earlierAttempt || attempt > 0 {
			return "", &twilioclient.Error{Msg: fmt.Sprintf("Twilio refused a new secondary auth token for account %s (HTTP %d, code %d: %s): the account probably has one that dualkey did not create. "+
				"If nothing uses it, delete it in the Console (Account → API keys & tokens) or promote it, then rotate again; nothing was changed",
				s.cred.account, te.Status, te.Code, vendorhttp.Printable(te.Message)), Errs: []error{err}}
		}
		if err := s.accounts.DeleteSecondaryAuthToken(&accountsv1.DeleteSecondaryAuthTokenParams{}); err != nil && !twilioclient.IsNotFound(err) {
			return "", callError("delete the secondary auth token an earlier attempt of this rotation left", s.cred, err)
		}
		p.base.Log.Info("deleted the secondary auth token an earlier attempt of this rotation left; it was never stored", "account_sid", s.cred.account)
	}
}

// Discard implements rotation.Discarder. With req.Destroy (no version can
// ever reference the token) the secondary is deleted when it is still the
// discarded token (not when a stored version names it, and never the
// primary), and this rotation's lock keys go. Without it both are left:
// Twilio cannot disable a token, and the value may have been stored after
// all (a lost reply); if it was not, the next createSecret finds the stale
// lock once older than rotation.OrphanAge and replaces the orphan.
func (p *Provider) Discard(ctx context.Context, req *rotation.DiscardRequest) error {
	d, err := Parse(req.Value)
	if err != nil {
		return fmt.Errorf("discarded value: %w", err)
	}
	if !req.Destroy {
		p.base.Log.Warn("the secondary auth token may have been stored after all, and Twilio cannot disable it: it is left as it is; "+
			"if it was not stored, the next createSecret of this version replaces it", "secret", req.SecretID, "token", req.Token, "pending", TokenFingerprint(d.AuthToken))
		return nil
	}
	for _, st := range []string{rotation.StagePending, rotation.StageCurrent, rotation.StagePrevious} {
		if v, err := req.Versions.Stage(ctx, st); err == nil && v.ID != req.Token && same(tokenOf(v.Value), d.AuthToken) {
			p.base.Log.Info("not deleting the token: a stored version holds it", "secret", req.SecretID, "stage", st, "pending", TokenFingerprint(d.AuthToken))
			return nil
		}
	}
	cv, err := req.Versions.Stage(ctx, rotation.StageCurrent)
	if err != nil {
		return fmt.Errorf("read AWSCURRENT: %w", err)
	}
	mgr, primary, err := p.manager(ctx, req.Versions, d.AccountSID, tokenOf(cv.Value))
	if err != nil {
		return err
	}
	s := p.api.with(ctx, mgr)
	if !same(d.AuthToken, primary) {
		ok, err := p.works(ctx, d.AccountSID, d.AuthToken)
		if err != nil {
			return err
		}
		if ok {
			if err := s.accounts.DeleteSecondaryAuthToken(&accountsv1.DeleteSecondaryAuthTokenParams{}); err != nil && !twilioclient.IsNotFound(err) {
				return callError("delete the secondary auth token that can never be stored", mgr, err)
			}
			p.base.Log.Info("deleted the secondary auth token that no version can reference", "secret", req.SecretID, "token", req.Token, "pending", TokenFingerprint(d.AuthToken))
		}
	}
	return p.dropLocks(s, req.SecretID, req.Token)
}

// shellArg quotes s for a POSIX shell unless it needs none.
func shellArg(s string) string {
	if s != "" && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:/_+=.,@%-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
