package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/dualkey/dualkey/shared/rotation"
)

// AuditReport lists the credentials at the provider for a secret's identity
// and those that no version of the secret references (orphans).
type AuditReport struct {
	Secret      string
	Provider    string
	Credentials []rotation.Credential
	Referenced  map[string][]string // fingerprint -> stages of the version holding it
	Orphans     []rotation.Credential
}

// Audit lists credentials the provider holds that no labelled version of
// the secret references: the orphans other tools (or crashes) leave behind.
// A provider that cannot list its credentials fails with ErrCannotAudit.
func (l *Lifecycle) Audit(ctx context.Context, id string) (*AuditReport, error) {
	s, rep, err := l.load(ctx, id)
	if err != nil {
		return nil, err
	}
	out := &AuditReport{Secret: rep.Secret, Provider: rep.Provider, Referenced: map[string][]string{}}
	a, ok := s.provider.(rotation.Auditor)
	if !ok {
		return out, fmt.Errorf("secret %s: %w: provider %s has no API that lists them; compare the vendor's console with what this shows: %s",
			s.name, ErrCannotAudit, s.provider.Name(), l.cmd("status", s.name))
	}
	var cur *rotation.CredentialRequest
	for _, v := range slices.Sorted(maps.Keys(s.stages)) {
		req, fp, err := l.credential(ctx, s, v)
		if errors.Is(err, rotation.ErrNoVersion) {
			continue // RotateSecret's placeholder has no value yet
		}
		if err != nil {
			return out, err
		}
		if fp != "" {
			out.Referenced[fp] = s.stages[v]
		}
		if slices.Contains(s.stages[v], rotation.StageCurrent) {
			cur = req
		}
	}
	if cur == nil {
		return out, fmt.Errorf("secret %s has no AWSCURRENT value", s.name)
	}
	creds, err := a.Credentials(ctx, cur)
	if err != nil {
		return out, fmt.Errorf("list credentials of %s: %w", s.name, err)
	}
	out.Credentials = creds
	for _, c := range creds {
		if _, ok := out.Referenced[c.Fingerprint]; !ok {
			out.Orphans = append(out.Orphans, c)
		}
	}
	return out, nil
}
