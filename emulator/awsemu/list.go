package awsemu

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/dualkey/dualkey/emulator/internal/awsjson"
)

// Pagination tokens are opaque to clients. ListSecretVersionIds' encode an
// offset into one secret's versions (at most about 100); ListSecrets' name
// a place in an order (listToken).
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
		return 0, errInvalidNextToken()
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

// readPaging reads ListSecretVersionIds' MaxResults and NextToken: the page
// size and the offset to start at. ListSecrets checks the same in the same
// order, with its own tokens.
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
		return nil, errInvalidNextToken()
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

// ListSecrets pages through one of the list orders (order.go) instead of
// filtering and sorting every secret for every page: a page seeks to the
// place its NextToken names and walks on, applying the filters, until it
// has MaxResults secrets and has found the next one, whose place becomes
// the NextToken. A page costs the secrets it walks over, so a listing looks
// at each secret once, whatever the number of secrets.
//
// A NextToken names a place in the order (the next secret's sort key,
// sequence number and ARN), not an offset, so a listing that secrets are
// created in, deleted from or changed in while it is paged never skips or
// repeats a secret whose place did not change. A secret whose sort key
// changes mid-listing (LastChangedDate, LastAccessedDate) moves: it is
// listed where the walk meets it, twice or not at all if it moved across
// the walk's place, as AWS's ListSecrets "might not reflect changes from the
// last five minutes". A NextToken belongs to its SortBy and SortOrder: with
// another it is InvalidNextTokenException.
func (s *Server) listSecrets(_ context.Context, in *listSecretsInput) (any, *awsjson.Error) {
	if aerr := validateFilters(in.Filters); aerr != nil {
		return nil, aerr
	}
	size, aerr := pageSize(in.MaxResults)
	if aerr != nil {
		return nil, aerr
	}
	tok, aerr := decodeListToken(in.NextToken)
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
	key, desc := sortKeyOf(in.SortBy), in.SortOrder == "desc"
	var from *position
	if tok != nil {
		if tok.SortBy != sortKeyNames[key] || tok.Desc != desc {
			return nil, errInvalidNextToken()
		}
		from = ptr(tok.position(key))
	}
	includeDeleted := in.IncludePlannedDeletion != nil && *in.IncludePlannedDeletion
	filters := compileFilters(in.Filters)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.purgeExpiredLocked()
	out := listSecretsOutput{SecretList: make([]secretListEntry, 0, size)}
	for cur := s.st.orders[key].seek(from, desc); cur.valid(); cur.step(desc) {
		sec := cur.secret()
		if (sec.deleted() && !includeDeleted) || !s.matchesAll(sec, filters) {
			continue
		}
		if len(out.SecretList) == size {
			out.NextToken = encodeListToken(key, desc, &sec.listed)
			break
		}
		d := s.describe(sec)
		out.SecretList = append(out.SecretList, secretListEntry{secretMeta: d.secretMeta, SecretVersionsToStages: d.VersionIdsToStages})
	}
	return out, nil
}

func errInvalidNextToken() *awsjson.Error {
	return awsjson.Errorf(codeInvalidNextToken, "The NextToken value is invalid.")
}

// listToken is what a ListSecrets NextToken carries: the order it belongs to
// and the place in it of the next secret to return.
type listToken struct {
	SortBy string `json:"by"`
	Desc   bool   `json:"desc,omitempty"`
	Sec    int64  `json:"s,omitempty"` // the time, for the date orders
	Nsec   int64  `json:"ns,omitempty"`
	Name   string `json:"n,omitempty"` // the name, for the name order
	Seq    int64  `json:"q"`
	ARN    string `json:"a"`
}

const listTokenPrefix = "dualkey:list:"

func encodeListToken(key sortKey, desc bool, l *listedKeys) *string {
	p := key.position(l)
	t := listToken{SortBy: sortKeyNames[key], Desc: desc, Seq: p.seq, ARN: p.arn}
	if key == byName {
		t.Name = p.name
	} else {
		t.Sec, t.Nsec = p.t.Unix(), int64(p.t.Nanosecond())
	}
	b, _ := json.Marshal(t) // a struct of strings and numbers always encodes
	enc := base64.RawURLEncoding.EncodeToString(append([]byte(listTokenPrefix), b...))
	return &enc
}

func decodeListToken(tok *string) (*listToken, *awsjson.Error) {
	if tok == nil {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*tok)
	if err != nil {
		return nil, errInvalidNextToken()
	}
	rest, ok := bytes.CutPrefix(b, []byte(listTokenPrefix))
	var t listToken
	if !ok || json.Unmarshal(rest, &t) != nil || !slices.Contains(sortKeyNames[:], t.SortBy) || t.Nsec < 0 || t.Nsec >= 1e9 {
		return nil, errInvalidNextToken()
	}
	return &t, nil
}

func (t *listToken) position(key sortKey) position {
	p := position{seq: t.Seq, arn: t.ARN}
	if key == byName {
		p.name = t.Name
	} else {
		p.t = time.Unix(t.Sec, t.Nsec)
	}
	return p
}

// compiledFilter is one ListSecrets filter with its values split once per
// request into those of which one must match and the "!"-negated ones none
// of which may.
type compiledFilter struct {
	key      string
	pos, neg []string
}

func compileFilters(fs []filter) []compiledFilter {
	out := make([]compiledFilter, 0, len(fs))
	for _, f := range fs {
		c := compiledFilter{key: f.Key}
		for _, v := range f.Values {
			if n, ok := strings.CutPrefix(v, "!"); ok {
				c.neg = append(c.neg, n)
			} else {
				c.pos = append(c.pos, v)
			}
		}
		out = append(out, c)
	}
	return out
}

// matchesAll applies AWS filter semantics: filters are ANDed; within a filter
// the positive values are ORed and any matching "!"-negated value excludes
// the secret.
func (s *Server) matchesAll(sec *secret, fs []compiledFilter) bool {
	for _, f := range fs {
		if len(f.pos) > 0 && !slices.ContainsFunc(f.pos, func(v string) bool { return s.matchOne(sec, f.key, v) }) {
			return false
		}
		if slices.ContainsFunc(f.neg, func(v string) bool { return s.matchOne(sec, f.key, v) }) {
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
