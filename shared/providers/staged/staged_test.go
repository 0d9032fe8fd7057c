package staged_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dualkey/dualkey/shared/fingerprint"
	"github.com/dualkey/dualkey/shared/providers/staged"
	"github.com/dualkey/dualkey/shared/rotation"
)

// A staged key pair is adopted with the old key's expiry; the old pair
// stays valid until the operator revokes it; CheckDead says alive before
// and dead after. The next rotation with nothing new staged fails and says
// what to do.
func TestRotateStagedCredential(t *testing.T) {
	ctx := context.Background()
	b, arn := newBed(t, basicKind)
	next := b.vendor.newKey("merchant-orders")
	expires := b.env.Clock.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	fields := b.credFields(next)
	fields[staged.FieldPreviousKeyExpiresAt] = expires.Format(time.RFC3339)
	b.stage(ctx, arn, fields)
	if _, err := b.rotate(ctx, arn); err != nil {
		t.Fatal(err)
	}
	var cur map[string]any
	if err := json.Unmarshal([]byte(b.env.Value(ctx, arn, rotation.StageCurrent)), &cur); err != nil {
		t.Fatal(err)
	}
	if cur["public_key"] != next.public || cur["private_key"] != next.private || cur["environment"] != "sandbox" || cur[staged.FieldPreviousKeyExpiresAt] != expires.Format(time.RFC3339) {
		t.Fatalf("current value does not hold the staged pair, the kept field and the expiry")
	}
	p := staged.New(staged.Config{})
	prev := &rotation.CredentialRequest{SecretID: arn,
		Version:  &rotation.Version{ID: "old", Stages: []string{rotation.StagePrevious}, Value: b.env.Value(ctx, arn, rotation.StagePrevious)},
		Versions: versions{rotation.StageCurrent: {ID: "new", Value: b.env.Value(ctx, arn, rotation.StageCurrent)}}}
	l, err := p.CheckDead(ctx, prev)
	if err != nil || l.Dead || !l.ExpiresAt.Equal(expires) {
		t.Fatalf("before the revocation: %+v, %v; want alive, expiring at %s", l, err, expires)
	}
	b.vendor.revoke(b.first)
	if l, err = p.CheckDead(ctx, prev); err != nil || !l.Dead || !strings.Contains(l.Detail, "HTTP 401") {
		t.Fatalf("after the revocation: %+v, %v; want dead (401)", l, err)
	}
	noSecret(t, "the detail", l.Detail, b.first.public, b.first.private)

	// The next staging has no expiry: the pending value must not keep the
	// old one.
	third := b.vendor.newKey("merchant-orders")
	b.stage(ctx, arn, b.credFields(third))
	if _, err := b.rotate(ctx, arn); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.env.Value(ctx, arn, rotation.StageCurrent), staged.FieldPreviousKeyExpiresAt) {
		t.Fatal("a staging without an expiry kept the previous rotation's")
	}
	_, err = b.rotate(ctx, arn)
	if err == nil || !strings.Contains(err.Error(), "is the current one") || !strings.Contains(err.Error(), "dualkey stage") {
		t.Fatalf("a rotation with nothing new staged: %v", err)
	}
	noSecret(t, "the logs", b.env.Logs.String(), b.first.private, next.private, third.private, b.first.public, next.public)
	if b.vendor.leakyURLs != 0 {
		t.Fatal("a credential was sent in a URL")
	}
}

