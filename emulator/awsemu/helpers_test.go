package awsemu_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/internal/testutil"
)

func newClock() *testutil.FakeClock {
	return testutil.NewFakeClock(time.Date(2030, 3, 14, 10, 30, 0, 0, time.UTC))
}

type emu struct {
	srv   *awsemu.Server
	url   string
	sm    *secretsmanager.Client
	clock *testutil.FakeClock
}

// startEmu starts an emulator on a loopback port with a fake clock (unless
// cfg.Now is set) and returns an SDK client for it.
func startEmu(t *testing.T, cfg awsemu.Config) *emu {
	t.Helper()
	e := &emu{}
	if cfg.Now == nil {
		e.clock = newClock()
		cfg.Now = e.clock.Now
	}
	srv, err := awsemu.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	e.srv, e.url = srv, url
	e.sm = newClient(url, awsemu.DefaultAccessKeyID, awsemu.DefaultSecretAccessKey)
	return e
}

func newClient(url, id, secret string) *secretsmanager.Client {
	cfg := aws.Config{
		Region:           awsemu.DefaultRegion,
		Credentials:      credentials.NewStaticCredentialsProvider(id, secret, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       awsemu.HTTPClient(nil), // a lost attempt would fail the test (see HTTPClient)
	}
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		o.BaseEndpoint = aws.String(url)
	})
}

// errCode returns the AWS error code of err ("" when err is nil).
func errCode(err error) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return "non-API error: " + err.Error()
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := errCode(err); got != code {
		t.Fatalf("error code = %q, want %q", got, code)
	}
}

// result carries a call's value and error until a test checks it:
// must(client.Op(ctx, in)).ok(t).
type result[T any] struct {
	v   T
	err error
}

func must[T any](v T, err error) result[T] { return result[T]{v, err} }

func (r result[T]) ok(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatalf("unexpected error: %v", r.err)
	}
	return r.v
}

var ctx = context.Background()

// token returns a deterministic 36-character ClientRequestToken.
func token(n int) string {
	const base = "00000000-0000-4000-8000-000000000000"
	s := []byte(base)
	digits := []byte("0123456789abcdef")
	for i := len(s) - 1; n > 0 && i >= 0; i-- {
		if s[i] == '-' {
			continue
		}
		s[i] = digits[n%16]
		n /= 16
	}
	return string(s)
}

// createSecret makes a secret with a string value and returns its ARN.
func createSecret(t *testing.T, e *emu, name, value string) string {
	t.Helper()
	out := must(e.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(value), ClientRequestToken: aws.String(token(1)),
	})).ok(t)
	return aws.ToString(out.ARN)
}

// stages returns VersionIdsToStages from DescribeSecret.
func stages(t *testing.T, e *emu, id string) map[string][]string {
	t.Helper()
	out := must(e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})).ok(t)
	return out.VersionIdsToStages
}

// valueIs compares a secret value without ever printing it.
func valueIs(t *testing.T, got *string, want string, what string) {
	t.Helper()
	if got == nil || *got != want {
		t.Fatalf("%s: secret value differs from the expected value", what)
	}
}

// healthStatus returns the HTTP status of the emulator's /_dualkey/health.
func healthStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url + "/_dualkey/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
