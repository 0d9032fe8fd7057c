package logsemu_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/logsemu"
	"github.com/dualkey/dualkey/internal/testutil"
)

// t0 is the emulator's (fake) time in every test.
var t0 = time.Date(2030, 3, 14, 10, 30, 0, 0, time.UTC)

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
	srv, err := awsemu.New(awsemu.Config{Now: clock.Now, Services: map[string]http.Handler{logsemu.SigningName: svc}})
	if err != nil {
		t.Fatalf("awsemu.New: %v", err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	cfg := awsemu.ClientConfig(url)
	cfg.RetryMaxAttempts = 1
	return &env{svc: svc, url: url, cw: cloudwatchlogs.NewFromConfig(cfg), clock: clock}
}

// ctx is the context of SDK calls. It is not t.Context(): a subtest's
// context is cancelled when the subtest ends, and the HTTP transport may then
// close a pooled connection that the next subtest is already reading from
// ("use of closed network connection"; seen about once in 30 runs).
func ctx(testing.TB) context.Context { return context.Background() }

// apiErr returns the AWS error code and message of err ("" when nil).
func apiErr(err error) (code, msg string) {
	if err == nil {
		return "", ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage()
	}
	return "non-API error", err.Error()
}

func wantErr(t testing.TB, err error, code, msg string) {
	t.Helper()
	gotCode, gotMsg := apiErr(err)
	if gotCode != code || (msg != "" && gotMsg != msg) {
		t.Fatalf("error = %s: %q, want %s: %q", gotCode, gotMsg, code, msg)
	}
}

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
