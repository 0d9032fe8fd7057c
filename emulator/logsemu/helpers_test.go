package logsemu_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/dualkey/dualkey/emulator/internal/emutest"
	"github.com/dualkey/dualkey/emulator/logsemu"
	"github.com/dualkey/dualkey/internal/testutil"
)

// t0 is the emulator's (fake) time in every test.
var t0 = emutest.T0

func ms(t time.Time) int64 { return t.UnixMilli() }

type env struct {
	svc   *logsemu.Service
	url   string
	cw    *cloudwatchlogs.Client
	clock *testutil.FakeClock
}

// start mounts a fresh logsemu.Service in the SigV4-verifying AWS emulator
// on a loopback port and returns the real SDK client for it.
func start(t testing.TB) *env {
	t.Helper()
	clock := testutil.NewFakeClock(t0)
	svc := logsemu.New(logsemu.Config{Now: clock.Now})
	url, cfg := emutest.Mount(t, clock.Now, logsemu.SigningName, svc)
	return &env{svc: svc, url: url, cw: cloudwatchlogs.NewFromConfig(cfg), clock: clock}
}

// ctx is the context of SDK calls. It is not t.Context(): a subtest's
// context is cancelled when the subtest ends, and the HTTP transport may then
// close a pooled connection that the next subtest is already reading from
// ("use of closed network connection"; seen about once in 30 runs).
func ctx(testing.TB) context.Context { return context.Background() }

func (e *env) group(t testing.TB, name string, streams ...string) {
	t.Helper()
	if _, err := e.cw.CreateLogGroup(ctx(t), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(name)}); err != nil {
		t.Fatalf("CreateLogGroup %s: %v", name, err)
	}
	for _, s := range streams {
		if _, err := e.cw.CreateLogStream(ctx(t), &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(name), LogStreamName: aws.String(s)}); err != nil {
			t.Fatalf("CreateLogStream %s/%s: %v", name, s, err)
		}
	}
}

// put sends one PutLogEvents batch of (timestamp, message) pairs.
func (e *env) put(t testing.TB, group, stream string, evs ...ev) *cloudwatchlogs.PutLogEventsOutput {
	t.Helper()
	out, err := e.cw.PutLogEvents(ctx(t), putInput(group, stream, evs...))
	if err != nil {
		t.Fatalf("PutLogEvents %s/%s: %v", group, stream, err)
	}
	return out
}

type ev struct {
	at  time.Time
	msg string
}

func putInput(group, stream string, evs ...ev) *cloudwatchlogs.PutLogEventsInput {
	in := &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)}
	for _, e := range evs {
		in.LogEvents = append(in.LogEvents, types.InputLogEvent{Timestamp: aws.Int64(ms(e.at)), Message: aws.String(e.msg)})
	}
	return in
}

// filterAll pages through FilterLogEvents with the SDK paginator and returns
// the messages in order.
func (e *env) filterAll(t testing.TB, in *cloudwatchlogs.FilterLogEventsInput) []string {
	t.Helper()
	var got []string
	p := cloudwatchlogs.NewFilterLogEventsPaginator(e.cw, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatalf("FilterLogEvents: %v", err)
		}
		for _, ev := range page.Events {
			got = append(got, aws.ToString(ev.Message))
		}
	}
	return got
}