// Bad staging and bad probe declarations are refused with errors that name
// the field and the fix, and change nothing.
func TestRefusals(t *testing.T) {
	type prep func(ctx context.Context, b *bed, arn string)
	stage := func(f func(b *bed) map[string]any) prep {
		return func(ctx context.Context, b *bed, arn string) { b.stage(ctx, arn, f(b)) }
	}
	withProbe := func(change func(p map[string]any)) prep {
		return func(ctx context.Context, b *bed, arn string) {
			// The current value's probe is changed by an operator.
			var m map[string]any
			_ = json.Unmarshal([]byte(b.env.Value(ctx, arn, rotation.StageCurrent)), &m)
			change(m["probe"].(map[string]any))
			b.putCurrent(ctx, arn, m)
			b.stage(ctx, arn, b.credFields(b.vendor.newKey("merchant-orders")))
		}
	}
	cases := []struct {
		name string
		kind kind
		prep prep
		step string
		want []string
	}{
		{"nothing staged", basicKind, func(context.Context, *bed, string) {}, rotation.StepCreate, []string{"no version is labelled DUALKEY_INCOMING", "dualkey stage"}},
		{"the current credential staged", basicKind, stage(func(b *bed) map[string]any { return b.credFields(b.first) }), rotation.StepCreate, []string{"is the current one"}},
		{"half of the pair staged", basicKind, func(ctx context.Context, b *bed, arn string) {
			// Only a new private key: the pair differs, and the vendor refuses it.
			b.stage(ctx, arn, map[string]any{"private_key": "sk" + randomHex(16)})
		}, rotation.StepTest, []string{"answered HTTP 401", "the vendor refuses it"}},
		{"a key of another merchant", basicKind, stage(func(b *bed) map[string]any { return b.credFields(b.vendor.newKey("merchant-elsewhere")) }),
			rotation.StepTest, []string{"another identity", "another account's", "/data/viewer/merchant/id", "nothing was changed"}},
		{"a token of another account", bearerKind, stage(func(b *bed) map[string]any { return b.credFields(b.vendor.newKey("merchant-elsewhere")) }),
			rotation.StepTest, []string{"another identity", "/account/id"}},
		{"a revoked key", basicKind, func(ctx context.Context, b *bed, arn string) {
			k := b.vendor.newKey("merchant-orders")
			b.vendor.revoke(k)
			b.stage(ctx, arn, b.credFields(k))
		}, rotation.StepTest, []string{"answered HTTP 401, want 200"}},
		{"current revoked, no identity.expect", basicKind, func(ctx context.Context, b *bed, arn string) {
			b.vendor.revoke(b.first)
			b.stage(ctx, arn, b.credFields(b.vendor.newKey("merchant-orders")))
		}, rotation.StepTest, []string{"cannot tell which identity", `add "expect" to probe.identity`}},
		{"staged value not an object", basicKind, func(ctx context.Context, b *bed, arn string) { b.stageRaw(ctx, arn, `"just-a-key"`) },
			rotation.StepCreate, []string{"not a JSON object"}},
		{"staged credential field missing", basicKind, func(ctx context.Context, b *bed, arn string) {
			b.stageRaw(ctx, arn, `{"private_key":"sk0123456789abcdef"}`)
		}, rotation.StepCreate, []string{`field "public_key" is missing`}},
		{"http probe URL", basicKind, withProbe(func(p map[string]any) { p["url"] = "http://payments.example.com/graphql" }),
			rotation.StepCreate, []string{`field "probe.url"`, "only https is allowed"}},
		{"probe URL with user info", basicKind, withProbe(func(p map[string]any) { p["url"] = "https://admin:hunter22@payments.example.com/graphql" }),
			rotation.StepCreate, []string{`field "probe.url"`, "never in the URL"}},
		{"probe that deletes", basicKind, withProbe(func(p map[string]any) { p["method"] = "DELETE" }),
			rotation.StepCreate, []string{`field "probe.method"`, "GET, HEAD or POST"}},
		{"probe header that carries the credential", basicKind, withProbe(func(p map[string]any) {
			p["headers"].(map[string]any)["Authorization"] = "Basic x"
		}), rotation.StepCreate, []string{`field "probe.headers"`, "carries the credential"}},
		{"probe with both auths", basicKind, withProbe(func(p map[string]any) { p["auth"].(map[string]any)["header"] = "X-Key" }),
			rotation.StepCreate, []string{`field "probe.auth"`, "both"}},
		{"probe expecting a redirect", basicKind, withProbe(func(p map[string]any) { p["expect_status"] = 302 }),
			rotation.StepCreate, []string{`field "probe.expect_status"`}},
		{"probe body on GET", basicKind, withProbe(func(p map[string]any) { p["method"] = "GET" }),
			rotation.StepCreate, []string{`field "probe.body"`, "POST only"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			b, arn := newBed(t, c.kind)
			c.prep(ctx, b, arn)
			before := b.env.Value(ctx, arn, rotation.StageCurrent)
			_, err := b.rotate(ctx, arn)
			if err == nil {
				t.Fatal("the rotation succeeded")
			}
			if !strings.HasPrefix(err.Error(), c.step+":") {
				t.Errorf("failed at %v, want %s", err, c.step)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if b.env.Value(ctx, arn, rotation.StageCurrent) != before {
				t.Fatal("AWSCURRENT changed")
			}
			noSecret(t, "the error and the logs", err.Error()+b.env.Logs.String(), b.first.private, b.first.public, "hunter22")
		})
	}
}

// putCurrent stores a new AWSCURRENT value (an operator editing the secret).
func (b *bed) putCurrent(ctx context.Context, arn string, m map[string]any) {
	b.t.Helper()
	out, _ := json.Marshal(m)
	b.putValue(ctx, arn, string(out), nil)
}

// stageRaw stages a value as it is.
func (b *bed) stageRaw(ctx context.Context, arn, value string) {
	b.t.Helper()
	b.putValue(ctx, arn, value, []string{rotation.StageIncoming})
}

// The probe's answer is never logged or quoted, the URL's query values and
// user info never shown, and a redirect is not followed: the credential
// goes to the declared host only. https works with the client's trust.
func TestProbeSafety(t *testing.T) {
	ctx := context.Background()
	const secretInBody = "body-secret-0123456789"
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			if r.Header.Get("X-Api-Key") != "key-new-0123456789abcdef" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			_, _ = io.WriteString(w, `{"ok":true}`)
		case "/fail":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, secretInBody)
		case "/redirect":
			http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
		}
	}))
	defer tls.Close()
	p := staged.New(staged.Config{HTTPClient: tls.Client()})
	value := func(path string) string {
		return `{"api_key":"key-new-0123456789abcdef","probe":{"url":"` + tls.URL + path + `?token=query-secret-42","auth":{"header":"X-Api-Key"}}}`
	}
	cur := versions{rotation.StageCurrent: {ID: "c", Value: strings.Replace(value("/ok"), "key-new", "key-old", 1)}}
	test := func(path string) error {
		cur[rotation.StageCurrent].Value = strings.Replace(value(path), "key-new", "key-old", 1)
		return p.Test(ctx, &rotation.TestRequest{SecretID: "s", Pending: &rotation.Version{ID: "p", Value: value(path)}, Versions: cur})
	}
	if err := test("/ok"); err != nil {
		t.Fatalf("https probe: %v", err)
	}
	for _, path := range []string{"/fail", "/redirect"} {
		err := test(path)
		if err == nil {
			t.Fatalf("%s: the probe passed", path)
		}
		noSecret(t, "the error", err.Error(), "key-new-0123456789abcdef", "query-secret-42", secretInBody)
		if !strings.Contains(err.Error(), "token=[REDACTED]") {
			t.Errorf("%s: the error %q does not show the URL with its query value redacted", path, err)
		}
	}
	if elsewhere.Load() != 0 {
		t.Fatal("the probe followed a redirect to another host")
	}
}

