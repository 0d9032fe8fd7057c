package stripe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dualkey/dualkey/emulator/stripefake"
	"github.com/dualkey/dualkey/internal/stripemock"
	"github.com/dualkey/dualkey/shared/fingerprint"
	"github.com/dualkey/dualkey/shared/providers/stripe"
	"github.com/dualkey/dualkey/shared/rotation"
)

// A staged key is adopted, promoted, and the old key stays valid until the
// expiry the operator chose; CheckDead reports it alive before and dead
// after. A second rotation with nothing new staged fails and says what to
// do.
func TestRotateAdoptsStagedKey(t *testing.T) {
	ctx := context.Background()
	b, arn := newBed(t, setup{extra: `,"team":"payments","probes":["GET /v1/charges?limit=1"]`})
	expires := b.env.Clock.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	newKey := b.rollAndStage(ctx, arn)
	if _, err := b.rotate(ctx, arn); err != nil {
		t.Fatal(err)
	}
	var cur map[string]any
	if err := json.Unmarshal([]byte(b.env.Value(ctx, arn, rotation.StageCurrent)), &cur); err != nil {
		t.Fatal(err)
	}
	if cur["api_key"] != newKey.Secret || cur["team"] != "payments" || cur[stripe.FieldPreviousKeyExpiresAt] != expires.Format(time.RFC3339) {
		t.Fatalf("current value: key %s, team %v, expiry %v; want the staged key, the team kept and expiry %s",
			stripe.Fingerprint(cur["api_key"].(string)), cur["team"], cur[stripe.FieldPreviousKeyExpiresAt], expires.Format(time.RFC3339))
	}
	prevValue := b.env.Value(ctx, arn, rotation.StagePrevious)
	if err := b.works(ctx, prevValue); err != nil {
		t.Fatalf("the old key stopped working at promotion: %v", err)
	}

	p := stripe.New(stripe.Config{APIURL: b.url})
	req := &rotation.CredentialRequest{
		SecretID: arn,
		Version:  &rotation.Version{ID: "old", Stages: []string{rotation.StagePrevious}, Value: prevValue},
		Versions: versions{rotation.StageCurrent: {ID: "new", Stages: []string{rotation.StageCurrent}, Value: b.env.Value(ctx, arn, rotation.StageCurrent)}},
	}
	l, err := p.CheckDead(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if l.Dead || !l.ExpiresAt.Equal(expires) {
		t.Fatalf("before the expiry: %+v, want alive, expiring at %s", l, expires)
	}
	b.env.Clock.Advance(24 * time.Hour)
	if l, err = p.CheckDead(ctx, req); err != nil {
		t.Fatal(err)
	}
	if !l.Dead || !strings.Contains(l.Detail, "api_key_expired") {
		t.Fatalf("after the expiry: %+v, want dead with api_key_expired", l)
	}

	_, err = b.rotate(ctx, arn)
	if err == nil || !strings.Contains(err.Error(), "is the current key") || !strings.Contains(err.Error(), "dualkey stage") {
		t.Fatalf("second rotation with nothing new staged: %v, want a refusal naming dualkey stage", err)
	}
	noSecret(t, "the logs", b.env.Logs.String(), b.key.Secret, newKey.Secret)
}

// Every kind of key rotates: the account is proven by GET /v1/account, or,
// for a restricted key that may not read the account, by the account its
// 403 names; a current key that already expired is fine when account_id
// says which account to expect.
func TestRotateKinds(t *testing.T) {
	cases := []struct {
		name  string
		setup setup
		// expireNow makes the Dashboard roll expire the old key at once.
		expireNow bool
	}{
		{"secret test key", setup{}, false},
		{"secret live key", setup{spec: stripefake.KeySpec{Live: true}}, false},
		{"restricted key that may read the account", setup{spec: stripefake.KeySpec{Kind: stripefake.KindRestricted,
			Permissions: []string{stripefake.PermAccountRead, stripefake.PermChargeRead}}, extra: `,"probes":["GET /v1/charges?limit=1"]`}, false},
		{"restricted key that may not read the account", setup{spec: stripefake.KeySpec{Kind: stripefake.KindRestricted, Live: true,
			Permissions: []string{stripefake.PermBalanceRead, stripefake.PermCustomerRead}}, extra: `,"probes":["GET /v1/balance","/v1/customers?limit=3"]`}, false},
		{"current key already expired, account_id set", setup{extra: `,"account_id":"ACCT"`}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			b, arn := newBed(t, c.setup)
			d := 24 * time.Hour
			if c.expireNow {
				d = 0
			}
			k := b.roll(ctx, arn, d)
			b.stage(ctx, arn, map[string]any{"api_key": k.Secret, stripe.FieldPreviousKeyExpiresAt: b.env.Clock.Now().Add(d).UTC().Format(time.RFC3339)})
			if _, err := b.rotate(ctx, arn); err != nil {
				t.Fatal(err)
			}
			cur, err := stripe.Parse(b.env.Value(ctx, arn, rotation.StageCurrent))
			if err != nil || cur.APIKey != k.Secret {
				t.Fatalf("AWSCURRENT does not hold the staged key (%v)", err)
			}
			noSecret(t, "the logs", b.env.Logs.String(), b.key.Secret, k.Secret)
		})
	}
}

