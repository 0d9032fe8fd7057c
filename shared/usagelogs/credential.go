package usagelogs

import (
	"context"
	"fmt"
	"time"

	"github.com/dualkey/dualkey/shared/fingerprint"
	"github.com/dualkey/dualkey/shared/rotation"
)

// Fingerprinter is rotation.UsageFingerprinter: providers that say which
// credential their consumers send (and so fingerprint).
type Fingerprinter = rotation.UsageFingerprinter

// FingerprintOf returns the usage fingerprint of the credential in a
// secret value of provider p (its rotation.UsageFingerprinter). It fails,
// naming the provider and the fix, when p does not say which credential
// consumers send or the value holds none.
func FingerprintOf(p rotation.Provider, value string) (string, error) {
	f, ok := p.(rotation.UsageFingerprinter)
	if !ok {
		return "", fmt.Errorf("provider %s does not say which credential its consumers send (it is no rotation.UsageFingerprinter), so its use cannot be searched for in CloudWatch Logs: remove tag %s from the secret", p.Name(), Tag)
	}
	if fp := f.UsageFingerprint(value); fingerprint.Valid(fp) {
		return fp, nil
	}
	return "", fmt.Errorf("provider %s finds no credential its consumers send in this version, so its use cannot be searched for in CloudWatch Logs: remove tag %s from the secret, or check the version's value", p.Name(), Tag)
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
