package lifecycle_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

// vendor stands in for a vendor API whose keys cannot be disabled, only
// deleted (Twilio API keys, SendGrid keys), until those providers exist. It
// keeps keys in memory, checks a key's secret on every use like the real
// API and records the last use to its granularity.
type vendor struct {
	mu          sync.Mutex
	now         func() time.Time
	granularity time.Duration
	keys        map[string]*vendorKey
	deleted     []string
	calls       []string // switch-offs and switch-ons, in order
	// ignoresExpiry makes the vendor forget to expire keys.
	ignoresExpiry bool
}

// dead reports whether the vendor refuses the key (callers hold mu).
func (v *vendor) dead(key *vendorKey) bool {
	return key.disabled || (!v.ignoresExpiry && !key.expires.IsZero() && !v.now().Before(key.expires))
}

// expire sets when the vendor switches a key off.
func (v *vendor) expire(id string, at time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.keys[id].expires = at
}

type vendorKey struct {
	secret   string
	lastUsed time.Time
	disabled bool
	expires  time.Time // the vendor switches the key off then (zero: never)
}

var errVendorAuth = errors.New("vendor: 401 authenticate: invalid key")

func newVendor(now func() time.Time) *vendor {
	return &vendor{now: now, keys: map[string]*vendorKey{}}
}

func (v *vendor) create() (id, secret string) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	v.mu.Lock()
	defer v.mu.Unlock()
	id = fmt.Sprintf("SK%032x", b)[:18]
	secret = hex.EncodeToString(b)
	v.keys[id] = &vendorKey{secret: secret}
	return id, secret
}

// use is a consumer's API call with a key.
func (v *vendor) use(value string) error {
	var k struct{ KeyID, KeySecret string }
	_ = json.Unmarshal([]byte(value), &k)
	v.mu.Lock()
	defer v.mu.Unlock()
	key, ok := v.keys[k.KeyID]
	if !ok || key.secret != k.KeySecret || v.dead(key) {
		return errVendorAuth
	}
	key.lastUsed = v.now()
	return nil
}

// setDisabled switches a key off or on; it fails when the key is gone.
func (v *vendor) setDisabled(id string, disabled bool) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	key, ok := v.keys[id]
	if !ok {
		return fmt.Errorf("vendor: key %s does not exist", id)
	}
	key.disabled = disabled
	v.calls = append(v.calls, fmt.Sprintf("disabled=%v %s", disabled, id))
	return nil
}

func (v *vendor) live() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var ids []string
	for id := range v.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (v *vendor) remove(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.keys[id]; ok {
		delete(v.keys, id)
		v.deleted = append(v.deleted, id)
	}
}

// vendorKeyValue is the secret value: {"key_id": ..., "key_secret": ...}.
func vendorKeyValue(id, secret string) string {
	b, _ := json.Marshal(map[string]string{"KeyID": id, "KeySecret": secret})
	return string(b)
}

func vendorKeyID(value string) string {
	var k struct{ KeyID string }
	_ = json.Unmarshal([]byte(value), &k)
	return k.KeyID
}

// vendorBase is what every test provider over the vendor shares: create,
// test, usage evidence, discard and listing. It declares no switch-off.
type vendorBase struct{ v *vendor }

func (vendorBase) Fingerprint(value string) string { return vendorKeyID(value) }

// deleteOnly is a delete-only provider over the vendor.
type deleteOnly struct{ vendorBase }

var (
	_ rotation.Provider      = deleteOnly{}
	_ rotation.Deleter       = deleteOnly{}
	_ rotation.UsageReporter = deleteOnly{}
	_ rotation.Discarder     = deleteOnly{}
	_ rotation.Auditor       = deleteOnly{}
)

func (deleteOnly) Name() string                  { return "vendorkey" }
func (deleteOnly) SwitchOff() rotation.SwitchOff { return rotation.SwitchOffDeleteOnly }

func (p vendorBase) Create(context.Context, *rotation.CreateRequest) (*rotation.CreateResponse, error) {
	return &rotation.CreateResponse{Value: vendorKeyValue(p.v.create())}, nil
}

func (vendorBase) Set(context.Context, *rotation.SetRequest) error { return nil }

func (p vendorBase) Test(_ context.Context, req *rotation.TestRequest) error {
	var k struct{ KeyID, KeySecret string }
	_ = json.Unmarshal([]byte(req.Pending.Value), &k)
	p.v.mu.Lock()
	defer p.v.mu.Unlock()
	if key, ok := p.v.keys[k.KeyID]; !ok || key.secret != k.KeySecret {
		return errVendorAuth
	}
	return nil
}

func (p deleteOnly) Delete(_ context.Context, req *rotation.CredentialRequest) error {
	for _, st := range req.Version.Stages {
		if st == rotation.StageCurrent || st == rotation.StagePending {
			return fmt.Errorf("refusing to delete the key of a %s version", st)
		}
	}
	p.v.remove(vendorKeyID(req.Version.Value))
	return nil
}

func (p vendorBase) Discard(_ context.Context, req *rotation.DiscardRequest) error {
	if req.Destroy {
		p.v.remove(vendorKeyID(req.Value))
	}
	return nil
}

