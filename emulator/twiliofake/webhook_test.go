package twiliofake_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/twilio/twilio-go/client"

	"github.com/dualkey/dualkey/emulator/twiliofake"
)

// TestWebhookSignatureMatchesTwilioGo: the fake's signatures validate with
// twilio-go's own RequestValidator keyed with the primary token, and stop
// validating with the old token once the secondary is promoted.
func TestWebhookSignatureMatchesTwilioGo(t *testing.T) {
	fake := twiliofake.New(twiliofake.Config{})
	acct := fake.CreateAccount("")
	type delivery struct {
		url, sig string
		body     []byte
	}
	got := make(chan delivery, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{"http://" + r.Host + r.URL.String(), r.Header.Get(twiliofake.SignatureHeader), b}
	}))
	t.Cleanup(srv.Close)
	hook := srv.URL + "/status?x=1"
	params := url.Values{"MessageSid": {"SM" + "0123456789abcdef0123456789abcdef"}, "MessageStatus": {"delivered"}, "To": {"+15005550006"}}

	if status, err := fake.SendWebhook(t.Context(), nil, acct.Sid, hook, params); err != nil || status != 200 {
		t.Fatalf("SendWebhook: %d %v", status, err)
	}
	d := <-got
	v := client.NewRequestValidator(acct.AuthToken)
	if !v.ValidateBody(d.url, d.body, d.sig) {
		t.Fatal("twilio-go does not validate the fake's signature with the primary token")
	}

	secondary, err := fake.CreateSecondaryToken(acct.Sid)
	if err != nil {
		t.Fatal(err)
	}
	if err := fake.PromoteSecondary(acct.Sid); err != nil {
		t.Fatal(err)
	}
	if _, err := fake.SendWebhook(t.Context(), nil, acct.Sid, hook, params); err != nil {
		t.Fatal(err)
	}
	d = <-got
	if v.ValidateBody(d.url, d.body, d.sig) {
		t.Fatal("after promotion the old primary still validates new webhooks")
	}
	nv := client.NewRequestValidator(secondary)
	if !nv.ValidateBody(d.url, d.body, d.sig) {
		t.Fatal("the promoted token does not validate new webhooks")
	}
	if _, err := fake.SignWebhook("AC"+"00000000000000000000000000000000", hook, params); err == nil {
		t.Fatal("SignWebhook for an unknown account succeeded")
	}
}
