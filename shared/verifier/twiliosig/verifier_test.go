package twiliosig_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/twilio/twilio-go/client"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/twiliofake"
	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/providers/twiliotoken"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
	"github.com/dualkey/dualkey/shared/verifier/twiliosig"
)

const webhook = "https://hooks.example.com/twilio/sms?tenant=orders"

var form = url.Values{"From": {"+15005550006"}, "To": {"+15005550001"}, "Body": {"hello"}, "MessageSid": {"SM0123456789abcdef0123456789abcdef"}}

// TestSignatureAgreesWithTwilioGo: Signature is what twilio-go's own
// RequestValidator accepts, for forms, GETs, JSON bodies (bodySHA256) and
// both spellings of the default port.
func TestSignatureAgreesWithTwilioGo(t *testing.T) {
	token := "0123456789abcdef0123456789abcdef"
	rv := client.NewRequestValidator(token)
	flat := map[string]string{}
	for k, v := range form {
		flat[k] = v[0]
	}
	cases := []struct {
		name   string
		url    string
		params url.Values
	}{
		{"form", webhook, form},
		{"no params", webhook, nil},
		{"explicit port", "https://hooks.example.com:443/twilio/sms", form},
		{"odd characters", "https://hooks.example.com/t?x=%2B1&y=a+b", url.Values{"Body": {"ünïcode & <tags> +"}, "A": {""}}},
	}
	for _, c := range cases {
		sig := twiliosig.Signature(token, c.url, c.params)
		m := map[string]string{}
		for k, v := range c.params {
			m[k] = v[0]
		}
		if !rv.Validate(c.url, m, sig) {
			t.Errorf("%s: twilio-go does not accept our signature", c.name)
		}
	}
	body := []byte(`{"event":"delivered"}`)
	u := "https://hooks.example.com/json?bodySHA256=" + sha256hex(body)
	if !rv.ValidateBody(u, body, twiliosig.Signature(token, u, nil)) {
		t.Error("twilio-go does not accept our JSON-body signature")
	}
	// Repeated parameters: each value, sorted, after its name.
	if twiliosig.Signature(token, webhook, url.Values{"A": {"2", "1"}}) != twiliosig.Signature(token, webhook+"A1A2", nil) {
		t.Error("repeated parameters are not signed as name+value per value, values sorted")
	}
}

// world is a secret in the AWS emulator that the twiliotoken provider
// rotates against the Twilio fake, and a Verifier reading it.
type world struct {
	t    *testing.T
	env  *rotationtest.Env
	fake *twiliofake.Server
	acct twiliofake.Account
	arn  string
	logs *testutil.SyncBuffer
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, logs: &testutil.SyncBuffer{}}
	rotationtest.NewEnv(t, rotationtest.Subject{Setup: func(t testing.TB, env *rotationtest.Env) *rotationtest.Fixture {
		w.env = env
		w.fake = twiliofake.New(twiliofake.Config{Now: env.Clock.Now})
		if _, err := w.fake.Start("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = w.fake.Close() })
		w.acct = w.fake.CreateAccount("orders")
		raw, _ := json.Marshal(map[string]string{"account_sid": w.acct.Sid, "auth_token": w.acct.AuthToken})
		return &rotationtest.Fixture{Initial: string(raw), NewProvider: func(hc *http.Client) rotation.Provider { return w.provider(hc) },
			Works: func(context.Context, string) error { return nil }}
	}})
	w.arn = w.env.CreateSecret(context.Background())
	return w
}

func (w *world) provider(hc *http.Client) *twiliotoken.Provider {
	ep := w.fake.Endpoints()
	return twiliotoken.New(twiliotoken.Config{HTTPClient: hc, Endpoints: twiliotoken.Endpoints{API: ep.API, Accounts: ep.Accounts},
		Now: w.env.Clock.Now, Sleep: func(ctx context.Context, d time.Duration) error { w.env.Clock.Advance(d); return ctx.Err() }})
}

func (w *world) verifier(cfg twiliosig.Config) *twiliosig.Verifier {
	w.t.Helper()
	cfg.SecretID = w.arn
	cfg.Now = w.env.Clock.Now
	cfg.Logger = slog.New(slog.NewJSONHandler(w.logs, nil))
	v, err := twiliosig.New(context.Background(), w.env.SM, cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

// signed is a request signed as Twilio signs it now: with the primary.
func (w *world) signed() string {
	primary, _, _ := w.fake.Tokens(w.acct.Sid)
	return twiliosig.Signature(primary, webhook, form)
}

// promote ends AWSPREVIOUS's token as the lifecycle does: the provider's
// Delete (Twilio promotes the secondary), then the label goes.
func (w *world) promote(ctx context.Context) {
	w.t.Helper()
	d, err := w.env.SM.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(w.arn)})
	if err != nil {
		w.t.Fatal(err)
	}
	r := rotation.NewReader(w.env.SM, w.arn, d.VersionIdsToStages, nil)
	prev, err := r.Stage(ctx, rotation.StagePrevious)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.provider(nil).Delete(ctx, &rotation.CredentialRequest{SecretID: w.arn, Version: prev, Versions: r}); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.env.SM.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(w.arn),
		VersionStage: aws.String(rotation.StagePrevious), RemoveFromVersionId: aws.String(prev.ID)}); err != nil {
		w.t.Fatal(err)
	}
}

