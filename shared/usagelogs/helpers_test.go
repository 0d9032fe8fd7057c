package usagelogs_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/emulator/logsemu"
	"github.com/dualkey/dualkey/internal/awstest"
	"github.com/dualkey/dualkey/internal/testutil"
)

// t0 is the (fake) time of every test; the quiet period is the hour before.
var t0 = time.Date(2030, 3, 14, 10, 30, 0, 0, time.UTC)

type env struct {
	logs  *logsemu.Service
	cw    *cloudwatchlogs.Client
	sm    *secretsmanager.Client
	clock *testutil.FakeClock
	wire  *testutil.WireRecorder
}

// start runs the SigV4-verifying AWS emulator (Secrets Manager built in,
// CloudWatch Logs mounted) on a loopback port and returns real SDK clients
// whose HTTP traffic is recorded.
func start(t testing.TB) *env {
	t.Helper()
	clock := testutil.NewFakeClock(t0)
	logs := logsemu.New(logsemu.Config{Now: clock.Now})
	cfg, rec := awstest.Start(t, clock.Now, map[string]http.Handler{logsemu.SigningName: logs})
	return &env{logs: logs, cw: cloudwatchlogs.NewFromConfig(cfg), sm: secretsmanager.NewFromConfig(cfg), clock: clock, wire: rec}
}

// ctx is not t.Context(): see emulator/logsemu's helpers for why.
func ctx() context.Context { return context.Background() }

// emptyPages answers the first n FilterLogEvents calls of each search with
// an empty page and a token, as CloudWatch Logs may when it scans a large
// group (the emulator never does), and passes the rest to the real client.
type emptyPages struct {
	real *cloudwatchlogs.Client
	n    int
	mu   sync.Mutex
	seen int
}

func (e *emptyPages) FilterLogEvents(ctx context.Context, in *cloudwatchlogs.FilterLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error) {
	e.mu.Lock()
	if in.NextToken == nil {
		e.seen = 0
	}
	e.seen++
	empty := e.seen <= e.n
	e.mu.Unlock()
	if empty {
		return &cloudwatchlogs.FilterLogEventsOutput{NextToken: aws.String("empty-page")}, nil
	}
	cp := *in
	if aws.ToString(cp.NextToken) == "empty-page" {
		cp.NextToken = nil // the search starts at the real service now
	}
	return e.real.FilterLogEvents(ctx, &cp, optFns...)
}
