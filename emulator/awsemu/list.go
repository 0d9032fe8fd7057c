package awsemu

import (
	"context"
	"encoding/base64"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/dualkey/dualkey/emulator/internal/awsjson"
)

// Pagination tokens are opaque to clients; here they encode an offset.
func encodeToken(offset int) *string {
	t := base64.RawURLEncoding.EncodeToString([]byte("dualkey:" + strconv.Itoa(offset)))
	return &t
}

func decodeToken(tok *string) (int, *awsjson.Error) {
	if tok == nil {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*tok)
	rest, ok := strings.CutPrefix(string(b), "dualkey:")
	n, err2 := strconv.Atoi(rest)
	if err != nil || !ok || err2 != nil || n < 0 {
		return 0, awsjson.Errorf(codeInvalidNextToken, "The NextToken value is invalid.")
	}
	return n, nil
}

func pageSize(max *int32) (int, *awsjson.Error) {
	if max == nil {
		return 100, nil
	}
	if aerr := awsjson.CheckRange(protocol, "maxResults", max, 1, 100); aerr != nil {
		return 0, aerr
	}
	return int(*max), nil
}

// readPaging reads a list request's MaxResults and NextToken: the page size
// and the offset to start at.
func readPaging(max *int32, token *string) (size, offset int, aerr *awsjson.Error) {
	if size, aerr = pageSize(max); aerr != nil {
		return 0, 0, aerr
	}
	if offset, aerr = decodeToken(token); aerr != nil {
		return 0, 0, aerr
	}
	return size, offset, nil
}

// ---- ListSecretVersionIds ----

type listSecretVersionIDsInput struct {
	SecretId          *string
	IncludeDeprecated *bool
	MaxResults        *int32
	NextToken         *string
}

type versionEntry struct {
	VersionId        string     `json:"VersionId"`
	VersionStages    []string   `json:"VersionStages,omitempty"`
	CreatedDate      *epochTime `json:"CreatedDate"`
	LastAccessedDate *epochTime `json:"LastAccessedDate,omitempty"`
}

type listSecretVersionIDsOutput struct {
	ARN       string         `json:"ARN"`
	Name      string         `json:"Name"`
	Versions  []versionEntry `json:"Versions"`
	NextToken *string        `json:"NextToken,omitempty"`
}

func (s *Server) listSecretVersionIDs(_ context.Context, in *listSecretVersionIDsInput) (any, *awsjson.Error) {
	size, offset, aerr := readPaging(in.MaxResults, in.NextToken)
	if aerr != nil {
		return nil, aerr
	}
	sec, aerr := s.lockedSecret(in.SecretId, true)
	if aerr != nil {
		return nil, aerr
	}
	defer s.mu.Unlock()
	all := sec.sortedVersions()
	slices.Reverse(all) // newest first
	var entries []versionEntry
	for _, v := range all {
		if len(v.Stages) == 0 && (in.IncludeDeprecated == nil || !*in.IncludeDeprecated) {
			continue
		}
		entries = append(entries, versionEntry{
			VersionId:        v.ID,
			VersionStages:    slices.Clone(v.Stages),
			CreatedDate:      ts(v.Created),
			LastAccessedDate: tsp(v.LastAccessed),
		})
	}
	out := listSecretVersionIDsOutput{ARN: sec.ARN, Name: sec.Name, Versions: []versionEntry{}}
	if offset > len(entries) {
		return nil, awsjson.Errorf(codeInvalidNextToken, "The NextToken value is invalid.")
	}
	end := min(offset+size, len(entries))
	out.Versions = append(out.Versions, entries[offset:end]...)
	if end < len(entries) {
		out.NextToken = encodeToken(end)
	}
	return out, nil
}

// ---- ListSecrets ----

type filter struct {
	Key    string
	Values []string
}

type listSecretsInput struct {
	Filters                []filter
	IncludePlannedDeletion *bool
	MaxResults             *int32
	NextToken              *string
	SortBy                 string
	SortOrder              string
}

type secretListEntry struct {
	secretMeta
	SecretVersionsToStages map[string][]string `json:"SecretVersionsToStages,omitempty"`
}

type listSecretsOutput struct {
	SecretList []secretListEntry `json:"SecretList"`
	NextToken  *string           `json:"NextToken,omitempty"`
}

var filterKeys = []string{"description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all"}

func validateFilters(fs []filter) *awsjson.Error {
	if len(fs) > 10 {
		return awsjson.Errorf(codeValidation, "1 validation error detected: Value at 'filters' failed to satisfy constraint: Member must have length less than or equal to 10")
	}
	for _, f := range fs {
		if !slices.Contains(filterKeys, f.Key) {
			return awsjson.Errorf(codeValidation, "1 validation error detected: Value '%s' at 'filters.member.key' failed to satisfy constraint: Member must satisfy enum value set: [%s]", f.Key, strings.Join(filterKeys, ", "))
		}
		if len(f.Values) < 1 || len(f.Values) > 10 {
			return awsjson.Errorf(codeValidation, "1 validation error detected: Value at 'filters.member.values' failed to satisfy constraint: Member must have length between 1 and 10")
		}
		for _, v := range f.Values {
			if aerr := protocol.CheckLen("filters.member.values.member", &v, 0, 512); aerr != nil {
				return aerr
			}
		}
	}
	return nil
}