// TestAcrossATokenRotation: Twilio signs with the primary at every moment
// of a rotation (before, pending, promoted in Secrets Manager, promoted at
// Twilio) and the Verifier accepts every request; the old primary's
// signature is refused at most CheckInterval after its label went; the
// pending token's only with AcceptPending.
func TestAcrossATokenRotation(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	v := w.verifier(twiliosig.Config{CheckInterval: 30 * time.Second})
	pendingToo := w.verifier(twiliosig.Config{AcceptPending: true})
	oldPrimary := w.acct.AuthToken
	check := func(when, wantStage string) {
		t.Helper()
		m, err := v.Verify(ctx, webhook, form, w.signed())
		if err != nil {
			t.Fatalf("%s: a request Twilio signed was refused: %v", when, err)
		}
		if m.Stage != wantStage {
			t.Fatalf("%s: verified by %s, want %s", when, m.Stage, wantStage)
		}
	}
	check("before the rotation", twiliosig.StageCurrent)

	token := w.env.Hold(ctx, w.arn)
	if err := w.env.Step(ctx, w.arn, token, rotation.StepCreate); err != nil {
		t.Fatal(err)
	}
	check("secondary pending", twiliosig.StageCurrent)
	_, secondary, _ := w.fake.Tokens(w.acct.Sid)
	if _, err := v.Verify(ctx, webhook, form, twiliosig.Signature(secondary, webhook, form)); !errors.Is(err, twiliosig.ErrNoMatch) {
		t.Fatalf("a signature by the pending token: %v, want ErrNoMatch (Twilio never signs with it)", err)
	}
	if m, err := pendingToo.Verify(ctx, webhook, form, twiliosig.Signature(secondary, webhook, form)); err != nil || m.Stage != twiliosig.StagePending {
		t.Fatalf("AcceptPending: %v %v", m, err)
	}
	for _, step := range []string{rotation.StepSet, rotation.StepTest, rotation.StepFinish} {
		if err := w.env.Step(ctx, w.arn, token, step); err != nil {
			t.Fatal(err)
		}
	}
	w.env.Clock.Advance(31 * time.Second) // the verifier sees the new labels
	check("promoted in Secrets Manager, Twilio still signs with the old primary", twiliosig.StagePrevious)

	w.promote(ctx)
	// The first request signed with the new primary is verified at once
	// (known token, AWSCURRENT).
	check("promoted at Twilio: signatures switch to the new token", twiliosig.StageCurrent)
	old := twiliosig.Signature(oldPrimary, webhook, form)
	w.env.Clock.Advance(31 * time.Second)
	if _, err := v.Verify(ctx, webhook, form, old); !errors.Is(err, twiliosig.ErrNoMatch) {
		t.Fatalf("the old primary's signature after its label went: %v", err)
	}
	if st := v.Stats(); st.Rejected != 2 || st.Accepted != 4 {
		t.Fatalf("stats %+v", st)
	}
	for _, u := range v.Usage() {
		if u.Verified == 0 {
			t.Fatalf("usage %+v: every version verified something", u)
		}
	}
	if strings.Contains(w.logs.String(), oldPrimary) || strings.Contains(w.logs.String(), secondary) || strings.Contains(w.logs.String(), old) {
		t.Fatal("the verifier logged a token or a signature")
	}
}

