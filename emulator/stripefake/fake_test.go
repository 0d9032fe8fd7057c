package stripefake_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/dualkey/dualkey/emulator/stripefake"
)

// TestAuth covers every way a key is accepted or refused, as Stripe answers:
// status, error type and code, and a message that never holds the key.
func TestAuth(t *testing.T) {
	s, url, clock := start(t)
	acct, sk := mustAccount(t, s, "auth")
	rk, err := s.CreateKey(acct.ID, stripefake.KeySpec{Kind: stripefake.KindRestricted, Name: "probe", Permissions: []string{stripefake.PermBalanceRead, stripefake.PermWebhookWrite}})
	if err != nil {
		t.Fatal(err)
	}
	expiring, err := s.CreateKey(acct.ID, stripefake.KeySpec{ExpiresAt: clock.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	expired, err := s.CreateKey(acct.ID, stripefake.KeySpec{ExpiresAt: clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	unknown := "sk_test_" + strings.Repeat("Z", 32)
	basic := func(k string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(k+":")) }

	tests := []struct {
		name      string
		auth      string
		path      string
		status    int
		code      string
		msg       string
		forbidden []string // strings that must not appear in the answer
	}{
		{"no key", "", "/v1/balance", 401, "", "You did not provide an API key", nil},
		{"unknown key", "Bearer " + unknown, "/v1/balance", 401, "", "Invalid API Key provided: sk_test_****", []string{unknown}},
		{"bad scheme", "Token " + sk.Secret, "/v1/balance", 401, "", "Invalid API Key provided", []string{sk.Secret}},
		{"secret key bearer", "Bearer " + sk.Secret, "/v1/balance", 200, "", "", []string{sk.Secret}},
		{"secret key basic auth", basic(sk.Secret), "/v1/balance", 200, "", "", nil},
		{"expired key", "Bearer " + expired.Secret, "/v1/balance", 401, stripefake.CodeAPIKeyExpired, "Expired API Key provided: sk_test_****", []string{expired.Secret}},
		{"key before its expiry", "Bearer " + expiring.Secret, "/v1/balance", 200, "", "", nil},
		{"restricted key with permission", "Bearer " + rk.Secret, "/v1/balance", 200, "", "", nil},
		{"restricted key write implies read", "Bearer " + rk.Secret, "/v1/webhook_endpoints", 200, "", "", nil},
		{"restricted key without permission", "Bearer " + rk.Secret, "/v1/charges", 403, "", "does not have the required permissions for this endpoint on account '" + acct.ID + "'. Having the 'rak_charge_read' permission", []string{rk.Secret}},
		{"restricted key reading the account", "Bearer " + rk.Secret, "/v1/account", 403, "", "'" + stripefake.PermAccountRead + "'", []string{rk.Secret}},
		{"unknown route", "Bearer " + sk.Secret, "/v1/nope", 404, "", "Unrecognized request URL (GET: /v1/nope)", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, url+tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			for _, f := range tc.forbidden {
				if strings.Contains(string(body), f) {
					t.Fatal("answer contains the key")
				}
			}
			if tc.status == 200 {
				return
			}
			var e struct {
				Error struct{ Type, Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body: %v: %s", err, body)
			}
			if e.Error.Type != stripefake.TypeInvalidRequest || e.Error.Code != tc.code || !strings.Contains(e.Error.Message, tc.msg) {
				t.Fatalf("error = %+v, want type %s code %q message containing %q", e.Error, stripefake.TypeInvalidRequest, tc.code, tc.msg)
			}
		})
	}

	// Time passes: the expiring key dies with api_key_expired, seen by the
	// real client as a 401 *stripe.Error.
	clock.Advance(time.Hour)
	_, err = newClient(url, expiring.Secret, 0).Balance.Get(nil)
	se := stripeErr(t, err)
	if se.HTTPStatusCode != 401 || se.Code != stripe.ErrorCodeAPIKeyExpired || se.Type != stripe.ErrorTypeInvalidRequest {
		t.Fatalf("expired key: %d %s %s", se.HTTPStatusCode, se.Type, se.Code)
	}
}

// TestRollKey rolls a restricted key like the Dashboard: the new key has the
// same account, kind, mode and permissions; the old one works until the
// chosen expiry and then answers api_key_expired.
func TestRollKey(t *testing.T) {
	s, url, clock := start(t)
	acct, _ := mustAccount(t, s, "roll")
	old, err := s.CreateKey(acct.ID, stripefake.KeySpec{Kind: stripefake.KindRestricted, Live: true, Name: "billing", Permissions: []string{stripefake.PermBalanceRead}})
	if err != nil {
		t.Fatal(err)
	}
	nk, err := s.RollKey(old.Secret, clock.Now().Add(12*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if nk.Secret == old.Secret || !strings.HasPrefix(nk.Secret, "rk_live_") || nk.AccountID != acct.ID || nk.Kind != old.Kind || !nk.Live || nk.Name != "billing" || len(nk.Permissions) != 1 {
		t.Fatalf("rolled key %+v does not match the old one's account, kind, mode and permissions", nk.Fingerprint())
	}
	for _, step := range []struct {
		advance time.Duration
		oldOK   bool
	}{{0, true}, {12*time.Hour - time.Second, true}, {time.Second, false}} {
		clock.Advance(step.advance)
		b, err := newClient(url, old.Secret, 0).Balance.Get(nil)
		if step.oldOK {
			if err != nil || !b.Livemode {
				t.Fatalf("old key after %v: %v (livemode %v)", step.advance, err, b != nil && b.Livemode)
			}
		} else if se := stripeErr(t, err); se.Code != stripe.ErrorCodeAPIKeyExpired {
			t.Fatalf("old key past expiry: code %q", se.Code)
		}
		if _, err := newClient(url, nk.Secret, 0).Balance.Get(nil); err != nil {
			t.Fatalf("new key: %v", err)
		}
	}
	if _, err := s.RollKey(old.Secret, time.Time{}); err == nil {
		t.Fatal("rolling an expired key succeeded")
	}
}

// TestAccountAndModeIsolation: a key sees only its own account's endpoints
// and only those of its mode; GET /v1/account answers the key's account.
func TestAccountAndModeIsolation(t *testing.T) {
	s, url, _ := start(t)
	a1, k1 := mustAccount(t, s, "one")
	a2, k2 := mustAccount(t, s, "two")
	live1, err := s.CreateKey(a1.ID, stripefake.KeySpec{Live: true})
	if err != nil {
		t.Fatal(err)
	}
	c1, c2, cl := newClient(url, k1.Secret, 0), newClient(url, k2.Secret, 0), newClient(url, live1.Secret, 0)
	got1, err := c1.Accounts.Get()
	if err != nil || got1.ID != a1.ID {
		t.Fatalf("account of key 1 = %v, %v; want %s", got1, err, a1.ID)
	}
	got2, err := c2.Accounts.Get()
	if err != nil || got2.ID != a2.ID {
		t.Fatalf("account of key 2 = %v, %v; want %s", got2, err, a2.ID)
	}
	gotLive, err := cl.Accounts.Get()
	if err != nil || gotLive.ID != a1.ID {
		t.Fatalf("account of live key = %v, %v; want %s", gotLive, err, a1.ID)
	}
	ep, err := c1.WebhookEndpoints.New(endpointParams("https://a.example.com/hook"))
	if err != nil {
		t.Fatal(err)
	}
	if ep.Livemode {
		t.Fatal("endpoint created with a test key is live")
	}
	for name, c := range map[string]interface {
		Get(string, *stripe.WebhookEndpointParams) (*stripe.WebhookEndpoint, error)
	}{"other account": c2.WebhookEndpoints, "live key of the same account": cl.WebhookEndpoints} {
		_, err := c.Get(ep.ID, nil)
		if se := stripeErr(t, err); se.HTTPStatusCode != 404 || se.Code != stripe.ErrorCodeResourceMissing {
			t.Errorf("%s: %d %s, want 404 resource_missing", name, se.HTTPStatusCode, se.Code)
		}
	}
}

func endpointParams(u string) *stripe.WebhookEndpointParams {
	return &stripe.WebhookEndpointParams{
		URL:           stripe.String(u),
		EnabledEvents: stripe.StringSlice([]string{"customer.created"}),
	}
}

// TestWebhookEndpointLifecycle drives create, read, disable, re-enable,
// metadata merge, list and delete through stripe-go.
func TestWebhookEndpointLifecycle(t *testing.T) {
	s, url, _ := start(t)
	_, k := mustAccount(t, s, "lifecycle")
	c := newClient(url, k.Secret, 0)

	p := endpointParams("https://consumer.example.com/hook")
	p.EnabledEvents = stripe.StringSlice([]string{"customer.created", "charge.succeeded"})
	p.APIVersion = stripe.String("2023-10-16")
	p.Description = stripe.String("orders")
	p.AddMetadata("dualkey:secret", "orders-webhook")
	p.AddMetadata("team", "payments")
	created, err := c.WebhookEndpoints.New(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.ID, "we_") || !strings.HasPrefix(created.Secret, "whsec_") || created.Status != "enabled" ||
		created.APIVersion != "2023-10-16" || len(created.EnabledEvents) != 2 || created.Metadata["team"] != "payments" {
		t.Fatalf("created = %+v", created.ID)
	}
	got, err := c.WebhookEndpoints.Get(created.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Secret != "" {
		t.Fatal("GET returned the signing secret; Stripe returns it only at creation")
	}
	dashboard, _ := s.Endpoint(created.ID)
	if dashboard.Secret != created.Secret {
		t.Fatal("Dashboard view does not hold the secret returned at creation")
	}

	steps := []struct {
		name   string
		params *stripe.WebhookEndpointParams
		check  func(*stripe.WebhookEndpoint) bool
	}{
		{"disable", &stripe.WebhookEndpointParams{Disabled: stripe.Bool(true)}, func(e *stripe.WebhookEndpoint) bool { return e.Status == "disabled" }},
		{"re-enable", &stripe.WebhookEndpointParams{Disabled: stripe.Bool(false)}, func(e *stripe.WebhookEndpoint) bool { return e.Status == "enabled" }},
		{"metadata: unset one key, add one", func() *stripe.WebhookEndpointParams {
			p := &stripe.WebhookEndpointParams{}
			p.AddMetadata("team", "")
			p.AddMetadata("state", "previous")
			return p
		}(), func(e *stripe.WebhookEndpoint) bool {
			_, team := e.Metadata["team"]
			return !team && e.Metadata["state"] == "previous" && e.Metadata["dualkey:secret"] == "orders-webhook"
		}},
		{"events replaced", &stripe.WebhookEndpointParams{EnabledEvents: stripe.StringSlice([]string{"*"})}, func(e *stripe.WebhookEndpoint) bool {
			return len(e.EnabledEvents) == 1 && e.EnabledEvents[0] == "*"
		}},
	}
	for _, st := range steps {
		e, err := c.WebhookEndpoints.Update(created.ID, st.params)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if !st.check(e) {
			t.Fatalf("%s: endpoint after update: status %s events %v metadata %v", st.name, e.Status, e.EnabledEvents, e.Metadata)
		}
	}

	del, err := c.WebhookEndpoints.Del(created.ID, nil)
	if err != nil || !del.Deleted {
		t.Fatalf("delete: %v %v", del, err)
	}
	for _, name := range []string{"get after delete", "delete again"} {
		var err error
		if name == "get after delete" {
			_, err = c.WebhookEndpoints.Get(created.ID, nil)
		} else {
			_, err = c.WebhookEndpoints.Del(created.ID, nil)
		}
		if se := stripeErr(t, err); se.HTTPStatusCode != 404 || se.Code != stripe.ErrorCodeResourceMissing || !strings.Contains(se.Msg, created.ID) {
			t.Fatalf("%s: %d %s %q", name, se.HTTPStatusCode, se.Code, se.Msg)
		}
	}
}

// TestWebhookEndpointBadRequests: bad input is refused with Stripe's codes
// and changes nothing.
func TestWebhookEndpointBadRequests(t *testing.T) {
	s, url, _ := start(t)
	acct, k := mustAccount(t, s, "bad")
	c := newClient(url, k.Secret, 0)
	ep, err := c.WebhookEndpoints.New(endpointParams("https://a.example.com/hook"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		do    func() error
		code  string
		param string
	}{
		{"missing url", func() error {
			_, err := c.WebhookEndpoints.New(&stripe.WebhookEndpointParams{EnabledEvents: stripe.StringSlice([]string{"customer.created"})})
			return err
		}, "parameter_missing", "url"},
		{"missing events", func() error {
			_, err := c.WebhookEndpoints.New(&stripe.WebhookEndpointParams{URL: stripe.String("https://a.example.com")})
			return err
		}, "parameter_missing", "enabled_events"},
		{"bad url", func() error {
			_, err := c.WebhookEndpoints.New(endpointParams("ftp://nowhere"))
			return err
		}, "url_invalid", "url"},
		{"bad event type", func() error {
			p := endpointParams("https://a.example.com/hook")
			p.EnabledEvents = stripe.StringSlice([]string{"not an event"})
			_, err := c.WebhookEndpoints.New(p)
			return err
		}, "", "enabled_events[0]"},
		{"api_version on update", func() error {
			_, err := c.WebhookEndpoints.Update(ep.ID, &stripe.WebhookEndpointParams{APIVersion: stripe.String("2023-10-16")})
			return err
		}, "parameter_unknown", "api_version"},
		{"connect endpoint", func() error {
			p := endpointParams("https://a.example.com/hook")
			p.Connect = stripe.Bool(true)
			_, err := c.WebhookEndpoints.New(p)
			return err
		}, "", "connect"},
		{"list limit", func() error {
			it := c.WebhookEndpoints.List(&stripe.WebhookEndpointListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(101)}})
			return it.Err()
		}, "", "limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			se := stripeErr(t, tc.do())
			if se.HTTPStatusCode != 400 || string(se.Code) != tc.code || se.Param != tc.param {
				t.Fatalf("got %d code %q param %q (%s), want 400 %q %q", se.HTTPStatusCode, se.Code, se.Param, se.Msg, tc.code, tc.param)
			}
		})
	}
	if eps := s.Endpoints(acct.ID, false); len(eps) != 1 || eps[0].APIVersion != "" {
		t.Fatalf("bad requests changed state: %d endpoints", len(eps))
	}
	// Stripe's limit: 16 endpoints per account and mode.
	for i := 1; i < 16; i++ {
		if _, err := c.WebhookEndpoints.New(endpointParams("https://a.example.com/hook")); err != nil {
			t.Fatalf("endpoint %d: %v", i+1, err)
		}
	}
	_, err = c.WebhookEndpoints.New(endpointParams("https://a.example.com/hook"))
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 || se.Code != stripefake.CodeWebhookEndpointLimit {
		t.Fatalf("17th endpoint: %d %s", se.HTTPStatusCode, se.Code)
	}
}

// TestListPagination walks every page forwards with stripe-go's iterator
// and checks newest-first order and ending_before.
func TestListPagination(t *testing.T) {
	s, url, clock := start(t)
	_, k := mustAccount(t, s, "pages")
	c := newClient(url, k.Secret, 0)
	var ids []string
	for i := 0; i < 7; i++ {
		e, err := c.WebhookEndpoints.New(endpointParams("https://a.example.com/hook"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append([]string{e.ID}, ids...) // newest first
		if i%3 == 0 {
			clock.Advance(time.Second)
		}
	}
	it := c.WebhookEndpoints.List(&stripe.WebhookEndpointListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(2)}})
	var got []string
	for it.Next() {
		got = append(got, it.WebhookEndpoint().ID)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Fatalf("iterated %v, want %v", got, ids)
	}
	before := c.WebhookEndpoints.List(&stripe.WebhookEndpointListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(2), EndingBefore: stripe.String(ids[4]), Single: true}})
	var page []string
	for before.Next() {
		page = append(page, before.WebhookEndpoint().ID)
	}
	if len(page) != 2 || !before.Meta().HasMore {
		t.Fatalf("ending_before page %v has_more %v, want 2 items and more", page, before.Meta().HasMore)
	}
}

// TestIdempotency: stripe-go sends an Idempotency-Key on every write and
// reuses it on retries. A lost response followed by the client's retry must
// not create a second endpoint; reusing a key with other parameters fails.
func TestIdempotency(t *testing.T) {
	s, url, _ := start(t)
	acct, k := mustAccount(t, s, "idem")

	s.InjectFault(stripefake.Fault{Method: http.MethodPost, Path: "/v1/webhook_endpoints", DropResponse: true})
	c := newClient(url, k.Secret, 2)
	e, err := c.WebhookEndpoints.New(endpointParams("https://a.example.com/hook"))
	if err != nil {
		t.Fatalf("create with a lost first response: %v", err)
	}
	if eps := s.Endpoints(acct.ID, false); len(eps) != 1 || eps[0].ID != e.ID {
		t.Fatalf("%d endpoints after a retried create, want exactly the one returned", len(eps))
	}
	var replays int
	for _, r := range s.Requests() {
		if r.Replayed {
			replays++
		}
	}
	if replays != 1 {
		t.Fatalf("%d replayed answers, want 1", replays)
	}

	c0 := newClient(url, k.Secret, 0)
	p1 := endpointParams("https://a.example.com/one")
	p1.IdempotencyKey = stripe.String("dualkey-rotation-token-1")
	first, err := c0.WebhookEndpoints.New(p1)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c0.WebhookEndpoints.New(p1)
	if err != nil || again.ID != first.ID || again.Secret != first.Secret {
		t.Fatalf("same key, same params: %v, id %v want %v", err, again, first.ID)
	}
	p2 := endpointParams("https://a.example.com/two")
	p2.IdempotencyKey = stripe.String("dualkey-rotation-token-1")
	_, err = c0.WebhookEndpoints.New(p2)
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 || se.Type != stripe.ErrorTypeIdempotency {
		t.Fatalf("same key, other params: %d %s", se.HTTPStatusCode, se.Type)
	}
	s.InjectFault(stripefake.Fault{Path: "/v1/webhook_endpoints*", Status: http.StatusTooManyRequests})
	_, err = c0.WebhookEndpoints.Get(first.ID, nil)
	if se := stripeErr(t, err); se.HTTPStatusCode != 429 || se.Code != stripe.ErrorCodeRateLimit {
		t.Fatalf("injected 429: %d %s", se.HTTPStatusCode, se.Code)
	}
	if _, err := c0.WebhookEndpoints.Get(first.ID, nil); err != nil {
		t.Fatalf("fault used up, call should work: %v", err)
	}
}

// receiver is a loopback webhook consumer that records what it gets.
type receiver struct {
	mu     sync.Mutex
	got    []received
	status int
}

type received struct {
	payload []byte
	sig     string
}

func newReceiver(t *testing.T) (*receiver, string) {
	r := &receiver{status: 200}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{b, req.Header.Get(stripefake.SignatureHeader)})
		st := r.status
		r.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL
}

func (r *receiver) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// TestSendEvent delivers signed events and checks them with stripe-go's own
// webhook verifier (an independent implementation of Stripe's scheme):
// only enabled endpoints subscribed to the type get the event; a Dashboard
// roll's overlap signs with both secrets; Redeliver repeats the event id.
func TestSendEvent(t *testing.T) {
	s, url, clock := start(t)
	acct, k := mustAccount(t, s, "events")
	c := newClient(url, k.Secret, 0)
	rA, urlA := newReceiver(t)
	rB, urlB := newReceiver(t)
	rC, urlC := newReceiver(t)
	rD, urlD := newReceiver(t)

	pA := endpointParams(urlA)
	pA.APIVersion = stripe.String(stripe.APIVersion)
	epA, err := c.WebhookEndpoints.New(pA)
	if err != nil {
		t.Fatal(err)
	}
	pB := endpointParams(urlB)
	pB.EnabledEvents = stripe.StringSlice([]string{"*"})
	epB, err := c.WebhookEndpoints.New(pB)
	if err != nil {
		t.Fatal(err)
	}
	pC := endpointParams(urlC)
	pC.EnabledEvents = stripe.StringSlice([]string{"charge.succeeded"})
	if _, err := c.WebhookEndpoints.New(pC); err != nil {
		t.Fatal(err)
	}
	epD, err := c.WebhookEndpoints.New(endpointParams(urlD))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WebhookEndpoints.Update(epD.ID, &stripe.WebhookEndpointParams{Disabled: stripe.Bool(true)}); err != nil {
		t.Fatal(err)
	}

	res, err := s.SendEvent(context.Background(), stripefake.EventInput{AccountID: acct.ID, Type: "customer.created"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.EventID, "evt_") || len(res.Deliveries) != 2 {
		t.Fatalf("event %s went to %d endpoints, want 2 (A: subscribed, B: *)", res.EventID, len(res.Deliveries))
	}
	for _, d := range res.Deliveries {
		if !d.OK() {
			t.Fatalf("delivery to %s: %d %v", d.EndpointID, d.StatusCode, d.Err)
		}
	}
	if len(rC.all()) != 0 || len(rD.all()) != 0 {
		t.Fatal("an unsubscribed or disabled endpoint got the event")
	}
	verify := func(r received, secret string) (stripe.Event, error) {
		return webhook.ConstructEventWithOptions(r.payload, r.sig, secret, webhook.ConstructEventOptions{IgnoreTolerance: true, IgnoreAPIVersionMismatch: true})
	}
	gotA := rA.all()[0]
	ev, err := verify(gotA, epA.Secret)
	if err != nil {
		t.Fatalf("stripe-go rejects the fake's signature: %v", err)
	}
	if ev.ID != res.EventID || ev.Type != "customer.created" || ev.Livemode || ev.APIVersion != stripe.APIVersion {
		t.Fatalf("event = %s %s live=%v %s", ev.ID, ev.Type, ev.Livemode, ev.APIVersion)
	}
	if !strings.Contains(gotA.sig, ",v0=") {
		t.Error("test-mode delivery lacks the v0 signature Stripe sends")
	}
	if _, err := verify(gotA, epB.Secret); err == nil {
		t.Fatal("A's delivery verifies with B's secret")
	}
	if _, err := verify(rB.all()[0], epB.Secret); err != nil {
		t.Fatalf("B: %v", err)
	}

	// Dashboard roll with a one-hour overlap: both secrets sign.
	newSecret, err := s.RollEndpointSecret(epA.ID, clock.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SendEvent(context.Background(), stripefake.EventInput{AccountID: acct.ID, Type: "customer.created"}); err != nil {
		t.Fatal(err)
	}
	overlap := rA.all()[1]
	if strings.Count(overlap.sig, "v1=") != 2 {
		t.Fatalf("overlap header has %d v1 signatures, want 2", strings.Count(overlap.sig, "v1="))
	}
	for name, secret := range map[string]string{"old": epA.Secret, "new": newSecret} {
		if _, err := verify(overlap, secret); err != nil {
			t.Fatalf("overlap delivery does not verify with the %s secret: %v", name, err)
		}
	}
	clock.Advance(time.Hour)
	if _, err := s.SendEvent(context.Background(), stripefake.EventInput{AccountID: acct.ID, Type: "customer.created"}); err != nil {
		t.Fatal(err)
	}
	after := rA.all()[2]
	if _, err := verify(after, epA.Secret); err == nil {
		t.Fatal("old secret still signs after the overlap")
	}
	if _, err := verify(after, newSecret); err != nil {
		t.Fatal(err)
	}

	// Redeliver: same event id, new delivery.
	d, err := s.Redeliver(context.Background(), res.EventID, epB.ID)
	if err != nil || !d.OK() {
		t.Fatalf("redeliver: %v %v", d, err)
	}
	last := rB.all()[len(rB.all())-1]
	ev2, err := verify(last, epB.Secret)
	if err != nil || ev2.ID != res.EventID {
		t.Fatalf("redelivered event %v %v, want %s", ev2.ID, err, res.EventID)
	}
	if _, err := s.Redeliver(context.Background(), res.EventID, epD.ID); err == nil {
		t.Fatal("redelivery to a disabled endpoint succeeded")
	}

	// A failing consumer is reported, not an error.
	rB.mu.Lock()
	rB.status = 500
	rB.mu.Unlock()
	res3, err := s.SendEvent(context.Background(), stripefake.EventInput{AccountID: acct.ID, Type: "charge.refunded"})
	if err != nil || len(res3.Deliveries) != 1 || res3.Deliveries[0].OK() || res3.Deliveries[0].StatusCode != 500 {
		t.Fatalf("failing consumer: %v %+v", err, res3.Deliveries)
	}
}

// TestRequestLogHoldsNoKeys: the call log masks keys.
func TestRequestLogHoldsNoKeys(t *testing.T) {
	s, url, _ := start(t)
	acct, k := mustAccount(t, s, "log")
	if _, err := newClient(url, k.Secret, 0).Balance.Get(nil); err != nil {
		t.Fatal(err)
	}
	reqs := s.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/v1/balance" || reqs[0].Status != 200 || reqs[0].AccountID != acct.ID {
		t.Fatalf("requests = %+v", reqs)
	}
	if strings.Contains(reqs[0].Key, k.Secret) || !strings.HasSuffix(reqs[0].Key, k.Secret[len(k.Secret)-4:]) {
		t.Fatalf("logged key %q is not masked to its last 4", reqs[0].Key)
	}
}
