package awsemu_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/iamemu"
	"github.com/dualkey/dualkey/emulator/internal/emutest"
)

func fullClients(url, id, secret string) (*secretsmanager.Client, *iam.Client, *sts.Client) {
	creds := credentials.NewStaticCredentialsProvider(id, secret, "")
	return secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: creds, RetryMaxAttempts: 1}),
		iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: creds, RetryMaxAttempts: 1}),
		sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: creds, RetryMaxAttempts: 1})
}

func startFull(t *testing.T, cfg awsemu.Config) (*awsemu.Full, string) {
	t.Helper()
	f, err := awsemu.NewFull(cfg, iamemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	url, err := f.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, url
}

func TestFullEmulatorAuthenticatesEveryServiceWithIAMKeys(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	state := filepath.Join(t.TempDir(), "state.json")
	_, url := startFull(t, awsemu.Config{StateFile: state, Now: func() time.Time { return now }})
	_, admin, _ := fullClients(url, awsemu.DefaultAccessKeyID, awsemu.DefaultSecretAccessKey)
	if _, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	key, err := admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	id, secret := aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey)
	sm, _, st := fullClients(url, id, secret)
	if _, err := sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{}); err != nil {
		t.Fatalf("secrets manager refused an active IAM key: %v", err)
	}
	who, err := st.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(who.Arn) != "arn:aws:iam::123456789012:user/app" {
		t.Fatalf("GetCallerIdentity = %v, %v", who, err)
	}
	used, err := admin.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(id)})
	if err != nil || used.AccessKeyLastUsed.LastUsedDate == nil {
		t.Fatalf("last use not recorded: %v", err)
	}
	// Wrong secret, then an inactive key: refused by Secrets Manager too.
	bad, _, _ := fullClients(url, id, secret+"x")
	if _, err := bad.ListSecrets(ctx, &secretsmanager.ListSecretsInput{}); apiCode(err) != "InvalidSignatureException" {
		t.Fatalf("wrong secret: got %v", err)
	}
	if _, err := admin.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("app"), AccessKeyId: aws.String(id), Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{}); apiCode(err) != "UnrecognizedClientException" {
		t.Fatalf("inactive key: got %v", err)
	}
	// IAM state survives a restart.
	_, url2 := startFull(t, awsemu.Config{StateFile: state, Now: func() time.Time { return now }})
	_, admin2, _ := fullClients(url2, awsemu.DefaultAccessKeyID, awsemu.DefaultSecretAccessKey)
	keys, err := admin2.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("app")})
	if err != nil || len(keys.AccessKeyMetadata) != 1 || keys.AccessKeyMetadata[0].Status != iamtypes.StatusTypeInactive {
		t.Fatalf("IAM state after restart: %+v, %v", keys, err)
	}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestFullEmulatorAWSCLI: the AWS CLI signs with an IAM key the emulator
// issued, works for Secrets Manager, IAM and STS, and is refused by all three
// once the key is inactive.
func TestFullEmulatorAWSCLI(t *testing.T) {
	bin := emutest.FindCLI(t)
	ctx := context.Background()
	_, url := startFull(t, awsemu.Config{})
	_, admin, _ := fullClients(url, awsemu.DefaultAccessKeyID, awsemu.DefaultSecretAccessKey)
	if _, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("cli-user")}); err != nil {
		t.Fatal(err)
	}
	key, err := admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("cli-user")})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(key.AccessKey.AccessKeyId)
	c := &emutest.CLI{Bin: bin, Env: emutest.CLIEnv(t.TempDir(), id, aws.ToString(key.AccessKey.SecretAccessKey))}
	cli := func(args ...string) (string, error) {
		stdout, stderr, err := c.Run(append([]string{"--endpoint-url", url, "--output", "json"}, args...)...)
		return stdout + stderr, err
	}
	calls := [][]string{
		{"secretsmanager", "list-secrets"},
		{"sts", "get-caller-identity"},
		{"iam", "list-access-keys", "--user-name", "cli-user"},
	}
	for _, c := range calls {
		if out, err := cli(c...); err != nil {
			t.Fatalf("aws %v with an active key: %v\n%s", c, err, out)
		}
	}
	if _, err := admin.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("cli-user"), AccessKeyId: aws.String(id), Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		out, err := cli(c...)
		if err == nil || !(strings.Contains(out, "UnrecognizedClientException") || strings.Contains(out, "InvalidClientTokenId")) {
			t.Fatalf("aws %v with an inactive key: err %v\n%s", c, err, out)
		}
	}
}

// TestFullIAMStateWriteFailure: an IAM change that cannot be saved is
// answered with ServiceFailure and shows in /_dualkey/health; once the
// directory is back the next request saves it, and a restart has it.
func TestFullIAMStateWriteFailure(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state.json")
	f, url := startFull(t, awsemu.Config{StateFile: state})
	_, admin, st := fullClients(url, awsemu.DefaultAccessKeyID, awsemu.DefaultSecretAccessKey)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("app")}); apiCode(err) != "ServiceFailure" {
		t.Fatalf("CreateUser while the IAM state cannot be saved: %v", err)
	}
	if code := healthStatus(t, url); code != http.StatusInternalServerError {
		t.Fatalf("health: %d", code)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	if code := healthStatus(t, url); code != http.StatusOK {
		t.Fatalf("health after the directory came back: %d", code)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	_, url2 := startFull(t, awsemu.Config{StateFile: state})
	_, admin2, _ := fullClients(url2, awsemu.DefaultAccessKeyID, awsemu.DefaultSecretAccessKey)
	if _, err := admin2.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("app")}); err != nil {
		t.Fatalf("the user whose first save failed is gone after a restart: %v", err)
	}
}
