package iamemu

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// IAM user tag limits and rules, from the IAM API reference (Tag, TagUser,
// UntagUser, ListUserTags) and the User Guide's "Tagging IAM resources":
// at most 50 tags per user; keys 1 to 128 characters, values 0 to 256, both
// of letters, digits, spaces and _ . : / = + - @; keys and values must not
// begin with "aws:"; user tag keys are case-insensitive but keep their case
// (tagging Department=finance then department=hr leaves Department=hr).
const (
	MaxTagsPerUser    = 50
	maxTagKeyLength   = 128
	maxTagValueLength = 256
	reservedTagPrefix = "aws:"
	tagPattern        = `[\p{L}\p{Z}\p{N}_.:/=+\-@]`
)

var (
	tagKeyRE   = regexp.MustCompile(`^` + tagPattern + `+$`)
	tagValueRE = regexp.MustCompile(`^` + tagPattern + `*$`)
	listMember = regexp.MustCompile(`^([A-Za-z]+)\.member\.([0-9]{1,4})(?:\.(Key|Value))?$`)
)

// Tag is an IAM tag: a key and a value.
type Tag struct {
	Key   string `json:"key" xml:"Key"`
	Value string `json:"value" xml:"Value"`
}

type xmlTags struct {
	Member []Tag `xml:"member"`
}

func tagsXML(tags []Tag) *xmlTags {
	if len(tags) == 0 {
		return nil
	}
	return &xmlTags{Member: slices.Clone(tags)}
}

