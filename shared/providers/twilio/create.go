package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	api2010 "github.com/twilio/twilio-go/rest/api/v2010"
	iamv1 "github.com/twilio/twilio-go/rest/iam/v1"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/vendorhttp/twilioclient"
)

// maxKeysListed bounds a key listing (Twilio has no documented key limit;
// an account with more keys than this is refused rather than half-read).
const maxKeysListed = 10000

// key is an API key as a listing shows it.
type key struct {
	sid     string
	name    string
	created time.Time
}

// listKeys lists every key of the account (API 2010; the admin credential).
func (p *Provider) listKeys(s *services) ([]key, error) {
	size, limit := 1000, maxKeysListed+1
	got, err := s.api.ListKey(&api2010.ListKeyParams{PathAccountSid: &s.cred.account, PageSize: &size, Limit: &limit})
	if err != nil {
		return nil, callError("list the API keys of account "+s.cred.account, s.cred, err)
	}
	if len(got) > maxKeysListed {
		return nil, fmt.Errorf("account %s has more than %d API keys; dualkey does not rotate keys in an account it cannot list in full", s.cred.account, maxKeysListed)
	}
	out := make([]key, 0, len(got))
	for _, k := range got {
		if sid := twilioclient.Deref(k.Sid); keyPattern.MatchString(sid) {
			out = append(out, key{sid: sid, name: twilioclient.Deref(k.FriendlyName), created: twilioclient.ParseTime(k.DateCreated)})
		}
	}
	return out, nil
}

func findKey(keys []key, sid string) *key {
	for i := range keys {
		if keys[i].sid == sid {
			return &keys[i]
		}
	}
	return nil
}

// currentKey reads the current key with the admin credential: its policy
// (nil for a Standard key) says which kind of key to create.
func (p *Provider) currentKey(s *services, sid string) (*iamv1.IamV1Key, error) {
	k, err := s.iam.FetchKey(sid)
	if err != nil {
		if twilioclient.IsNotFound(err) {
			return nil, fmt.Errorf("%w: the current key %s (api_key_sid of AWSCURRENT) is not a key of account %s: check api_key_sid and account_sid, "+
				"or, if it was deleted, create a key in the Twilio Console, store it as AWSCURRENT and rotate again (its kind and policy cannot be read any more)",
				ErrNoSuchKey, sid, s.cred.account)
		}
		return nil, callError("read the current key "+sid, s.cred, err)
	}
	return k, nil
}

// refuseMainKey stops a rotation of a Main key: Twilio creates Main keys
// only in the Console, and replacing one with a Standard key would take
// rights away from its consumers. A Main key may list the account's keys;
// Standard and restricted keys get 401.
func (p *Provider) refuseMainKey(ctx context.Context, cur *Secret) error {
	self := p.api.with(ctx, &credential{user: cur.APIKeySID, pass: cur.APIKeySecret, account: cur.AccountSID, kind: "API key " + cur.APIKeySID})
	size := 1
	_, err := self.api.PageKey(&api2010.ListKeyParams{PathAccountSid: &cur.AccountSID, PageSize: &size}, "", "")
	switch {
	case err == nil:
		return fmt.Errorf("the current key %s is a Main API key (it may manage keys): Twilio creates Main keys only in the Console, and dualkey would replace it with a Standard key; "+
			"rotate it by hand, or give the consumers a Standard or restricted key and store that", cur.APIKeySID)
	case twilioclient.IsStatus(err, http.StatusUnauthorized), twilioclient.IsStatus(err, http.StatusForbidden):
		return nil
	}
	return callError("check the kind of the current key "+cur.APIKeySID, nil, err)
}

