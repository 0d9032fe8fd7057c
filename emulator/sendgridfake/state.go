package sendgridfake

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/dualkey/dualkey/emulator/internal/vendorfake"
)

// DefaultMaxKeys is SendGrid's limit of API keys per user.
const DefaultMaxKeys = 100

// User is a SendGrid user (an account's parent user or a subuser).
type User struct {
	// Username identifies the user; a subuser's is what on-behalf-of names.
	Username string
	// Parent is the parent user's Username for a subuser, "" otherwise.
	Parent string
	// AutoScopes are added by SendGrid to every key the user gets, whatever
	// the request asked (real accounts get e.g. "2fa_required",
	// "sender_verification_eligible"). Providers that compare scope sets must
	// expect them.
	AutoScopes []string
}

// Key is an API key. Secret (the whole "SG.…" key) is set only where the key
// was created; listings leave it empty.
type Key struct {
	ID       string
	Name     string
	Scopes   []string // sorted
	Username string   // the user the key belongs to
	Secret   string
	Created  time.Time
}

// Errors of the Go API.
var (
	ErrNoUser     = errors.New("sendgridfake: no such user")
	ErrNoKey      = errors.New("sendgridfake: no such key")
	ErrUserExists = errors.New("sendgridfake: user already exists")
)

type user struct {
	User
	keys    map[string]*key
	limiter vendorfake.Limiter
}

type key struct {
	id, secret, name string
	scopes           []string
	username         string
	created          time.Time
	seq              uint64 // creation order
}

func (k *key) public() Key {
	return Key{ID: k.id, Name: k.name, Scopes: append([]string{}, k.scopes...), Username: k.username, Created: k.created}
}

// scopeRE is what a scope looks like: "mail.send", "api_keys.read",
// "2fa_required".
var scopeRE = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)*$`)

// randomToken returns n random bytes, base64url-encoded without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("sendgridfake: crypto/rand: %v", err)) // never happens (Go 1.24+ crypto/rand does not fail)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// newKeyMaterial returns an id (22 characters) and the whole 69-character
// key "SG.<id>.<43 characters>", as SendGrid's keys look.
func newKeyMaterial() (id, secret string) {
	id = randomToken(16)
	return id, "SG." + id + "." + randomToken(32)
}

// normScopes sorts and de-duplicates scopes and checks their form.
func normScopes(in []string) ([]string, error) {
	set := map[string]bool{}
	for _, s := range in {
		if !scopeRE.MatchString(s) {
			return nil, fmt.Errorf("scope %q is not a SendGrid scope such as mail.send", s)
		}
		set[s] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}

// union returns the sorted union of scope lists.
func union(lists ...[]string) []string {
	var all []string
	for _, l := range lists {
		all = append(all, l...)
	}
	out, _ := normScopes(all)
	return out
}

// missing returns the scopes of want that have does not hold, sorted.
func missing(want, have []string) []string {
	h := map[string]bool{}
	for _, s := range have {
		h[s] = true
	}
	var out []string
	for _, s := range want {
		if !h[s] {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// AddUser adds a user (a subuser when u.Parent is set; the parent must
// exist).
func (s *Server) AddUser(u User) error {
	if u.Username == "" || strings.ContainsAny(u.Username, " \t\r\n") {
		return fmt.Errorf("sendgridfake: username %q is empty or has spaces", u.Username)
	}
	auto, err := normScopes(u.AutoScopes)
	if err != nil {
		return fmt.Errorf("sendgridfake: AutoScopes: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.Username]; ok {
		return ErrUserExists
	}
	if u.Parent != "" {
		p, ok := s.users[u.Parent]
		if !ok {
			return fmt.Errorf("sendgridfake: parent %q: %w", u.Parent, ErrNoUser)
		}
		if p.Parent != "" {
			return fmt.Errorf("sendgridfake: %q is a subuser and cannot have subusers", u.Parent)
		}
	}
	u.AutoScopes = auto
	s.users[u.Username] = &user{User: u, keys: map[string]*key{}}
	return nil
}

// CreateKey gives a user a key with exactly scopes (plus the user's
// AutoScopes), bypassing the API, as SendGrid's web app makes a first key;
// it returns the key with its secret.
func (s *Server) CreateKey(username, name string, scopes []string) (Key, error) {
	sc, err := normScopes(scopes)
	if err != nil {
		return Key{}, fmt.Errorf("sendgridfake: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[username]
	if !ok {
		return Key{}, ErrNoUser
	}
	if len(u.keys) >= s.maxKeys {
		return Key{}, fmt.Errorf("sendgridfake: user %q already has %d keys", username, s.maxKeys)
	}
	k := s.addKeyLocked(u, name, sc)
	out := k.public()
	out.Secret = k.secret
	return out, nil
}

func (s *Server) addKeyLocked(u *user, name string, scopes []string) *key {
	id, secret := newKeyMaterial()
	s.seq++
	k := &key{id: id, secret: secret, name: name, scopes: union(scopes, u.AutoScopes), username: u.Username, created: s.now().UTC(), seq: s.seq}
	u.keys[id] = k
	s.keyIndex[id] = k
	return k
}

// DeleteKey removes a user's key, as the web app does.
func (s *Server) DeleteKey(username, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[username]
	if !ok {
		return ErrNoUser
	}
	if _, ok := u.keys[id]; !ok {
		return ErrNoKey
	}
	delete(u.keys, id)
	delete(s.keyIndex, id)
	return nil
}

// Keys returns a user's keys, oldest first, without secrets.
func (s *Server) Keys(username string) ([]Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[username]
	if !ok {
		return nil, ErrNoUser
	}
	var out []Key
	for _, k := range sortedKeys(u) {
		out = append(out, k.public())
	}
	return out, nil
}

// KeyCount returns how many keys a user has (0 for an unknown user).
func (s *Server) KeyCount(username string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[username]; ok {
		return len(u.keys)
	}
	return 0
}

func sortedKeys(u *user) []*key { return vendorfake.InOrder(u.keys, (*key).order) }

func (k *key) order() uint64 { return k.seq }