// listIndexes returns the member numbers present for a query-protocol list
// parameter (name.member.N or name.member.N.Key/Value), ascending.
func listIndexes(c *call, name string) []int {
	seen := map[int]bool{}
	for k := range c.form {
		m := listMember.FindStringSubmatch(k)
		if m == nil || m[1] != name {
			continue
		}
		n, err := strconv.Atoi(m[2])
		if err == nil && n > 0 {
			seen[n] = true
		}
	}
	out := make([]int, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

func tooManyTags(field string) *apiError {
	return validationError(fmt.Sprintf("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", field, MaxTagsPerUser))
}

// tagsParam parses and validates Tags.member.N.Key/Value. given is false when
// the request has no Tags at all.
func tagsParam(c *call) (tags []Tag, given bool, aerr *apiError) {
	idx := listIndexes(c, "Tags")
	if len(idx) == 0 {
		return nil, false, nil
	}
	if len(idx) > MaxTagsPerUser {
		return nil, true, tooManyTags("tags")
	}
	seen := map[string]bool{}
	for i, n := range idx {
		prefix := fmt.Sprintf("Tags.member.%d.", n)
		field := fmt.Sprintf("tags.%d.member.", i+1)
		if !c.form.Has(prefix + "Key") {
			return nil, true, missingError(field + "key")
		}
		if !c.form.Has(prefix + "Value") {
			return nil, true, missingError(field + "value")
		}
		t := Tag{Key: c.form.Get(prefix + "Key"), Value: c.form.Get(prefix + "Value")}
		if aerr := validateTagKey(t.Key, field+"key"); aerr != nil {
			return nil, true, aerr
		}
		if aerr := validateTagValue(t.Value, field+"value"); aerr != nil {
			return nil, true, aerr
		}
		folded := strings.ToLower(t.Key)
		if seen[folded] {
			return nil, true, &apiError{http.StatusBadRequest, "InvalidInput", "Duplicate tag keys found. Please note that Tag keys are case insensitive."}
		}
		seen[folded] = true
		tags = append(tags, t)
	}
	return tags, true, nil
}

func validateTagKey(key, field string) *apiError {
	switch n := utf8.RuneCountInString(key); {
	case n < 1:
		return constraintError(key, field, "Member must have length greater than or equal to 1")
	case n > maxTagKeyLength:
		return constraintError(key, field, fmt.Sprintf("Member must have length less than or equal to %d", maxTagKeyLength))
	case !tagKeyRE.MatchString(key):
		return constraintError(key, field, `Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+`)
	case strings.HasPrefix(key, reservedTagPrefix):
		return &apiError{http.StatusBadRequest, "InvalidInput", fmt.Sprintf("Tag key %q begins with %q, which is reserved for AWS use.", key, reservedTagPrefix)}
	}
	return nil
}

func validateTagValue(value, field string) *apiError {
	switch {
	case utf8.RuneCountInString(value) > maxTagValueLength:
		return constraintError(value, field, fmt.Sprintf("Member must have length less than or equal to %d", maxTagValueLength))
	case !tagValueRE.MatchString(value):
		return constraintError(value, field, `Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*`)
	case strings.HasPrefix(value, reservedTagPrefix):
		return &apiError{http.StatusBadRequest, "InvalidInput", fmt.Sprintf("Tag value %q begins with %q, which is reserved for AWS use.", value, reservedTagPrefix)}
	}
	return nil
}

// mergeTags returns existing with incoming applied: a key already present
// (compared without case) keeps its spelling and takes the new value; new
// keys are added. The result is sorted by key, as ListUserTags returns it.
func mergeTags(existing, incoming []Tag) []Tag {
	out := slices.Clone(existing)
	for _, t := range incoming {
		i := slices.IndexFunc(out, func(x Tag) bool { return strings.EqualFold(x.Key, t.Key) })
		if i >= 0 {
			out[i].Value = t.Value
		} else {
			out = append(out, t)
		}
	}
	sortTags(out)
	return out
}

func sortTags(tags []Tag) {
	sort.SliceStable(tags, func(i, j int) bool { return tags[i].Key < tags[j].Key })
}

func tagLimitExceeded() *apiError {
	return &apiError{http.StatusConflict, "LimitExceeded", fmt.Sprintf("Cannot exceed quota for TagsPerUser: %d", MaxTagsPerUser)}
}

// namedUserLocked returns the user named by UserName, which DeleteUser and the
// tagging operations require (they do not default to the caller).
func (s *Service) namedUserLocked(c *call) (*user, *apiError) {
	name, given, aerr := userNameParam(c, 128)
	if aerr != nil {
		return nil, aerr
	}
	if !given {
		return nil, missingError("userName")
	}
	u, ok := s.userLocked(name)
	if !ok {
		return nil, noSuchUser(name)
	}
	return u, nil
}

func (s *Service) tagUser(c *call) (any, *apiError) {
	u, aerr := s.namedUserLocked(c)
	if aerr != nil {
		return nil, aerr
	}
	tags, given, aerr := tagsParam(c)
	if aerr != nil {
		return nil, aerr
	}
	if !given {
		return nil, missingError("tags")
	}
	merged := mergeTags(u.tags, tags)
	if len(merged) > MaxTagsPerUser {
		return nil, tagLimitExceeded()
	}
	u.tags = merged
	return nil, nil
}

func (s *Service) untagUser(c *call) (any, *apiError) {
	u, aerr := s.namedUserLocked(c)
	if aerr != nil {
		return nil, aerr
	}
	idx := listIndexes(c, "TagKeys")
	if len(idx) == 0 {
		return nil, missingError("tagKeys")
	}
	if len(idx) > MaxTagsPerUser {
		return nil, tooManyTags("tagKeys")
	}
	var keys []string
	for i, n := range idx {
		k := c.form.Get(fmt.Sprintf("TagKeys.member.%d", n))
		if aerr := validateTagKey(k, fmt.Sprintf("tagKeys.%d.member", i+1)); aerr != nil {
			return nil, aerr
		}
		keys = append(keys, k)
	}
	u.tags = slices.DeleteFunc(slices.Clone(u.tags), func(t Tag) bool {
		return slices.ContainsFunc(keys, func(k string) bool { return strings.EqualFold(k, t.Key) })
	})
	return nil, nil
}

type listUserTagsResult struct {
	Tags struct {
		Member []Tag `xml:"member"`
	} `xml:"Tags"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

func (s *Service) listUserTags(c *call) (any, *apiError) {
	u, aerr := s.namedUserLocked(c)
	if aerr != nil {
		return nil, aerr
	}
	maxItems := 100
	if c.form.Has("MaxItems") {
		n, err := strconv.Atoi(c.form.Get("MaxItems"))
		if err != nil || n < 1 || n > 1000 {
			return nil, constraintError(c.form.Get("MaxItems"), "maxItems", "Member must have value between 1 and 1000")
		}
		maxItems = n
	}
	start := 0
	if c.form.Has("Marker") {
		n, ok := decodeMarker(c.form.Get("Marker"))
		if !ok || n > len(u.tags) {
			return nil, validationError("Invalid Marker.")
		}
		start = n
	}
	end := min(start+maxItems, len(u.tags))
	var res listUserTagsResult
	res.Tags.Member = slices.Clone(u.tags[start:end])
	if end < len(u.tags) {
		res.IsTruncated = true
		res.Marker = encodeMarker(end)
	}
	return res, nil
}

func encodeMarker(n int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("dualkey-tags:" + strconv.Itoa(n)))
}

func decodeMarker(m string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(m)
	if err != nil {
		return 0, false
	}
	rest, ok := strings.CutPrefix(string(b), "dualkey-tags:")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && n >= 0
}