func (s *Server) listSecrets(_ context.Context, in *listSecretsInput) (any, *awsjson.Error) {
	if aerr := validateFilters(in.Filters); aerr != nil {
		return nil, aerr
	}
	size, offset, aerr := readPaging(in.MaxResults, in.NextToken)
	if aerr != nil {
		return nil, aerr
	}
	switch in.SortOrder {
	case "", "asc", "desc":
	default:
		return nil, awsjson.Errorf(codeValidation, "1 validation error detected: Value '%s' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: [asc, desc]", in.SortOrder)
	}
	switch in.SortBy {
	case "", "created-date", "last-accessed-date", "last-changed-date", "name":
	default:
		return nil, awsjson.Errorf(codeValidation, "1 validation error detected: Value '%s' at 'sortBy' failed to satisfy constraint: Member must satisfy enum value set: [created-date, last-accessed-date, last-changed-date, name]", in.SortBy)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purgeExpiredLocked()
	var matched []*secret
	for _, sec := range s.st.Secrets {
		if sec.deleted() && (in.IncludePlannedDeletion == nil || !*in.IncludePlannedDeletion) {
			continue
		}
		if s.matchesAll(sec, in.Filters) {
			matched = append(matched, sec)
		}
	}
	sortSecrets(matched, in.SortBy, in.SortOrder == "desc")
	if offset > len(matched) {
		return nil, awsjson.Errorf(codeInvalidNextToken, "The NextToken value is invalid.")
	}
	end := min(offset+size, len(matched))
	out := listSecretsOutput{SecretList: []secretListEntry{}}
	for _, sec := range matched[offset:end] {
		d := s.describe(sec)
		out.SecretList = append(out.SecretList, secretListEntry{secretMeta: d.secretMeta, SecretVersionsToStages: d.VersionIdsToStages})
	}
	if end < len(matched) {
		out.NextToken = encodeToken(end)
	}
	return out, nil
}

func sortSecrets(list []*secret, by string, desc bool) {
	key := func(s *secret) time.Time {
		switch by {
		case "last-accessed-date":
			if s.LastAccessed == nil {
				return time.Time{}
			}
			return *s.LastAccessed
		case "last-changed-date":
			return s.LastChanged
		}
		return s.Created
	}
	less := func(a, b *secret) bool {
		if by == "name" {
			if a.Name != b.Name {
				return a.Name < b.Name
			}
		} else if ka, kb := key(a), key(b); !ka.Equal(kb) {
			return ka.Before(kb)
		}
		return a.Seq < b.Seq
	}
	sort.Slice(list, func(i, j int) bool {
		if desc {
			return less(list[j], list[i])
		}
		return less(list[i], list[j])
	})
}

// matchesAll applies AWS filter semantics: filters are ANDed; within a filter
// the positive values are ORed and any matching "!"-negated value excludes
// the secret.
func (s *Server) matchesAll(sec *secret, fs []filter) bool {
	for _, f := range fs {
		var pos, neg []string
		for _, v := range f.Values {
			if n, ok := strings.CutPrefix(v, "!"); ok {
				neg = append(neg, n)
			} else {
				pos = append(pos, v)
			}
		}
		if len(pos) > 0 && !slices.ContainsFunc(pos, func(v string) bool { return s.matchOne(sec, f.Key, v) }) {
			return false
		}
		if slices.ContainsFunc(neg, func(v string) bool { return s.matchOne(sec, f.Key, v) }) {
			return false
		}
	}
	return true
}

func (s *Server) matchOne(sec *secret, key, value string) bool {
	switch key {
	case "name":
		return strings.HasPrefix(sec.Name, value)
	case "description":
		return sec.Description != nil && strings.HasPrefix(strings.ToLower(*sec.Description), strings.ToLower(value))
	case "tag-key":
		return slices.ContainsFunc(sec.Tags, func(t tag) bool { return strings.HasPrefix(t.Key, value) })
	case "tag-value":
		return slices.ContainsFunc(sec.Tags, func(t tag) bool { return strings.HasPrefix(t.Value, value) })
	case "primary-region":
		return strings.HasPrefix(s.cfg.Region, value)
	case "owning-service":
		return false // no emulated secret is managed by another service
	case "all":
		var attrs []string
		attrs = append(attrs, sec.Name)
		if sec.Description != nil {
			attrs = append(attrs, *sec.Description)
		}
		for _, t := range sec.Tags {
			attrs = append(attrs, t.Key, t.Value)
		}
		var words []string
		for _, a := range attrs {
			words = append(words, splitWords(a)...)
		}
		for _, q := range splitWords(value) {
			if slices.ContainsFunc(words, func(w string) bool { return strings.HasPrefix(w, q) }) {
				return true
			}
		}
	}
	return false
}

// splitWords lower-cases s and breaks it into words the way the "all" search
// does: at punctuation/space, at letter<->digit changes and at
// lower->upper case changes.
func splitWords(s string) []string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	var prev rune
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush()
			prev = 0
			continue
		}
		if prev != 0 && (unicode.IsDigit(r) != unicode.IsDigit(prev) || (unicode.IsLower(prev) && unicode.IsUpper(r))) {
			flush()
		}
		cur = append(cur, r)
		prev = r
	}
	flush()
	return words
}
