package twiliotoken_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/emulator/twiliofake"
	"github.com/dualkey/dualkey/emulator/twiliofake/twilioprism"
	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/providers/twiliotoken"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
	"github.com/dualkey/dualkey/shared/vendorkey/vendorkeytest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	twilioprism.Close()
	os.Exit(code)
}

const adminSecretName = "conformance/twilio-main-key"

type opts struct {
	// reject makes the fake refuse a second secondary token (default:
	// replace it; Twilio does not document which it does).
	reject bool
	// mainKey gives the secret a master_secret_arn with a Main key.
	mainKey bool
	// prism sends the provider's requests through Prism.
	prism bool
}

type bed struct {
	t         testing.TB
	env       *rotationtest.Env
	fake      *twiliofake.Server
	endpoints twiliofake.Endpoints
	rt        http.RoundTripper
	acct      twiliofake.Account
	main      *twiliofake.Key
	adminARN  string
	logs      *testutil.SyncBuffer
}

func subject(o opts, out **bed) rotationtest.Subject {
	return vendorkeytest.Subject(11, func(t testing.TB, env *rotationtest.Env) *bed { return newBed(t, env, o) }, (*bed).fixture, out)
}

func newBed(t testing.TB, env *rotationtest.Env, o opts) *bed {
	t.Helper()
	b := &bed{t: t, env: env, logs: &testutil.SyncBuffer{}}
	if o.prism {
		pe := twilioprism.Shared(t)
		b.fake, b.endpoints = pe.Fake, pe.Endpoints
		b.rt = pe.HTTPClient(t).Transport.(*twiliofake.Transport).Base
		env.Faults().Base = b.rt
	} else {
		mode := twiliofake.SecondaryReplace
		if o.reject {
			mode = twiliofake.SecondaryReject
		}
		b.fake = twiliofake.New(twiliofake.Config{Now: env.Clock.Now, Secondary: mode})
		if _, err := b.fake.Start("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.fake.Close() })
		b.endpoints = b.fake.Endpoints()
	}
	b.acct = b.fake.CreateAccount("orders")
	if o.mainKey {
		k, err := b.fake.CreateMainKey(b.acct.Sid, "dualkey admin")
		if err != nil {
			t.Fatal(err)
		}
		b.main = &k
		b.adminARN = vendorkeytest.CreateAdminSecret(t, env, adminSecretName, map[string]string{"account_sid": b.acct.Sid, "api_key_sid": k.Sid, "api_key_secret": k.Secret})
	}
	return b
}

func (b *bed) value(token string) string {
	m := map[string]string{"account_sid": b.acct.Sid, "auth_token": token, "owner": "orders team"}
	if b.adminARN != "" {
		m["master_secret_arn"] = b.adminARN
	}
	raw, _ := json.Marshal(m)
	return string(raw)
}

func (b *bed) provider(hc *http.Client) *twiliotoken.Provider {
	return twiliotoken.New(twiliotoken.Config{
		HTTPClient: vendorkeytest.Client(hc, b.rt),
		Endpoints:  twiliotoken.Endpoints{API: b.endpoints.API, Accounts: b.endpoints.Accounts},
		Now:        b.env.Clock.Now,
		Sleep:      vendorkeytest.Sleep(b.env),
		Logger:     slog.New(slog.NewJSONHandler(b.logs, nil)),
	})
}

func (b *bed) fixture() *rotationtest.Fixture {
	return &rotationtest.Fixture{
		Initial:          b.value(b.acct.AuthToken),
		NewProvider:      func(hc *http.Client) rotation.Provider { return b.provider(hc) },
		Works:            b.works,
		Live:             b.live,
		BetweenRotations: func(ctx context.Context, env *rotationtest.Env, arn string) { b.retirePrevious(ctx, arn) },
	}
}

// works fetches the account with the token in value, straight at the fake.
func (b *bed) works(_ context.Context, value string) error {
	var s twiliotoken.Secret
	if err := json.Unmarshal([]byte(value), &s); err != nil {
		return err
	}
	_, err := twiliofake.NewRestClient(b.fake.Endpoints(), nil, s.AccountSID, s.AuthToken, s.AccountSID).Api.FetchAccount(s.AccountSID)
	return err
}

// live lists the account's tokens (fingerprints) and its keys but the
// admin's (lock keys left behind would be orphans).
func (b *bed) live(context.Context) ([]string, error) {
	primary, secondary, err := b.fake.Tokens(b.acct.Sid)
	if err != nil {
		return nil, err
	}
	out := []string{twiliotoken.TokenFingerprint(primary)}
	if secondary != "" {
		out = append(out, twiliotoken.TokenFingerprint(secondary))
	}
	keys, err := b.fake.Keys(b.acct.Sid)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if b.main == nil || k.Sid != b.main.Sid {
			out = append(out, k.Sid)
		}
	}
	return out, nil
}

// retirePrevious ends the AWSPREVIOUS token as the lifecycle's delete-only
// path does (the provider's Delete: promote the secondary), then removes
// the label.
func (b *bed) retirePrevious(ctx context.Context, arn string) {
	b.t.Helper()
	d, err := b.env.SM.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		b.t.Fatal(err)
	}
	r := rotation.NewReader(b.env.SM, arn, d.VersionIdsToStages, nil)
	prev, err := r.Stage(ctx, rotation.StagePrevious)
	if errors.Is(err, rotation.ErrNoVersion) {
		return
	} else if err != nil {
		b.t.Fatal(err)
	}
	if err := b.provider(nil).Delete(ctx, &rotation.CredentialRequest{SecretID: arn, Version: prev, Versions: r}); err != nil {
		b.t.Fatal(err)
	}
	vendorkeytest.RemoveLabel(ctx, b.t, b.env, arn, rotation.StagePrevious, prev.ID)
}

// tokens returns the account's primary and secondary tokens.
func (b *bed) tokens() (string, string) {
	b.t.Helper()
	p, s, err := b.fake.Tokens(b.acct.Sid)
	if err != nil {
		b.t.Fatal(err)
	}
	return p, s
}

// state summarises the account: tokens (fingerprints) and key SIDs.
func (b *bed) state() string {
	p, s := b.tokens()
	keys, _ := b.fake.Keys(b.acct.Sid)
	var sids []string
	for _, k := range keys {
		sids = append(sids, k.Sid+"="+k.FriendlyName)
	}
	return fmt.Sprintf("primary %s secondary %s keys %v", twiliotoken.TokenFingerprint(p), twiliotoken.TokenFingerprint(s), sids)
}

func (b *bed) noSecrets(what, text string) {
	b.t.Helper()
	p, s := b.tokens()
	for _, v := range []string{p, s, b.acct.AuthToken} {
		if v != "" && strings.Contains(text, v) {
			b.t.Fatalf("%s shows an auth token", what)
		}
	}
}
