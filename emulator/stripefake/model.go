package stripefake

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"
	"time"
)

// KeyKind tells a secret key (sk_, every permission) from a restricted key
// (rk_, only the permissions it was given).
type KeyKind string

// Key kinds.
const (
	KindSecret     KeyKind = "secret"
	KindRestricted KeyKind = "restricted"
)

// Restricted-key permissions the routes need, named like Stripe's ("rak_…").
// A "_write" permission implies the matching "_read", as on Stripe.
//
// GET /v1/account with a restricted key needs PermAccountRead: Stripe answers
// such a key 403 unless it has 'rak_accounts_kyc_id_numbers_read', even when
// every resource is set to Read (stripe/stripe-node#2246,
// woocommerce/woocommerce-gateway-stripe#634). The 403's message names the
// account.
const (
	PermAccountRead  = "rak_accounts_kyc_id_numbers_read"
	PermBalanceRead  = "rak_balance_read"
	PermChargeRead   = "rak_charge_read"
	PermCustomerRead = "rak_customer_read"
	PermWebhookRead  = "rak_webhook_read"
	PermWebhookWrite = "rak_webhook_write"
)

// maxEndpoints is Stripe's limit of webhook endpoints per account and mode.
const maxEndpoints = 16

// Account is a Stripe account as the Dashboard shows it.
type Account struct {
	ID              string
	Email           string
	BusinessName    string
	Country         string
	DefaultCurrency string
	Created         time.Time
}

// AccountOptions configures CreateAccount. Zero fields take defaults: a
// random acct_ id, country "US", currency "usd".
type AccountOptions struct {
	ID              string
	Email           string
	BusinessName    string
	Country         string
	DefaultCurrency string
}

// Key is an API key as the Dashboard shows it (including its value, which
// only the test sees).
type Key struct {
	// Secret is the key value: sk_test_…, sk_live_…, rk_test_… or rk_live_….
	Secret    string
	AccountID string
	Kind      KeyKind
	Live      bool
	Name      string
	// Permissions of a restricted key (nil for a secret key, which has all).
	Permissions []string
	Created     time.Time
	// ExpiresAt is when the key stops working; zero means never.
	ExpiresAt time.Time
}

// Fingerprint identifies the key without revealing it (MaskKey).
func (k Key) Fingerprint() string { return MaskKey(k.Secret) }

// KeySpec configures CreateKey.
type KeySpec struct {
	Kind        KeyKind // default KindSecret
	Live        bool
	Name        string
	Permissions []string // restricted keys only
	ExpiresAt   time.Time
}

// Endpoint is a webhook endpoint as the Dashboard shows it, secrets
// included.
type Endpoint struct {
	ID            string
	AccountID     string
	Live          bool
	URL           string
	Description   string
	APIVersion    string // "" renders as null
	EnabledEvents []string
	Metadata      map[string]string
	Disabled      bool
	Created       time.Time
	// Secret is the current signing secret (whsec_…).
	Secret string
	// PreviousSecrets still sign deliveries until their expiry (after a
	// Dashboard roll with an overlap); expired ones are dropped.
	PreviousSecrets []ExpiringSecret
}

// ExpiringSecret is a signing secret kept during a roll's overlap.
type ExpiringSecret struct {
	Secret    string
	ExpiresAt time.Time
}

type account struct {
	Account
	seq int64
}

type key struct {
	Key
}

func (k *key) expired(now time.Time) bool {
	return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt)
}

// allows reports whether the key holds perm (write implies read).
func (k *key) allows(perm string) bool {
	if k.Kind == KindSecret {
		return true
	}
	write := strings.TrimSuffix(perm, "_read") + "_write"
	return slices.Contains(k.Permissions, perm) || (strings.HasSuffix(perm, "_read") && slices.Contains(k.Permissions, write))
}

type endpoint struct {
	Endpoint
	seq int64 // creation order, for list ordering within one second
}

func (e *endpoint) view() Endpoint {
	v := e.Endpoint
	v.EnabledEvents = slices.Clone(e.EnabledEvents)
	v.Metadata = cloneMap(e.Metadata)
	v.PreviousSecrets = slices.Clone(e.PreviousSecrets)
	return v
}

// signingSecrets returns the secrets that sign a delivery now: the current
// one first, then unexpired previous ones.
func (e *endpoint) signingSecrets(now time.Time) []string {
	out := []string{e.Secret}
	for _, p := range e.PreviousSecrets {
		if now.Before(p.ExpiresAt) {
			out = append(out, p.Secret)
		}
	}
	return out
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomString returns n characters of crypto-random base62.
func randomString(n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(base62)))
	for i := range b {
		x, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(fmt.Sprintf("stripefake: crypto/rand failed: %v", err)) // never happens on a working system
		}
		b[i] = base62[x.Int64()]
	}
	return string(b)
}

func newID(prefix string, n int) string { return prefix + randomString(n) }

func keyPrefix(kind KeyKind, live bool) string {
	p := "sk_"
	if kind == KindRestricted {
		p = "rk_"
	}
	if live {
		return p + "live_"
	}
	return p + "test_"
}

