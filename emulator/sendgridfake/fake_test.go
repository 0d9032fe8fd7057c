package sendgridfake_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dualkey/dualkey/emulator/sendgridfake"
	"github.com/dualkey/dualkey/emulator/sendgridfake/sendgridprism"
	"github.com/dualkey/dualkey/internal/prism"
	"github.com/dualkey/dualkey/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	sendgridprism.Close()
	os.Exit(code)
}

// client is the smallest net/http SendGrid client, shaped like the spec:
// what a provider will send.
type client struct {
	t          *testing.T
	hc         *http.Client
	key        string // the whole "SG.…" key
	onBehalfOf string
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (c client) do(method, path string, body any) response {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, sendgridfake.BaseURL+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.onBehalfOf != "" {
		req.Header.Set("on-behalf-of", c.onBehalfOf)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// wantError checks SendGrid's error shape, status and message.
func (r response) wantError(t *testing.T, status int, fieldName, msg string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d (%s)", r.status, status, r.body)
	}
	var e struct {
		Errors []struct {
			Field   *string `json:"field"`
			Message string  `json:"message"`
		} `json:"errors"`
	}
	r.decode(t, &e)
	if len(e.Errors) != 1 || !strings.Contains(e.Errors[0].Message, msg) {
		t.Fatalf("errors %s, want one containing %q", r.body, msg)
	}
	got := ""
	if e.Errors[0].Field != nil {
		got = *e.Errors[0].Field
	}
	if got != fieldName {
		t.Fatalf("field %q, want %q", got, fieldName)
	}
}

var adminScopes = []string{"api_keys.create", "api_keys.delete", "api_keys.read", "api_keys.update", "alerts.read", "mail.send"}

type created struct {
	APIKey   string   `json:"api_key"`
	APIKeyID string   `json:"api_key_id"`
	Name     string   `json:"name"`
	Scopes   []string `json:"scopes"`
}

// setup adds a parent user with an admin key and a subuser with a key of
// its own, named after the test.
func setup(t *testing.T, fake *sendgridfake.Server, tag string) (parent, sub string, admin, subKey sendgridfake.Key) {
	t.Helper()
	parent = strings.ReplaceAll(t.Name(), "/", "_") + tag
	sub = parent + "_sub"
	if err := fake.AddUser(sendgridfake.User{Username: parent, AutoScopes: []string{"2fa_required"}}); err != nil {
		t.Fatal(err)
	}
	if err := fake.AddUser(sendgridfake.User{Username: sub, Parent: parent, AutoScopes: []string{"2fa_required", "sender_verification_eligible"}}); err != nil {
		t.Fatal(err)
	}
	var err error
	if admin, err = fake.CreateKey(parent, "admin", adminScopes); err != nil {
		t.Fatal(err)
	}
	if subKey, err = fake.CreateKey(sub, "sender", []string{"mail.send"}); err != nil {
		t.Fatal(err)
	}
	return parent, sub, admin, subKey
}

// TestProviderRequestsThroughPrism sends every request the SendGrid
// rotation provider will send, with net/http, through Prism in proxy mode
// in front of the fake (a request or response that breaks SendGrid's
// documents fails the call): read the old key's scopes, create a key with
// exactly them for the same subuser, check the new key's GET /v3/scopes,
// list, rename, delete the old key.
func TestProviderRequestsThroughPrism(t *testing.T) {
	env := sendgridprism.Shared(t)
	_, sub, admin, old := setup(t, env.Fake, "")
	hc := env.HTTPClient(t)
	asSub := client{t: t, hc: hc, key: admin.Secret, onBehalfOf: sub}

	// Read the old key's scopes (GET /v3/api_keys/{id}, flat object).
	r := asSub.do(http.MethodGet, "/v3/api_keys/"+old.ID, nil)
	if r.status != 200 {
		t.Fatalf("get old key: %d %s", r.status, r.body)
	}
	var oldKey struct {
		APIKeyID string   `json:"api_key_id"`
		Name     string   `json:"name"`
		Scopes   []string `json:"scopes"`
	}
	r.decode(t, &oldKey)
	wantScopes := []string{"2fa_required", "mail.send", "sender_verification_eligible"}
	if !reflect.DeepEqual(oldKey.Scopes, wantScopes) || oldKey.APIKeyID != old.ID {
		t.Fatalf("old key = %+v, want scopes %v", oldKey, wantScopes)
	}

	// Create the new key with exactly those scopes, for the subuser.
	r = asSub.do(http.MethodPost, "/v3/api_keys", map[string]any{"name": "dualkey v2", "scopes": oldKey.Scopes})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var nk created
	r.decode(t, &nk)
	if len(nk.APIKey) != 69 || !strings.HasPrefix(nk.APIKey, "SG."+nk.APIKeyID+".") || !reflect.DeepEqual(nk.Scopes, wantScopes) {
		t.Fatalf("new key: id %s, %d chars, scopes %v", nk.APIKeyID, len(nk.APIKey), nk.Scopes)
	}
	keys, _ := env.Fake.Keys(sub)
	if len(keys) != 2 || keys[1].ID != nk.APIKeyID || keys[1].Username != sub {
		t.Fatalf("the new key does not belong to the subuser: %+v", keys)
	}

	// testSecret: the new key's own scopes.
	r = client{t: t, hc: hc, key: nk.APIKey}.do(http.MethodGet, "/v3/scopes", nil)
	var sc struct {
		Scopes []string `json:"scopes"`
	}
	r.decode(t, &sc)
	if r.status != 200 || !reflect.DeepEqual(sc.Scopes, wantScopes) {
		t.Fatalf("GET /v3/scopes with the new key: %d %v", r.status, sc.Scopes)
	}

	// List (with limit), rename, update scopes to the same set.
	r = asSub.do(http.MethodGet, "/v3/api_keys?limit=10", nil)
	var list struct {
		Result []struct {
			APIKeyID string `json:"api_key_id"`
			Name     string `json:"name"`
		} `json:"result"`
	}
	r.decode(t, &list)
	if r.status != 200 || len(list.Result) != 2 || list.Result[1].APIKeyID != nk.APIKeyID {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	if r = asSub.do(http.MethodGet, "/v3/api_keys?limit=1", nil); !strings.Contains(string(r.body), old.ID) || strings.Contains(string(r.body), nk.APIKeyID) {
		t.Fatalf("limit=1 listed %s", r.body)
	}
	if r = asSub.do(http.MethodPatch, "/v3/api_keys/"+nk.APIKeyID, map[string]any{"name": "dualkey v2 (current)"}); r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	if r = asSub.do(http.MethodPut, "/v3/api_keys/"+nk.APIKeyID, map[string]any{"name": "dualkey v2", "scopes": []string{"mail.send"}}); r.status != 200 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}

	// Delete the old key: it stops working.
	if r = asSub.do(http.MethodDelete, "/v3/api_keys/"+old.ID, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	client{t: t, hc: hc, key: old.Secret}.do(http.MethodGet, "/v3/scopes", nil).wantError(t, 401, "", "authorization required")
	if n := env.Fake.KeyCount(sub); n != 1 {
		t.Fatalf("KeyCount = %d after the delete", n)
	}

	// The parent's own keys, without on-behalf-of.
	r = client{t: t, hc: hc, key: admin.Secret}.do(http.MethodGet, "/v3/api_keys", nil)
	if r.status != 200 || !strings.Contains(string(r.body), admin.ID) || strings.Contains(string(r.body), nk.APIKeyID) {
		t.Fatalf("parent's list: %d %s", r.status, r.body)
	}
}

// TestAuthEnforcement is the table of who may do what, through Prism.
func TestAuthEnforcement(t *testing.T) {
	env := sendgridprism.Shared(t)
	parent, sub, admin, subKey := setup(t, env.Fake, "")
	_, otherSub, _, _ := setup(t, env.Fake, "_other")
	subReader, err := env.Fake.CreateKey(sub, "sub reader", []string{"api_keys.read"})
	if err != nil {
		t.Fatal(err)
	}
	readOnly, err := env.Fake.CreateKey(parent, "read only", []string{"api_keys.read"})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := env.Fake.CreateKey(parent, "gone", []string{"mail.send"})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Fake.DeleteKey(parent, gone.ID); err != nil {
		t.Fatal(err)
	}
	hc := env.HTTPClient(t)
	tests := []struct {
		name         string
		key, obo     string
		method, path string
		body         any
		status       int
		field, msg   string
	}{
		{"unknown key", "SG.AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", "", "GET", "/v3/scopes", nil, 401, "", "authorization required"},
		{"wrong secret", admin.Secret[:len(admin.Secret)-4] + "AAAA", "", "GET", "/v3/scopes", nil, 401, "", "authorization required"},
		{"not an SG key", "hunter2", "", "GET", "/v3/scopes", nil, 401, "", "authorization required"},
		{"deleted key", gone.Secret, "", "GET", "/v3/scopes", nil, 401, "", "authorization required"},
		{"read-only key cannot create", readOnly.Secret, "", "POST", "/v3/api_keys", map[string]any{"name": "x", "scopes": []string{"api_keys.read"}}, 403, "", "access forbidden"},
		{"read-only key cannot delete", readOnly.Secret, "", "DELETE", "/v3/api_keys/" + admin.ID, nil, 403, "", "access forbidden"},
		{"no scope widening", admin.Secret, "", "POST", "/v3/api_keys", map[string]any{"name": "x", "scopes": []string{"mail.send", "billing.read", "teammates.create"}}, 403, "scopes", "billing.read, teammates.create"},
		{"no scope widening by update", admin.Secret, sub, "PUT", "/v3/api_keys/" + subKey.ID, map[string]any{"name": "x", "scopes": []string{"billing.read"}}, 403, "scopes", "billing.read"},
		{"subuser key cannot act for its parent", subKey.Secret, parent, "GET", "/v3/scopes", nil, 403, "", "access forbidden"},
		{"no acting for a stranger", admin.Secret, "nobody-at-all", "GET", "/v3/api_keys", nil, 403, "", "access forbidden"},
		{"no acting for another parent's subuser", admin.Secret, otherSub, "GET", "/v3/api_keys", nil, 403, "", "access forbidden"},
		{"a subuser cannot act for a sibling", subReader.Secret, otherSub, "GET", "/v3/api_keys", nil, 403, "", "access forbidden"},
		{"parent does not see the subuser's key without on-behalf-of", admin.Secret, "", "GET", "/v3/api_keys/" + subKey.ID, nil, 404, "", "unable to find API Key"},
		{"subuser does not see the parent's key", subReader.Secret, "", "GET", "/v3/api_keys/" + admin.ID, nil, 404, "", "unable to find API Key"},
		{"subuser key without the scope", subKey.Secret, "", "GET", "/v3/api_keys", nil, 403, "", "access forbidden"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := env.Fake.KeyCount(parent) + env.Fake.KeyCount(sub)
			r := client{t: t, hc: hc, key: tc.key, onBehalfOf: tc.obo}.do(tc.method, tc.path, tc.body)
			r.wantError(t, tc.status, tc.field, tc.msg)
			if after := env.Fake.KeyCount(parent) + env.Fake.KeyCount(sub); after != before {
				t.Fatalf("a refused request changed the keys: %d -> %d", before, after)
			}
		})
	}
}

// TestKeyLimit: a user has at most 100 keys; the 101st create is refused
// with 403 and creates nothing.
func TestKeyLimit(t *testing.T) {
	env := sendgridprism.Shared(t)
	parent, _, admin, _ := setup(t, env.Fake, "")
	for env.Fake.KeyCount(parent) < sendgridfake.DefaultMaxKeys {
		if _, err := env.Fake.CreateKey(parent, "filler", nil); err != nil {
			t.Fatal(err)
		}
	}
	r := client{t: t, hc: env.HTTPClient(t), key: admin.Secret}.do(http.MethodPost, "/v3/api_keys", map[string]any{"name": "one too many", "scopes": []string{"mail.send"}})
	r.wantError(t, 403, "", "cannot create more than 100 API keys")
	if n := env.Fake.KeyCount(parent); n != sendgridfake.DefaultMaxKeys {
		t.Fatalf("KeyCount = %d", n)
	}
}

// TestRateLimit: a throttled user gets 429 in SendGrid's error shape with
// X-RateLimit-* headers, through Prism (an undeclared status: a warning
// only); the fixed window runs on the fake's clock.
func TestRateLimit(t *testing.T) {
	env := sendgridprism.Shared(t)
	parent, _, admin, _ := setup(t, env.Fake, "")
	if err := env.Fake.ThrottleNext(parent, 1, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	r := client{t: t, hc: env.HTTPClient(t), key: admin.Secret}.do(http.MethodGet, "/v3/scopes", nil)
	r.wantError(t, 429, "", "too many requests")
	reset, err := strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil || reset < before.Add(30*time.Second).Unix() || r.header.Get("X-RateLimit-Remaining") != "0" || r.header.Get("X-RateLimit-Limit") == "" {
		t.Fatalf("rate-limit headers %v", r.header)
	}

	clock := testutil.NewFakeClock(time.Unix(1_800_000_000, 0))
	fake := sendgridfake.New(sendgridfake.Config{Now: clock.Now})
	if _, err := fake.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	parent, _, admin, _ = setup(t, fake, "")
	if err := fake.SetRateLimit(parent, sendgridfake.RateLimit{Requests: 1, Window: time.Minute}); err != nil {
		t.Fatal(err)
	}
	c := client{t: t, hc: sendgridfake.NewHTTPClient(fake.Endpoints(), nil), key: admin.Secret}
	if r := c.do(http.MethodGet, "/v3/scopes", nil); r.status != 200 {
		t.Fatalf("first request: %d", r.status)
	}
	clock.Advance(20 * time.Second)
	r = c.do(http.MethodGet, "/v3/scopes", nil)
	r.wantError(t, 429, "", "too many requests")
	if got := r.header.Get("X-RateLimit-Reset"); got != strconv.FormatInt(1_800_000_060, 10) {
		t.Fatalf("X-RateLimit-Reset = %s, want the window's end", got)
	}
	clock.Advance(40 * time.Second)
	if r := c.do(http.MethodGet, "/v3/scopes", nil); r.status != 200 {
		t.Fatalf("after the window: %d", r.status)
	}
}

// TestBadInput: requests refused with 400 and the field named, sent
// straight to the fake (Prism would refuse some of them itself), changing
// nothing.
func TestBadInput(t *testing.T) {
	fake := sendgridfake.New(sendgridfake.Config{})
	if _, err := fake.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	parent, _, admin, _ := setup(t, fake, "")
	c := client{t: t, hc: sendgridfake.NewHTTPClient(fake.Endpoints(), nil), key: admin.Secret}
	tests := []struct {
		name  string
		body  any
		field string
		msg   string
	}{
		{"no name", map[string]any{"scopes": []string{"mail.send"}}, "name", "missing required argument"},
		{"blank name", map[string]any{"name": "  "}, "name", "missing required argument"},
		{"long name", map[string]any{"name": strings.Repeat("n", 101)}, "name", "at most 100"},
		{"malformed scope", map[string]any{"name": "x", "scopes": []string{"Mail Send"}}, "scopes", "not a SendGrid scope"},
		{"not JSON", "{", "", "invalid JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(http.MethodPost, "/v3/api_keys", tc.body)
			r.wantError(t, 400, tc.field, tc.msg)
			if n := fake.KeyCount(parent); n != 1 {
				t.Fatalf("KeyCount = %d", n)
			}
		})
	}
	c.do(http.MethodGet, "/v3/api_keys?limit=0", nil).wantError(t, 400, "limit", "positive integer")
	c.do(http.MethodDelete, "/v3/api_keys/nope", nil).wantError(t, 404, "", "unable to find API Key")
}

// TestCreateWithoutScopes: a create request without scopes gets the calling
// key's scopes (never more) plus the user's AutoScopes.
func TestCreateWithoutScopes(t *testing.T) {
	fake := sendgridfake.New(sendgridfake.Config{})
	if _, err := fake.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	_, sub, admin, _ := setup(t, fake, "")
	r := client{t: t, hc: sendgridfake.NewHTTPClient(fake.Endpoints(), nil), key: admin.Secret, onBehalfOf: sub}.do(http.MethodPost, "/v3/api_keys", map[string]any{"name": "full"})
	var k created
	r.decode(t, &k)
	want := append([]string{"2fa_required"}, adminScopes...)
	want = append(want, "sender_verification_eligible")
	sortStrings(want)
	if r.status != 201 || !reflect.DeepEqual(k.Scopes, want) {
		t.Fatalf("%d scopes %v, want %v", r.status, k.Scopes, want)
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestCallsRecordWhoCalled: calls carry the key id, user, on-behalf-of and
// a 4-character fingerprint, and never a key.
func TestCallsRecordWhoCalled(t *testing.T) {
	fake := sendgridfake.New(sendgridfake.Config{})
	if _, err := fake.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	parent, sub, admin, subKey := setup(t, fake, "")
	hc := sendgridfake.NewHTTPClient(fake.Endpoints(), nil)
	client{t: t, hc: hc, key: admin.Secret, onBehalfOf: sub}.do(http.MethodGet, "/v3/api_keys", nil)
	client{t: t, hc: hc, key: subKey.Secret}.do(http.MethodGet, "/v3/scopes", nil)
	client{t: t, hc: hc, key: subKey.Secret + "x"}.do(http.MethodGet, "/v3/scopes", nil)
	calls := fake.Calls()
	if len(calls) != 3 {
		t.Fatalf("%d calls", len(calls))
	}
	want := []sendgridfake.Call{
		{Operation: "ListApiKey", KeyID: admin.ID, Username: parent, OnBehalfOf: sub, Fingerprint: admin.Secret[len(admin.Secret)-4:], Status: 200},
		{Operation: "ListScope", KeyID: subKey.ID, Username: sub, Fingerprint: subKey.Secret[len(subKey.Secret)-4:], Status: 200},
		{Operation: "ListScope", Status: 401},
	}
	for i, w := range want {
		c := calls[i]
		c.Time, c.Method, c.Path = time.Time{}, "", ""
		if c != w {
			t.Errorf("call %d = %+v, want %+v", i, c, w)
		}
	}
	dump, _ := json.Marshal(calls)
	for _, secret := range []string{admin.Secret, subKey.Secret} {
		if strings.Contains(string(dump), secret) {
			t.Fatal("a key reached the call records")
		}
	}
}

// TestPrismRejectsOffSpecRequest proves the harness validates: a create
// without the required name is refused by Prism and never reaches the fake.
func TestPrismRejectsOffSpecRequest(t *testing.T) {
	env := sendgridprism.Shared(t)
	parent, _, admin, _ := setup(t, env.Fake, "")
	c := &prism.Checker{}
	req, _ := http.NewRequest(http.MethodPost, sendgridfake.BaseURL+"/v3/api_keys", strings.NewReader(`{"scopes":["mail.send"]}`))
	req.Header.Set("Authorization", "Bearer "+admin.Secret)
	req.Header.Set("Content-Type", "application/json")
	before := len(env.Fake.Calls())
	resp, err := sendgridfake.NewHTTPClient(env.Endpoints, c).Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("off-spec request answered %d", resp.StatusCode)
	}
	if !strings.Contains(err.Error(), "must have required property 'name'") {
		t.Fatal(err)
	}
	for _, call := range env.Fake.Calls()[before:] {
		if call.Username == parent {
			t.Fatal("the off-spec request reached the fake")
		}
	}
}

// TestTransportRoutesAndRefuses: /v3/scopes goes to the scopes endpoint,
// the rest to the API-keys one; other hosts fail.
func TestTransportRoutesAndRefuses(t *testing.T) {
	e := sendgridfake.Endpoints{APIKeys: "K", Scopes: "S"}
	for _, tc := range []struct{ host, path, want string }{
		{"api.sendgrid.com", "/v3/scopes", "S"},
		{"API.SENDGRID.COM:443", "/v3/api_keys/x", "K"},
		{"api.eu.sendgrid.com", "/v3/api_keys", "K"},
	} {
		if got, ok := e.For(tc.host, tc.path); !ok || got != tc.want {
			t.Errorf("For(%s, %s) = %q %v", tc.host, tc.path, got, ok)
		}
	}
	hc := sendgridfake.NewHTTPClient(sendgridfake.Endpoints{APIKeys: "http://127.0.0.1:1", Scopes: "http://127.0.0.1:1"}, nil)
	for _, u := range []string{"https://example.com/v3/scopes", "https://api.sendgrid.com.evil.example/v3/scopes"} {
		resp, err := hc.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("GET %s went through", u)
		}
		if !strings.Contains(err.Error(), "no endpoint for host") {
			t.Fatal(err)
		}
	}
}

// TestConcurrentCreatesRespectLimit: many concurrent creates for one user
// never push it past the key limit.
func TestConcurrentCreatesRespectLimit(t *testing.T) {
	fake := sendgridfake.New(sendgridfake.Config{MaxKeys: 10})
	if _, err := fake.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	parent, _, admin, _ := setup(t, fake, "")
	c := client{t: t, hc: sendgridfake.NewHTTPClient(fake.Endpoints(), nil), key: admin.Secret}
	statuses := make(chan int, 30)
	for i := 0; i < 30; i++ {
		go func() {
			statuses <- c.do(http.MethodPost, "/v3/api_keys", map[string]any{"name": "k", "scopes": []string{"mail.send"}}).status
		}()
	}
	created := 0
	for i := 0; i < 30; i++ {
		if <-statuses == 201 {
			created++
		}
	}
	if created != 9 || fake.KeyCount(parent) != 10 {
		t.Fatalf("created %d (KeyCount %d), want 9 more keys up to the limit of 10", created, fake.KeyCount(parent))
	}
}