// Create implements rotation.Provider: a new key of the current key's kind
// (restricted with the same policy, or Standard), named with dualkey's
// marker. Before any write it reads everything it needs, so a refusal or a
// concurrent delivery changes nothing:
//
//   - a key marked with this rotation's version id that no version
//     references is a crashed attempt's once older than rotation.OrphanAge
//     and is deleted; a younger one may be a concurrent delivery's, and
//     Create fails with rotation.ErrConcurrentDelivery;
//   - the AWSPREVIOUS version's key must be gone (its retirement done),
//     except in an emergency rotation, which deletes it and reports it
//     Retired.
func (p *Provider) Create(ctx context.Context, req *rotation.CreateRequest) (*rotation.CreateResponse, error) {
	cur, err := Parse(req.Current.Value)
	if err != nil {
		return nil, fmt.Errorf("current version: %w", err)
	}
	admin, err := p.admin(ctx, req.Versions, cur.AccountSID)
	if err != nil {
		return nil, err
	}
	s := p.api.with(ctx, admin)
	ck, err := p.currentKey(s, cur.APIKeySID)
	if err != nil {
		return nil, err
	}
	if ck.Policy == nil {
		if err := p.refuseMainKey(ctx, cur); err != nil {
			return nil, err
		}
	}
	keys, err := p.listKeys(s)
	if err != nil {
		return nil, err
	}

	// The previous key: its retirement must be over.
	var retired []rotation.RetiredCredential
	var prevDelete *key
	prev, err := req.Versions.Stage(ctx, rotation.StagePrevious)
	if err != nil && !errors.Is(err, rotation.ErrNoVersion) {
		return nil, fmt.Errorf("read the AWSPREVIOUS version: %w", err)
	}
	if prev != nil && prev.ID != req.Current.ID {
		// A value that names no key of this account, or the current key,
		// has nothing at Twilio to retire.
		if ps, perr := parseRef(prev.Value); perr == nil && ps.AccountSID == cur.AccountSID && ps.APIKeySID != cur.APIKeySID {
			live := findKey(keys, ps.APIKeySID)
			if live != nil && !req.Emergency {
				return nil, fmt.Errorf("the previous key %s (version %s, AWSPREVIOUS) still exists at Twilio: its retirement is not finished, and a new rotation would leave it "+
					"without a label, valid for ever. dualkey deletes it after the drain, the usage check and the confirmation period: run \"dualkey retire %s\" "+
					"(\"dualkey status %s\" shows where it stands), then rotate again; nothing was changed",
					ps.APIKeySID, prev.ID, shellArg(req.SecretID), shellArg(req.SecretID))
			}
			if req.Emergency {
				// Deleted now, or by an earlier attempt of this emergency
				// rotation: either way its version's lifecycle ends here.
				prevDelete = live
				retired = append(retired, rotation.RetiredCredential{VersionID: prev.ID, Fingerprint: ps.APIKeySID,
					Reason: fmt.Sprintf("emergency rotation: the older previous key %s was deleted before its retirement finished, so that no key is left without a label", ps.APIKeySID)})
			}
		}
	}

	// Keys this rotation made that no version references.
	var orphans []key
	for _, k := range keys {
		m, ok := parseMarker(k.name)
		if !ok || !m.of(req.SecretID, req.Token) || k.sid == cur.APIKeySID || (prevDelete != nil && k.sid == prevDelete.sid) {
			continue
		}
		if err := p.unreferenced(ctx, req, k); err != nil {
			return nil, err
		}
		orphans = append(orphans, k)
	}

	// Writes: orphans, the previous key (emergency), the new key.
	for _, k := range orphans {
		if err := p.deleteKey(s, k.sid); err != nil {
			return nil, fmt.Errorf("delete key %s, left by an earlier attempt of this rotation: %w", k.sid, err)
		}
		p.base.Log.Info("deleted the key an earlier attempt of this rotation left; its secret was never stored", "secret", req.SecretID, "token", req.Token, "api_key_sid", k.sid)
	}
	if prevDelete != nil {
		if err := p.deleteKey(s, prevDelete.sid); err != nil {
			return nil, fmt.Errorf("emergency rotation: delete the older previous key %s: %w", prevDelete.sid, err)
		}
		p.base.Log.Warn("emergency rotation: deleted the older previous key before its retirement finished", "secret", req.SecretID, "api_key_sid", prevDelete.sid, "version", prev.ID)
	}
	sid, secret, err := p.createKey(s, Marker(req.SecretID, req.Token), ck.Policy)
	if err != nil {
		return nil, err
	}
	value, err := rotation.MergeSecret(req.Current.Value, map[string]any{FieldAPIKeySID: sid, FieldAPIKeySecret: secret})
	if err != nil {
		if derr := p.deleteKey(s, sid); derr != nil {
			return nil, fmt.Errorf("build the pending value: %w (and delete the new key %s: %v)", err, sid, derr)
		}
		return nil, fmt.Errorf("build the pending value: %w", err)
	}
	kind := "standard"
	if ck.Policy != nil {
		kind = "restricted"
	}
	p.base.Log.Info("created API key", "secret", req.SecretID, "token", req.Token, "account_sid", cur.AccountSID, "api_key_sid", sid, "kind", kind, "current", cur.APIKeySID)
	return &rotation.CreateResponse{Value: value, Retired: retired}, nil
}

// unreferenced decides about k, a key this rotation's marker names that no
// version references: nil when it is provably a crashed attempt's orphan
// (older than rotation.OrphanAge and still not stored), the error that
// stops the rotation otherwise.
func (p *Provider) unreferenced(ctx context.Context, req *rotation.CreateRequest, k key) error {
	if k.created.IsZero() {
		return fmt.Errorf("key %s carries this rotation's marker but Twilio reported no readable creation date, so dualkey cannot tell whether a concurrent delivery "+
			"is still storing it; nothing was changed: delete it in the Twilio Console once no rotation runs, then retry", k.sid)
	}
	if age := p.base.Now().Sub(k.created); age < rotation.OrphanAge {
		retry := k.created.Add(rotation.OrphanAge).UTC()
		return fmt.Errorf("%w: another delivery of this step created key %s at %s and may still store it (a delivery stores its key within %s or never); "+
			"nothing was changed: retry after %s, when the key is either stored or provably an orphan",
			rotation.ErrConcurrentDelivery, k.sid, k.created.UTC().Format(time.RFC3339), rotation.StoreWithin, retry.Format(time.RFC3339))
	}
	// Old enough to be an orphan, unless a slower delivery stored it since.
	v, err := req.Versions.Stage(ctx, rotation.StagePending)
	switch {
	case err == nil && keySID(v.Value) == k.sid:
		return fmt.Errorf("%w: key %s was stored as the pending version by another delivery of this step; nothing was changed: retry, and createSecret finds its work done",
			rotation.ErrConcurrentDelivery, k.sid)
	case err != nil && !errors.Is(err, rotation.ErrNoVersion):
		return fmt.Errorf("read the pending version before deleting key %s: %w", k.sid, err)
	}
	return nil
}