// CheckDead: 401 and 403 are dead, the expected status alive, anything
// else an error.
func TestCheckDead(t *testing.T) {
	var status atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(status.Load())) }))
	defer srv.Close()
	p := staged.New(staged.Config{})
	req := func(url string) *rotation.CredentialRequest {
		return &rotation.CredentialRequest{SecretID: "s", Versions: versions{},
			Version: &rotation.Version{ID: "v", Value: `{"api_key":"old-key-0123456789abcdef","probe":{"url":"` + url + `/me","auth":{"header":"Authorization","prefix":"Bearer "},"expect_status":204}}`}}
	}
	for _, c := range []struct {
		status int
		dead   bool
		err    bool
	}{{401, true, false}, {403, true, false}, {204, false, false}, {200, false, true}, {500, false, true}, {429, false, true}} {
		status.Store(int32(c.status))
		l, err := p.CheckDead(context.Background(), req(srv.URL))
		if (err != nil) != c.err || (err == nil && l.Dead != c.dead) {
			t.Errorf("HTTP %d: %+v, %v; want dead=%v err=%v", c.status, l, err, c.dead, c.err)
		}
	}
	if _, err := p.CheckDead(context.Background(), req("http://127.0.0.1:1")); err == nil {
		t.Error("an unreachable vendor: no error")
	}
}