func (p vendorBase) LastUsed(_ context.Context, req *rotation.CredentialRequest) (*rotation.Usage, error) {
	id := vendorKeyID(req.Version.Value)
	p.v.mu.Lock()
	defer p.v.mu.Unlock()
	k, ok := p.v.keys[id]
	if !ok {
		return nil, fmt.Errorf("vendor: key %s does not exist", id)
	}
	if k.lastUsed.IsZero() {
		return &rotation.Usage{Known: true, Detail: "never used", Granularity: p.v.granularity}, nil
	}
	at := k.lastUsed
	if p.v.granularity > 0 {
		at = at.Truncate(p.v.granularity)
	}
	return &rotation.Usage{Known: true, LastUsed: at, Detail: "last used " + at.UTC().Format(time.RFC3339), Granularity: p.v.granularity}, nil
}

func (p vendorBase) Credentials(context.Context, *rotation.CredentialRequest) ([]rotation.Credential, error) {
	var out []rotation.Credential
	for _, id := range p.v.live() {
		out = append(out, rotation.Credential{Fingerprint: id, Status: "Active"})
	}
	return out, nil
}

// vendorEnv is a delete-only secret in the emulator, rotated once.
type vendorEnv struct {
	*internalEnv
	v     *vendor
	first string // the original value
}

func newVendorEnv(t *testing.T, tags map[string]string) *vendorEnv {
	t.Helper()
	return newProviderEnv(t, func(v *vendor) rotation.Provider { return deleteOnly{vendorBase{v}} }, tags)
}

// reversible is a provider over the vendor that can disable a key and
// enable it again but never deletes one (like a database whose next
// rotation reuses the user).
type reversible struct{ vendorBase }

var _ rotation.Deactivator = reversible{}

func (reversible) Name() string                  { return "revkey" }
func (reversible) SwitchOff() rotation.SwitchOff { return rotation.SwitchOffReversible }

func (p reversible) Deactivate(_ context.Context, req *rotation.CredentialRequest) error {
	return p.v.setDisabled(vendorKeyID(req.Version.Value), true)
}

func (p reversible) Reactivate(_ context.Context, req *rotation.CredentialRequest) error {
	return p.v.setDisabled(vendorKeyID(req.Version.Value), false)
}

// limited is reversible, deletes, and allows two keys (like IAM).
type limited struct{ reversible }

var (
	_ rotation.Deleter         = limited{}
	_ rotation.CredentialLimit = limited{}
)

func (limited) Name() string { return "limkey" }
func (limited) MaxLive() int { return 2 }

func (p limited) Delete(ctx context.Context, req *rotation.CredentialRequest) error {
	return deleteOnly(p.reversible).Delete(ctx, req)
}

// newProviderEnv is newVendorEnv for any provider over the vendor.
func newProviderEnv(t *testing.T, p func(*vendor) rotation.Provider, tags map[string]string) *vendorEnv {
	t.Helper()
	ctx := context.Background()
	clock := testutil.NewFakeClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	v := newVendor(clock.Now)
	first := vendorKeyValue(v.create())
	provider := p(v)
	env := rotationtest.NewEnv(t, rotationtest.Subject{
		Emulator: &awsemu.Config{Now: clock.Now},
		Setup: func(testing.TB, *rotationtest.Env) *rotationtest.Fixture {
			return &rotationtest.Fixture{
				Initial:     first,
				NewProvider: func(*http.Client) rotation.Provider { return provider },
				Works:       func(_ context.Context, value string) error { return v.use(value) },
			}
		},
	})
	arn := env.CreateSecret(ctx)
	all := map[string]string{lifecycle.TagManaged: "true", lifecycle.TagProvider: provider.Name()}
	for k, val := range tags {
		all[k] = val
	}
	tagSecret(t, env.SM, arn, all)
	if _, err := env.Rotate(ctx, arn); err != nil {
		t.Fatal(err)
	}
	e := &internalEnv{Env: env, clock: clock, arn: arn}
	e.lc, e.logs = newLifecycle(t, env, clock, provider)
	return &vendorEnv{internalEnv: e, v: v, first: first}
}

// expiring is a provider whose old keys the vendor switches off itself at
// the time chosen when they were rolled (Stripe).
type expiring struct{ vendorBase }

var _ rotation.ExpiryChecker = expiring{}

func (expiring) Name() string                  { return "expkey" }
func (expiring) SwitchOff() rotation.SwitchOff { return rotation.SwitchOffExternal }

func (p expiring) CheckDead(_ context.Context, req *rotation.CredentialRequest) (*rotation.Liveness, error) {
	id := vendorKeyID(req.Version.Value)
	p.v.mu.Lock()
	defer p.v.mu.Unlock()
	key, ok := p.v.keys[id]
	if !ok || p.v.dead(key) {
		return &rotation.Liveness{Dead: true, Detail: "the vendor refuses " + id}, nil
	}
	return &rotation.Liveness{ExpiresAt: key.expires, Detail: "the vendor accepts " + id}, nil
}
