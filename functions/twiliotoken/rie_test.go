package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/emulator/twiliofake"
	"github.com/dualkey/dualkey/internal/lambdarie/rietest"
	"github.com/dualkey/dualkey/shared/rotation"
)

// TestBootstrapUnderRIE builds this function as it is deployed and rotates
// an account's auth token through it under the Lambda RIE, against the AWS
// emulator and the Twilio fake: the secondary becomes AWSCURRENT while the
// old primary still works, no token reaches the function's logs, and a
// second rotation before the promotion is refused without a change.
func TestBootstrapUnderRIE(t *testing.T) {
	fake := twiliofake.New(twiliofake.Config{})
	fakeURL, err := fake.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	f := rietest.Start(t, rietest.Config{Function: "twiliotoken", Full: true, Env: []string{
		"DUALKEY_TWILIO_API_URL=" + fakeURL, "DUALKEY_TWILIO_ACCOUNTS_URL=" + fakeURL, "DUALKEY_TWILIO_TOKEN_PROPAGATION_BUDGET=5s"}})
	acct := fake.CreateAccount("orders")
	arn := f.CreateJSONSecret("rie/twilio-token", map[string]string{"account_sid": acct.Sid, "auth_token": acct.AuthToken, "owner": "orders"}, "twiliotoken")
	calls, stats := f.CountedRotation(arn)
	t.Logf("the deployed bootstrap made %d Secrets Manager calls: %v", calls, stats)
	if calls > 10 {
		t.Fatalf("%d Secrets Manager calls, want at most 10", calls)
	}
	var v map[string]string
	_ = json.Unmarshal([]byte(f.Value(arn, "")), &v)
	primary, secondary, _ := fake.Tokens(acct.Sid)
	if primary != acct.AuthToken || secondary != v["auth_token"] || v["owner"] != "orders" {
		t.Fatal("after the rotation AWSCURRENT must hold the secondary, the old primary stay primary, other fields stay")
	}
	if keys, _ := fake.Keys(acct.Sid); len(keys) != 0 {
		t.Fatalf("the rotation left %d lock keys", len(keys))
	}

	if rec := f.Rotate(arn); rec.Succeeded || !strings.Contains(rec.Error, "still Twilio's secondary") {
		t.Fatalf("a rotation before the promotion: %+v", rec)
	}
	if p, s, _ := fake.Tokens(acct.Sid); p != primary || s != secondary {
		t.Fatal("the refused rotation changed the tokens")
	}
	red := rotation.NewRedactor()
	red.Add(primary, secondary)
	f.MustNotLog(red, "an auth token")
	f.MustLog("structured log line for the secondary", `"msg":"created the secondary auth token"`)
}