// Staged tells the retire function whether a rotation can run.
func TestStaged(t *testing.T) {
	ctx := context.Background()
	b, arn := newBed(t, basicKind)
	p := staged.New(staged.Config{})
	cur := &rotation.Version{ID: "cur", Value: b.env.Value(ctx, arn, rotation.StageCurrent)}
	with := func(k *vendorKey) string {
		v, _ := rotation.MergeSecret(cur.Value, b.credFields(k))
		return v
	}
	next := b.vendor.newKey("merchant-orders")
	for _, c := range []struct {
		vs   versions
		want bool
		says string
	}{
		{versions{}, false, "dualkey stage"},
		{versions{rotation.StageIncoming: {ID: "in", Value: cur.Value}}, false, "is the current one"},
		{versions{rotation.StageIncoming: {ID: "in", Value: with(next)}}, true, "is staged in version in"},
		{versions{rotation.StageIncoming: {ID: "in", Value: with(next)}, rotation.StagePrevious: {ID: "p", Value: with(next)}}, false, "is the previous one"},
	} {
		got, detail, err := p.Staged(ctx, &rotation.CredentialRequest{SecretID: arn, Version: cur, Versions: c.vs})
		if err != nil || got != c.want || !strings.Contains(detail, c.says) {
			t.Errorf("Staged = %v, %q, %v; want %v saying %q", got, detail, err, c.want, c.says)
		}
		noSecret(t, "the detail", detail, b.first.private, b.first.public, next.private, next.public)
	}
}

