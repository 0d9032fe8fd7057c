package awsemu

import (
	"bytes"
	"slices"
	"sort"
	"strings"
	"time"
)

// Well-known staging labels.
const (
	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"
	stagePending  = "AWSPENDING"
)

// maxVersions is AWS's "versions per secret" quota (~100). Past it the oldest
// deprecated (unlabelled) versions are dropped.
const maxVersions = 100

// maxStagesPerSecret is AWS's quota of staging labels attached across all
// versions of one secret.
const maxStagesPerSecret = 20

type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type rotationRules struct {
	AutomaticallyAfterDays *int64  `json:"AutomaticallyAfterDays,omitempty"`
	Duration               *string `json:"Duration,omitempty"`
	ScheduleExpression     *string `json:"ScheduleExpression,omitempty"`
}

// version is one secret version. A version with neither String nor Binary is
// RotateSecret's placeholder: it exists and carries labels but has no value.
type version struct {
	ID           string     `json:"id"`
	String       *string    `json:"string,omitempty"`
	Binary       []byte     `json:"binary,omitempty"`
	Stages       []string   `json:"stages"`
	Created      time.Time  `json:"created"`
	LastAccessed *time.Time `json:"lastAccessed,omitempty"`
	Seq          int64      `json:"seq"`
}

func (v *version) hasValue() bool { return v.String != nil || v.Binary != nil }

func (v *version) hasStage(s string) bool { return slices.Contains(v.Stages, s) }

// sameValue reports whether the version holds exactly the given value.
func (v *version) sameValue(str *string, bin []byte) bool {
	if (v.String == nil) != (str == nil) || (v.Binary == nil) != (bin == nil) {
		return false
	}
	if str != nil && *v.String != *str {
		return false
	}
	return bin == nil || bytes.Equal(v.Binary, bin)
}

type secret struct {
	ARN               string              `json:"arn"`
	Name              string              `json:"name"`
	Description       *string             `json:"description,omitempty"`
	KmsKeyID          *string             `json:"kmsKeyId,omitempty"`
	Created           time.Time           `json:"created"`
	LastChanged       time.Time           `json:"lastChanged"`
	LastAccessed      *time.Time          `json:"lastAccessed,omitempty"`
	LastRotated       *time.Time          `json:"lastRotated,omitempty"`
	NextRotation      *time.Time          `json:"nextRotation,omitempty"`
	DeletedDate       *time.Time          `json:"deletedDate,omitempty"`
	DeletionDate      *time.Time          `json:"deletionDate,omitempty"`
	RotationEnabled   *bool               `json:"rotationEnabled,omitempty"`
	RotationLambdaARN string              `json:"rotationLambdaArn,omitempty"`
	RotationRules     *rotationRules      `json:"rotationRules,omitempty"`
	Tags              []tag               `json:"tags,omitempty"`
	Versions          map[string]*version `json:"versions"`
	Seq               int64               `json:"seq"`

	listed listedKeys // the sort keys its place in the list orders is by (order.go)
}

func (s *secret) deleted() bool { return s.DeletedDate != nil }

// holder returns the version carrying the label, or nil.
func (s *secret) holder(stage string) *version {
	for _, v := range s.Versions {
		if v.hasStage(stage) {
			return v
		}
	}
	return nil
}

// sortedVersions returns the versions oldest first.
func (s *secret) sortedVersions() []*version {
	out := make([]*version, 0, len(s.Versions))
	for _, v := range s.Versions {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// versionsToStages maps every labelled version to its labels, as DescribeSecret
// and ListSecrets report them (deprecated versions are omitted).
func (s *secret) versionsToStages() map[string][]string {
	m := map[string][]string{}
	for id, v := range s.Versions {
		if len(v.Stages) > 0 {
			m[id] = slices.Clone(v.Stages)
		}
	}
	return m
}

// pendingInProgress returns the version holding AWSPENDING when it is not also
// AWSCURRENT, i.e. an unfinished rotation.
func (s *secret) pendingInProgress() *version {
	p := s.holder(stagePending)
	if p == nil || p.hasStage(stageCurrent) {
		return nil
	}
	return p
}

func (s *secret) tagValue(key string) (string, bool) {
	for _, t := range s.Tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// state is everything the emulator persists.
type state struct {
	Secrets map[string]*secret `json:"secrets"` // by ARN
	Seq     int64              `json:"seq"`

	names  map[string]*secret // by name; kept by add and remove
	orders secretOrders       // the secrets in each ListSecrets order; kept by add, remove and reorder
}

func newState() *state {
	return &state{Secrets: map[string]*secret{}, names: map[string]*secret{}, orders: newSecretOrders()}
}

func (st *state) nextSeq() int64 {
	st.Seq++
	return st.Seq
}

// add stores a new secret.
func (st *state) add(sec *secret) {
	st.Secrets[sec.ARN] = sec
	st.names[sec.Name] = sec
	st.orders.insert(sec)
}

// remove forgets a secret for good.
func (st *state) remove(sec *secret) {
	delete(st.Secrets, sec.ARN)
	if st.names[sec.Name] == sec {
		delete(st.names, sec.Name)
	}
	st.orders.remove(sec)
}

// reorder moves sec to its new place in the list orders after a change to
// its sort keys (LastChangedDate, LastAccessedDate).
func (st *state) reorder(sec *secret) { st.orders.reorder(sec) }

// reindex rebuilds the name index and the list orders from Secrets (after
// loading a state file).
func (st *state) reindex() {
	st.names = make(map[string]*secret, len(st.Secrets))
	all := make([]*secret, 0, len(st.Secrets))
	for _, sec := range st.Secrets {
		st.names[sec.Name] = sec
		all = append(all, sec)
	}
	st.orders = newSecretOrders()
	st.orders.build(all)
}

// byName returns the secret with that exact name.
func (st *state) byName(name string) *secret { return st.names[name] }

// find resolves a SecretId: a name, a full ARN, or a partial ARN (a full ARN
// without the trailing "-" and six random characters). Every form is a map
// lookup: a partial ARN ends with the secret's name.
func (st *state) find(id string) *secret {
	if !strings.HasPrefix(id, "arn:") {
		return st.byName(id)
	}
	if s, ok := st.Secrets[id]; ok {
		return s
	}
	const marker = ":secret:"
	i := strings.Index(id, marker)
	if i < 0 {
		return nil
	}
	s := st.byName(id[i+len(marker):])
	if s == nil || len(s.ARN) != len(id)+7 || !strings.HasPrefix(s.ARN, id) || s.ARN[len(id)] != '-' {
		return nil
	}
	return s
}
