package twiliofake

import "net/http"

// accountsBase is the absolute base of Accounts v1's resource URLs.
const accountsBase = "https://accounts.twilio.com"

// secondaryJSON is accounts.v1.secondary_auth_token.
type secondaryJSON struct {
	AccountSid         string `json:"account_sid"`
	DateCreated        string `json:"date_created"`
	DateUpdated        string `json:"date_updated"`
	SecondaryAuthToken string `json:"secondary_auth_token"`
	URL                string `json:"url"`
}

// promotionJSON is accounts.v1.auth_token_promotion.
type promotionJSON struct {
	AccountSid  string `json:"account_sid"`
	AuthToken   string `json:"auth_token"`
	DateCreated string `json:"date_created"`
	DateUpdated string `json:"date_updated"`
	URL         string `json:"url"`
}

// createSecondary serves POST /v1/AuthTokens/Secondary. What Twilio does
// while a secondary exists is not documented: Config.Secondary chooses
// between replacing it (default) and refusing.
func (s *Server) createSecondary(q *req) *apiError {
	a := q.p.account
	if a.secondary != "" && s.cfg.Secondary == SecondaryReject {
		return errInvalid("A secondary Auth Token already exists; delete or promote it first")
	}
	now := s.now().UTC()
	a.secondary, a.secondaryCreated = randomHex(16), now
	writeJSON(q.w, http.StatusCreated, secondaryJSON{AccountSid: a.sid, DateCreated: iso8601(now), DateUpdated: iso8601(now),
		SecondaryAuthToken: a.secondary, URL: accountsBase + "/v1/AuthTokens/Secondary"})
	return nil
}

// deleteSecondary serves DELETE /v1/AuthTokens/Secondary (404 when there is
// none).
func (s *Server) deleteSecondary(q *req) *apiError {
	a := q.p.account
	if a.secondary == "" {
		return errNotFound(q.r.URL.Path)
	}
	a.secondary = ""
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// promote serves POST /v1/AuthTokens/Promote: the secondary becomes the
// primary and the old primary stops working at once. Without a secondary it
// answers 404 for /v1/AuthTokens/Secondary.
func (s *Server) promote(q *req) *apiError {
	a := q.p.account
	if a.secondary == "" {
		return errNotFound("/v1/AuthTokens/Secondary")
	}
	now := s.now().UTC()
	a.primary, a.secondary, a.updated = a.secondary, "", now
	writeJSON(q.w, http.StatusOK, promotionJSON{AccountSid: a.sid, AuthToken: a.primary,
		DateCreated: iso8601(a.secondaryCreated), DateUpdated: iso8601(now), URL: accountsBase + "/v1/AuthTokens/Promote"})
	return nil
}
