package twilio_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/dualkey/dualkey/emulator/twiliofake"
	"github.com/dualkey/dualkey/emulator/twiliofake/twilioprism"
	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/providers/twilio"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
	"github.com/dualkey/dualkey/shared/vendorkey/vendorkeytest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	twilioprism.Close()
	os.Exit(code)
}

// adminSecretName is the secret holding the admin credential.
const adminSecretName = "conformance/twilio-admin"

// policy is the restricted keys' policy in these tests.
var policy = &twiliofake.Policy{Allow: []string{"/twilio/messaging/messages/read", "/twilio/messaging/messages/create"}}

// opts shapes a bed.
type opts struct {
	// restricted makes the secret's first key a restricted key with policy.
	restricted bool
	// admin is the admin credential: "token" (default), "main", "standard".
	admin string
	// prism sends the provider's requests through Prism (twilioprism.Shared)
	// instead of straight to a fake of the bed's own.
	prism bool
}

// bed is one test world: the kit's AWS emulator and engine, a Twilio fake
// on the kit's clock (or the package's shared fake behind Prism), an
// account with a first key, and the admin secret.
type bed struct {
	t         testing.TB
	env       *rotationtest.Env
	fake      *twiliofake.Server
	endpoints twiliofake.Endpoints // where the provider's requests go
	acct      twiliofake.Account
	adminKey  *twiliofake.Key // when the admin is a key
	adminARN  string
	first     twiliofake.Key
	// foreign keys belong to other consumers of the account: never touched.
	foreign []string
	logs    *testutil.SyncBuffer
	// rt carries the provider's requests when the test gives no client
	// (Prism's checker in prism mode; nil: straight to the fake).
	rt http.RoundTripper
}

func subject(o opts, out **bed) rotationtest.Subject {
	// createSecret and testSecret each read the admin secret (and
	// createSecret AWSPREVIOUS when a version holds it).
	return vendorkeytest.Subject(11, func(t testing.TB, env *rotationtest.Env) *bed { return newBed(t, env, o) }, (*bed).fixture, out)
}

