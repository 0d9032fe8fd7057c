package twiliofake

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// Credential names the kind of credential a call was made with.
type Credential string

// Credentials recorded in Call.Credential.
const (
	CredPrimaryToken   Credential = "auth-token-primary"
	CredSecondaryToken Credential = "auth-token-secondary"
	CredMainKey        Credential = "main-key"
	CredStandardKey    Credential = "standard-key"
	CredRestrictedKey  Credential = "restricted-key"
	// CredInvalid: the credentials did not authenticate.
	CredInvalid Credential = "invalid"
)

// principal is who an authenticated request acts as.
type principal struct {
	account     *account
	key         *key // nil for an auth token
	cred        Credential
	user        string // the basic-auth user name: an AC or SK SID
	fingerprint string // last 4 characters of the secret used
}

// authenticate checks HTTP basic credentials like Twilio: AccountSid with
// the primary or secondary auth token, or a key SID with its secret. The
// caller holds s.mu. It returns the user name even on failure (SIDs are not
// secret) for the call record.
func (s *Server) authenticate(r *http.Request) (*principal, string, *apiError) {
	user, pass, ok := r.BasicAuth()
	if !ok || user == "" || pass == "" {
		return nil, "", errAuthenticate()
	}
	if len(user) > 64 {
		user = user[:64]
	}
	switch {
	case strings.HasPrefix(user, "AC"):
		a, ok := s.accounts[user]
		if !ok {
			return nil, user, errAuthenticate()
		}
		switch {
		case equal(pass, a.primary):
			return &principal{account: a, cred: CredPrimaryToken, user: user, fingerprint: last4(pass)}, user, nil
		case a.secondary != "" && equal(pass, a.secondary):
			return &principal{account: a, cred: CredSecondaryToken, user: user, fingerprint: last4(pass)}, user, nil
		}
	case strings.HasPrefix(user, "SK"):
		k, ok := s.keyIndex[user]
		if !ok || !equal(pass, k.secret) {
			return nil, user, errAuthenticate()
		}
		a := s.accounts[k.accountSid]
		cred := map[KeyKind]Credential{KindMain: CredMainKey, KindStandard: CredStandardKey, KindRestricted: CredRestrictedKey}[k.kind]
		return &principal{account: a, key: k, cred: cred, user: user, fingerprint: last4(pass)}, user, nil
	}
	return nil, user, errAuthenticate()
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func last4(s string) string {
	if len(s) <= 4 {
		return ""
	}
	return s[len(s)-4:]
}

// access is what an operation demands of the credential.
type access int

const (
	// accessAdmin: the Account and Keys resources and the auth tokens.
	// Auth token and Main keys only; standard and restricted keys get 401
	// 20003 as at Twilio.
	accessAdmin access = iota
	// accessProduct: every other resource. Auth token, Main and standard
	// keys; restricted keys when their policy allows the permission.
	accessProduct
)

// authorize checks p may run an operation with the given access and, for
// restricted keys, permission.
func authorize(p *principal, acc access, permission string) *apiError {
	if p.key == nil || p.key.kind == KindMain {
		return nil
	}
	if acc == accessAdmin {
		return errAuthenticate()
	}
	if p.key.kind == KindRestricted {
		for _, allowed := range p.key.policy.Allow {
			if allowed == permission {
				return nil
			}
		}
		return errForbidden()
	}
	return nil
}
