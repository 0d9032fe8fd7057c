package twiliofake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// keyIAMJSON is iam.v1.key (fetch, update) and iam.v1.new_key (create, with
// Secret). Dates are RFC 2822 here too, as IAM v1's document says.
type keyIAMJSON struct {
	Sid          string  `json:"sid"`
	FriendlyName string  `json:"friendly_name"`
	DateCreated  string  `json:"date_created"`
	DateUpdated  string  `json:"date_updated"`
	Secret       string  `json:"secret,omitempty"`
	Policy       *Policy `json:"policy"`
}

// getKeysJSON is iam.v1.get_keys (list items).
type getKeysJSON struct {
	Sid          string   `json:"sid"`
	FriendlyName string   `json:"friendly_name"`
	DateCreated  string   `json:"date_created"`
	DateUpdated  string   `json:"date_updated"`
	Flags        []string `json:"flags"`
}

func keyIAM(k *key) keyIAMJSON {
	return keyIAMJSON{Sid: k.sid, FriendlyName: k.friendlyName, DateCreated: rfc2822(k.created),
		DateUpdated: rfc2822(k.updated), Policy: clonePolicy(k.policy)}
}

// iamBase is the absolute base IAM v1's paging URLs use.
const iamBase = "https://iam.twilio.com"

// requireAccountSid checks the AccountSid parameter IAM v1 demands names the
// credential's account.
func requireAccountSid(q *req, v url.Values) *apiError {
	sid := v.Get("AccountSid")
	if sid == "" {
		return errInvalid("Missing required parameter AccountSid")
	}
	if sid != q.p.account.sid {
		return errAuthenticate()
	}
	return nil
}

// listKeysIAM serves GET /v1/Keys?AccountSid=AC...
func (s *Server) listKeysIAM(q *req) *apiError {
	qv := q.r.URL.Query()
	if aerr := requireAccountSid(q, qv); aerr != nil {
		return aerr
	}
	size, page, aerr := pageParams(qv)
	if aerr != nil {
		return aerr
	}
	keys := sortedKeys(q.p.account)
	lo, hi := window(len(keys), size, page)
	pageURL := func(p int) string {
		return fmt.Sprintf("%s/v1/Keys?AccountSid=%s&PageSize=%d&Page=%d", iamBase, q.p.account.sid, size, p)
	}
	type meta struct {
		FirstPageURL    string  `json:"first_page_url"`
		Key             string  `json:"key"`
		NextPageURL     *string `json:"next_page_url"`
		Page            int     `json:"page"`
		PageSize        int     `json:"page_size"`
		PreviousPageURL *string `json:"previous_page_url"`
		URL             string  `json:"url"`
	}
	out := struct {
		Keys []getKeysJSON `json:"keys"`
		Meta meta          `json:"meta"`
	}{Keys: []getKeysJSON{}, Meta: meta{FirstPageURL: pageURL(0), Key: "keys", Page: page, PageSize: size, URL: pageURL(page)}}
	if hi < len(keys) {
		next := pageURL(page + 1)
		out.Meta.NextPageURL = &next
	}
	if page > 0 {
		prev := pageURL(page - 1)
		out.Meta.PreviousPageURL = &prev
	}
	for _, k := range keys[lo:hi] {
		flags := []string{"rest_api", "signing"}
		if k.kind == KindRestricted {
			flags = []string{"rest_api"} // restricted keys cannot sign Access Tokens
		}
		out.Keys = append(out.Keys, getKeysJSON{Sid: k.sid, FriendlyName: k.friendlyName,
			DateCreated: rfc2822(k.created), DateUpdated: rfc2822(k.updated), Flags: flags})
	}
	writeJSON(q.w, http.StatusOK, out)
	return nil
}

// parsePolicy reads the Policy form parameter: a JSON object
// {"allow": [...]}, strictly (unknown fields are refused).
func parsePolicy(raw string) (*Policy, *apiError) {
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.DisallowUnknownFields()
	var p Policy
	if err := dec.Decode(&p); err != nil {
		return nil, errInvalid("Policy must be a JSON object such as {\"allow\":[\"/twilio/messaging/messages/read\"]}")
	}
	if dec.More() {
		return nil, errInvalid("Policy must be a single JSON object")
	}
	if err := checkPolicy(&p); err != nil {
		return nil, errInvalid("Invalid Policy: %v", err)
	}
	return &p, nil
}

// createKeyIAM serves POST /v1/Keys: AccountSid (required), FriendlyName,
// KeyType (only "restricted") and Policy (required with, refused without,
// KeyType=restricted).
func (s *Server) createKeyIAM(q *req) *apiError {
	if aerr := requireAccountSid(q, q.form); aerr != nil {
		return aerr
	}
	name, aerr := friendlyName(q.form)
	if aerr != nil {
		return aerr
	}
	kind := KindStandard
	switch kt := q.form.Get("KeyType"); kt {
	case "":
	case "restricted":
		kind = KindRestricted
	default:
		return errInvalid("KeyType must be restricted or absent, got %q", kt)
	}
	var policy *Policy
	raw, hasPolicy := q.form["Policy"]
	switch {
	case kind == KindRestricted && !hasPolicy:
		return errInvalid("A restricted key requires a Policy")
	case kind == KindStandard && hasPolicy:
		return errInvalid("Policy is only allowed with KeyType=restricted")
	case hasPolicy:
		if policy, aerr = parsePolicy(raw[0]); aerr != nil {
			return aerr
		}
	}
	k := s.addKeyLocked(q.p.account, kind, name, policy)
	out := keyIAM(k)
	out.Secret = k.secret
	writeJSON(q.w, http.StatusCreated, out)
	return nil
}

func (s *Server) fetchKeyIAM(q *req) *apiError {
	return writeKey(q, q.vars[0], func(k *key) any { return keyIAM(k) })
}

// updateKeyIAM serves POST /v1/Keys/{Sid}: FriendlyName and, for restricted
// keys only, Policy.
func (s *Server) updateKeyIAM(q *req) *apiError {
	k, aerr := accountKey(q, q.vars[0])
	if aerr != nil {
		return aerr
	}
	name, setName := k.friendlyName, false
	if _, ok := q.form["FriendlyName"]; ok {
		if name, aerr = friendlyName(q.form); aerr != nil {
			return aerr
		}
		setName = true
	}
	policy := k.policy
	if raw, ok := q.form["Policy"]; ok {
		if k.kind != KindRestricted {
			return errInvalid("Policy can only be updated on a restricted key")
		}
		if policy, aerr = parsePolicy(raw[0]); aerr != nil {
			return aerr
		}
	}
	if setName || policy != k.policy {
		k.friendlyName, k.policy, k.updated = name, policy, s.now().UTC()
	}
	writeJSON(q.w, http.StatusOK, keyIAM(k))
	return nil
}

func (s *Server) deleteKeyIAM(q *req) *apiError { return s.deleteKey(q, q.vars[0]) }
