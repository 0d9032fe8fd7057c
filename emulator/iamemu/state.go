package iamemu

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// State is the persistable content of a Service. It holds secret access
// keys: keep it only where the emulator's own secrets may be kept.
type State struct {
	Users      []User      `json:"users"`
	AccessKeys []AccessKey `json:"accessKeys"`
}

// User is an IAM user in a State.
type User struct {
	UserName   string    `json:"userName"`
	UserID     string    `json:"userId"`
	Path       string    `json:"path,omitempty"` // "/" when empty
	CreateDate time.Time `json:"createDate"`
	Tags       []Tag     `json:"tags,omitempty"`
}

// AccessKey is an access key in a State. Its String and GoString methods
// redact the secret so that printing a State never leaks it.
type AccessKey struct {
	AccessKeyID     string    `json:"accessKeyId"`
	SecretAccessKey string    `json:"secretAccessKey"`
	UserName        string    `json:"userName"`
	Status          string    `json:"status"`
	CreateDate      time.Time `json:"createDate"`
	// Bootstrap marks the configured bootstrap key, which is exempt from the
	// propagation delay.
	Bootstrap bool      `json:"bootstrap,omitempty"`
	LastUsed  *LastUsed `json:"lastUsed,omitempty"`
}

// LastUsed records the most recent verified use of an access key.
type LastUsed struct {
	Date        time.Time `json:"date"`
	ServiceName string    `json:"serviceName"`
	Region      string    `json:"region"`
}

// String implements fmt.Stringer without revealing the secret.
func (k AccessKey) String() string {
	return fmt.Sprintf("{AccessKeyID:%s SecretAccessKey:REDACTED UserName:%s Status:%s CreateDate:%s Bootstrap:%t}",
		k.AccessKeyID, k.UserName, k.Status, k.CreateDate.Format(time.RFC3339), k.Bootstrap)
}

// GoString implements fmt.GoStringer without revealing the secret.
func (k AccessKey) GoString() string { return "iamemu.AccessKey" + k.String() }

// Snapshot returns a copy of the current state: users sorted by name, keys
// grouped by user, oldest first.
func (s *Service) Snapshot() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{Users: []User{}, AccessKeys: []AccessKey{}}
	for _, u := range s.sortedUsersLocked() {
		st.Users = append(st.Users, User{UserName: u.name, UserID: u.id, Path: u.path, CreateDate: u.created, Tags: slices.Clone(u.tags)})
		for _, k := range s.keysOfLocked(u.name) {
			ak := AccessKey{
				AccessKeyID:     k.id,
				SecretAccessKey: k.secret,
				UserName:        k.user,
				Status:          k.status,
				CreateDate:      k.created,
				Bootstrap:       k.bootstrap,
			}
			if !k.lastUsed.IsZero() {
				ak.LastUsed = &LastUsed{Date: k.lastUsed, ServiceName: k.lastService, Region: k.lastRegion}
			}
			st.AccessKeys = append(st.AccessKeys, ak)
		}
	}
	return st
}

var accessKeyIDPattern = regexp.MustCompile(`^\w{16,128}$`)