// createKey creates a key: restricted with policy through IAM v1, or
// Standard through API 2010.
func (p *Provider) createKey(s *services, name string, policy *map[string]any) (sid, secret string, err error) {
	if policy != nil {
		kt := "restricted"
		pol := any(*policy)
		nk, err := s.iam.CreateNewKey(&iamv1.CreateNewKeyParams{AccountSid: &s.cred.account, FriendlyName: &name, KeyType: &kt, Policy: &pol})
		if err != nil {
			return "", "", callError("create a restricted key with the current key's policy", s.cred, err)
		}
		sid, secret = twilioclient.Deref(nk.Sid), twilioclient.Deref(nk.Secret)
	} else {
		nk, err := s.api.CreateNewKey(&api2010.CreateNewKeyParams{PathAccountSid: &s.cred.account, FriendlyName: &name})
		if err != nil {
			return "", "", callError("create a Standard key", s.cred, err)
		}
		sid, secret = twilioclient.Deref(nk.Sid), twilioclient.Deref(nk.Secret)
	}
	if !keyPattern.MatchString(sid) || !secretPattern.MatchString(secret) {
		if keyPattern.MatchString(sid) {
			_ = p.deleteKey(s, sid)
		}
		return "", "", errors.New("create key: Twilio answered without a key SID or secret; nothing usable was made: retry the rotation")
	}
	return sid, secret, nil
}

// deleteKey deletes a key of the account; a key that is gone is success.
func (p *Provider) deleteKey(s *services, sid string) error {
	err := s.api.DeleteKey(sid, &api2010.DeleteKeyParams{PathAccountSid: &s.cred.account})
	if err != nil && !twilioclient.IsNotFound(err) {
		return callError("delete key "+sid, s.cred, err)
	}
	return nil
}

// Discard implements rotation.Discarder. With req.Destroy (no version can
// ever reference the key: a concurrent delivery stored another value, or
// dualkey cancel ends the rotation, whose version req.Token is) the key is
// deleted, unless another stored version names it. Without it the key is left as it is: Twilio cannot disable a key,
// and deleting one whose value may have been stored after all (a lost
// reply to PutSecretValue) would lose the credential the secret holds. If
// it was not stored, it is an orphan that carries this rotation's marker:
// the next createSecret of the same version deletes it once it is older
// than rotation.OrphanAge, and "dualkey audit" lists it until then.
func (p *Provider) Discard(ctx context.Context, req *rotation.DiscardRequest) error {
	s, err := parseRef(req.Value)
	if err != nil {
		return fmt.Errorf("discarded value: %w", err)
	}
	if p.base.KeepDiscarded(ctx, req, "Twilio", "api_key_sid", s.APIKeySID, keySID) {
		return nil
	}
	admin, err := p.admin(ctx, req.Versions, s.AccountSID)
	if err != nil {
		return err
	}
	if err := p.deleteKey(p.api.with(ctx, admin), s.APIKeySID); err != nil {
		return fmt.Errorf("delete key %s that can never be stored: %w", s.APIKeySID, err)
	}
	p.base.Log.Info("deleted the new key that no version can reference", "secret", req.SecretID, "token", req.Token, "api_key_sid", s.APIKeySID)
	return nil
}

// canonicalPolicy renders a restricted key's policy for comparison: JSON
// with sorted keys and sorted string lists ("" for no policy).
func canonicalPolicy(p *map[string]any) string {
	if p == nil {
		return ""
	}
	var norm func(v any) any
	norm = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			out := make(map[string]any, len(x))
			for k, e := range x {
				out[k] = norm(e)
			}
			return out
		case []any:
			out := make([]any, len(x))
			strs := make([]string, 0, len(x))
			for i, e := range x {
				out[i] = norm(e)
				if s, ok := e.(string); ok {
					strs = append(strs, s)
				}
			}
			if len(strs) == len(x) {
				slices.Sort(strs)
				for i, s := range strs {
					out[i] = s
				}
			}
			return out
		}
		return v
	}
	b, err := json.Marshal(norm(map[string]any(*p)))
	if err != nil {
		return "unreadable"
	}
	return string(b)
}

// shellArg quotes s for a POSIX shell unless it needs none.
func shellArg(s string) string {
	if s != "" && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:/_+=.,@%-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
