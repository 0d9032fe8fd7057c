package sendgrid_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dualkey/dualkey/emulator/sendgridfake"
	"github.com/dualkey/dualkey/emulator/sendgridfake/sendgridprism"
	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/providers/sendgrid"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
	"github.com/dualkey/dualkey/shared/vendorkey/vendorkeytest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	sendgridprism.Close()
	os.Exit(code)
}

const adminSecretName = "conformance/sendgrid-admin"

// autoScopes are what SendGrid adds to every key of the test users.
var autoScopes = []string{"2fa_required", "sender_verification_eligible"}

// keyScopes are the rotated key's scopes (besides the auto ones).
var keyScopes = []string{"alerts.read", "mail.send", "stats.read"}

// adminScopes are the admin key's.
var adminScopes = []string{"alerts.read", "api_keys.create", "api_keys.delete", "api_keys.read", "mail.send", "stats.read", "templates.read"}

// users is a counter for unique user names on the shared (Prism) fake.
var users atomic.Int64

// opts shapes a bed.
type opts struct {
	// subuser puts the rotated key in a subuser of the admin's user.
	subuser bool
	// adminScopes replaces the admin key's scopes.
	adminScopes []string
	// prism sends the provider's requests through Prism (sendgridprism).
	prism bool
}

// bed is one test world: the kit's AWS emulator and engine, a SendGrid
// fake, a parent user with an admin key, maybe a subuser, the first key
// and the admin secret.
type bed struct {
	t        testing.TB
	env      *rotationtest.Env
	fake     *sendgridfake.Server
	apiURL   string
	parent   string
	owner    string // the rotated key's user (parent or subuser)
	subuser  string
	admin    sendgridfake.Key
	adminARN string
	first    sendgridfake.Key
	foreign  []string
	logs     *testutil.SyncBuffer
	// rt carries the provider's requests when the test gives no client
	// (Prism's checker in prism mode; nil: straight to the fake).
	rt http.RoundTripper
}

func subject(o opts, out **bed) rotationtest.Subject {
	// createSecret and testSecret each read the admin secret.
	return vendorkeytest.Subject(11, func(t testing.TB, env *rotationtest.Env) *bed { return newBed(t, env, o) }, (*bed).fixture, out)
}