func newBed(t testing.TB, env *rotationtest.Env, o opts) *bed {
	t.Helper()
	b := &bed{t: t, env: env, logs: &testutil.SyncBuffer{}}
	if o.prism {
		// Every call of the engine and the provider goes through the
		// kit's counted transport and then Prism's checker (Secrets
		// Manager's answers carry nothing Prism-specific and pass).
		pe := twilioprism.Shared(t)
		b.fake, b.endpoints = pe.Fake, pe.Endpoints
		b.rt = pe.HTTPClient(t).Transport.(*twiliofake.Transport).Base
		env.Faults().Base = b.rt
	} else {
		b.fake = twiliofake.New(twiliofake.Config{Now: env.Clock.Now})
		if _, err := b.fake.Start("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.fake.Close() })
		b.endpoints = b.fake.Endpoints()
	}
	b.acct = b.fake.CreateAccount("orders")
	var err error
	if o.restricted {
		b.first, err = b.fake.CreateKey(b.acct.Sid, twiliofake.KindRestricted, "orders service", policy)
	} else {
		b.first, err = b.fake.CreateKey(b.acct.Sid, twiliofake.KindStandard, "orders service", nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := b.fake.CreateKey(b.acct.Sid, twiliofake.KindStandard, "billing service", nil)
	if err != nil {
		t.Fatal(err)
	}
	b.foreign = append(b.foreign, foreign.Sid)
	adminValue := map[string]string{"account_sid": b.acct.Sid, "auth_token": b.acct.AuthToken}
	switch o.admin {
	case "main", "standard":
		kind := twiliofake.KindMain
		if o.admin == "standard" {
			kind = twiliofake.KindStandard
		}
		k, err := b.fake.CreateKey(b.acct.Sid, kind, "dualkey admin", nil)
		if err != nil {
			t.Fatal(err)
		}
		b.adminKey = &k
		adminValue = map[string]string{"account_sid": b.acct.Sid, "api_key_sid": k.Sid, "api_key_secret": k.Secret}
	}
	b.adminARN = vendorkeytest.CreateAdminSecret(t, env, adminSecretName, adminValue)
	return b
}

// value is a secret value for key k.
func (b *bed) value(k twiliofake.Key) string {
	raw, _ := json.Marshal(map[string]string{"account_sid": b.acct.Sid, "api_key_sid": k.Sid, "api_key_secret": k.Secret,
		"master_secret_arn": b.adminARN, "owner": "orders team"})
	return string(raw)
}

// provider builds the provider under test; its requests go through hc's
// transport (the kit's counted one) when hc is not nil.
func (b *bed) provider(hc *http.Client) *twilio.Provider {
	return twilio.New(twilio.Config{
		HTTPClient: vendorkeytest.Client(hc, b.rt),
		Endpoints:  twilio.Endpoints{API: b.endpoints.API, IAM: b.endpoints.IAM},
		Now:        b.env.Clock.Now,
		// Waits move the kit's clock instead of sleeping.
		Sleep:  vendorkeytest.Sleep(b.env),
		Logger: slog.New(slog.NewJSONHandler(b.logs, nil)),
	})
}

func (b *bed) fixture() *rotationtest.Fixture {
	return &rotationtest.Fixture{
		Initial:     b.value(b.first),
		NewProvider: func(hc *http.Client) rotation.Provider { return b.provider(hc) },
		Works:       b.works,
		Live:        b.live,
		// Retire the previous key as the lifecycle's delete-only path
		// does: delete it, then take AWSPREVIOUS off its version.
		BetweenRotations: func(ctx context.Context, env *rotationtest.Env, arn string) { b.retirePrevious(ctx, arn) },
	}
}

// works reports whether Twilio accepts the key in value for its account.
func (b *bed) works(_ context.Context, value string) error {
	var s twilio.Secret
	if err := json.Unmarshal([]byte(value), &s); err != nil {
		return err
	}
	c := twiliofake.NewRestClient(b.fake.Endpoints(), nil, s.APIKeySID, s.APIKeySecret, s.AccountSID)
	size := 1
	_, err := c.Api.PageMessage(&api.ListMessageParams{PageSize: &size}, "", "")
	var te *client.TwilioRestError
	if errors.As(err, &te) && te.Status == http.StatusForbidden {
		return nil // a restricted key without messages/read: authenticated
	}
	return err
}

// live lists the account's keys that belong to the secret: all but the
// admin key and the foreign ones.
func (b *bed) live(context.Context) ([]string, error) {
	keys, err := b.fake.Keys(b.acct.Sid)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range keys {
		if (b.adminKey != nil && k.Sid == b.adminKey.Sid) || slices.Contains(b.foreign, k.Sid) {
			continue
		}
		out = append(out, k.Sid)
	}
	return out, nil
}

// retirePrevious deletes the AWSPREVIOUS version's key and removes the
// label, as the lifecycle does after drain, usage check and confirmation.
func (b *bed) retirePrevious(ctx context.Context, arn string) {
	b.t.Helper()
	id := vendorkeytest.Holder(b.env.Labels(ctx, arn), rotation.StagePrevious)
	if id == "" {
		return
	}
	var s twilio.Secret
	_ = json.Unmarshal([]byte(b.env.VersionValue(ctx, arn, id)), &s)
	if err := b.fake.DeleteKey(b.acct.Sid, s.APIKeySID); err != nil && !errors.Is(err, twiliofake.ErrNoKey) {
		b.t.Fatal(err)
	}
	vendorkeytest.RemoveLabel(ctx, b.t, b.env, arn, rotation.StagePrevious, id)
}

// keyNames returns the friendly names of the account's keys by SID.
func (b *bed) keyNames() map[string]string {
	b.t.Helper()
	keys, err := b.fake.Keys(b.acct.Sid)
	if err != nil {
		b.t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		out[k.Sid] = k.FriendlyName
	}
	return out
}

// current decodes the AWSCURRENT value.
func (b *bed) current(ctx context.Context, arn string) twilio.Secret {
	var s twilio.Secret
	if err := json.Unmarshal([]byte(b.env.Value(ctx, arn, rotation.StageCurrent)), &s); err != nil {
		b.t.Fatal(err)
	}
	return s
}

// noSecrets fails if a key secret or token of the bed reached text.
func (b *bed) noSecrets(what, text string) {
	b.t.Helper()
	for _, s := range []string{b.acct.AuthToken, b.first.Secret} {
		if s != "" && strings.Contains(text, s) {
			b.t.Fatalf("%s shows a secret", what)
		}
	}
	if b.adminKey != nil && strings.Contains(text, b.adminKey.Secret) {
		b.t.Fatalf("%s shows the admin key's secret", what)
	}
}