// TestRefreshes: DescribeSecret at most every CheckInterval; an unknown
// signature refreshes at once, at most once per MinRefreshInterval; a
// failing refresh keeps the last good tokens.
func TestRefreshes(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	api := &flaky{SecretsAPI: w.env.SM}
	v, err := twiliosig.New(ctx, api, twiliosig.Config{SecretID: w.arn, Now: w.env.Clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if _, err := v.Verify(ctx, webhook, form, w.signed()); err != nil {
			t.Fatal(err)
		}
	}
	if c := v.Stats().Calls; c.Describe != 1 || c.Get != 1 {
		t.Fatalf("50 requests within CheckInterval: %+v calls, want 1 Describe and 1 Get", c)
	}
	for i := 0; i < 20; i++ {
		_, _ = v.Verify(ctx, webhook, form, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	}
	if c := v.Stats().Calls; c.Describe != 2 {
		t.Fatalf("20 bad signatures within MinRefreshInterval: %d Describe calls, want 2", c.Describe)
	}
	api.fail.Store(true)
	w.env.Clock.Advance(time.Minute)
	if _, err := v.Verify(ctx, webhook, form, w.signed()); err != nil {
		t.Fatalf("Secrets Manager down: the last good token must still verify: %v", err)
	}
	if _, err := v.Verify(ctx, webhook, form, ""); !errors.Is(err, twiliosig.ErrNotSigned) {
		t.Fatalf("no signature: %v", err)
	}
}

type flaky struct {
	twiliosig.SecretsAPI
	fail atomic.Bool
}

func (f *flaky) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, o ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	if f.fail.Load() {
		return nil, errors.New("secrets manager unreachable")
	}
	return f.SecretsAPI.DescribeSecret(ctx, in, o...)
}

// TestMiddleware: form posts, GETs and JSON bodies as Twilio sends them are
// verified with the public URL and passed on with the body intact; a bad
// or missing signature, a tampered body or form, and a hostile body are
// refused without calling the handler.
func TestMiddleware(t *testing.T) {
	w := newWorld(t)
	v := w.verifier(twiliosig.Config{MaxBodyBytes: 4096})
	primary := w.acct.AuthToken
	var calls atomic.Int64
	h := v.Middleware("https://hooks.example.com", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		m, ok := twiliosig.MatchFromContext(r.Context())
		if !ok || m.Stage != twiliosig.StageCurrent {
			t.Errorf("no match in the context")
		}
		if r.Method == http.MethodPost && r.Header.Get("Content-Type") == "application/x-www-form-urlencoded" {
			if err := r.ParseForm(); err != nil || r.PostForm.Get("Body") != "hello" {
				t.Errorf("the handler cannot read the form: %v", err)
			}
		}
		rw.WriteHeader(http.StatusNoContent)
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	send := func(method, path, ctype string, body string, sig string) int {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if sig != "" {
			req.Header.Set(twiliosig.HeaderName, sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	public := "https://hooks.example.com/twilio/sms?tenant=orders"
	jsonBody := `{"event":"delivered"}`
	jsonURL := "https://hooks.example.com/events?bodySHA256=" + sha256hex([]byte(jsonBody))
	cases := []struct {
		name                string
		method, path, ctype string
		body, sig           string
		want                int
	}{
		{"form", "POST", "/twilio/sms?tenant=orders", "application/x-www-form-urlencoded", form.Encode(), twiliosig.Signature(primary, public, form), 204},
		{"get", "GET", "/twilio/sms?tenant=orders", "", "", twiliosig.Signature(primary, public, nil), 204},
		{"json", "POST", "/events?bodySHA256=" + sha256hex([]byte(jsonBody)), "application/json", jsonBody, twiliosig.Signature(primary, jsonURL, nil), 204},
		{"no signature", "POST", "/twilio/sms?tenant=orders", "application/x-www-form-urlencoded", form.Encode(), "", 403},
		{"other token", "POST", "/twilio/sms?tenant=orders", "application/x-www-form-urlencoded", form.Encode(), twiliosig.Signature("ffffffffffffffffffffffffffffffff", public, form), 403},
		{"tampered form", "POST", "/twilio/sms?tenant=orders", "application/x-www-form-urlencoded", form.Encode() + "&Extra=1", twiliosig.Signature(primary, public, form), 403},
		{"other query", "POST", "/twilio/sms?tenant=billing", "application/x-www-form-urlencoded", form.Encode(), twiliosig.Signature(primary, public, form), 403},
		{"tampered json", "POST", "/events?bodySHA256=" + sha256hex([]byte(jsonBody)), "application/json", `{"event":"failed"}`, twiliosig.Signature(primary, jsonURL, nil), 403},
		{"json without hash", "POST", "/events", "application/json", jsonBody, twiliosig.Signature(primary, "https://hooks.example.com/events", nil), 400},
		{"huge body", "POST", "/twilio/sms?tenant=orders", "application/x-www-form-urlencoded", "Body=" + strings.Repeat("x", 5000), "x", 400},
	}
	for _, c := range cases {
		before := calls.Load()
		if got := send(c.method, c.path, c.ctype, c.body, c.sig); got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
		if called := calls.Load() > before; called != (c.want == 204) {
			t.Errorf("%s: handler called = %v", c.name, called)
		}
	}
}

// TestNew refuses bad configurations and a secret without AWSCURRENT.
func TestNew(t *testing.T) {
	ctx := context.Background()
	sm := secretsmanager.NewFromConfig(awsemu.ClientConfig("http://127.0.0.1:1"))
	if _, err := twiliosig.New(ctx, sm, twiliosig.Config{}); err == nil || !strings.Contains(err.Error(), "SecretID") {
		t.Fatalf("empty SecretID: %v", err)
	}
	if _, err := twiliosig.New(ctx, sm, twiliosig.Config{SecretID: "x", CheckInterval: -time.Second}); err == nil || !strings.Contains(err.Error(), "CheckInterval") {
		t.Fatalf("negative CheckInterval: %v", err)
	}
	w := newWorld(t)
	if _, err := twiliosig.New(ctx, w.env.SM, twiliosig.Config{SecretID: w.arn, Field: "token"}); err == nil || !strings.Contains(err.Error(), `"token"`) {
		t.Fatalf("a missing field: %v", err)
	}
}

func sha256hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
