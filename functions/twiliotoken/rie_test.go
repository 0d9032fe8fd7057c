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

const lambdaARN = "arn:aws:lambda:us-east-1:123456789012:function:dualkey-twiliotoken"

// TestBootstrapUnderRIE builds this function as it is deployed and rotates
// an account's auth token through it under the Lambda RIE, against the AWS
// emulator and the Twilio fake: the secondary becomes AWSCURRENT while the
// old primary still works, no token reaches the function's logs, and a
// second rotation before the promotion is refused without a change.
func TestBootstrapUnderRIE(t *testing.T) {
	ctx := context.Background()
	rie, err := lambdarie.FindRIE()
	if err != nil {
		t.Fatal(err)
	}
	bootstrap, err := lambdarie.Build(ctx, "twiliotoken", t.TempDir())
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
	emu, err := awsemu.NewFull(awsemu.Config{Lambdas: map[string]string{"dualkey-twiliotoken": "http://127.0.0.1:" + strconv.Itoa(port) + lambdarie.InvokePath}}, iamemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	proc, err := lambdarie.Start(ctx, rie, bootstrap, port, append(awsemu.FunctionEnv(url),
		"DUALKEY_TWILIO_API_URL="+fakeURL, "DUALKEY_TWILIO_ACCOUNTS_URL="+fakeURL, "DUALKEY_TWILIO_TOKEN_PROPAGATION_BUDGET=5s"))
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()

	sm := secretsmanager.NewFromConfig(awsemu.ClientConfig(url))
	acct := fake.CreateAccount("orders")
	raw, _ := json.Marshal(map[string]string{"account_sid": acct.Sid, "auth_token": acct.AuthToken, "owner": "orders"})
	out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("rie/twilio-token"), SecretString: aws.String(string(raw)), Tags: []types.Tag{
		{Key: aws.String(rotation.TagManaged), Value: aws.String("true")},
		{Key: aws.String(rotation.TagProvider), Value: aws.String("twiliotoken")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.ARN)
	rotate := func() awsemu.RotationRecord {
		t.Helper()
		if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(arn), RotationLambdaARN: aws.String(lambdaARN)}); err != nil {
			t.Fatal(err)
		}
		recs := emu.Rotations()
		return recs[len(recs)-1]
	}
	emu.ResetStats()
	if rec := rotate(); !rec.Succeeded {
		t.Fatalf("rotation under the RIE failed at %s: %s\n%s", rec.FailedStep, rec.Error, proc.Logs())
	}
	calls := 0
	for op, n := range emu.Stats() {
		if op != "RotateSecret" {
			calls += n
		}
	}
	t.Logf("the deployed bootstrap made %d Secrets Manager calls: %v", calls, emu.Stats())
	if calls > 10 {
		t.Fatalf("%d Secrets Manager calls, want at most 10", calls)
	}
	cur, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]string
	_ = json.Unmarshal([]byte(aws.ToString(cur.SecretString)), &v)
	primary, secondary, _ := fake.Tokens(acct.Sid)
	if primary != acct.AuthToken || secondary != v["auth_token"] || v["owner"] != "orders" {
		t.Fatal("after the rotation AWSCURRENT must hold the secondary, the old primary stay primary, other fields stay")
	}
	if keys, _ := fake.Keys(acct.Sid); len(keys) != 0 {
		t.Fatalf("the rotation left %d lock keys", len(keys))
	}

	if rec := rotate(); rec.Succeeded || !strings.Contains(rec.Error, "still Twilio's secondary") {
		t.Fatalf("a rotation before the promotion: %+v", rec)
	}
	if p, s, _ := fake.Tokens(acct.Sid); p != primary || s != secondary {
		t.Fatal("the refused rotation changed the tokens")
	}
	red := rotation.NewRedactor()
	red.Add(primary, secondary)
	if red.Contains(proc.Logs()) {
		t.Fatal("the function logged an auth token")
	}
	if !strings.Contains(proc.Logs(), `"msg":"created the secondary auth token"`) {
		t.Fatalf("no structured log line for the secondary in:\n%s", proc.Logs())
	}
}
