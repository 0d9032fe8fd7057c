package usagelogs

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/dualkey/dualkey/shared/fingerprint"
	"github.com/dualkey/dualkey/shared/rotation"
)

// Fingerprinter is implemented by providers that say which credential
// their consumers fingerprint: the string a consumer sends to authenticate
// (a bearer token, a basic-auth password, an API-key header's value; for
// AWS SigV4 the access key id, since the secret is never sent).
type Fingerprinter interface {
	// UsageFingerprint returns fingerprint.Of(the credential consumers
	// send) for a secret value, or "" when the value holds none. It must
	// not fail and never returns secret material.
	UsageFingerprint(value string) string
}

// Fields says, for providers that do not implement Fingerprinter yet,
// which field of their secret value holds the credential consumers send;
// the first field present with a non-empty string is used. A provider's
// Fingerprinter takes precedence.
var Fields = map[string][]string{
	"servicekey": {"api_key"},                      // Authorization: Bearer <api_key> (or the secret's verify_header)
	"stripe":     {"api_key"},                      // Authorization: Bearer sk_…/rk_…
	"sendgrid":   {"api_key"},                      // Authorization: Bearer SG.…
	"twilio":     {"api_key_secret", "auth_token"}, // basic auth: the password (SK… key secret, or the auth token)
	"iamkey":     {"access_key_id"},                // SigV4 sends the access key id, never the secret
	"postgres":   {"password"},                     // consumers log it at connect; the database has its own evidence
	"mysql":      {"password"},
}

// FingerprintOf returns the usage fingerprint of the credential in a
// secret value of provider p: p's Fingerprinter, else Fields. It fails,
// naming the provider and the fix, when neither says which credential
// consumers send or the value holds none.
func FingerprintOf(p rotation.Provider, value string) (string, error) {
	if f, ok := p.(Fingerprinter); ok {
		if fp := f.UsageFingerprint(value); fingerprint.Valid(fp) {
			return fp, nil
		}
		return "", fmt.Errorf("provider %s finds no credential its consumers send in this version, so its use cannot be searched for in CloudWatch Logs (tag %s)", p.Name(), Tag)
	}
	fields, ok := Fields[p.Name()]
	if !ok {
		return "", fmt.Errorf("provider %s does not say which credential its consumers send (no usagelogs.Fingerprinter), so its use cannot be searched for in CloudWatch Logs: remove tag %s from the secret", p.Name(), Tag)
	}
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(value), &m) == nil {
		for _, f := range fields {
			var s string
			if json.Unmarshal(m[f], &s) == nil && s != "" {
				return fingerprint.Of(s), nil
			}
		}
	}
	return "", fmt.Errorf("provider %s: the version has no %s field with a credential, so its use cannot be searched for in CloudWatch Logs (tag %s)", p.Name(), strings.Join(fields, " or "), Tag)
}

// ForCredential is the lifecycle's entry point. When tags carry Tag, it
// searches the groups the tag names, from since to until, for the old
// credential of req (req.Version) and the new one (AWSCURRENT, read through
// req.Versions), and returns the evidence; with no such tag it returns nil
// and no error. Errors name the tag, the group or the provider and the fix.
func (r *Reporter) ForCredential(ctx context.Context, p rotation.Provider, req *rotation.CredentialRequest, tags map[string]string, since, until time.Time) (*Evidence, error) {
	v, ok := tags[Tag]
	if !ok {
		return nil, nil
	}
	groups, err := ParseGroups(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	old, err := FingerprintOf(p, req.Version.Value)
	if err != nil {
		return nil, fmt.Errorf("%w: old credential (version %s): %w", ErrBadRequest, req.Version.ID, err)
	}
	cur, err := req.Versions.Stage(ctx, rotation.StageCurrent)
	if err != nil {
		return nil, fmt.Errorf("read AWSCURRENT to search for the new credential's use: %w", err)
	}
	var nw string
	if cur.ID != req.Version.ID {
		if nw, err = FingerprintOf(p, cur.Value); err != nil {
			return nil, fmt.Errorf("%w: new credential (version %s): %w", ErrBadRequest, cur.ID, err)
		}
	}
	return r.Check(ctx, Request{Secret: req.SecretID, Groups: groups, Old: old, New: nw, Since: since, Until: until})
}

// Usage converts the evidence to the lifecycle's rotation.Usage: known,
// last used at the newest event with the old fingerprint (zero when none),
// exact to the millisecond, described by Detail.
func (e *Evidence) Usage() *rotation.Usage {
	last, _ := e.LastUsed()
	return &rotation.Usage{Known: true, LastUsed: last, Detail: e.Detail()}
}

// Combine merges a provider's own evidence (IAM's GetAccessKeyLastUsed)
// with the evidence from logs: known when either is, last used at the
// later of the two, the coarser granularity (the safe side), both details.
// Either may be nil.
func Combine(provider, logs *rotation.Usage) *rotation.Usage {
	known := func(u *rotation.Usage) bool { return u != nil && u.Known }
	switch {
	case !known(provider) && !known(logs):
		if provider != nil {
			return provider
		}
		return logs
	case !known(logs):
		return provider
	case !known(provider):
		return logs
	}
	c := *provider
	if logs.LastUsed.After(c.LastUsed) {
		c.LastUsed = logs.LastUsed
	}
	c.Granularity = max(provider.Granularity, logs.Granularity)
	c.Detail = joinDetail(provider.Detail, logs.Detail)
	return &c
}

func joinDetail(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}