// Restore replaces the whole state with st, after checking it is consistent
// (unique user names and key ids, keys belonging to listed users, known
// statuses). On error nothing changes. Afterwards the configured bootstrap
// user and key are re-installed if st lacks them (even if that gives the
// bootstrap user a third key); a bootstrap key present in st keeps its
// restored status and secret.
func (s *Service) Restore(st State) error {
	users := map[string]*user{}
	for i, u := range st.Users {
		if err := validUserName(u.UserName); err != nil {
			return fmt.Errorf("restore user %d: %w", i, err)
		}
		if _, dup := users[strings.ToLower(u.UserName)]; dup {
			return fmt.Errorf("restore user %q: duplicate user name", u.UserName)
		}
		if u.UserID == "" {
			return fmt.Errorf("restore user %q: empty user id", u.UserName)
		}
		path := u.Path
		if path == "" {
			path = "/"
		}
		if err := validPath(path); err != nil {
			return fmt.Errorf("restore user %q: %w", u.UserName, err)
		}
		if err := validTags(u.Tags); err != nil {
			return fmt.Errorf("restore user %q: %w", u.UserName, err)
		}
		users[strings.ToLower(u.UserName)] = &user{name: u.UserName, id: u.UserID, path: path, created: u.CreateDate, tags: mergeTags(nil, u.Tags)}
	}
	keys := map[string]*accessKey{}
	perUser := map[string]int{}
	for _, k := range st.AccessKeys {
		if !accessKeyIDPattern.MatchString(k.AccessKeyID) {
			return fmt.Errorf("restore access key %q: malformed access key id", k.AccessKeyID)
		}
		if _, dup := keys[k.AccessKeyID]; dup {
			return fmt.Errorf("restore access key %s: duplicate access key id", k.AccessKeyID)
		}
		if k.SecretAccessKey == "" {
			return fmt.Errorf("restore access key %s: empty secret", k.AccessKeyID)
		}
		u, ok := users[strings.ToLower(k.UserName)]
		if !ok {
			return fmt.Errorf("restore access key %s: user %q is not in the state", k.AccessKeyID, k.UserName)
		}
		if k.Status != StatusActive && k.Status != StatusInactive {
			return fmt.Errorf("restore access key %s: status %q is neither Active nor Inactive", k.AccessKeyID, k.Status)
		}
		perUser[u.name]++
		if perUser[u.name] > MaxAccessKeysPerUser {
			return fmt.Errorf("restore access key %s: user %q has more than %d keys", k.AccessKeyID, u.name, MaxAccessKeysPerUser)
		}
		ak := &accessKey{
			id:        k.AccessKeyID,
			secret:    k.SecretAccessKey,
			user:      u.name,
			status:    k.Status,
			created:   k.CreateDate,
			bootstrap: k.Bootstrap,
		}
		if k.LastUsed != nil {
			ak.lastUsed = k.LastUsed.Date
			ak.lastService = k.LastUsed.ServiceName
			ak.lastRegion = k.LastUsed.Region
		}
		keys[k.AccessKeyID] = ak
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = users
	s.keys = keys
	s.installBootstrapLocked()
	s.gen++
	return nil
}

var (
	userNamePattern = regexp.MustCompile(`^[\w+=,.@-]+$`)
	pathPattern     = regexp.MustCompile(`^/([\x21-\x7e]*/)?$`)

	errBadUserName = errors.New("user name must be 1 to 64 characters of [\\w+=,.@-]")
	errBadPath     = errors.New("path must begin and end with / and contain printable ASCII")
)

// validTags applies TagUser's rules to restored tags.
func validTags(tags []Tag) error {
	if len(tags) > MaxTagsPerUser {
		return fmt.Errorf("%d tags, more than the %d allowed", len(tags), MaxTagsPerUser)
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if aerr := validateTagKey(t.Key, "key"); aerr != nil {
			return fmt.Errorf("tag key %q: %s", t.Key, aerr.message)
		}
		if aerr := validateTagValue(t.Value, "value"); aerr != nil {
			return fmt.Errorf("tag %q value: %s", t.Key, aerr.message)
		}
		if seen[strings.ToLower(t.Key)] {
			return fmt.Errorf("tag key %q appears twice (keys are case-insensitive)", t.Key)
		}
		seen[strings.ToLower(t.Key)] = true
	}
	return nil
}

func validUserName(name string) error {
	if len(name) < 1 || len(name) > 64 || !userNamePattern.MatchString(name) {
		return fmt.Errorf("%q: %w", name, errBadUserName)
	}
	return nil
}

func validPath(p string) error {
	if len(p) > 512 || !pathPattern.MatchString(p) {
		return fmt.Errorf("%q: %w", p, errBadPath)
	}
	return nil
}
