package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/emulator/twiliofake"
	"github.com/dualkey/dualkey/internal/lambdarie/rietest"
	"github.com/dualkey/dualkey/shared/rotation"
)

// TestBootstrapUnderRIE builds this function as it is deployed and runs it
// under the Lambda RIE against the AWS emulator and the Twilio fake: an
// admin secret holding a Standard key is refused with an error naming that
// secret and nothing is created; with the auth token as admin the
// restricted key rotates with its policy; no secret reaches the logs.
func TestBootstrapUnderRIE(t *testing.T) {
	fake := twiliofake.New(twiliofake.Config{})
	fakeURL, err := fake.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	f := rietest.Start(t, rietest.Config{Function: "twilio", Full: true, Env: []string{"DUALKEY_TWILIO_API_URL=" + fakeURL, "DUALKEY_TWILIO_IAM_URL=" + fakeURL}})
	acct := fake.CreateAccount("orders")
	policy := &twiliofake.Policy{Allow: []string{"/twilio/messaging/messages/create"}}
	key, err := fake.CreateKey(acct.Sid, twiliofake.KindRestricted, "orders", policy)
	if err != nil {
		t.Fatal(err)
	}
	std, err := fake.CreateKey(acct.Sid, twiliofake.KindStandard, "not an admin", nil)
	if err != nil {
		t.Fatal(err)
	}
	red := rotation.NewRedactor()
	red.Add(acct.AuthToken, key.Secret, std.Secret)

	badAdmin := f.CreateJSONSecret("rie/twilio-admin-standard", map[string]string{"account_sid": acct.Sid, "api_key_sid": std.Sid, "api_key_secret": std.Secret}, "")
	bad := f.CreateJSONSecret("rie/twilio-bad", map[string]string{"account_sid": acct.Sid, "api_key_sid": key.Sid, "api_key_secret": key.Secret, "master_secret_arn": badAdmin}, "twilio")
	if rec := f.Rotate(bad); rec.Succeeded || !strings.Contains(rec.Error, badAdmin) || !strings.Contains(rec.Error, "Main API key") {
		t.Fatalf("a Standard admin key: %+v", rec)
	}
	if n := fake.KeyCount(acct.Sid); n != 2 {
		t.Fatalf("the refused rotation left %d keys, want 2", n)
	}

	admin := f.CreateJSONSecret("rie/twilio-admin", map[string]string{"account_sid": acct.Sid, "auth_token": acct.AuthToken}, "")
	arn := f.CreateJSONSecret("rie/twilio", map[string]string{"account_sid": acct.Sid, "api_key_sid": key.Sid, "api_key_secret": key.Secret, "master_secret_arn": admin}, "twilio")
	f.MustRotate(arn)
	var v map[string]string
	_ = json.Unmarshal([]byte(f.Value(arn, "")), &v)
	red.Add(v["api_key_secret"])
	keys, _ := fake.Keys(acct.Sid)
	found := false
	for _, k := range keys {
		if k.Sid == v["api_key_sid"] {
			found = k.Kind == twiliofake.KindRestricted && k.Policy != nil && strings.Join(k.Policy.Allow, ",") == strings.Join(policy.Allow, ",")
		}
	}
	if !found || v["api_key_sid"] == key.Sid {
		t.Fatalf("AWSCURRENT's key %s is not a new restricted key with the old policy", v["api_key_sid"])
	}
	f.MustNotLog(red, "a key secret or the auth token")
	f.MustLog("structured log line for the new key", `"msg":"created API key"`)
}
