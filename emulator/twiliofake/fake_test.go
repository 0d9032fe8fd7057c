package twiliofake_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	accounts "github.com/twilio/twilio-go/rest/accounts/v1"
	api "github.com/twilio/twilio-go/rest/api/v2010"
	iam "github.com/twilio/twilio-go/rest/iam/v1"

	"github.com/dualkey/dualkey/emulator/twiliofake"
	"github.com/dualkey/dualkey/emulator/twiliofake/twilioprism"
	"github.com/dualkey/dualkey/internal/prism"
	"github.com/dualkey/dualkey/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	twilioprism.Close()
	os.Exit(code)
}

// restErr returns the Twilio error a twilio-go call failed with.
func restErr(t *testing.T, err error) *client.TwilioRestError {
	t.Helper()
	var te *client.TwilioRestError
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a TwilioRestError", err, err)
	}
	return te
}

// wantCode fails unless err is a Twilio error with the status and code.
func wantCode(t *testing.T, err error, status, code int) {
	t.Helper()
	if err == nil {
		t.Fatalf("call succeeded, want HTTP %d code %d", status, code)
	}
	te := restErr(t, err)
	if te.Status != status || te.Code != code {
		t.Fatalf("error = %d/%d %q, want %d/%d", te.Status, te.Code, te.Message, status, code)
	}
	if te.MoreInfo != "https://www.twilio.com/docs/errors/"+itoa(code) {
		t.Fatalf("more_info = %q", te.MoreInfo)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestProviderRequestsThroughPrism sends every request the Twilio rotation
// providers will send, with the real twilio-go client, through Prism in
// proxy mode in front of the fake: a request or response that breaks
// Twilio's OpenAPI documents fails the call (and the test, at cleanup, if
// Prism said anything else). Each step also checks the fake's state.
func TestProviderRequestsThroughPrism(t *testing.T) {
	env := twilioprism.Shared(t)
	acct := env.Fake.CreateAccount("provider flow")
	admin := env.Client(t, acct.Sid, acct.AuthToken, acct.Sid)

	// Fetch the account (what testSecret does with an admin credential).
	a, err := admin.Api.FetchAccount(acct.Sid)
	if err != nil {
		t.Fatal(err)
	}
	if *a.Sid != acct.Sid || *a.Status != "active" || *a.AuthToken != acct.AuthToken {
		t.Fatalf("account = %s/%s", *a.Sid, *a.Status)
	}
	if _, err := time.Parse(time.RFC1123Z, *a.DateCreated); err != nil {
		t.Fatalf("date_created %q is not RFC 2822: %v", *a.DateCreated, err)
	}

	// Standard key, API 2010: create, fetch, list, update, delete.
	nk, err := admin.Api.CreateNewKey(&api.CreateNewKeyParams{FriendlyName: ptr("dualkey v1")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(*nk.Sid, "SK") || len(*nk.Secret) != 32 || *nk.FriendlyName != "dualkey v1" {
		t.Fatalf("new key = %s %q (secret %d chars)", *nk.Sid, *nk.FriendlyName, len(*nk.Secret))
	}
	fk, err := admin.Api.FetchKey(*nk.Sid, &api.FetchKeyParams{})
	if err != nil {
		t.Fatal(err)
	}
	if *fk.Sid != *nk.Sid {
		t.Fatalf("fetched %s, want %s", *fk.Sid, *nk.Sid)
	}
	if _, err := admin.Api.UpdateKey(*nk.Sid, &api.UpdateKeyParams{FriendlyName: ptr("dualkey v1 renamed")}); err != nil {
		t.Fatal(err)
	}
	second, err := admin.Api.CreateNewKey(&api.CreateNewKeyParams{})
	if err != nil {
		t.Fatal(err)
	}
	// PageSize 1 makes twilio-go follow next_page_uri through Prism.
	keys, err := admin.Api.ListKey(&api.ListKeyParams{PageSize: ptr(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || *keys[0].Sid != *nk.Sid || *keys[1].Sid != *second.Sid {
		t.Fatalf("listed %d keys, want the two created, oldest first", len(keys))
	}

	// The new standard key works for product calls (the consumer's traffic)...
	user := env.Client(t, *nk.Sid, *nk.Secret, acct.Sid)
	if _, err := user.Api.CreateMessage(&api.CreateMessageParams{To: ptr("+15005550006"), From: ptr("+15005550001"), Body: ptr("hello")}); err != nil {
		t.Fatal(err)
	}
	msgs, err := user.Api.ListMessage(&api.ListMessageParams{PageSize: ptr(20)})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || *msgs[0].Body != "hello" || *msgs[0].AccountSid != acct.Sid {
		t.Fatalf("messages = %d", len(msgs))
	}
	if err := admin.Api.DeleteKey(*nk.Sid, &api.DeleteKeyParams{}); err != nil {
		t.Fatal(err)
	}
	if err := admin.Api.DeleteKey(*second.Sid, &api.DeleteKeyParams{}); err != nil {
		t.Fatal(err)
	}
	if n := env.Fake.KeyCount(acct.Sid); n != 0 {
		t.Fatalf("KeyCount = %d after deleting both keys", n)
	}

	// Restricted key, IAM v1: create with a policy, fetch, update, list, delete.
	policy := map[string]any{"allow": []string{"/twilio/messaging/messages/read"}}
	rk, err := admin.IamV1.CreateNewKey(&iam.CreateNewKeyParams{AccountSid: ptr(acct.Sid),
		FriendlyName: ptr("dualkey restricted v1"), KeyType: ptr("restricted"), Policy: &[]any{policy}[0]})
	if err != nil {
		t.Fatal(err)
	}
	if rk.Policy == nil || len(*rk.Secret) != 32 {
		t.Fatalf("restricted key has no policy or secret")
	}
	got, err := admin.IamV1.FetchKey(*rk.Sid)
	if err != nil {
		t.Fatal(err)
	}
	if allow := (*got.Policy)["allow"].([]any); len(allow) != 1 || allow[0] != "/twilio/messaging/messages/read" {
		t.Fatalf("fetched policy = %v", *got.Policy)
	}
	wider := any(map[string]any{"allow": []string{"/twilio/messaging/messages/read", "/twilio/messaging/messages/create"}})
	if _, err := admin.IamV1.UpdateKey(*rk.Sid, &iam.UpdateKeyParams{Policy: &wider}); err != nil {
		t.Fatal(err)
	}
	std, err := admin.IamV1.CreateNewKey(&iam.CreateNewKeyParams{AccountSid: ptr(acct.Sid), FriendlyName: ptr("dualkey standard v1")})
	if err != nil {
		t.Fatal(err)
	}
	if std.Policy != nil {
		t.Fatalf("standard key has a policy")
	}
	listed, err := admin.IamV1.ListGetKeys(&iam.ListGetKeysParams{AccountSid: ptr(acct.Sid)})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 2 {
		t.Fatalf("IAM list = %d keys, want 2", len(listed))
	}
	for _, sid := range []string{*rk.Sid, *std.Sid} {
		if err := admin.IamV1.DeleteKey(sid); err != nil {
			t.Fatal(err)
		}
	}

	// Auth token: create a secondary, use it, delete it, create again, promote.
	sec, err := admin.AccountsV1.CreateSecondaryAuthToken(&accounts.CreateSecondaryAuthTokenParams{})
	if err != nil {
		t.Fatal(err)
	}
	if *sec.AccountSid != acct.Sid || len(*sec.SecondaryAuthToken) != 32 || sec.DateCreated == nil {
		t.Fatalf("secondary = %s", *sec.AccountSid)
	}
	viaSecondary := env.Client(t, acct.Sid, *sec.SecondaryAuthToken, acct.Sid)
	if _, err := viaSecondary.Api.FetchAccount(acct.Sid); err != nil {
		t.Fatalf("secondary token does not authenticate: %v", err)
	}
	if err := admin.AccountsV1.DeleteSecondaryAuthToken(&accounts.DeleteSecondaryAuthTokenParams{}); err != nil {
		t.Fatal(err)
	}
	sec, err = admin.AccountsV1.CreateSecondaryAuthToken(&accounts.CreateSecondaryAuthTokenParams{})
	if err != nil {
		t.Fatal(err)
	}
	prom, err := admin.AccountsV1.UpdateAuthTokenPromotion(&accounts.UpdateAuthTokenPromotionParams{})
	if err != nil {
		t.Fatal(err)
	}
	if *prom.AuthToken != *sec.SecondaryAuthToken {
		t.Fatal("promotion did not return the secondary as the new primary")
	}
	primary, secondary, _ := env.Fake.Tokens(acct.Sid)
	if primary != *sec.SecondaryAuthToken || secondary != "" {
		t.Fatal("fake state after promotion: the secondary is not primary alone")
	}
}

// TestAuthEnforcement is the table of who may do what, every call through
// Prism with twilio-go. Twilio answers bad credentials, and keys on the
// Account and Keys resources, with 401/20003; a restricted key outside its
// policy with 403/20403.
func TestAuthEnforcement(t *testing.T) {
	env := twilioprism.Shared(t)
	acct := env.Fake.CreateAccount("auth table")
	other := env.Fake.CreateAccount("someone else")
	main, err := env.Fake.CreateMainKey(acct.Sid, "main")
	if err != nil {
		t.Fatal(err)
	}
	std, err := env.Fake.CreateKey(acct.Sid, twiliofake.KindStandard, "std", nil)
	if err != nil {
		t.Fatal(err)
	}
	restricted, err := env.Fake.CreateKey(acct.Sid, twiliofake.KindRestricted, "ro",
		&twiliofake.Policy{Allow: []string{"/twilio/messaging/messages/read"}})
	if err != nil {
		t.Fatal(err)
	}
	deleted, err := env.Fake.CreateKey(acct.Sid, twiliofake.KindStandard, "gone", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Fake.DeleteKey(acct.Sid, deleted.Sid); err != nil {
		t.Fatal(err)
	}
	otherKey, err := env.Fake.CreateMainKey(other.Sid, "other main")
	if err != nil {
		t.Fatal(err)
	}

	fetchAccount := func(c *twilio.RestClient) error { _, err := c.Api.FetchAccount(acct.Sid); return err }
	createKey := func(c *twilio.RestClient) error {
		k, err := c.Api.CreateNewKey(&api.CreateNewKeyParams{})
		if err == nil {
			_ = env.Fake.DeleteKey(acct.Sid, *k.Sid)
		}
		return err
	}
	createIAMKey := func(c *twilio.RestClient) error {
		k, err := c.IamV1.CreateNewKey(&iam.CreateNewKeyParams{AccountSid: ptr(acct.Sid)})
		if err == nil {
			_ = env.Fake.DeleteKey(acct.Sid, *k.Sid)
		}
		return err
	}
	listMessages := func(c *twilio.RestClient) error { _, err := c.Api.ListMessage(&api.ListMessageParams{}); return err }
	sendMessage := func(c *twilio.RestClient) error {
		_, err := c.Api.CreateMessage(&api.CreateMessageParams{To: ptr("+15005550006"), From: ptr("+15005550001"), Body: ptr("x")})
		return err
	}
	deleteSecondary := func(c *twilio.RestClient) error {
		return c.AccountsV1.DeleteSecondaryAuthToken(&accounts.DeleteSecondaryAuthTokenParams{})
	}

	tests := []struct {
		name       string
		user, pass string
		call       func(*twilio.RestClient) error
		status     int // 0 = success
		code       int
	}{
		{"auth token fetches account", acct.Sid, acct.AuthToken, fetchAccount, 0, 0},
		{"wrong auth token", acct.Sid, strings.Repeat("0", 32), fetchAccount, 401, 20003},
		{"unknown account", "AC" + strings.Repeat("0", 32), acct.AuthToken, fetchAccount, 401, 20003},
		{"main key fetches account", main.Sid, main.Secret, fetchAccount, 0, 0},
		{"main key creates key", main.Sid, main.Secret, createKey, 0, 0},
		{"main key creates IAM key", main.Sid, main.Secret, createIAMKey, 0, 0},
		{"standard key cannot fetch account", std.Sid, std.Secret, fetchAccount, 401, 20003},
		{"standard key cannot create key", std.Sid, std.Secret, createKey, 401, 20003},
		{"standard key cannot create IAM key", std.Sid, std.Secret, createIAMKey, 401, 20003},
		{"standard key cannot touch auth tokens", std.Sid, std.Secret, deleteSecondary, 401, 20003},
		{"standard key sends messages", std.Sid, std.Secret, sendMessage, 0, 0},
		{"wrong key secret", std.Sid, strings.Repeat("x", 32), listMessages, 401, 20003},
		{"deleted key", deleted.Sid, deleted.Secret, listMessages, 401, 20003},
		{"restricted key inside policy", restricted.Sid, restricted.Secret, listMessages, 0, 0},
		{"restricted key outside policy", restricted.Sid, restricted.Secret, sendMessage, 403, 20403},
		{"restricted key cannot create key", restricted.Sid, restricted.Secret, createKey, 401, 20003},
		{"another account's key on this account", otherKey.Sid, otherKey.Secret, fetchAccount, 401, 20003},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(env.Client(t, tc.user, tc.pass, acct.Sid))
			if tc.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, tc.status, tc.code)
		})
	}
}

// TestAuthTokenLifecycle: the secondary token works next to the primary
// until it is deleted or promoted; after promotion the old primary is dead;
// promoting or deleting without a secondary fails.
func TestAuthTokenLifecycle(t *testing.T) {
	env := twilioprism.Shared(t)
	acct := env.Fake.CreateAccount("tokens")
	oldPrimary := env.Client(t, acct.Sid, acct.AuthToken, acct.Sid)
	fetch := func(c *twilio.RestClient) error { _, err := c.Api.FetchAccount(acct.Sid); return err }

	wantCode(t, oldPrimary.AccountsV1.DeleteSecondaryAuthToken(&accounts.DeleteSecondaryAuthTokenParams{}), 404, 20404)
	_, err := oldPrimary.AccountsV1.UpdateAuthTokenPromotion(&accounts.UpdateAuthTokenPromotionParams{})
	wantCode(t, err, 404, 20404)

	sec, err := oldPrimary.AccountsV1.CreateSecondaryAuthToken(&accounts.CreateSecondaryAuthTokenParams{})
	if err != nil {
		t.Fatal(err)
	}
	secondary := env.Client(t, acct.Sid, *sec.SecondaryAuthToken, acct.Sid)
	for name, c := range map[string]*twilio.RestClient{"primary": oldPrimary, "secondary": secondary} {
		if err := fetch(c); err != nil {
			t.Fatalf("%s during the overlap: %v", name, err)
		}
	}
	if err := oldPrimary.AccountsV1.DeleteSecondaryAuthToken(&accounts.DeleteSecondaryAuthTokenParams{}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, fetch(secondary), 401, 20003)

	sec, err = oldPrimary.AccountsV1.CreateSecondaryAuthToken(&accounts.CreateSecondaryAuthTokenParams{})
	if err != nil {
		t.Fatal(err)
	}
	secondary = env.Client(t, acct.Sid, *sec.SecondaryAuthToken, acct.Sid)
	// The secondary may promote itself.
	if _, err := secondary.AccountsV1.UpdateAuthTokenPromotion(&accounts.UpdateAuthTokenPromotionParams{}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, fetch(oldPrimary), 401, 20003)
	if err := fetch(secondary); err != nil {
		t.Fatalf("promoted token: %v", err)
	}
}

// TestSecondaryModes: what a second "create secondary" does is not
// documented by Twilio; the fake offers both readings so providers can be
// tested under each.
func TestSecondaryModes(t *testing.T) {
	tests := []struct {
		mode        twiliofake.SecondaryMode
		wantErr     bool
		firstWorks  bool
		secondMatch bool
	}{
		{twiliofake.SecondaryReplace, false, false, true},
		{twiliofake.SecondaryReject, true, true, false},
	}
	for _, tc := range tests {
		fake := twiliofake.New(twiliofake.Config{Secondary: tc.mode})
		url, err := fake.Start("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = fake.Close() })
		acct := fake.CreateAccount("")
		c := twiliofake.NewRestClient(fake.Endpoints(), nil, acct.Sid, acct.AuthToken, acct.Sid)
		first, err := c.AccountsV1.CreateSecondaryAuthToken(nil)
		if err != nil {
			t.Fatal(err)
		}
		second, err := c.AccountsV1.CreateSecondaryAuthToken(nil)
		if tc.wantErr {
			wantCode(t, err, 400, 20001)
		} else if err != nil {
			t.Fatal(err)
		}
		_, current, _ := fake.Tokens(acct.Sid)
		if (current == *first.SecondaryAuthToken) != tc.firstWorks {
			t.Errorf("mode %d: first secondary still current = %v, want %v", tc.mode, !tc.firstWorks, tc.firstWorks)
		}
		if second != nil && (current == *second.SecondaryAuthToken) != tc.secondMatch {
			t.Errorf("mode %d: second secondary current = %v", tc.mode, !tc.secondMatch)
		}
		_ = url
	}
}

// TestRateLimit: a throttled account gets 429/20429 with Retry-After, which
// passes through Prism (as an undeclared status, a warning only); twilio-go
// surfaces it as a TwilioRestError. The fixed-window limit uses the fake's
// clock.
func TestRateLimit(t *testing.T) {
	env := twilioprism.Shared(t)
	acct := env.Fake.CreateAccount("throttled")
	if err := env.Fake.ThrottleNext(acct.Sid, 1, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "https://api.twilio.com/2010-04-01/Accounts/"+acct.Sid+".json", nil)
	req.SetBasicAuth(acct.Sid, acct.AuthToken)
	resp, err := env.HTTPClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("status %d Retry-After %q, want 429 and 2 (1.5 s rounded up)", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	var e struct {
		Code     int    `json:"code"`
		Message  string `json:"message"`
		MoreInfo string `json:"more_info"`
		Status   int    `json:"status"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Code != 20429 || e.Status != 429 || e.Message != "Too Many Requests" {
		t.Fatalf("body %s", body)
	}
	if err := env.Fake.ThrottleNext(acct.Sid, 1, time.Second); err != nil {
		t.Fatal(err)
	}
	_, err = env.Client(t, acct.Sid, acct.AuthToken, acct.Sid).Api.FetchAccount(acct.Sid)
	wantCode(t, err, 429, 20429)

	// Fixed window, on a fake clock.
	clock := testutil.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	fake := started(t, twiliofake.Config{Now: clock.Now})
	a := fake.CreateAccount("")
	if err := fake.SetRateLimit(a.Sid, twiliofake.RateLimit{Requests: 2, Window: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	c := twiliofake.NewRestClient(fake.Endpoints(), nil, a.Sid, a.AuthToken, a.Sid)
	for i := 0; i < 2; i++ {
		if _, err := c.Api.FetchAccount(a.Sid); err != nil {
			t.Fatalf("request %d within the limit: %v", i+1, err)
		}
	}
	clock.Advance(3 * time.Second)
	hc := twiliofake.NewHTTPClient(fake.Endpoints(), nil)
	req, _ = http.NewRequest(http.MethodGet, "https://api.twilio.com/2010-04-01/Accounts/"+a.Sid+".json", nil)
	req.SetBasicAuth(a.Sid, a.AuthToken)
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("third request: %d Retry-After %q, want 429 and 7", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	clock.Advance(7 * time.Second)
	if _, err := c.Api.FetchAccount(a.Sid); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// TestCallsRecordWhoCalled: every answered call is recorded with the
// credential kind, the principal SID and a 4-character fingerprint, and no
// secret.
func TestCallsRecordWhoCalled(t *testing.T) {
	fake := started(t, twiliofake.Config{})
	acct := fake.CreateAccount("")
	sec, err := fake.CreateSecondaryToken(acct.Sid)
	if err != nil {
		t.Fatal(err)
	}
	k, err := fake.CreateKey(acct.Sid, twiliofake.KindStandard, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ep := fake.Endpoints()
	_, _ = twiliofake.NewRestClient(ep, nil, acct.Sid, acct.AuthToken, acct.Sid).Api.FetchAccount(acct.Sid)
	_, _ = twiliofake.NewRestClient(ep, nil, acct.Sid, sec, acct.Sid).Api.FetchAccount(acct.Sid)
	_, _ = twiliofake.NewRestClient(ep, nil, k.Sid, k.Secret, acct.Sid).Api.ListMessage(nil)
	_, _ = twiliofake.NewRestClient(ep, nil, k.Sid, "wrong"+k.Secret[5:], acct.Sid).Api.ListMessage(nil)

	calls := fake.Calls()
	want := []struct {
		op    string
		cred  twiliofake.Credential
		who   string
		fp    string
		fails bool
	}{
		{"api.FetchAccount", twiliofake.CredPrimaryToken, acct.Sid, acct.AuthToken[28:], false},
		{"api.FetchAccount", twiliofake.CredSecondaryToken, acct.Sid, sec[28:], false},
		{"api.ListMessage", twiliofake.CredStandardKey, k.Sid, k.Secret[28:], false},
		{"api.ListMessage", twiliofake.CredInvalid, k.Sid, "", true},
	}
	if len(calls) != len(want) {
		t.Fatalf("%d calls recorded, want %d", len(calls), len(want))
	}
	for i, w := range want {
		c := calls[i]
		if c.Operation != w.op || c.Credential != w.cred || c.Principal != w.who || c.Fingerprint != w.fp || c.Failed() != w.fails {
			t.Errorf("call %d = %+v, want %+v", i, c, w)
		}
	}
	dump, _ := json.Marshal(calls)
	for _, secret := range []string{acct.AuthToken, sec, k.Secret} {
		if strings.Contains(string(dump), secret) {
			t.Fatal("a secret reached the call records")
		}
	}
	fake.ResetCalls()
	if len(fake.Calls()) != 0 {
		t.Fatal("ResetCalls kept calls")
	}
}

// TestBadInput: requests the fake refuses with Twilio's 400 and a message
// that names the parameter. Sent straight to the fake: some of them break
// Twilio's documents on purpose.
func TestBadInput(t *testing.T) {
	fake := started(t, twiliofake.Config{})
	acct := fake.CreateAccount("")
	c := twiliofake.NewRestClient(fake.Endpoints(), nil, acct.Sid, acct.AuthToken, acct.Sid)
	var policy any = map[string]any{"allow": []string{"/twilio/messaging/messages/read"}}
	var badPolicy any = map[string]any{"deny": []string{"x"}}
	var emptyPolicy any = map[string]any{"allow": []string{}}
	tests := []struct {
		name   string
		params iam.CreateNewKeyParams
		want   string
	}{
		{"missing AccountSid", iam.CreateNewKeyParams{}, "AccountSid"},
		{"restricted without policy", iam.CreateNewKeyParams{AccountSid: &acct.Sid, KeyType: ptr("restricted")}, "requires a Policy"},
		{"policy without restricted", iam.CreateNewKeyParams{AccountSid: &acct.Sid, Policy: &policy}, "only allowed with KeyType=restricted"},
		{"unknown key type", iam.CreateNewKeyParams{AccountSid: &acct.Sid, KeyType: ptr("main")}, "KeyType"},
		{"policy with unknown field", iam.CreateNewKeyParams{AccountSid: &acct.Sid, KeyType: ptr("restricted"), Policy: &badPolicy}, "Policy must be a JSON object"},
		{"empty policy", iam.CreateNewKeyParams{AccountSid: &acct.Sid, KeyType: ptr("restricted"), Policy: &emptyPolicy}, "at least one permission"},
		{"long name", iam.CreateNewKeyParams{AccountSid: &acct.Sid, FriendlyName: ptr(strings.Repeat("n", 65))}, "FriendlyName"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.IamV1.CreateNewKey(&tc.params)
			wantCode(t, err, 400, 20001)
			if !strings.Contains(restErr(t, err).Message, tc.want) {
				t.Fatalf("message %q does not name %q", restErr(t, err).Message, tc.want)
			}
			if n := fake.KeyCount(acct.Sid); n != 0 {
				t.Fatalf("a refused request created a key (%d)", n)
			}
		})
	}
	std, err := c.IamV1.CreateNewKey(&iam.CreateNewKeyParams{AccountSid: &acct.Sid})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.IamV1.UpdateKey(*std.Sid, &iam.UpdateKeyParams{Policy: &policy})
	wantCode(t, err, 400, 20001)
	_, err = c.Api.CreateMessage(&api.CreateMessageParams{From: ptr("+15005550001"), Body: ptr("x")})
	wantCode(t, err, 400, 21604)
	_, err = c.Api.FetchKey("SK"+strings.Repeat("a", 32), &api.FetchKeyParams{})
	wantCode(t, err, 404, 20404)
}

// TestTransportRefusesOtherHosts: nothing but the three served Twilio hosts
// leaves through the transport, so a test cannot reach a real API.
func TestTransportRefusesOtherHosts(t *testing.T) {
	hc := twiliofake.NewHTTPClient(twiliofake.Endpoints{API: "http://127.0.0.1:1"}, nil)
	for _, u := range []string{"https://example.com/", "https://messaging.twilio.com/v1/Services", "https://iam.twilio.com/v1/Keys", "https://api.twilio.com.evil.example/x"} {
		resp, err := hc.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("GET %s went through", u)
		}
		if !strings.Contains(err.Error(), "no endpoint for host") {
			t.Fatalf("GET %s: %v", u, err)
		}
	}
	for host, want := range map[string]string{"api.twilio.com": "A", "API.TWILIO.COM:443": "A", "api.dublin.ie1.twilio.com": "A", "iam.twilio.com": "I", "accounts.twilio.com": "C"} {
		got, ok := twiliofake.Endpoints{API: "A", IAM: "I", Accounts: "C"}.For(host)
		if !ok || got != want {
			t.Errorf("For(%q) = %q, %v; want %q", host, got, ok, want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestPrismRejectsOffSpecRequest proves the harness really validates: a
// request that breaks Twilio's document (an Account SID that is not AC and
// 32 hex digits) is refused by Prism before it reaches the fake.
func TestPrismRejectsOffSpecRequest(t *testing.T) {
	env := twilioprism.Shared(t)
	acct := env.Fake.CreateAccount("")
	before := len(env.Fake.Calls())
	c := &prism.Checker{}
	req, _ := http.NewRequest(http.MethodGet, "https://api.twilio.com/2010-04-01/Accounts/ACnot-a-sid.json", nil)
	req.SetBasicAuth(acct.Sid, acct.AuthToken)
	resp, err := twiliofake.NewHTTPClient(env.Endpoints, c).Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("off-spec request answered %d", resp.StatusCode)
	}
	if !strings.Contains(err.Error(), "must match pattern") || len(c.Failures()) != 1 {
		t.Fatalf("error %v, failures %v", err, c.Failures())
	}
	for _, call := range env.Fake.Calls()[before:] {
		if call.Path == "/2010-04-01/Accounts/ACnot-a-sid.json" {
			t.Fatal("the off-spec request reached the fake")
		}
	}
}

// TestConcurrentCreatesAndDeletes: concurrent key creation and deletion
// leaves exactly the keys that were not deleted, each still authenticating.
func TestConcurrentCreatesAndDeletes(t *testing.T) {
	fake := started(t, twiliofake.Config{})
	acct := fake.CreateAccount("")
	c := twiliofake.NewRestClient(fake.Endpoints(), nil, acct.Sid, acct.AuthToken, acct.Sid)
	type result struct {
		sid, secret string
		kept        bool
		err         error
	}
	results := make(chan result, 20)
	for i := 0; i < 20; i++ {
		go func(i int) {
			k, err := c.Api.CreateNewKey(&api.CreateNewKeyParams{})
			if err != nil {
				results <- result{err: err}
				return
			}
			if i%2 == 0 {
				err = c.Api.DeleteKey(*k.Sid, &api.DeleteKeyParams{})
			}
			results <- result{sid: *k.Sid, secret: *k.Secret, kept: i%2 == 1, err: err}
		}(i)
	}
	var kept []result
	for i := 0; i < 20; i++ {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.kept {
			kept = append(kept, r)
		}
	}
	if n := fake.KeyCount(acct.Sid); n != len(kept) {
		t.Fatalf("KeyCount = %d, want %d", n, len(kept))
	}
	for _, r := range kept {
		if _, err := twiliofake.NewRestClient(fake.Endpoints(), nil, r.sid, r.secret, acct.Sid).Api.ListMessage(nil); err != nil {
			t.Fatalf("kept key %s: %v", r.sid, err)
		}
	}
}

// started starts a fake with cfg on loopback and stops it when the test
// ends.
func started(t *testing.T, cfg twiliofake.Config) *twiliofake.Server {
	t.Helper()
	fake := twiliofake.New(cfg)
	if _, err := fake.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	return fake
}
