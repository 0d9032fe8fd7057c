package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/iamemu"
	"github.com/dualkey/dualkey/internal/lambdarie"
	"github.com/dualkey/dualkey/shared/rotation"
)

const lambdaARN = "arn:aws:lambda:us-east-1:123456789012:function:dualkey-iamkey"

// TestBootstrapUnderRIE builds this function exactly as it is deployed and
// rotates an IAM user's access key through it under the Lambda Runtime
// Interface Emulator, against the full emulator (Secrets Manager, IAM, STS,
// every request's signature verified against the keys IAM knows). It also
// proves the deployed binary refuses to mint a key for a user that is not
// tagged dualkey:managed=true (issue 6 item 3).
func TestBootstrapUnderRIE(t *testing.T) {
	ctx := context.Background()
	rie, err := lambdarie.FindRIE()
	if err != nil {
		t.Fatal(err)
	}
	bootstrap, err := lambdarie.Build(ctx, "iamkey", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	port, err := lambdarie.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	rieURL := "http://127.0.0.1:" + strconv.Itoa(port) + lambdarie.InvokePath
	emu, err := awsemu.NewFull(awsemu.Config{Lambdas: map[string]string{"dualkey-iamkey": rieURL}}, iamemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	proc, err := lambdarie.Start(ctx, rie, bootstrap, port, append(awsemu.FunctionEnv(url), "DUALKEY_IAM_PROPAGATION_BUDGET=30s"))
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()

	cfg := awsemu.ClientConfig(url)
	sm, admin := secretsmanager.NewFromConfig(cfg), iam.NewFromConfig(cfg)
	newUser := func(name string, managed bool) (id, secret string) {
		t.Helper()
		if _, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		if managed {
			if _, err := admin.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(name), Tags: []iamtypes.Tag{{Key: aws.String(rotation.TagManaged), Value: aws.String("true")}}}); err != nil {
				t.Fatal(err)
			}
		}
		k, err := admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)
	}
	newSecret := func(name, value string) string {
		t.Helper()
		out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value), Tags: []types.Tag{
			{Key: aws.String(rotation.TagManaged), Value: aws.String("true")},
			{Key: aws.String(rotation.TagProvider), Value: aws.String("iamkey")},
		}})
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
	keysOf := func(user string) int {
		t.Helper()
		out, err := admin.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.AccessKeyMetadata)
	}
	red := rotation.NewRedactor()

	// An administrator's key id with a wrong secret: no key is minted.
	adminID, adminSecret := newUser("admin", false)
	red.Add(adminSecret)
	bad := newSecret("rie/admin", `{"user_name":"admin","access_key_id":"`+adminID+`","secret_access_key":"wrong-secret-0123456789abcdefghij"}`)
	if rec := rotate(bad); rec.Succeeded || !strings.Contains(rec.Error, `IAM user "admin" is not tagged dualkey:managed=true`) ||
		!strings.Contains(rec.Error, "aws iam tag-user --user-name admin --tags Key=dualkey:managed,Value=true") {
		t.Fatalf("rotation for an unmanaged user: %+v", rec)
	}
	if n := keysOf("admin"); n != 1 {
		t.Fatalf("admin has %d keys after the refused rotation, want 1", n)
	}

	// A managed user's key rotates.
	oldID, oldSecret := newUser("ci-deployer", true)
	red.Add(oldSecret)
	arn := newSecret("rie/ci-deployer", `{"user_name":"ci-deployer","access_key_id":"`+oldID+`","secret_access_key":"`+oldSecret+`","owner":"platform"}`)
	emu.ResetStats()
	if rec := rotate(arn); !rec.Succeeded {
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
		t.Fatalf("a rotation made %d Secrets Manager calls, want at most 10", calls)
	}
	cur, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
		Owner           string `json:"owner"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(cur.SecretString)), &v); err != nil || v.AccessKeyID == oldID || v.Owner != "platform" {
		t.Fatalf("AWSCURRENT after rotation: key %s, owner %q, %v", v.AccessKeyID, v.Owner, err)
	}
	red.Add(v.SecretAccessKey)
	for _, k := range []struct{ id, secret string }{{v.AccessKeyID, v.SecretAccessKey}, {oldID, oldSecret}} {
		c := sts.NewFromConfig(cfg, func(o *sts.Options) { o.Credentials = credentials.NewStaticCredentialsProvider(k.id, k.secret, "") })
		if out, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil || !strings.HasSuffix(aws.ToString(out.Arn), ":user/ci-deployer") {
			t.Fatalf("key %s after rotation: %v", k.id, err)
		}
	}
	if red.Contains(proc.Logs()) {
		t.Fatal("the function logged a secret access key")
	}
	if !strings.Contains(proc.Logs(), `"msg":"promoted pending version to AWSCURRENT"`) {
		t.Fatalf("no structured promotion log line in:\n%s", proc.Logs())
	}
}
