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
}

type vendorKey struct {
	secret   string
	lastUsed time.Time
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
	if !ok || key.secret != k.KeySecret {
		return errVendorAuth
	}
	key.lastUsed = v.now()
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

// deleteOnly is a delete-only provider over the vendor.
type deleteOnly struct{ v *vendor }

var (
	_ rotation.Provider      = deleteOnly{}
	_ rotation.Deleter       = deleteOnly{}
	_ rotation.UsageReporter = deleteOnly{}
	_ rotation.Discarder     = deleteOnly{}
	_ rotation.Auditor       = deleteOnly{}
)

func (deleteOnly) Name() string                  { return "vendorkey" }
func (deleteOnly) SwitchOff() rotation.SwitchOff { return rotation.SwitchOffDeleteOnly }
func (deleteOnly) Fingerprint(value string) string {
	return vendorKeyID(value)
}

func (p deleteOnly) Create(context.Context, *rotation.CreateRequest) (*rotation.CreateResponse, error) {
	return &rotation.CreateResponse{Value: vendorKeyValue(p.v.create())}, nil
}

func (deleteOnly) Set(context.Context, *rotation.SetRequest) error { return nil }

func (p deleteOnly) Test(_ context.Context, req *rotation.TestRequest) error {
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

func (p deleteOnly) Discard(_ context.Context, req *rotation.DiscardRequest) error {
	if req.Destroy {
		p.v.remove(vendorKeyID(req.Value))
	}
	return nil
}

func (p deleteOnly) LastUsed(_ context.Context, req *rotation.CredentialRequest) (*rotation.Usage, error) {
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

func (p deleteOnly) Credentials(context.Context, *rotation.CredentialRequest) ([]rotation.Credential, error) {
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
	ctx := context.Background()
	clock := testutil.NewFakeClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	v := newVendor(clock.Now)
	first := vendorKeyValue(v.create())
	env := rotationtest.NewEnv(t, rotationtest.Subject{
		Emulator: &awsemu.Config{Now: clock.Now},
		Setup: func(testing.TB, *rotationtest.Env) *rotationtest.Fixture {
			return &rotationtest.Fixture{
				Initial:     first,
				NewProvider: func(*http.Client) rotation.Provider { return deleteOnly{v} },
				Works:       func(_ context.Context, value string) error { return v.use(value) },
			}
		},
	})
	arn := env.CreateSecret(ctx)
	all := map[string]string{lifecycle.TagManaged: "true", lifecycle.TagProvider: "vendorkey"}
	for k, val := range tags {
		all[k] = val
	}
	tagSecret(t, env.SM, arn, all)
	if _, err := env.Rotate(ctx, arn); err != nil {
		t.Fatal(err)
	}
	e := &internalEnv{Env: env, clock: clock, arn: arn}
	e.lc, e.logs = newLifecycle(t, env, clock, deleteOnly{v})
	return &vendorEnv{internalEnv: e, v: v, first: first}
}
