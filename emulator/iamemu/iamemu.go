// Package iamemu emulates the parts of AWS IAM and STS that dualkey's rotation
// Lambdas use: IAM users and their access keys, and sts:GetCallerIdentity.
//
// A Service owns every access key of the local AWS emulator. Its Keys method
// returns the awsauth.KeyStore that the emulator's SigV4 verifier checks every
// request against, so a key created, deactivated or deleted through the IAM API
// starts or stops authenticating requests to every emulated service, exactly
// as on AWS. New keys can be held back for a propagation delay to reproduce
// IAM's eventual consistency.
//
// Handler serves IAM and STS query-protocol requests that a front end has
// already verified (the principal travels in the request context, see
// awsauth.PrincipalFrom). Standalone verifies requests itself, so the package
// can be used and tested without the rest of the emulator.
//
// Users carry tags (TagUser, UntagUser, ListUserTags, CreateUser with Tags,
// GetUser returning them) with IAM's limits: 50 per user, case-insensitive
// keys, no "aws:" prefix.
//
// The emulator performs no authorisation: any valid key may call any
// operation on any user.
package iamemu

import (
	"crypto/rand"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dualkey/dualkey/emulator/awsauth"
	"github.com/dualkey/dualkey/emulator/internal/awsjson"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultAccountID     = awsjson.DefaultAccountID
	DefaultBootstrapUser = "dualkey-admin"
)

// MaxAccessKeysPerUser is IAM's quota of access keys per user.
const MaxAccessKeysPerUser = 2

// Access key status values, as IAM spells them.
const (
	StatusActive   = "Active"
	StatusInactive = "Inactive"
)