// Bad staging is refused with an error that names the problem and the fix,
// and nothing changes: AWSCURRENT keeps its value.
func TestRefusals(t *testing.T) {
	later := func(b *bed) string { return b.env.Clock.Now().Add(time.Hour).UTC().Format(time.RFC3339) }
	cases := []struct {
		name  string
		setup setup
		// prepare stages something; it returns the keys that must not leak.
		prepare func(ctx context.Context, b *bed, arn string) []string
		step    string
		want    []string
	}{
		{"nothing staged", setup{}, func(context.Context, *bed, string) []string { return nil },
			rotation.StepCreate, []string{"no version is labelled DUALKEY_INCOMING", "Roll key", "dualkey stage"}},
		{"the current key staged", setup{}, func(ctx context.Context, b *bed, arn string) []string {
			b.stage(ctx, arn, map[string]any{stripe.FieldPreviousKeyExpiresAt: later(b)})
			return nil
		}, rotation.StepCreate, []string{"is the current key", "dualkey stage"}},
		{"key of another account", setup{}, func(ctx context.Context, b *bed, arn string) []string {
			k, _ := b.fake.CreateKey(b.other.ID, stripefake.KeySpec{})
			b.stage(ctx, arn, map[string]any{"api_key": k.Secret, stripe.FieldPreviousKeyExpiresAt: later(b)})
			return []string{k.Secret}
		}, rotation.StepTest, []string{"another Stripe account", "belongs to Stripe account OTHER", "the current key sk_test_…", "says ACCT", "nothing was changed"}},
		{"key of another account, account_id set", setup{extra: `,"account_id":"ACCT"`}, func(ctx context.Context, b *bed, arn string) []string {
			k, _ := b.fake.CreateKey(b.other.ID, stripefake.KeySpec{})
			b.stage(ctx, arn, map[string]any{"api_key": k.Secret, stripe.FieldPreviousKeyExpiresAt: later(b)})
			return []string{k.Secret}
		}, rotation.StepTest, []string{"belongs to Stripe account OTHER", "account_id says ACCT"}},
		{"restricted key of another account that may not read the account", setup{spec: stripefake.KeySpec{Kind: stripefake.KindRestricted, Permissions: []string{stripefake.PermBalanceRead}}},
			func(ctx context.Context, b *bed, arn string) []string {
				k, _ := b.fake.CreateKey(b.other.ID, stripefake.KeySpec{Kind: stripefake.KindRestricted, Permissions: []string{stripefake.PermBalanceRead}})
				b.stage(ctx, arn, map[string]any{"api_key": k.Secret, stripe.FieldPreviousKeyExpiresAt: later(b)})
				return []string{k.Secret}
			}, rotation.StepTest, []string{"belongs to Stripe account OTHER", "says ACCT"}},
		{"live key for a test key", setup{}, func(ctx context.Context, b *bed, arn string) []string {
			k, _ := b.fake.CreateKey(b.acct.ID, stripefake.KeySpec{Live: true})
			b.stage(ctx, arn, map[string]any{"api_key": k.Secret, stripe.FieldPreviousKeyExpiresAt: later(b)})
			return []string{k.Secret}
		}, rotation.StepCreate, []string{`field "api_key"`, "secret live key (sk_live_)", "current key is a secret test key (sk_test_)"}},
		{"restricted key for a secret key", setup{}, func(ctx context.Context, b *bed, arn string) []string {
			k, _ := b.fake.CreateKey(b.acct.ID, stripefake.KeySpec{Kind: stripefake.KindRestricted})
			b.stage(ctx, arn, map[string]any{"api_key": k.Secret, stripe.FieldPreviousKeyExpiresAt: later(b)})
			return []string{k.Secret}
		}, rotation.StepCreate, []string{"restricted test key (rk_test_)", "current key is a secret test key"}},
		{"publishable key", setup{}, func(ctx context.Context, b *bed, arn string) []string {
			b.stage(ctx, arn, map[string]any{"api_key": "pk_test_51HxYzAbCdEfGhIjKlMnOpQr", stripe.FieldPreviousKeyExpiresAt: later(b)})
			return []string{"pk_test_51HxYzAbCdEfGhIjKlMnOpQr"}
		}, rotation.StepCreate, []string{`field "api_key"`, "publishable key"}},
		{"webhook secret", setup{}, func(ctx context.Context, b *bed, arn string) []string {
			b.stage(ctx, arn, map[string]any{"api_key": "whsec_0123456789abcdefghij", stripe.FieldPreviousKeyExpiresAt: later(b)})
			return []string{"whsec_0123456789abcdefghij"}
		}, rotation.StepCreate, []string{`field "api_key"`, "webhook signing secret"}},
		{"no expiry", setup{}, func(ctx context.Context, b *bed, arn string) []string {
			k := b.roll(ctx, arn, time.Hour)
			b.stage(ctx, arn, map[string]any{"api_key": k.Secret})
			return []string{k.Secret}
		}, rotation.StepCreate, []string{`field "previous_key_expires_at"`, "dualkey stage"}},
		{"bad expiry", setup{}, func(ctx context.Context, b *bed, arn string) []string {
			k := b.roll(ctx, arn, time.Hour)
			b.stage(ctx, arn, map[string]any{"api_key": k.Secret, stripe.FieldPreviousKeyExpiresAt: "tomorrow"})
			return []string{k.Secret}
		}, rotation.StepCreate, []string{`field "previous_key_expires_at"`, "RFC 3339"}},
		{"key unknown to Stripe", setup{}, func(ctx context.Context, b *bed, arn string) []string {
			b.stage(ctx, arn, map[string]any{"api_key": "sk_test_51NeverIssuedByStripe0000", stripe.FieldPreviousKeyExpiresAt: later(b)})
			return []string{"sk_test_51NeverIssuedByStripe0000"}
		}, rotation.StepTest, []string{"the pending key sk_test_…0000 is refused by Stripe as invalid", "HTTP 401"}},
		{"staged key already expired", setup{}, func(ctx context.Context, b *bed, arn string) []string {
			k := b.roll(ctx, arn, time.Hour)
			_ = b.fake.ExpireKey(k.Secret, time.Time{})
			b.stage(ctx, arn, map[string]any{"api_key": k.Secret, stripe.FieldPreviousKeyExpiresAt: later(b)})
			return []string{k.Secret}
		}, rotation.StepTest, []string{"refused by Stripe as expired (api_key_expired)"}},
		{"current key expired and no account_id", setup{}, func(ctx context.Context, b *bed, arn string) []string {
			k := b.roll(ctx, arn, 0)
			b.stage(ctx, arn, map[string]any{"api_key": k.Secret, stripe.FieldPreviousKeyExpiresAt: later(b)})
			return []string{k.Secret}
		}, rotation.StepTest, []string{"cannot tell which Stripe account", `add "account_id"`}},
		{"probe the key may not read", setup{spec: stripefake.KeySpec{Kind: stripefake.KindRestricted, Permissions: []string{stripefake.PermAccountRead}},
			extra: `,"probes":["GET /v1/charges?limit=1"]`}, func(ctx context.Context, b *bed, arn string) []string {
			k := b.roll(ctx, arn, time.Hour)
			b.stage(ctx, arn, map[string]any{"api_key": k.Secret, stripe.FieldPreviousKeyExpiresAt: later(b)})
			return []string{k.Secret}
		}, rotation.StepTest, []string{`probe "GET /v1/charges?limit=1"`, "HTTP 403", "lacks a permission"}},
		{"probe that writes", setup{extra: `,"probes":["POST /v1/charges"]`}, func(ctx context.Context, b *bed, arn string) []string {
			k, _ := b.fake.RollKey(b.key.Secret, b.env.Clock.Now().Add(time.Hour))
			b.stage(ctx, arn, map[string]any{"api_key": k.Secret, stripe.FieldPreviousKeyExpiresAt: later(b)})
			return []string{k.Secret}
		}, rotation.StepCreate, []string{`field "probes[0]"`, "GET only"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			b, arn := newBed(t, c.setup)
			leak := c.prepare(ctx, b, arn)
			before := b.env.Value(ctx, arn, rotation.StageCurrent)
			_, err := b.rotate(ctx, arn)
			if err == nil {
				t.Fatal("the rotation succeeded")
			}
			if !strings.HasPrefix(err.Error(), c.step+":") {
				t.Errorf("failed at %v, want %s", err, c.step)
			}
			for _, w := range c.want {
				w = strings.NewReplacer("OTHER", b.other.ID, "ACCT", b.acct.ID).Replace(w)
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if b.env.Value(ctx, arn, rotation.StageCurrent) != before {
				t.Fatal("AWSCURRENT changed")
			}
			noSecret(t, "the error", err.Error(), append(leak, b.key.Secret)...)
			noSecret(t, "the logs", b.env.Logs.String(), append(leak, b.key.Secret)...)
		})
	}
}

// CheckDead tells a dead key (401) from a live one (2xx, or 403 for a
// restricted key Stripe authenticated) and fails when Stripe cannot be
// asked.
func TestCheckDead(t *testing.T) {
	cases := []struct {
		name string
		// key makes the key to check.
		key      func(b *bed) string
		fault    *stripefake.Fault
		url      string // overrides the fake's
		dead     bool
		err      bool
		inDetail string
	}{
		{"live key", func(b *bed) string { return b.key.Secret }, nil, "", false, false, "still accepts"},
		{"restricted key without account permission", func(b *bed) string {
			k, _ := b.fake.CreateKey(b.acct.ID, stripefake.KeySpec{Kind: stripefake.KindRestricted, Permissions: []string{stripefake.PermBalanceRead}})
			return k.Secret
		}, nil, "", false, false, "403"},
		{"expired key", func(b *bed) string {
			_ = b.fake.ExpireKey(b.key.Secret, time.Time{})
			return b.key.Secret
		}, nil, "", true, false, "api_key_expired"},
		{"unknown key", func(*bed) string { return "sk_test_51RevokedLongAgo00000000" }, nil, "", true, false, "invalid"},
		{"Stripe failing", func(b *bed) string { return b.key.Secret }, &stripefake.Fault{Path: "/v1/account", Status: 500}, "", false, true, ""},
		{"Stripe rate limiting", func(b *bed) string { return b.key.Secret }, &stripefake.Fault{Path: "/v1/account", Status: 429}, "", false, true, ""},
		{"Stripe unreachable", func(b *bed) string { return b.key.Secret }, nil, "http://127.0.0.1:1", false, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			b, _ := newBed(t, setup{})
			key := c.key(b)
			if c.fault != nil {
				b.fake.InjectFault(*c.fault)
			}
			url := b.url
			if c.url != "" {
				url = c.url
			}
			p := stripe.New(stripe.Config{APIURL: url})
			l, err := p.CheckDead(ctx, &rotation.CredentialRequest{SecretID: "s", Version: &rotation.Version{ID: "v", Value: `{"api_key":"` + key + `"}`}, Versions: versions{}})
			if c.err {
				if err == nil {
					t.Fatalf("got %+v, want an error", l)
				}
				noSecret(t, "the error", err.Error(), key)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.Dead != c.dead || !strings.Contains(l.Detail, c.inDetail) {
				t.Fatalf("got %+v, want dead=%v with %q", l, c.dead, c.inDetail)
			}
			noSecret(t, "the detail", l.Detail, key)
		})
	}
}

// Staged tells the retire function whether a rotation can run.
func TestStaged(t *testing.T) {
	ctx := context.Background()
	b, arn := newBed(t, setup{})
	p := stripe.New(stripe.Config{APIURL: b.url})
	cur := &rotation.Version{ID: "cur", Stages: []string{rotation.StageCurrent}, Value: `{"api_key":"` + b.key.Secret + `"}`}
	check := func(v versions, want bool, says string) {
		t.Helper()
		got, detail, err := p.Staged(ctx, &rotation.CredentialRequest{SecretID: arn, Version: cur, Versions: v})
		if err != nil {
			t.Fatal(err)
		}
		if got != want || !strings.Contains(detail, says) {
			t.Fatalf("Staged = %v, %q; want %v saying %q", got, detail, want, says)
		}
		noSecret(t, "the detail", detail, b.key.Secret)
	}
	check(versions{}, false, "dualkey stage")
	check(versions{rotation.StageIncoming: {ID: "in", Value: cur.Value}}, false, "is the current key")
	k := b.roll(ctx, arn, time.Hour)
	in := &rotation.Version{ID: "in", Value: `{"api_key":"` + k.Secret + `","previous_key_expires_at":"2030-01-02T03:04:05Z"}`}
	check(versions{rotation.StageIncoming: in}, true, "is staged in version in to replace sk_test_…")
	check(versions{rotation.StageIncoming: in, rotation.StagePrevious: {ID: "prev", Value: in.Value}}, false, "is the previous key")
	live, _ := b.fake.CreateKey(b.acct.ID, stripefake.KeySpec{Live: true})
	check(versions{rotation.StageIncoming: {ID: "in", Value: `{"api_key":"` + live.Secret + `"}`}}, false, "secret live key")
}

// The usage fingerprint is the one consumers log for the key they send as
// a bearer token: fingerprint.FromRequest on the provider's own request
// with the key (CheckDead's GET /v1/account) equals it.
func TestUsageFingerprint(t *testing.T) {
	const key = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
	var seen string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = fingerprint.FromRequest(r, "")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"acct_1","object":"account"}`)
	}))
	defer srv.Close()
	p := stripe.New(stripe.Config{APIURL: srv.URL})
	value := `{"api_key":"` + key + `"}`
	if _, err := p.CheckDead(context.Background(), &rotation.CredentialRequest{SecretID: "arn:test", Version: &rotation.Version{ID: "v", Value: value}}); err != nil {
		t.Fatal(err)
	}
	if got := p.UsageFingerprint(value); got != "dkfp_2cafc0970149a84f" || got != seen {
		t.Fatalf("UsageFingerprint %q, the request's %q, want dkfp_2cafc0970149a84f (docs/evidence-and-refresh.md)", got, seen)
	}
	if got := p.UsageFingerprint(`{"account_id":"acct_1"}`); got != "" {
		t.Fatalf("a value without a key: %q", got)
	}
}

// Every request the provider sends is valid against Stripe's OpenAPI spec:
// testSecret (GET /v1/account with both keys, the probe reads) and
// CheckDead run against stripe-mock, which refuses what the spec does not
// allow. stripe-mock answers every key with the same account.
func TestStripeMockAcceptsEveryRequest(t *testing.T) {
	ctx := context.Background()
	url := stripemock.StartT(t)
	p := stripe.New(stripe.Config{APIURL: url, HTTPClient: &http.Client{Transport: sameAccount{}}})
	pending := `{"api_key":"sk_test_pendingkey0001","probes":["GET /v1/charges?limit=1","GET /v1/customers?limit=3","/v1/balance"]}`
	current := &rotation.Version{ID: "cur", Stages: []string{rotation.StageCurrent}, Value: `{"api_key":"sk_test_currentkey0001"}`}
	if err := p.Test(ctx, &rotation.TestRequest{SecretID: "s", Pending: &rotation.Version{ID: "p", Value: pending}, Versions: versions{rotation.StageCurrent: current}}); err != nil {
		t.Fatalf("testSecret against stripe-mock: %v", err)
	}
	l, err := p.CheckDead(ctx, &rotation.CredentialRequest{SecretID: "s", Version: current, Versions: versions{}})
	if err != nil || l.Dead {
		t.Fatalf("CheckDead against stripe-mock: %+v, %v", l, err)
	}
	// A probe the spec does not know is refused by stripe-mock: the check
	// above can fail.
	bad := `{"api_key":"sk_test_pendingkey0001","probes":["GET /v1/charges?limit=1&colour=red"]}`
	err = p.Test(ctx, &rotation.TestRequest{SecretID: "s", Pending: &rotation.Version{ID: "p", Value: bad}, Versions: versions{rotation.StageCurrent: current}})
	var ae *stripe.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Fatalf("a probe with an unknown parameter: %v, want stripe-mock's 400", err)
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		value string
		field string
		issue string
	}{
		{`not json`, "SecretString", "not a JSON object"},
		{`{}`, "api_key", "missing"},
		{`{"api_key":42}`, "api_key", "must be a string"},
		{`{"api_key":"sk_test_ abc def ghi jkl"}`, "api_key", "white space"},
		{`{"api_key":"sk_prod_0123456789abcdef"}`, "api_key", "does not look like a Stripe key"},
		{`{"api_key":"AKIA0123456789"}`, "api_key", "not a Stripe secret or restricted key"},
		{`{"api_key":"sk_test_0123456789abcdef","account_id":"org_1"}`, "account_id", "not a Stripe account id"},
		{`{"api_key":"sk_test_0123456789abcdef","probes":["https://evil.example/v1/charges"]}`, "probes[0]", "not a Stripe API path"},
		{`{"api_key":"sk_test_0123456789abcdef","probes":["GET /v1/../admin"]}`, "probes[0]", "not a Stripe API path"},
		{`{"api_key":"sk_test_0123456789abcdef","probes":["DELETE /v1/customers/cus_1"]}`, "probes[0]", "GET only"},
		{`{"api_key":"sk_test_0123456789abcdef","probes":["/v1/a","/v1/b","/v1/c","/v1/d","/v1/e","/v1/f","/v1/g","/v1/h","/v1/i","/v1/j","/v1/k"]}`, "probes", "at most 10"},
		{`{"api_key":"sk_test_0123456789abcdef","previous_key_expires_at":"soon"}`, "previous_key_expires_at", "RFC 3339"},
	}
	for _, c := range cases {
		_, err := stripe.Parse(c.value)
		var fe *rotation.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(err.Error(), c.issue) || !errors.Is(err, rotation.ErrInvalidSecret) {
			t.Errorf("Parse(%s) = %v, want field %q saying %q", c.value, err, c.field, c.issue)
		}
		if err != nil && strings.Contains(err.Error(), "0123456789abcdef") {
			t.Errorf("Parse(%s): the error shows the key: %v", c.value, err)
		}
	}
	s, err := stripe.Parse(`{"api_key":"rk_live_0123456789abcdef","account_id":"acct_1Abc","probes":["GET /v1/balance"],"previous_key_expires_at":"2030-01-02T03:04:05Z"}`)
	if err != nil {
		t.Fatal(err)
	}
	if k := s.Kind(); !k.Restricted || !k.Live || s.ExpiresAt().IsZero() || strings.Contains(s.String(), "0123456789abcdef") || strings.Contains(s.GoString(), "0123456789abcdef") {
		t.Fatalf("parsed %v (%v): wrong kind or expiry, or the key shows", s, s.Kind())
	}
}

func TestConfigFromEnv(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string // "" for success
	}{
		{map[string]string{}, ""},
		{map[string]string{"DUALKEY_STRIPE_API_URL": "http://127.0.0.1:12111"}, ""},
		{map[string]string{"DUALKEY_STRIPE_API_URL": "https://stripe-proxy.internal"}, ""},
		{map[string]string{"DUALKEY_STRIPE_API_URL": "http://stripe-proxy.internal"}, "must be https"},
		{map[string]string{"DUALKEY_STRIPE_API_URL": "https://user:pw@api.stripe.com"}, "base URL"},
		{map[string]string{"DUALKEY_STRIPE_TIMEOUT": "forever"}, "DUALKEY_STRIPE_TIMEOUT"},
		{map[string]string{"DUALKEY_STRIPE_TIMEOUT": "10m"}, "DUALKEY_STRIPE_TIMEOUT"},
	}
	for _, c := range cases {
		_, err := stripe.FromEnv(context.Background(), rotation.Env{Getenv: func(k string) string { return c.env[k] }})
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("FromEnv(%v) = %v, want %q", c.env, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("the error shows the URL's password: %v", err)
		}
	}
}

// sameAccount passes requests to stripe-mock unchanged and gives every
// account object in its answers one id: stripe-mock makes up a new acct_
// id for each answer, which the same-account check would refuse.
type sameAccount struct{}

var mockAccountID = regexp.MustCompile(`"id": ?"acct_[A-Za-z0-9]+"`)

func (sameAccount) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || r.URL.Path != "/v1/account" {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	body = mockAccountID.ReplaceAll(body, []byte(`"id": "acct_stripemock"`))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}
