package twiliofake

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/dualkey/dualkey/emulator/internal/vendorfake"
)

// KeyKind is the type of an API key.
type KeyKind string

// The three kinds of Twilio API keys.
const (
	// KindMain keys can do everything the auth token can. Twilio creates
	// them only in the Console; here with Server.CreateMainKey.
	KindMain KeyKind = "main"
	// KindStandard keys can do everything but manage keys, the account and
	// its auth tokens.
	KindStandard KeyKind = "standard"
	// KindRestricted keys can only do what their Policy allows.
	KindRestricted KeyKind = "restricted"
)

// MaxPolicyPermissions is Twilio's limit of permissions on a restricted key.
const MaxPolicyPermissions = 100

// Policy is a restricted key's policy, as IAM v1 reads and writes it:
// {"allow": ["/twilio/messaging/messages/read", ...]}.
type Policy struct {
	Allow []string `json:"allow"`
}

// Account is a Twilio account as the Go API returns it.
type Account struct {
	Sid          string
	FriendlyName string
	// AuthToken is the primary auth token at creation time.
	AuthToken string
}

// Key is an API key. Secret is set only where the key was created (as
// Twilio shows a secret once); listings leave it empty.
type Key struct {
	Sid          string
	AccountSid   string
	FriendlyName string
	Kind         KeyKind
	Policy       *Policy // restricted keys only
	Secret       string
	Created      time.Time
	Updated      time.Time
}

// Errors of the Go API.
var (
	ErrNoAccount   = errors.New("twiliofake: no such account")
	ErrNoKey       = errors.New("twiliofake: no such key")
	ErrNoSecondary = errors.New("twiliofake: the account has no secondary auth token")
)

type account struct {
	sid, friendlyName string
	primary           string
	secondary         string
	secondaryCreated  time.Time
	created, updated  time.Time
	keys              map[string]*key
	messages          []*message
	limiter           vendorfake.Limiter
}

type key struct {
	sid, secret, friendlyName string
	accountSid                string
	kind                      KeyKind
	policy                    *Policy
	created, updated          time.Time
	seq                       uint64 // creation order
}

type message struct {
	sid, to, from, body string
	created             time.Time
}

func (k *key) public() Key {
	return Key{Sid: k.sid, AccountSid: k.accountSid, FriendlyName: k.friendlyName, Kind: k.kind,
		Policy: clonePolicy(k.policy), Created: k.created, Updated: k.updated}
}

func clonePolicy(p *Policy) *Policy {
	if p == nil {
		return nil
	}
	return &Policy{Allow: append([]string{}, p.Allow...)}
}

// randomHex returns n random bytes, hex-encoded (2n characters).
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("twiliofake: crypto/rand: %v", err)) // never happens (Go 1.24+ crypto/rand does not fail)
	}
	return hex.EncodeToString(b)
}

// newSid returns a Twilio SID: two letters and 32 lower-case hex digits.
func newSid(prefix string) string { return prefix + randomHex(16) }

// newKeySecret returns a 32-character alphanumeric key secret.
func newKeySecret() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("twiliofake: crypto/rand: %v", err))
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// CreateAccount adds an account with a fresh primary auth token and returns
// it. friendlyName may be empty.
func (s *Server) CreateAccount(friendlyName string) Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC()
	a := &account{sid: newSid("AC"), friendlyName: friendlyName, primary: randomHex(16),
		created: now, updated: now, keys: map[string]*key{}}
	if a.friendlyName == "" {
		a.friendlyName = "dualkey test account"
	}
	s.accounts[a.sid] = a
	return Account{Sid: a.sid, FriendlyName: a.friendlyName, AuthToken: a.primary}
}

// CreateMainKey adds a Main key to the account, as an operator does in the
// Twilio Console (the API cannot create Main keys), and returns it with its
// secret.
func (s *Server) CreateMainKey(accountSid, friendlyName string) (Key, error) {
	return s.CreateKey(accountSid, KindMain, friendlyName, nil)
}

