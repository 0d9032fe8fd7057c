// Package awstest starts dualkey's AWS emulator for the tests of packages
// that talk to the AWS services mounted on it (CloudWatch Logs,
// EventBridge, ECS): every request's signature verified, on loopback, on an
// injected clock, through an SDK configuration whose traffic is recorded.
// It imports testing, so only tests import it.
package awstest

import (
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/internal/testutil"
)

// Start runs the SigV4-verifying AWS emulator (Secrets Manager built in)
// with services mounted by signing name and now as its clock on a loopback
// port, stopped when the test ends. It returns an SDK configuration for it
// that makes one attempt per call and records every request body (sent,
// as by awsemu.ClientConfig, through awsemu.HTTPClient).
func Start(t testing.TB, now func() time.Time, services map[string]http.Handler) (aws.Config, *testutil.WireRecorder) {
	t.Helper()
	srv, err := awsemu.New(awsemu.Config{Now: now, Services: services})
	if err != nil {
		t.Fatalf("awsemu.New: %v", err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	rec := &testutil.WireRecorder{}
	cfg := awsemu.ClientConfig(url)
	cfg.RetryMaxAttempts = 1
	cfg.HTTPClient = awsemu.HTTPClient(rec.Client())
	return cfg, rec
}
