package awsemu_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/dualkey/dualkey/emulator/awsemu"
)

// TestCallsPerCaller: every authenticated call is counted per access key and
// IAM action name, across Secrets Manager, IAM, STS and a service mounted
// through Config.Services (CloudWatch Logs, which Full mounts there);
// failed-but-authenticated calls count, calls refused by SigV4 do not; the
// admin endpoint serves the same table and resets it.
func TestCallsPerCaller(t *testing.T) {
	f, url := startFull(t, awsemu.Config{})
	sm, admin, st := fullClients(url, awsemu.DefaultAccessKeyID, awsemu.DefaultSecretAccessKey)
	ctx := context.Background()

	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), SecretString: aws.String("v")}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("missing")}); apiCode(err) != "ResourceNotFoundException" {
		t.Fatalf("GetSecretValue of a missing secret: %v", err)
	}
	if _, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("app")}); apiCode(err) != "EntityAlreadyExists" {
		t.Fatalf("second CreateUser: %v", err)
	}
	key, err := admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	appID, appSecret := aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey)
	appSM, _, _ := fullClients(url, appID, appSecret)
	if _, err := appSM.ListSecrets(ctx, &secretsmanager.ListSecretsInput{}); err != nil {
		t.Fatal(err)
	}
	logsClient := cloudwatchlogs.New(cloudwatchlogs.Options{Region: awsemu.DefaultRegion, BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(appID, appSecret, ""), RetryMaxAttempts: 1})
	if _, err := logsClient.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/x")}); apiCode(err) != "ResourceNotFoundException" {
		t.Fatalf("FilterLogEvents of a missing group: %v", err)
	}
	// Refused by SigV4: not a call of anyone's.
	bad, _, _ := fullClients(url, appID, appSecret+"x")
	if _, err := bad.ListSecrets(ctx, &secretsmanager.ListSecretsInput{}); apiCode(err) != "InvalidSignatureException" {
		t.Fatalf("wrong secret: %v", err)
	}

	want := map[string]map[string]int{
		awsemu.DefaultAccessKeyID: {
			"secretsmanager:CreateSecret":   1,
			"secretsmanager:DescribeSecret": 2,
			"secretsmanager:GetSecretValue": 1,
			"iam:CreateUser":                2,
			"iam:CreateAccessKey":           1,
			"sts:GetCallerIdentity":         1,
		},
		appID: {
			"secretsmanager:ListSecrets": 1,
			"logs:FilterLogEvents":       1,
		},
	}
	if got := f.Calls(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Calls() = %v\nwant %v", got, want)
	}
	var served map[string]map[string]int
	getJSON(t, http.MethodGet, url+"/_dualkey/calls", &served)
	if !reflect.DeepEqual(served, want) {
		t.Fatalf("GET /_dualkey/calls = %v", served)
	}
	var ok map[string]string
	getJSON(t, http.MethodPost, url+"/_dualkey/calls/reset", &ok)
	if got := f.Calls(); len(got) != 0 {
		t.Fatalf("after reset: %v", got)
	}
}

// TestAdminEndpointsRedactURLs: a Lambda whose error quotes a URL with user
// info or a token in its query string (as a provider's verify_url failure
// does) never has the password or the token served by /_dualkey/rotations,
// whether the Lambda is reached over HTTP or through an Invoker.
func TestAdminEndpointsRedactURLs(t *testing.T) {
	const leak = `verify_url https://svc-user:hunter2-password@api.example.com/v1/check?token=tok-SECRET-123&x=1 answered 401`
	lambda := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = json.NewEncoder(w).Encode(map[string]string{"errorMessage": leak, "errorType": "RotationError"})
	}))
	t.Cleanup(lambda.Close)
	cases := []struct {
		name string
		cfg  awsemu.Config
	}{
		{"http lambda", awsemu.Config{Lambdas: map[string]string{"dualkey-rotator": lambda.URL + "/2015-03-31/functions/function/invocations"}}},
		{"invoker", awsemu.Config{Invoker: awsemu.InvokerFunc(func(context.Context, string, []byte) error { return errors.New(leak) })}},
		{"unreachable lambda with a token in its url", awsemu.Config{Lambdas: map[string]string{"dualkey-rotator": "http://127.0.0.1:1/invoke?token=tok-SECRET-123"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := startEmu(t, c.cfg)
			createSecret(t, e, "s", "v")
			must(rotate(e, "s", 7, nil)).ok(t)
			resp, err := http.Get(e.url + "/_dualkey/rotations")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			served := string(b)
			for _, secret := range []string{"hunter2", "tok-SECRET"} {
				if strings.Contains(served, secret) {
					t.Fatalf("/_dualkey/rotations serves %q", secret)
				}
			}
			recs := e.srv.Rotations()
			if len(recs) != 1 || recs[0].FailedStep != "createSecret" || recs[0].Error == "" {
				t.Fatalf("rotations = %+v", recs)
			}
			if strings.Contains(recs[0].Error, "hunter2") || strings.Contains(recs[0].Error, "tok-SECRET") {
				t.Fatal("Rotations() returns the secret")
			}
			if c.name != "unreachable lambda with a token in its url" && !strings.Contains(recs[0].Error, "api.example.com/v1/check") {
				t.Fatal("the redacted error no longer says which URL failed")
			}
		})
	}
}
