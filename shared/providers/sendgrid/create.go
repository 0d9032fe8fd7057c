package sendgrid

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dualkey/dualkey/shared/rotation"
)

// MaxKeys is SendGrid's limit of API keys per user.
const MaxKeys = 100

// listed is a key as GET /v3/api_keys shows it.
type listed struct {
	ID   string `json:"api_key_id"`
	Name string `json:"name"`
}

// keyInfo is a key as GET /v3/api_keys/{id} shows it.
type keyInfo struct {
	ID     string   `json:"api_key_id"`
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

// scopesOf reads the scopes of the key that signs the call (GET /v3/scopes).
func (p *Provider) scopesOf(ctx context.Context, op, key string, adm *admin) ([]string, error) {
	var out struct {
		Scopes []string `json:"scopes"`
	}
	err := p.api.do(ctx, call{op: op, key: key, admin: adm, method: http.MethodGet, path: "/v3/scopes", want: []int{http.StatusOK}, replyTo: &out})
	if err != nil {
		return nil, err
	}
	return normScopes(out.Scopes), nil
}

// getKey reads a key of the user (the admin key, on behalf of subuser).
func (p *Provider) getKey(ctx context.Context, adm *admin, subuser, id, what string) (*keyInfo, error) {
	var k keyInfo
	err := p.api.do(ctx, call{op: "read " + what + " " + id + " of " + whose(subuser), key: adm.key, admin: adm, obo: subuser,
		method: http.MethodGet, path: "/v3/api_keys/" + url.PathEscape(id), want: []int{http.StatusOK}, replyTo: &k})
	if err != nil {
		if statusOf(err) == http.StatusNotFound {
			return nil, fmt.Errorf("%w: %s %s is not a key of %s (check api_key and subuser, and that master_secret_arn's key is of the same user or its parent): %w",
				ErrNoSuchKey, what, id, whose(subuser), err)
		}
		return nil, err
	}
	k.Scopes = normScopes(k.Scopes)
	return &k, nil
}

// listKeys lists the user's keys.
func (p *Provider) listKeys(ctx context.Context, adm *admin, subuser string) ([]listed, error) {
	var out struct {
		Result []listed `json:"result"`
	}
	err := p.api.do(ctx, call{op: "list the API keys of " + whose(subuser), key: adm.key, admin: adm, obo: subuser,
		method: http.MethodGet, path: "/v3/api_keys", query: url.Values{"limit": {strconv.Itoa(MaxKeys * 2)}}, want: []int{http.StatusOK}, replyTo: &out})
	if err != nil {
		return nil, err
	}
	return out.Result, nil
}

func findKey(keys []listed, id string) *listed {
	for i := range keys {
		if keys[i].ID == id {
			return &keys[i]
		}
	}
	return nil
}

// deleteKey deletes a key of the user; a key that is gone is success.
func (p *Provider) deleteKey(ctx context.Context, adm *admin, subuser, id string) error {
	err := p.api.do(ctx, call{op: "delete key " + id + " of " + whose(subuser), key: adm.key, admin: adm, obo: subuser,
		method: http.MethodDelete, path: "/v3/api_keys/" + url.PathEscape(id), want: []int{http.StatusNoContent, http.StatusOK}})
	if err != nil && statusOf(err) != http.StatusNotFound {
		return err
	}
	return nil
}

// requiredAdminScopes are what the admin key needs to manage keys.
var requiredAdminScopes = []string{"api_keys.create", "api_keys.delete", "api_keys.read"}

// Create implements rotation.Provider: a new key of the same user with
// exactly the old key's scopes, named with dualkey's marker. Everything is
// read before the first write, so a refusal or a concurrent delivery
// changes nothing:
//
//   - the admin key's own scopes must hold the old key's (SendGrid's own
//     system scopes aside): a key never grants what it does not hold, and a
//     missing scope is an error naming it;
//   - a key marked with this rotation's version id that no version
//     references is a crashed attempt's once older than rotation.OrphanAge
//     (deleted), and may be a concurrent delivery's while younger
//     (rotation.ErrConcurrentDelivery);
//   - the AWSPREVIOUS version's key must be gone (its retirement done),
//     except in an emergency rotation, which deletes it and reports it
//     Retired.
func (p *Provider) Create(ctx context.Context, req *rotation.CreateRequest) (*rotation.CreateResponse, error) {
	cur, err := Parse(req.Current.Value)
	if err != nil {
		return nil, fmt.Errorf("current version: %w", err)
	}
	adm, err := p.admin(ctx, req.Versions)
	if err != nil {
		return nil, err
	}
	have, err := p.scopesOf(ctx, "read the admin key's scopes", adm.key, adm)
	if err != nil {
		return nil, err
	}
	if m := minus(requiredAdminScopes, have); len(m) > 0 {
		return nil, fmt.Errorf("%w: the admin key of secret %s (master_secret_arn) lacks %s, which managing API keys needs: give it those scopes; nothing was created",
			ErrScopes, adm.arn, strings.Join(m, ", "))
	}
	old, err := p.getKey(ctx, adm, cur.Subuser, cur.APIKeyID, "the current key")
	if err != nil {
		return nil, err
	}
	want := grantable(old.Scopes)
	if m := minus(want, have); len(m) > 0 {
		return nil, fmt.Errorf("%w: the current key %s has %s, which the admin key of secret %s (master_secret_arn) does not hold; a key can grant only scopes it holds "+
			"and dualkey never narrows a key: give the admin key those scopes (or use a key of the parent user for a subuser's key); nothing was created",
			ErrScopes, cur.APIKeyID, strings.Join(m, ", "), adm.arn)
	}
	keys, err := p.listKeys(ctx, adm, cur.Subuser)
	if err != nil {
		return nil, err
	}

	// The previous key: its retirement must be over.
	var retired []rotation.RetiredCredential
	prevDelete := ""
	prev, err := req.Versions.Stage(ctx, rotation.StagePrevious)
	if err != nil && !errors.Is(err, rotation.ErrNoVersion) {
		return nil, fmt.Errorf("read the AWSPREVIOUS version: %w", err)
	}
	if prev != nil && prev.ID != req.Current.ID {
		if ps, perr := parseRef(prev.Value); perr == nil && ps.Subuser == cur.Subuser && ps.APIKeyID != cur.APIKeyID {
			live := findKey(keys, ps.APIKeyID) != nil
			if live && !req.Emergency {
				return nil, fmt.Errorf("the previous key %s (version %s, AWSPREVIOUS) still exists at SendGrid: its retirement is not finished, and a new rotation would leave it "+
					"without a label, valid for ever. dualkey deletes it after the drain, the usage check and the confirmation period: run \"dualkey retire %s\" "+
					"(\"dualkey status %s\" shows where it stands), then rotate again; nothing was changed",
					ps.APIKeyID, prev.ID, shellArg(req.SecretID), shellArg(req.SecretID))
			}
			if req.Emergency {
				if live {
					prevDelete = ps.APIKeyID
				}
				retired = append(retired, rotation.RetiredCredential{VersionID: prev.ID, Fingerprint: ps.APIKeyID,
					Reason: fmt.Sprintf("emergency rotation: the older previous key %s was deleted before its retirement finished, so that no key is left without a label", ps.APIKeyID)})
			}
		}
	}

	// Keys this rotation made that no version references.
	var orphans []string
	for _, k := range keys {
		m, ok := parseMarker(k.Name)
		if !ok || !m.of(req.SecretID, req.Token) || k.ID == cur.APIKeyID || k.ID == prevDelete {
			continue
		}
		if err := p.unreferenced(ctx, req, k.ID, m.created); err != nil {
			return nil, err
		}
		orphans = append(orphans, k.ID)
	}
	if n := len(keys) - len(orphans) - boolInt(prevDelete != ""); n >= MaxKeys {
		return nil, fmt.Errorf("%s already has %d API keys, SendGrid's limit: delete keys nothing uses in Settings → API Keys, then rotate again; nothing was changed",
			whose(cur.Subuser), n)
	}

	// Writes: orphans, the previous key (emergency), the new key.
	for _, id := range orphans {
		if err := p.deleteKey(ctx, adm, cur.Subuser, id); err != nil {
			return nil, fmt.Errorf("delete key %s, left by an earlier attempt of this rotation: %w", id, err)
		}
		p.base.Log.Info("deleted the key an earlier attempt of this rotation left; it was never stored", "secret", req.SecretID, "token", req.Token, "api_key_id", id)
	}
	if prevDelete != "" {
		if err := p.deleteKey(ctx, adm, cur.Subuser, prevDelete); err != nil {
			return nil, fmt.Errorf("emergency rotation: delete the older previous key %s: %w", prevDelete, err)
		}
		p.base.Log.Warn("emergency rotation: deleted the older previous key before its retirement finished", "secret", req.SecretID, "api_key_id", prevDelete, "version", prev.ID)
	}
	var nk struct {
		APIKey   string   `json:"api_key"`
		APIKeyID string   `json:"api_key_id"`
		Scopes   []string `json:"scopes"`
	}
	err = p.api.do(ctx, call{op: "create a key for " + whose(cur.Subuser), key: adm.key, admin: adm, obo: cur.Subuser,
		method: http.MethodPost, path: "/v3/api_keys", body: map[string]any{"name": Marker(req.SecretID, req.Token, p.base.Now()), "scopes": want},
		want: []int{http.StatusCreated, http.StatusOK}, replyTo: &nk})
	if err != nil {
		return nil, err
	}
	m := keyPattern.FindStringSubmatch(nk.APIKey)
	if m == nil || !keyIDPattern.MatchString(nk.APIKeyID) {
		if keyIDPattern.MatchString(nk.APIKeyID) {
			_ = p.deleteKey(ctx, adm, cur.Subuser, nk.APIKeyID)
		}
		return nil, errors.New("create key: SendGrid answered without a key or key id; nothing usable was made: retry the rotation")
	}
	fields := map[string]any{FieldAPIKey: nk.APIKey, FieldAPIKeyID: nk.APIKeyID}
	value, err := rotation.MergeSecret(req.Current.Value, fields)
	if err != nil {
		if derr := p.deleteKey(ctx, adm, cur.Subuser, nk.APIKeyID); derr != nil {
			return nil, fmt.Errorf("build the pending value: %w (and delete the new key %s: %v)", err, nk.APIKeyID, derr)
		}
		return nil, fmt.Errorf("build the pending value: %w", err)
	}
	p.base.Log.Info("created API key", "secret", req.SecretID, "token", req.Token, "api_key_id", nk.APIKeyID, "subuser", cur.Subuser,
		"scopes", len(want), "current", cur.APIKeyID)
	return &rotation.CreateResponse{Value: value, Retired: retired}, nil
}

// unreferenced decides about key id, which this rotation's marker names and
// no version references: nil when it is provably a crashed attempt's
// orphan, the error that stops the rotation otherwise.
func (p *Provider) unreferenced(ctx context.Context, req *rotation.CreateRequest, id string, created time.Time) error {
	if age := p.base.Now().Sub(created); age < rotation.OrphanAge {
		retry := created.Add(rotation.OrphanAge).UTC()
		return fmt.Errorf("%w: another delivery of this step created key %s at %s and may still store it (a delivery stores its key within %s or never); "+
			"nothing was changed: retry after %s, when the key is either stored or provably an orphan",
			rotation.ErrConcurrentDelivery, id, created.Format(time.RFC3339), rotation.StoreWithin, retry.Format(time.RFC3339))
	}
	v, err := req.Versions.Stage(ctx, rotation.StagePending)
	switch {
	case err == nil && keyID(v.Value) == id:
		return fmt.Errorf("%w: key %s was stored as the pending version by another delivery of this step; nothing was changed: retry, and createSecret finds its work done",
			rotation.ErrConcurrentDelivery, id)
	case err != nil && !errors.Is(err, rotation.ErrNoVersion):
		return fmt.Errorf("read the pending version before deleting key %s: %w", id, err)
	}
	return nil
}

// Discard implements rotation.Discarder. With req.Destroy (no version can
// ever reference the key: a concurrent delivery stored another value, or
// dualkey cancel ends the rotation, whose version req.Token is) the key is
// deleted, unless another stored version names it. Without it the key is left: SendGrid cannot disable a key, and
// deleting one that may have been stored after all (a lost reply to
// PutSecretValue) would lose the credential the secret holds. If it was not
// stored, it carries this rotation's marker: the next createSecret of the
// same version deletes it once older than rotation.OrphanAge, and "dualkey
// audit" lists it until then.
func (p *Provider) Discard(ctx context.Context, req *rotation.DiscardRequest) error {
	s, err := parseRef(req.Value)
	if err != nil {
		return fmt.Errorf("discarded value: %w", err)
	}
	if p.base.KeepDiscarded(ctx, req, "SendGrid", "api_key_id", s.APIKeyID, keyID) {
		return nil
	}
	adm, err := p.admin(ctx, req.Versions)
	if err != nil {
		return err
	}
	if err := p.deleteKey(ctx, adm, s.Subuser, s.APIKeyID); err != nil {
		return fmt.Errorf("delete key %s that can never be stored: %w", s.APIKeyID, err)
	}
	p.base.Log.Info("deleted the new key that no version can reference", "secret", req.SecretID, "token", req.Token, "api_key_id", s.APIKeyID)
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// shellArg quotes s for a POSIX shell unless it needs none.
func shellArg(s string) string {
	if s != "" && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:/_+=.,@%-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