// CreateKey adds a key of any kind to the account, bypassing the API, and
// returns it with its secret. A restricted key needs a policy; the others
// must have none.
func (s *Server) CreateKey(accountSid string, kind KeyKind, friendlyName string, policy *Policy) (Key, error) {
	switch kind {
	case KindMain, KindStandard:
		if policy != nil {
			return Key{}, fmt.Errorf("twiliofake: a %s key has no policy", kind)
		}
	case KindRestricted:
		if err := checkPolicy(policy); err != nil {
			return Key{}, fmt.Errorf("twiliofake: %w", err)
		}
	default:
		return Key{}, fmt.Errorf("twiliofake: unknown key kind %q", kind)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[accountSid]
	if !ok {
		return Key{}, ErrNoAccount
	}
	k := s.addKeyLocked(a, kind, friendlyName, clonePolicy(policy))
	out := k.public()
	out.Secret = k.secret
	return out, nil
}

// checkPolicy validates a restricted key's policy.
func checkPolicy(p *Policy) error {
	if p == nil || len(p.Allow) == 0 {
		return errors.New("a restricted key needs a Policy with at least one permission in \"allow\"")
	}
	if len(p.Allow) > MaxPolicyPermissions {
		return fmt.Errorf("a Policy allows at most %d permissions, got %d", MaxPolicyPermissions, len(p.Allow))
	}
	for _, perm := range p.Allow {
		if len(perm) < 2 || perm[0] != '/' {
			return fmt.Errorf("policy permission %q is not a permission path such as /twilio/messaging/messages/read", perm)
		}
	}
	return nil
}

func (s *Server) addKeyLocked(a *account, kind KeyKind, friendlyName string, policy *Policy) *key {
	now := s.now().UTC()
	s.seq++
	k := &key{sid: newSid("SK"), secret: newKeySecret(), friendlyName: friendlyName, accountSid: a.sid,
		kind: kind, policy: policy, created: now, updated: now, seq: s.seq}
	a.keys[k.sid] = k
	s.keyIndex[k.sid] = k
	return k
}

// DeleteKey removes a key, as an operator does in the Console.
func (s *Server) DeleteKey(accountSid, keySid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[accountSid]
	if !ok {
		return ErrNoAccount
	}
	if _, ok := a.keys[keySid]; !ok {
		return ErrNoKey
	}
	s.removeKeyLocked(a, keySid)
	return nil
}

// removeKeyLocked deletes a key of a. The caller holds s.mu.
func (s *Server) removeKeyLocked(a *account, sid string) {
	delete(a.keys, sid)
	delete(s.keyIndex, sid)
}

// Keys returns the account's keys, oldest first, without secrets.
func (s *Server) Keys(accountSid string) ([]Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[accountSid]
	if !ok {
		return nil, ErrNoAccount
	}
	var out []Key
	for _, k := range sortedKeys(a) {
		out = append(out, k.public())
	}
	return out, nil
}

// KeyCount returns how many keys the account has (0 for an unknown account).
func (s *Server) KeyCount(accountSid string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.accounts[accountSid]; ok {
		return len(a.keys)
	}
	return 0
}

// Tokens returns the account's primary and secondary auth tokens (secondary
// is "" when there is none). For test assertions; never print them.
func (s *Server) Tokens(accountSid string) (primary, secondary string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[accountSid]
	if !ok {
		return "", "", ErrNoAccount
	}
	return a.primary, a.secondary, nil
}

// CreateSecondaryToken creates (or, as Config.Secondary says, replaces) the
// account's secondary auth token, as the Console's "request a secondary
// token" does, and returns it.
func (s *Server) CreateSecondaryToken(accountSid string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[accountSid]
	if !ok {
		return "", ErrNoAccount
	}
	if a.secondary != "" && s.cfg.Secondary == SecondaryReject {
		return "", errors.New("twiliofake: the account already has a secondary auth token")
	}
	a.secondary = randomHex(16)
	a.secondaryCreated = s.now().UTC()
	return a.secondary, nil
}

// PromoteSecondary makes the secondary auth token the primary; the old
// primary stops working at once.
func (s *Server) PromoteSecondary(accountSid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[accountSid]
	if !ok {
		return ErrNoAccount
	}
	if a.secondary == "" {
		return ErrNoSecondary
	}
	a.primary, a.secondary = a.secondary, ""
	a.updated = s.now().UTC()
	return nil
}

// MessageCount returns how many messages the account has sent.
func (s *Server) MessageCount(accountSid string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.accounts[accountSid]; ok {
		return len(a.messages)
	}
	return 0
}

// sortedKeys returns the account's keys in creation order.
func sortedKeys(a *account) []*key { return vendorfake.InOrder(a.keys, (*key).order) }

func (k *key) order() uint64 { return k.seq }
