package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/emulator/sendgridfake"
	"github.com/dualkey/dualkey/internal/lambdarie/rietest"
	"github.com/dualkey/dualkey/shared/rotation"
)

// TestBootstrapUnderRIE builds this function as it is deployed and runs it
// under the Lambda RIE against the AWS emulator and the SendGrid fake: an
// admin key that lacks one of the key's scopes is refused naming the scope
// and nothing is created; with the right admin a subuser's key rotates with
// exactly its scopes; no key reaches the logs.
func TestBootstrapUnderRIE(t *testing.T) {
	fake := sendgridfake.New(sendgridfake.Config{})
	fakeURL, err := fake.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	f := rietest.Start(t, rietest.Config{Function: "sendgrid", Full: true, Env: []string{"DUALKEY_SENDGRID_API_URL=" + fakeURL}})
	for _, u := range []sendgridfake.User{{Username: "acme"}, {Username: "acme-eu", Parent: "acme"}} {
		if err := fake.AddUser(u); err != nil {
			t.Fatal(err)
		}
	}
	narrow, _ := fake.CreateKey("acme", "narrow admin", []string{"api_keys.create", "api_keys.delete", "api_keys.read", "mail.send"})
	wide, _ := fake.CreateKey("acme", "admin", []string{"api_keys.create", "api_keys.delete", "api_keys.read", "mail.send", "stats.read"})
	key, err := fake.CreateKey("acme-eu", "orders", []string{"mail.send", "stats.read"})
	if err != nil {
		t.Fatal(err)
	}
	red := rotation.NewRedactor()
	red.Add(narrow.Secret, wide.Secret, key.Secret)

	badAdmin := f.CreateJSONSecret("rie/sendgrid-admin-narrow", map[string]string{"api_key": narrow.Secret}, "")
	bad := f.CreateJSONSecret("rie/sendgrid-bad", map[string]string{"api_key": key.Secret, "subuser": "acme-eu", "master_secret_arn": badAdmin}, "sendgrid")
	if rec := f.Rotate(bad); rec.Succeeded || !strings.Contains(rec.Error, "stats.read") || !strings.Contains(rec.Error, badAdmin) || !strings.Contains(rec.Error, "nothing was created") {
		t.Fatalf("an admin key lacking a scope: %+v", rec)
	}
	if n := fake.KeyCount("acme-eu"); n != 1 {
		t.Fatalf("the refused rotation left %d keys, want 1", n)
	}

	admin := f.CreateJSONSecret("rie/sendgrid-admin", map[string]string{"api_key": wide.Secret}, "")
	arn := f.CreateJSONSecret("rie/sendgrid", map[string]string{"api_key": key.Secret, "subuser": "acme-eu", "master_secret_arn": admin}, "sendgrid")
	f.MustRotate(arn)
	var v map[string]string
	_ = json.Unmarshal([]byte(f.Value(arn, "")), &v)
	red.Add(v["api_key"])
	keys, _ := fake.Keys("acme-eu")
	found := false
	for _, k := range keys {
		if k.ID == v["api_key_id"] {
			found = strings.Join(k.Scopes, ",") == "mail.send,stats.read"
		}
	}
	if !found || v["api_key_id"] == key.ID || v["subuser"] != "acme-eu" {
		t.Fatalf("AWSCURRENT's key %s is not a new key of acme-eu with exactly the old scopes", v["api_key_id"])
	}
	f.MustNotLog(red, "a key")
}