// CreateAccount adds an account.
func (s *Server) CreateAccount(opts AccountOptions) (Account, error) {
	if opts.ID == "" {
		opts.ID = newID("acct_", 16)
	} else if !strings.HasPrefix(opts.ID, "acct_") || len(opts.ID) < 6 {
		return Account{}, fmt.Errorf("stripefake: account id %q must start with acct_", opts.ID)
	}
	if opts.Country == "" {
		opts.Country = "US"
	}
	if opts.DefaultCurrency == "" {
		opts.DefaultCurrency = "usd"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[opts.ID]; ok {
		return Account{}, fmt.Errorf("stripefake: account %s already exists", opts.ID)
	}
	a := &account{Account: Account{
		ID: opts.ID, Email: opts.Email, BusinessName: opts.BusinessName,
		Country: opts.Country, DefaultCurrency: opts.DefaultCurrency, Created: s.now(),
	}}
	s.accounts[a.ID] = a
	return a.Account, nil
}

// CreateKey adds an API key to an account, like "Create secret key" or
// "Create restricted key" in the Dashboard.
func (s *Server) CreateKey(accountID string, spec KeySpec) (Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createKeyLocked(accountID, spec)
}

func (s *Server) createKeyLocked(accountID string, spec KeySpec) (Key, error) {
	if _, ok := s.accounts[accountID]; !ok {
		return Key{}, fmt.Errorf("stripefake: no account %s", accountID)
	}
	if spec.Kind == "" {
		spec.Kind = KindSecret
	}
	if spec.Kind != KindSecret && spec.Kind != KindRestricted {
		return Key{}, fmt.Errorf("stripefake: key kind %q: want %q or %q", spec.Kind, KindSecret, KindRestricted)
	}
	if spec.Kind == KindSecret && len(spec.Permissions) > 0 {
		return Key{}, errors.New("stripefake: a secret key has every permission; give Permissions only to a restricted key")
	}
	k := &key{Key: Key{
		Secret:      keyPrefix(spec.Kind, spec.Live) + randomString(32),
		AccountID:   accountID,
		Kind:        spec.Kind,
		Live:        spec.Live,
		Name:        spec.Name,
		Permissions: slices.Clone(spec.Permissions),
		Created:     s.now(),
		ExpiresAt:   spec.ExpiresAt,
	}}
	s.keys[k.Secret] = k
	return k.Key, nil
}

// RollKey does what "Roll key…" does in the Dashboard: it creates a new key
// of the same account, kind, mode, name and permissions and sets the old
// key's expiry to expiresAt (zero: now, the Dashboard's "now" choice). The
// old key keeps working until then and answers api_key_expired after.
func (s *Server) RollKey(secret string, expiresAt time.Time) (Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.keys[secret]
	if !ok {
		return Key{}, fmt.Errorf("stripefake: no key %s", MaskKey(secret))
	}
	now := s.now()
	if old.expired(now) {
		return Key{}, fmt.Errorf("stripefake: key %s already expired", MaskKey(secret))
	}
	nk, err := s.createKeyLocked(old.AccountID, KeySpec{Kind: old.Kind, Live: old.Live, Name: old.Name, Permissions: old.Permissions})
	if err != nil {
		return Key{}, err
	}
	if expiresAt.IsZero() {
		expiresAt = now
	}
	old.ExpiresAt = expiresAt
	return nk, nil
}

// ExpireKey sets a key's expiry (zero: now).
func (s *Server) ExpireKey(secret string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[secret]
	if !ok {
		return fmt.Errorf("stripefake: no key %s", MaskKey(secret))
	}
	if at.IsZero() {
		at = s.now()
	}
	k.ExpiresAt = at
	return nil
}

// Keys returns an account's keys, oldest first.
func (s *Server) Keys(accountID string) []Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Key
	for _, k := range s.keys {
		if k.AccountID == accountID {
			out = append(out, k.Key)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

// Endpoints returns an account's webhook endpoints in one mode, oldest first.
func (s *Server) Endpoints(accountID string, live bool) []Endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	var eps []*endpoint
	for _, e := range s.endpoints {
		if e.AccountID == accountID && e.Live == live {
			eps = append(eps, e)
		}
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].seq < eps[j].seq })
	out := make([]Endpoint, len(eps))
	for i, e := range eps {
		out[i] = e.view()
	}
	return out
}

// Endpoint returns one webhook endpoint by id.
func (s *Server) Endpoint(id string) (Endpoint, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.endpoints[id]
	if !ok {
		return Endpoint{}, false
	}
	return e.view(), true
}

// RollEndpointSecret does what "Roll secret" does for a webhook endpoint in
// the Dashboard (the API has no such call): a new signing secret replaces the
// current one, which keeps signing deliveries next to it until
// previousExpiresAt (zero: it stops at once). It returns the new secret.
func (s *Server) RollEndpointSecret(id string, previousExpiresAt time.Time) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.endpoints[id]
	if !ok {
		return "", fmt.Errorf("stripefake: no webhook endpoint %s", id)
	}
	now := s.now()
	var keep []ExpiringSecret
	for _, p := range e.PreviousSecrets {
		if now.Before(p.ExpiresAt) {
			keep = append(keep, p)
		}
	}
	if previousExpiresAt.After(now) {
		keep = append(keep, ExpiringSecret{Secret: e.Secret, ExpiresAt: previousExpiresAt})
	}
	e.PreviousSecrets = keep
	e.Secret = newWebhookSecret()
	return e.Secret, nil
}

func newWebhookSecret() string { return "whsec_" + randomString(32) }
