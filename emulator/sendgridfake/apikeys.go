package sendgridfake

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxNameLen bounds a key's name.
const maxNameLen = 100

type keyRequest struct {
	Name   *string   `json:"name"`
	Scopes *[]string `json:"scopes"`
}

// checkName validates a required name.
func checkName(name *string) (string, *apiError) {
	if name == nil || strings.TrimSpace(*name) == "" {
		return "", &apiError{Status: http.StatusBadRequest, Field: field("name"), Message: "missing required argument"}
	}
	if utf8.RuneCountInString(*name) > maxNameLen {
		return "", &apiError{Status: http.StatusBadRequest, Field: field("name"), Message: fmt.Sprintf("name must be at most %d characters", maxNameLen)}
	}
	return *name, nil
}

// grantable checks the calling key may grant scopes: a key never grants a
// scope it does not hold itself. The message names the scopes it lacks.
func grantable(q *req, scopes []string) *apiError {
	if m := missing(scopes, q.key.scopes); len(m) > 0 {
		return &apiError{Status: http.StatusForbidden, Field: field("scopes"),
			Message: "the calling key does not hold these scopes and cannot grant them: " + strings.Join(m, ", ")}
	}
	return nil
}

// requestedScopes reads the scopes of a create or update request. Absent
// scopes mean the calling key's scopes (a "full access" key of the same
// reach); an absent or empty list grants nothing beyond the user's
// AutoScopes otherwise.
func requestedScopes(q *req, in *[]string) ([]string, *apiError) {
	if in == nil {
		return append([]string{}, q.key.scopes...), nil
	}
	sc, err := normScopes(*in)
	if err != nil {
		return nil, &apiError{Status: http.StatusBadRequest, Field: field("scopes"), Message: err.Error()}
	}
	return sc, nil
}

// createKey serves POST /v3/api_keys.
func (s *Server) createKey(q *req) *apiError {
	var in keyRequest
	if e := decode(q.body, &in); e != nil {
		return e
	}
	name, e := checkName(in.Name)
	if e != nil {
		return e
	}
	scopes, e := requestedScopes(q, in.Scopes)
	if e != nil {
		return e
	}
	// The user's AutoScopes are granted to every key anyway.
	if e := grantable(q, missing(scopes, q.actor.AutoScopes)); e != nil {
		return e
	}
	if len(q.actor.keys) >= s.maxKeys {
		return &apiError{Status: http.StatusForbidden, Message: fmt.Sprintf("cannot create more than %d API keys", s.maxKeys)}
	}
	k := s.addKeyLocked(q.actor, name, scopes)
	writeJSON(q.w, http.StatusCreated, struct {
		APIKey   string   `json:"api_key"`
		APIKeyID string   `json:"api_key_id"`
		Name     string   `json:"name"`
		Scopes   []string `json:"scopes"`
	}{k.secret, k.id, k.name, k.scopes})
	return nil
}

type keyOut struct {
	APIKeyID string   `json:"api_key_id"`
	Name     string   `json:"name"`
	Scopes   []string `json:"scopes,omitempty"`
}

// listKeys serves GET /v3/api_keys?limit=N: names and ids, no scopes.
func (s *Server) listKeys(q *req) *apiError {
	limit := -1
	if v := q.r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return &apiError{Status: http.StatusBadRequest, Field: field("limit"), Message: "limit must be a positive integer"}
		}
		limit = n
	}
	out := struct {
		Result []keyOut `json:"result"`
	}{Result: []keyOut{}}
	for _, k := range sortedKeys(q.actor) {
		if limit >= 0 && len(out.Result) >= limit {
			break
		}
		out.Result = append(out.Result, keyOut{APIKeyID: k.id, Name: k.name})
	}
	writeJSON(q.w, http.StatusOK, out)
	return nil
}

// actorKey finds a key of the acted-for user.
func actorKey(q *req) (*key, *apiError) {
	k, ok := q.actor.keys[q.id]
	if !ok {
		return nil, &apiError{Status: http.StatusNotFound, Field: nil, Message: "unable to find API Key"}
	}
	return k, nil
}

// getKey serves GET /v3/api_keys/{id}. SendGrid answers the key as one flat
// object {api_key_id, name, scopes}; the OpenAPI document describes a
// "result" array instead but requires nothing, so the flat object validates.
func (s *Server) getKey(q *req) *apiError {
	k, e := actorKey(q)
	if e != nil {
		return e
	}
	writeJSON(q.w, http.StatusOK, keyOut{APIKeyID: k.id, Name: k.name, Scopes: append([]string{}, k.scopes...)})
	return nil
}

// keyUpdate reads what a PATCH or PUT of a key names: the actor's key, the
// request and its checked name.
func keyUpdate(q *req) (*key, keyRequest, string, *apiError) {
	k, e := actorKey(q)
	if e != nil {
		return nil, keyRequest{}, "", e
	}
	var in keyRequest
	if e := decode(q.body, &in); e != nil {
		return nil, keyRequest{}, "", e
	}
	name, e := checkName(in.Name)
	if e != nil {
		return nil, keyRequest{}, "", e
	}
	return k, in, name, nil
}

// patchKey serves PATCH /v3/api_keys/{id}: the name only.
func (s *Server) patchKey(q *req) *apiError {
	k, _, name, e := keyUpdate(q)
	if e != nil {
		return e
	}
	k.name = name
	writeJSON(q.w, http.StatusOK, keyOut{APIKeyID: k.id, Name: k.name})
	return nil
}

// putKey serves PUT /v3/api_keys/{id}: name and scopes, never wider than the
// calling key's.
func (s *Server) putKey(q *req) *apiError {
	k, in, name, e := keyUpdate(q)
	if e != nil {
		return e
	}
	scopes := k.scopes
	if in.Scopes != nil {
		if scopes, e = requestedScopes(q, in.Scopes); e != nil {
			return e
		}
		if e := grantable(q, missing(scopes, q.actor.AutoScopes)); e != nil {
			return e
		}
		scopes = union(scopes, q.actor.AutoScopes)
	}
	k.name, k.scopes = name, scopes
	writeJSON(q.w, http.StatusOK, keyOut{APIKeyID: k.id, Name: k.name, Scopes: append([]string{}, k.scopes...)})
	return nil
}

// deleteKey serves DELETE /v3/api_keys/{id}. A key may delete itself.
func (s *Server) deleteKey(q *req) *apiError {
	k, e := actorKey(q)
	if e != nil {
		return e
	}
	delete(q.actor.keys, k.id)
	delete(s.keyIndex, k.id)
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// listScopes serves GET /v3/scopes: the calling key's scopes.
func (s *Server) listScopes(q *req) *apiError {
	writeJSON(q.w, http.StatusOK, struct {
		Scopes []string `json:"scopes"`
	}{append([]string{}, q.key.scopes...)})
	return nil
}