// Config configures a Service.
type Config struct {
	// AccountID is the emulated AWS account; DefaultAccountID when empty.
	AccountID string
	// BootstrapAccessKeyID and BootstrapSecretAccessKey form a key that stands
	// for the Lambda's own role or an administrator. It is an ordinary Active
	// key of BootstrapUser (it counts towards that user's quota of two keys)
	// except that it is never held back by PropagationDelay. When the id is
	// empty no bootstrap key is installed.
	BootstrapAccessKeyID     string
	BootstrapSecretAccessKey string
	// BootstrapUser is the IAM user that owns the bootstrap key; it always
	// exists after New. DefaultBootstrapUser when empty.
	BootstrapUser string
	// PropagationDelay is how long after CreateAccessKey a new key is still
	// refused as unknown (awsauth.ErrUnknownKey, InvalidClientTokenId on the
	// wire), reproducing IAM's eventual consistency. Zero disables it.
	PropagationDelay time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Service is an in-memory IAM and STS. It is safe for concurrent use.
type Service struct {
	account         string
	bootstrapUser   string
	bootstrapID     string
	bootstrapSecret string
	now             func() time.Time

	mu    sync.Mutex
	gen   uint64 // bumped by every change Snapshot would show
	delay time.Duration
	users map[string]*user      // by lower-cased user name: IAM names are case-insensitive
	keys  map[string]*accessKey // by access key id
}

type user struct {
	name    string
	id      string
	path    string
	created time.Time
	tags    []Tag // sorted by key; keys unique without regard to case
}

type accessKey struct {
	id        string
	secret    string
	user      string // user name as stored in user.name
	status    string
	created   time.Time
	bootstrap bool

	lastUsed    time.Time // zero when never used
	lastService string
	lastRegion  string
}

// New returns a Service holding only the bootstrap user and, when configured,
// its bootstrap key.
func New(cfg Config) *Service {
	s := &Service{
		bootstrapUser:   cfg.BootstrapUser,
		bootstrapID:     cfg.BootstrapAccessKeyID,
		bootstrapSecret: cfg.BootstrapSecretAccessKey,
		delay:           cfg.PropagationDelay,
		users:           map[string]*user{},
		keys:            map[string]*accessKey{},
	}
	_, s.account, s.now = awsjson.Defaults("", cfg.AccountID, cfg.Now)
	if s.bootstrapUser == "" {
		s.bootstrapUser = DefaultBootstrapUser
	}
	s.installBootstrapLocked()
	return s
}

// installBootstrapLocked creates the bootstrap user and key when missing.
func (s *Service) installBootstrapLocked() {
	now := s.now()
	u, ok := s.users[strings.ToLower(s.bootstrapUser)]
	if !ok {
		u = &user{name: s.bootstrapUser, id: s.newUserIDLocked(), path: "/", created: now}
		s.users[strings.ToLower(u.name)] = u
	}
	if s.bootstrapID == "" {
		return
	}
	if _, ok := s.keys[s.bootstrapID]; ok {
		return
	}
	s.keys[s.bootstrapID] = &accessKey{
		id:        s.bootstrapID,
		secret:    s.bootstrapSecret,
		user:      u.name,
		status:    StatusActive,
		created:   now,
		bootstrap: true,
	}
}

// SetPropagationDelay changes the propagation delay. It applies to every key
// not yet propagated, measured from the key's creation.
func (s *Service) SetPropagationDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Generation returns a number that changes whenever the state Snapshot
// returns changes in a way the API can show (a use of a key within the same
// minute, service and region does not count). A persister compares it with
// the generation it last saved to skip saves that would change nothing.
func (s *Service) Generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// AccountID returns the emulated account id.
func (s *Service) AccountID() string { return s.account }

// Keys returns the KeyStore for an awsauth.Verifier: it authenticates with
// every Active, propagated access key and records each verified use for
// GetAccessKeyLastUsed.
func (s *Service) Keys() awsauth.KeyStore { return keyStore{s} }

type keyStore struct{ s *Service }

// SecretFor implements awsauth.KeyStore. It returns the secret of an Active
// key; an error wrapping awsauth.ErrUnknownKey for a key that does not exist
// (never created, or deleted) or is younger than the propagation delay; and an
// error wrapping awsauth.ErrInactiveKey for an Inactive key. Errors name the
// access key id, never the secret. It records nothing.
func (k keyStore) SecretFor(accessKeyID string) (string, error) {
	s := k.s
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	key, ok := s.keys[accessKeyID]
	if !ok {
		return "", fmt.Errorf("access key %s: %w", accessKeyID, awsauth.ErrUnknownKey)
	}
	if !key.bootstrap && now.Before(key.created.Add(s.delay)) {
		return "", fmt.Errorf("access key %s not yet propagated: %w", accessKeyID, awsauth.ErrUnknownKey)
	}
	if key.status != StatusActive {
		return "", fmt.Errorf("access key %s is %s: %w", accessKeyID, key.status, awsauth.ErrInactiveKey)
	}
	return key.secret, nil
}

// RecordUse implements awsauth.KeyStore: it records at, p.Service and
// p.Region as the key's last use, reported by GetAccessKeyLastUsed. Uses of
// keys that no longer exist are ignored.
func (k keyStore) RecordUse(p awsauth.Principal, at time.Time) {
	s := k.s
	s.mu.Lock()
	defer s.mu.Unlock()
	key, ok := s.keys[p.AccessKeyID]
	if !ok {
		return
	}
	// Only a change GetAccessKeyLastUsed can show (it reports minutes) is a
	// change of state worth saving.
	if !key.lastUsed.Truncate(time.Minute).Equal(at.Truncate(time.Minute)) || key.lastService != p.Service || key.lastRegion != p.Region {
		s.gen++
	}
	key.lastUsed = at
	key.lastService = p.Service
	key.lastRegion = p.Region
}

// userLocked finds a user by name, ignoring case as IAM does.
func (s *Service) userLocked(name string) (*user, bool) {
	u, ok := s.users[strings.ToLower(name)]
	return u, ok
}

// keysOfLocked returns the keys of the named user, oldest first.
func (s *Service) keysOfLocked(name string) []*accessKey {
	var out []*accessKey
	for _, k := range s.keys {
		if k.user == name {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].created.Equal(out[j].created) {
			return out[i].created.Before(out[j].created)
		}
		return out[i].id < out[j].id
	})
	return out
}

func (s *Service) arn(u *user) string {
	return "arn:aws:iam::" + s.account + ":user" + u.path + u.name
}

const (
	upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	secretABC  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

// randomString returns n characters drawn uniformly from alphabet using
// crypto/rand (which never fails on supported platforms).
func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	buf := make([]byte, 1)
	limit := 256 - 256%len(alphabet)
	for i := 0; i < n; {
		_, _ = rand.Read(buf)
		if int(buf[0]) >= limit {
			continue
		}
		b[i] = alphabet[int(buf[0])%len(alphabet)]
		i++
	}
	return string(b)
}

func (s *Service) newAccessKeyIDLocked() string {
	for {
		id := "AKIA" + randomString(upperAlnum, 16)
		if _, taken := s.keys[id]; !taken {
			return id
		}
	}
}

func (s *Service) newUserIDLocked() string {
	for {
		id := "AIDA" + randomString(upperAlnum, 17)
		taken := false
		for _, u := range s.users {
			if u.id == id {
				taken = true
				break
			}
		}
		if !taken {
			return id
		}
	}
}
