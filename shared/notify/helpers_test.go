package notify_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/dualkey/dualkey/emulator/ecsemu"
	"github.com/dualkey/dualkey/emulator/eventsemu"
	"github.com/dualkey/dualkey/internal/awstest"
	"github.com/dualkey/dualkey/internal/testutil"
)

var t0 = time.Date(2030, 3, 14, 10, 30, 0, 0, time.UTC)

type env struct {
	events *eventsemu.Service
	ecs    *ecsemu.Service
	eb     *eventbridge.Client
	ecsc   *ecs.Client
	clock  *testutil.FakeClock
	wire   *testutil.WireRecorder
}

// start runs the SigV4-verifying AWS emulator with EventBridge and ECS
// mounted on a loopback port, and returns real SDK clients whose traffic
// is recorded.
func start(t testing.TB) *env {
	t.Helper()
	clock := testutil.NewFakeClock(t0)
	events := eventsemu.New(eventsemu.Config{Now: clock.Now})
	ecsSvc := ecsemu.New(ecsemu.Config{Now: clock.Now})
	cfg, rec := awstest.Start(t, clock.Now, map[string]http.Handler{eventsemu.SigningName: events, ecsemu.SigningName: ecsSvc})
	return &env{events: events, ecs: ecsSvc, eb: eventbridge.NewFromConfig(cfg), ecsc: ecs.NewFromConfig(cfg), clock: clock, wire: rec}
}

// ctx is not t.Context(): see emulator/logsemu's helpers for why.
func ctx() context.Context { return context.Background() }

// flaky answers the first failures[i] sends of each entry (counted by the
// entry's detail) with an entry-level error, without sending it, as
// EventBridge does under load (the emulator never fails a valid entry),
// and passes everything else to the real client.
type flaky struct {
	real  *eventbridge.Client
	code  string
	fails int
	mu    sync.Mutex
	sent  map[string]int
	calls int
}

func (f *flaky) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.mu.Lock()
	f.calls++
	if f.sent == nil {
		f.sent = map[string]int{}
	}
	fail := make([]bool, len(in.Entries))
	var pass []types.PutEventsRequestEntry
	for i, e := range in.Entries {
		k := aws.ToString(e.Detail)
		f.sent[k]++
		fail[i] = f.sent[k] <= f.fails
		if !fail[i] {
			pass = append(pass, e)
		}
	}
	f.mu.Unlock()
	var real *eventbridge.PutEventsOutput
	if len(pass) > 0 {
		var err error
		if real, err = f.real.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: pass}, optFns...); err != nil {
			return nil, err
		}
	}
	out := &eventbridge.PutEventsOutput{}
	j := 0
	for i := range in.Entries {
		if fail[i] {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, types.PutEventsResultEntry{ErrorCode: aws.String(f.code), ErrorMessage: aws.String("injected " + f.code)})
			continue
		}
		r := real.Entries[j]
		j++
		if r.ErrorCode != nil {
			out.FailedEntryCount++
		}
		out.Entries = append(out.Entries, r)
	}
	return out, nil
}

// sleeps records the waits between attempts instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) Sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return nil
}
