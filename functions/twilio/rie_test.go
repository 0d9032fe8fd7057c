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
	"github.com/dualkey/dualkey/emulator/twiliofake"
	"github.com/dualkey/dualkey/internal/lambdarie"
	"github.com/dualkey/dualkey/shared/rotation"
)

const lambdaARN = "arn:aws:lambda:us-east-1:123456789012:function:dualkey-twilio"

// TestBootstrapUnderRIE builds this function as it is deployed and runs it
// under the Lambda RIE against the AWS emulator and the Twilio fake: an
// admin secret holding a Standard key is refused with an error naming that
// secret and nothing is created; with the auth token as admin the
// restricted key rotates with its policy; no secret reaches the logs.
func TestBootstrapUnderRIE(t *testing.T) {
	ctx := context.Background()
	rie, err := lambdarie.FindRIE()
	if err != nil {
		t.Fatal(err)
	}
	bootstrap, err := lambdarie.Build(ctx, "twilio", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	port, err := lambdarie.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	fake := twiliofake.New(twiliofake.Config{})
	fakeURL, err := fake.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	emu, err := awsemu.NewFull(awsemu.Config{Lambdas: map[string]string{"dualkey-twilio": "http://127.0.0.1:" + strconv.Itoa(port) + lambdarie.InvokePath}}, iamemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	proc, err := lambdarie.Start(ctx, rie, bootstrap, port, append(awsemu.FunctionEnv(url), "DUALKEY_TWILIO_API_URL="+fakeURL, "DUALKEY_TWILIO_IAM_URL="+fakeURL))
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
			in.Tags = []types.Tag{{Key: aws.String(rotation.TagManaged), Value: aws.String("true")}, {Key: aws.String(rotation.TagProvider), Value: aws.String("twilio")}}
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

	badAdmin := put("rie/twilio-admin-standard", map[string]string{"account_sid": acct.Sid, "api_key_sid": std.Sid, "api_key_secret": std.Secret}, false)
	bad := put("rie/twilio-bad", map[string]string{"account_sid": acct.Sid, "api_key_sid": key.Sid, "api_key_secret": key.Secret, "master_secret_arn": badAdmin}, true)
	if rec := rotate(bad); rec.Succeeded || !strings.Contains(rec.Error, badAdmin) || !strings.Contains(rec.Error, "Main API key") {
		t.Fatalf("a Standard admin key: %+v", rec)
	}
	if n := fake.KeyCount(acct.Sid); n != 2 {
		t.Fatalf("the refused rotation left %d keys, want 2", n)
	}

	admin := put("rie/twilio-admin", map[string]string{"account_sid": acct.Sid, "auth_token": acct.AuthToken}, false)
	arn := put("rie/twilio", map[string]string{"account_sid": acct.Sid, "api_key_sid": key.Sid, "api_key_secret": key.Secret, "master_secret_arn": admin}, true)
	if rec := rotate(arn); !rec.Succeeded {
		t.Fatalf("rotation under the RIE failed at %s: %s\n%s", rec.FailedStep, rec.Error, proc.Logs())
	}
	cur, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]string
	_ = json.Unmarshal([]byte(aws.ToString(cur.SecretString)), &v)
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
	if red.Contains(proc.Logs()) {
		t.Fatal("the function logged a key secret or the auth token")
	}
	if !strings.Contains(proc.Logs(), `"msg":"created API key"`) {
		t.Fatalf("no structured log line for the new key in:\n%s", proc.Logs())
	}
}
