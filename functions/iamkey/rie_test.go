package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/dualkey/dualkey/internal/lambdarie/rietest"
	"github.com/dualkey/dualkey/shared/rotation"
)

// TestBootstrapUnderRIE builds this function exactly as it is deployed and
// rotates an IAM user's access key through it under the Lambda Runtime
// Interface Emulator, against the full emulator (Secrets Manager, IAM, STS,
// every request's signature verified against the keys IAM knows). It also
// proves the deployed binary refuses to mint a key for a user that is not
// tagged dualkey:managed=true (issue 6 item 3).
func TestBootstrapUnderRIE(t *testing.T) {
	ctx := context.Background()
	f := rietest.Start(t, rietest.Config{Function: "iamkey", Full: true, Env: []string{"DUALKEY_IAM_PROPAGATION_BUDGET=30s"}})
	admin := iam.NewFromConfig(f.AWS)
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
	bad := f.CreateSecret("rie/admin", `{"user_name":"admin","access_key_id":"`+adminID+`","secret_access_key":"wrong-secret-0123456789abcdefghij"}`, "iamkey")
	if rec := f.Rotate(bad); rec.Succeeded || !strings.Contains(rec.Error, `IAM user "admin" is not tagged dualkey:managed=true`) ||
		!strings.Contains(rec.Error, "aws iam tag-user --user-name admin --tags Key=dualkey:managed,Value=true") {
		t.Fatalf("rotation for an unmanaged user: %+v", rec)
	}
	if n := keysOf("admin"); n != 1 {
		t.Fatalf("admin has %d keys after the refused rotation, want 1", n)
	}

	// A managed user's key rotates.
	oldID, oldSecret := newUser("ci-deployer", true)
	red.Add(oldSecret)
	arn := f.CreateSecret("rie/ci-deployer", `{"user_name":"ci-deployer","access_key_id":"`+oldID+`","secret_access_key":"`+oldSecret+`","owner":"platform"}`, "iamkey")
	calls, stats := f.CountedRotation(arn)
	t.Logf("the deployed bootstrap made %d Secrets Manager calls: %v", calls, stats)
	if calls > 10 {
		t.Fatalf("a rotation made %d Secrets Manager calls, want at most 10", calls)
	}
	var v struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
		Owner           string `json:"owner"`
	}
	if err := json.Unmarshal([]byte(f.Value(arn, "")), &v); err != nil || v.AccessKeyID == oldID || v.Owner != "platform" {
		t.Fatalf("AWSCURRENT after rotation: key %s, owner %q, %v", v.AccessKeyID, v.Owner, err)
	}
	red.Add(v.SecretAccessKey)
	for _, k := range []struct{ id, secret string }{{v.AccessKeyID, v.SecretAccessKey}, {oldID, oldSecret}} {
		c := sts.NewFromConfig(f.AWS, func(o *sts.Options) { o.Credentials = credentials.NewStaticCredentialsProvider(k.id, k.secret, "") })
		if out, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil || !strings.HasSuffix(aws.ToString(out.Arn), ":user/ci-deployer") {
			t.Fatalf("key %s after rotation: %v", k.id, err)
		}
	}
	f.MustNotLog(red, "a secret access key")
	f.MustLog("structured promotion log line", `"msg":"promoted pending version to AWSCURRENT"`)
}
