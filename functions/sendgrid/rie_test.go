package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/iamemu"
	"github.com/dualkey/dualkey/emulator/sendgridfake"
	"github.com/dualkey/dualkey/internal/lambdarie"
	"github.com/dualkey/dualkey/shared/rotation"
)

const lambdaARN = "arn:aws:lambda:us-east-1:123456789012:function:dualkey-sendgrid"

// TestBootstrapUnderRIE builds this function as it is deployed and runs it
// under the Lambda RIE against the AWS emulator and the SendGrid fake: an
// admin key that lacks one of the key's scopes is refused naming the scope
// and nothing is created; with the right admin a subuser's key rotates with
// exactly its scopes; no key reaches the logs.
func TestBootstrapUnderRIE(t *testing.T) {
	ctx := context.Background()
	rie, err := lambdarie.FindRIE()
	if err != nil {
		t.Fatal(err)
	}
	bootstrap, err := lambdarie.Build(ctx, "sendgrid", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	port, err := lambdarie.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	fake := sendgridfake.New(sendgridfake.Config{})
	fakeURL, err := fake.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	emu, err := awsemu.NewFull(awsemu.Config{Lambdas: map[string]string{"dualkey-sendgrid": "http://127.0.0.1:" + strconv.Itoa(port) + lambdarie.InvokePath}}, iamemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	proc, err := lambdarie.Start(ctx, rie, bootstrap, port, append(awsemu.FunctionEnv(url), "DUALKEY_SENDGRID_API_URL="+fakeURL))
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()

	sm := secretsmanager.NewFromConfig(awsemu.ClientConfig(url))
	put := func(name string, v map[string]string, tagged bool) string {
		t.Helper()
		raw, _ := json.Marshal(v)
		in := &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(string(raw))}
		if tagged {
			in.Tags = []types.Tag{{Key: aws.String(rotation.TagManaged), Value: aws.String("true")}, {Key: aws.String(rotation.TagProvider), Value: aws.String("sendgrid")}}
		}
		out, err := sm.CreateSecret(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.ARN)
	}
	rotate := func(arn string) awsemu.RotationRecord {
		t.Helper()
		if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(arn), RotationLambdaARN: aws.String(lambdaARN)}); err != nil {
			t.Fatal(err)
		}
		recs := emu.Rotations()
		return recs[len(recs)-1]
	}
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

	badAdmin := put("rie/sendgrid-admin-narrow", map[string]string{"api_key": narrow.Secret}, false)
	bad := put("rie/sendgrid-bad", map[string]string{"api_key": key.Secret, "subuser": "acme-eu", "master_secret_arn": badAdmin}, true)
	if rec := rotate(bad); rec.Succeeded || !strings.Contains(rec.Error, "stats.read") || !strings.Contains(rec.Error, badAdmin) || !strings.Contains(rec.Error, "nothing was created") {
		t.Fatalf("an admin key lacking a scope: %+v", rec)
	}
	if n := fake.KeyCount("acme-eu"); n != 1 {
		t.Fatalf("the refused rotation left %d keys, want 1", n)
	}

	admin := put("rie/sendgrid-admin", map[string]string{"api_key": wide.Secret}, false)
	arn := put("rie/sendgrid", map[string]string{"api_key": key.Secret, "subuser": "acme-eu", "master_secret_arn": admin}, true)
	if rec := rotate(arn); !rec.Succeeded {
		t.Fatalf("rotation under the RIE failed at %s: %s\n%s", rec.FailedStep, rec.Error, proc.Logs())
	}
	cur, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]string
	_ = json.Unmarshal([]byte(aws.ToString(cur.SecretString)), &v)
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
	if red.Contains(proc.Logs()) {
		t.Fatal("the function logged a key")
	}
}