func newBed(t testing.TB, env *rotationtest.Env, o opts) *bed {
	t.Helper()
	b := &bed{t: t, env: env, logs: &testutil.SyncBuffer{}}
	if o.prism {
		pe := sendgridprism.Shared(t)
		b.fake = pe.Fake
		// The engine's and the provider's calls go through the kit's
		// counted transport and then Prism's checker and router.
		b.rt = router{sendgrid: pe.HTTPClient(t).Transport}
		env.Faults().Base = b.rt
		b.apiURL = sendgridfake.BaseURL
	} else {
		b.fake = sendgridfake.New(sendgridfake.Config{Now: env.Clock.Now})
		u, err := b.fake.Start("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.fake.Close() })
		b.apiURL = u
	}
	n := users.Add(1)
	b.parent = fmt.Sprintf("acme%d", n)
	if err := b.fake.AddUser(sendgridfake.User{Username: b.parent, AutoScopes: autoScopes}); err != nil {
		t.Fatal(err)
	}
	b.owner = b.parent
	if o.subuser {
		b.subuser = fmt.Sprintf("acme%d-eu", n)
		if err := b.fake.AddUser(sendgridfake.User{Username: b.subuser, Parent: b.parent, AutoScopes: autoScopes}); err != nil {
			t.Fatal(err)
		}
		b.owner = b.subuser
	}
	scopes := adminScopes
	if o.adminScopes != nil {
		scopes = o.adminScopes
	}
	var err error
	if b.admin, err = b.fake.CreateKey(b.parent, "dualkey admin", scopes); err != nil {
		t.Fatal(err)
	}
	if b.first, err = b.fake.CreateKey(b.owner, "orders service", keyScopes); err != nil {
		t.Fatal(err)
	}
	foreign, err := b.fake.CreateKey(b.owner, "billing service", []string{"mail.send"})
	if err != nil {
		t.Fatal(err)
	}
	b.foreign = append(b.foreign, foreign.ID)
	b.adminARN = vendorkeytest.CreateAdminSecret(t, env, adminSecretName, map[string]string{"api_key": b.admin.Secret})
	return b
}

// value is a secret value for key k (without api_key_id: it is derived).
func (b *bed) value(k sendgridfake.Key) string {
	m := map[string]string{"api_key": k.Secret, "master_secret_arn": b.adminARN, "owner": "orders team"}
	if b.subuser != "" {
		m["subuser"] = b.subuser
	}
	raw, _ := json.Marshal(m)
	return string(raw)
}

// router sends requests for api.sendgrid.com to sendgrid (Prism), others
// (Secrets Manager) straight on.
type router struct{ sendgrid http.RoundTripper }

func (r router) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Hostname() == "api.sendgrid.com" {
		return r.sendgrid.RoundTrip(req)
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (b *bed) provider(hc *http.Client) *sendgrid.Provider {
	return sendgrid.New(sendgrid.Config{
		APIURL:     b.apiURL,
		HTTPClient: vendorkeytest.Client(hc, b.rt),
		Now:        b.env.Clock.Now,
		Sleep:      vendorkeytest.Sleep(b.env),
		Logger:     slog.New(slog.NewJSONHandler(b.logs, nil)),
	})
}

func (b *bed) fixture() *rotationtest.Fixture {
	return &rotationtest.Fixture{
		Initial:          b.value(b.first),
		NewProvider:      func(hc *http.Client) rotation.Provider { return b.provider(hc) },
		Works:            b.works,
		Live:             b.live,
		BetweenRotations: func(ctx context.Context, env *rotationtest.Env, arn string) { b.retirePrevious(ctx, arn) },
	}
}

// works asks the fake (directly) for the scopes of the key in value.
func (b *bed) works(ctx context.Context, value string) error {
	var s sendgrid.Secret
	if err := json.Unmarshal([]byte(value), &s); err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sendgridfake.BaseURL+"/v3/scopes", nil)
	req.Header.Set("Authorization", "Bearer "+s.APIKey)
	resp, err := sendgridfake.NewHTTPClient(b.fake.Endpoints(), nil).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v3/scopes with the key: HTTP %d", resp.StatusCode)
	}
	return nil
}

// live lists the owner's keys that belong to the secret.
func (b *bed) live(context.Context) ([]string, error) {
	keys, err := b.fake.Keys(b.owner)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range keys {
		if k.ID == b.admin.ID || slices.Contains(b.foreign, k.ID) {
			continue
		}
		out = append(out, k.ID)
	}
	return out, nil
}

// retirePrevious deletes the AWSPREVIOUS version's key and removes the
// label, as the lifecycle does.
func (b *bed) retirePrevious(ctx context.Context, arn string) {
	b.t.Helper()
	id := vendorkeytest.Holder(b.env.Labels(ctx, arn), rotation.StagePrevious)
	if id == "" {
		return
	}
	keyID := b.provider(nil).Fingerprint(b.env.VersionValue(ctx, arn, id)) // the key id, from api_key when the value has no api_key_id
	if err := b.fake.DeleteKey(b.owner, keyID); err != nil && !errors.Is(err, sendgridfake.ErrNoKey) {
		b.t.Fatal(err)
	}
	vendorkeytest.RemoveLabel(ctx, b.t, b.env, arn, rotation.StagePrevious, id)
}

// keys returns the owner's keys by id (name and scopes).
func (b *bed) keys() map[string]string {
	b.t.Helper()
	keys, err := b.fake.Keys(b.owner)
	if err != nil {
		b.t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		out[k.ID] = k.Name + " " + strings.Join(k.Scopes, ",")
	}
	return out
}

func (b *bed) current(ctx context.Context, arn string) sendgrid.Secret {
	var s sendgrid.Secret
	if err := json.Unmarshal([]byte(b.env.Value(ctx, arn, rotation.StageCurrent)), &s); err != nil {
		b.t.Fatal(err)
	}
	return s
}

func (b *bed) noSecrets(what, text string) {
	b.t.Helper()
	for _, s := range []string{b.admin.Secret, b.first.Secret} {
		if strings.Contains(text, s) {
			b.t.Fatalf("%s shows a key", what)
		}
	}
}