func TestParse(t *testing.T) {
	probe := `"probe":{"url":"https://api.example.com/me","auth":{"header":"X-Api-Key"}}`
	cases := []struct {
		value, field, issue string
	}{
		{`{"api_key":"abc"}`, "probe", "is missing"},
		{`{"api_key":"abc","probe":{"url":"ftp://x/y","auth":{"header":"X-Api-Key"}}}`, "probe.url", "not https"},
		{`{"api_key":"abc","probe":{"url":"https://x/y","auth":{}}}`, "probe.auth", "neither"},
		{`{"api_key":"abc","probe":{"url":"https://x/y","auth":{"header":"Host"}}}`, "probe.auth.header", "not a header name"},
		{`{"api_key":"abc","probe":{"url":"https://x/y","auth":{"header":"X","prefix":"a\r\nb"}}}`, "probe.auth.prefix", "one line"},
		{`{"api_key":"abc","probe":{"url":"https://x/y","auth":{"basic":{"username_field":"u","password_field":"u"}}}}`, "probe.auth.basic", "same field"},
		{`{"api_key":"abc","probe":{"url":"https://x/y","auth":{"header":"X","field":"probe"}}}`, "probe.auth.field", "must name a field"},
		{`{"api_key":"abc","probe":{"url":"https://x/y","auth":{"header":"X"},"identity":{"pointer":"data.id"}}}`, "probe.identity.pointer", "JSON pointer"},
		{`{"api_key":"abc","probe":{"url":"https://x/y","auth":{"header":"X"},"headers":{"Cookie":"a=b"}}}`, "probe.headers", "Cookie"},
		{`{` + probe + `}`, "api_key", "is missing"},
		{`{"api_key":"line\n",` + probe + `}`, "api_key", "line break"},
		{`{"api_key":"abc","previous_key_expires_at":"never",` + probe + `}`, "previous_key_expires_at", "RFC 3339"},
		{`{"u":"a:b","p":"c","probe":{"url":"https://x/y","auth":{"basic":{"username_field":"u","password_field":"p"}}}}`, "u", "contains ':'"},
	}
	for _, c := range cases {
		_, err := staged.Parse(c.value)
		var fe *rotation.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(err.Error(), c.issue) {
			t.Errorf("Parse(%s) = %v, want field %q saying %q", c.value, err, c.field, c.issue)
		}
	}
	for _, ok := range []string{
		`{"api_key":"abc","probe":{"url":"http://127.0.0.1:8080/me","auth":{"header":"X-Api-Key"}}}`,
		`{"api_key":"abc","probe":{"url":"http://localhost/me","auth":{"header":"X-Api-Key"}}}`,
		`{"api_key":"abc","probe":{"url":"http://[::1]:9/me","auth":{"header":"X-Api-Key"}}}`,
	} {
		if _, err := staged.Parse(ok); err != nil {
			t.Errorf("Parse(%s): %v", ok, err)
		}
	}
	s, err := staged.Parse(`{"api_key":"key-0123456789abcdef","probe":{"url":"https://api.example.com/me?token=t0p","auth":{"header":"X-Api-Key"}}}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{s.String(), s.GoString()} {
		if strings.Contains(text, "key-0123456789") || strings.Contains(text, "t0p") {
			t.Errorf("%q shows the key or the URL's query value", text)
		}
	}
}

// The usage fingerprint is the one a consumer logs for the credential the
// probe sends: fingerprint.FromRequest on the probe's own request (a
// basic-auth password, a bearer token, an API-key header's value) equals
// UsageFingerprint.
func TestUsageFingerprint(t *testing.T) {
	var seen atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := ""
		if r.Header.Get("X-Api-Key") != "" {
			header = "X-Api-Key"
		}
		seen.Store(fingerprint.FromRequest(r, header))
	}))
	defer srv.Close()
	const secret = "private-0123456789abcdef"
	cases := []struct{ name, value string }{
		{"basic", `{"public_key":"pub-0123456789abcdef","private_key":"` + secret + `","probe":{"url":"` + srv.URL + `","auth":{"basic":{"username_field":"public_key","password_field":"private_key"}}}}`},
		{"bearer", `{"api_key":"` + secret + `","probe":{"url":"` + srv.URL + `","auth":{"header":"Authorization","prefix":"Bearer "}}}`},
		{"api-key header", `{"token":"` + secret + `","probe":{"url":"` + srv.URL + `","auth":{"header":"X-Api-Key","field":"token"}}}`},
	}
	p := staged.New(staged.Config{})
	for _, c := range cases {
		if _, err := p.CheckDead(context.Background(), &rotation.CredentialRequest{SecretID: "arn:test", Version: &rotation.Version{ID: "v", Value: c.value}}); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := p.UsageFingerprint(c.value); got != fingerprint.Of(secret) || got != seen.Load() {
			t.Errorf("%s: UsageFingerprint %q, the probe's request %q, want %q", c.name, got, seen.Load(), fingerprint.Of(secret))
		}
	}
	if got := p.UsageFingerprint(`{"api_key":"x"}`); got != "" {
		t.Errorf("a value without a probe: %q, want \"\"", got)
	}
}
