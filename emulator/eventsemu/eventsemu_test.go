package eventsemu_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/eventsemu"
	"github.com/dualkey/dualkey/emulator/internal/emutest"
	"github.com/dualkey/dualkey/internal/testutil"
)

var t0 = emutest.T0

type env struct {
	svc   *eventsemu.Service
	url   string
	eb    *eventbridge.Client
	clock *testutil.FakeClock
}

func start(t testing.TB) *env {
	t.Helper()
	clock := testutil.NewFakeClock(t0)
	svc := eventsemu.New(eventsemu.Config{Now: clock.Now})
	url, cfg := emutest.Mount(t, clock.Now, eventsemu.SigningName, svc)
	return &env{svc: svc, url: url, eb: eventbridge.NewFromConfig(cfg), clock: clock}
}

// ctx is not t.Context(): see emulator/logsemu's helpers for why.
func ctx() context.Context { return context.Background() }

func entry(detail string) types.PutEventsRequestEntry {
	return types.PutEventsRequestEntry{Source: aws.String("dualkey"), DetailType: aws.String("Rotation refresh failed"), Detail: aws.String(detail)}
}

func TestPutEventsEntries(t *testing.T) {
	e := start(t)
	if _, err := e.eb.CreateEventBus(ctx(), &eventbridge.CreateEventBusInput{Name: aws.String("ops")}); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(-time.Minute)
	withBus := func(en types.PutEventsRequestEntry, bus string) types.PutEventsRequestEntry {
		en.EventBusName = aws.String(bus)
		return en
	}
	cases := []struct {
		name      string
		entry     types.PutEventsRequestEntry
		code, msg string // per-entry failure; "" when accepted
		bus       string
		dropped   bool
	}{
		{"default bus", entry(`{"secret":"arn:x","services":["ecs:c/s"]}`), "", "", "default", false},
		{"custom bus by name", withBus(entry(`{}`), "ops"), "", "", "ops", false},
		{"custom bus by ARN", withBus(entry(`{}`), "arn:aws:events:us-east-1:123456789012:event-bus/ops"), "", "", "ops", false},
		{"missing bus: accepted and dropped", withBus(entry(`{}`), "nope"), "", "", "nope", true},
		{"no source", types.PutEventsRequestEntry{DetailType: aws.String("t"), Detail: aws.String("{}")}, "InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument.", "", false},
		{"no detail type", types.PutEventsRequestEntry{Source: aws.String("s"), Detail: aws.String("{}")}, "InvalidArgument", "Parameter DetailType is not valid. Reason: DetailType is a required argument.", "", false},
		{"no detail", types.PutEventsRequestEntry{Source: aws.String("s"), DetailType: aws.String("t")}, "InvalidArgument", "Parameter Detail is not valid. Reason: Detail is a required argument.", "", false},
		{"detail not JSON", entry(`{"a":`), "MalformedDetail", "Detail is malformed.", "", false},
		{"detail an array", entry(`[1,2]`), "MalformedDetail", "Detail is malformed.", "", false},
		{"detail a string", entry(`"x"`), "MalformedDetail", "Detail is malformed.", "", false},
		{"detail null", entry(`null`), "MalformedDetail", "Detail is malformed.", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.svc.Reset()
			en := c.entry
			en.Time = aws.Time(at)
			en.Resources = []string{"arn:aws:ecs:us-east-1:123456789012:service/c/s"}
			out, err := e.eb.PutEvents(ctx(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{en}})
			if err != nil {
				t.Fatalf("PutEvents: %v", err)
			}
			r := out.Entries[0]
			if c.code != "" {
				if out.FailedEntryCount != 1 || aws.ToString(r.ErrorCode) != c.code || aws.ToString(r.ErrorMessage) != c.msg || r.EventId != nil {
					t.Fatalf("result = %d %+v", out.FailedEntryCount, r)
				}
				if n := len(e.svc.Events()); n != 0 {
					t.Fatalf("a failed entry was stored (%d events)", n)
				}
				return
			}
			if out.FailedEntryCount != 0 || r.ErrorCode != nil || len(aws.ToString(r.EventId)) != 36 {
				t.Fatalf("result = %d %+v", out.FailedEntryCount, r)
			}
			evs := e.svc.Events()
			if len(evs) != 1 {
				t.Fatalf("events = %d", len(evs))
			}
			ev := evs[0]
			if ev.ID != aws.ToString(r.EventId) || ev.EventBusName != c.bus || ev.Dropped != c.dropped || ev.Source != aws.ToString(en.Source) ||
				ev.DetailType != aws.ToString(en.DetailType) || ev.Detail != aws.ToString(en.Detail) || !ev.Time.Equal(at) ||
				!slices.Equal(ev.Resources, en.Resources) || ev.Account != "123456789012" || ev.Region != "us-east-1" {
				t.Fatalf("event = %+v", ev)
			}
		})
	}
}

func TestPutEventsBatch(t *testing.T) {
	e := start(t)
	out, err := e.eb.PutEvents(ctx(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{
		entry(`{"n":1}`), entry(`not json`), entry(`{"n":3}`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 1 || len(out.Entries) != 3 || out.Entries[0].EventId == nil || aws.ToString(out.Entries[1].ErrorCode) != "MalformedDetail" || out.Entries[2].EventId == nil {
		t.Fatalf("out = %+v", out)
	}
	evs := e.svc.Events()
	if len(evs) != 2 || evs[0].Detail != `{"n":1}` || evs[1].Detail != `{"n":3}` || !evs[0].Time.Equal(t0) {
		t.Fatalf("events = %+v", evs)
	}
	env, err := evs[0].Envelope()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(env, &m); err != nil {
		t.Fatal(err)
	}
	if m["version"] != "0" || m["detail-type"] != "Rotation refresh failed" || m["source"] != "dualkey" || m["time"] != "2030-03-14T10:30:00Z" ||
		m["account"] != "123456789012" || m["detail"].(map[string]any)["n"] != float64(1) || m["resources"] == nil {
		t.Fatalf("envelope = %s", env)
	}
	// Events returns copies.
	evs[0].Resources = append(evs[0].Resources, "mutated")
	if len(e.svc.Events()[0].Resources) != 0 {
		t.Fatal("Events shares its slices")
	}
	if calls := e.svc.Calls(); calls["PutEvents"] != 1 {
		t.Fatalf("calls = %v", calls)
	}
}

func TestPutEventsRefusals(t *testing.T) {
	e := start(t)
	eleven := make([]types.PutEventsRequestEntry, 11)
	for i := range eleven {
		eleven[i] = entry(`{}`)
	}
	big := entry(`{"pad":"` + strings.Repeat("x", 256*1024) + `"}`)
	atLimit := entry(`{"p":"` + strings.Repeat("x", 256*1024-len(`{"p":""}`)-len("dualkey")-len("Rotation refresh failed")) + `"}`)
	cases := []struct {
		name      string
		entries   []types.PutEventsRequestEntry
		code, msg string
	}{
		{"eleven entries", eleven, "ValidationException", "1 validation error detected: Value '[...]' at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10"},
		{"over 256 KB", []types.PutEventsRequestEntry{big}, "ValidationException", "Total size of the entries in the request is over the limit."},
		{"bad bus name", []types.PutEventsRequestEntry{func() types.PutEventsRequestEntry { x := entry(`{}`); x.EventBusName = aws.String("a b"); return x }()}, "ValidationException", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.eb.PutEvents(ctx(), &eventbridge.PutEventsInput{Entries: c.entries})
			emutest.WantError(t, err, c.code, c.msg)
		})
	}
	if n := len(e.svc.Events()); n != 0 {
		t.Fatalf("refused requests stored %d events", n)
	}
	if out, err := e.eb.PutEvents(ctx(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{atLimit}}); err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("exactly 256 KB: %v %+v", err, out)
	}
}

func TestConcurrentPutEvents(t *testing.T) {
	e := start(t)
	var wg sync.WaitGroup
	errs := make(chan error, 80)
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				if _, err := e.eb.PutEvents(ctx(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry(fmt.Sprintf(`{"g":%d,"i":%d}`, g, i))}}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	evs := e.svc.Events()
	ids := map[string]bool{}
	for _, ev := range evs {
		ids[ev.ID] = true
	}
	if len(evs) != 80 || len(ids) != 80 {
		t.Fatalf("events %d, distinct ids %d", len(evs), len(ids))
	}
}

func TestEventBuses(t *testing.T) {
	e := start(t)
	for _, n := range []string{"ops-b", "ops-a", "audit"} {
		out, err := e.eb.CreateEventBus(ctx(), &eventbridge.CreateEventBusInput{Name: aws.String(n), Description: aws.String("d " + n)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.EventBusArn) != "arn:aws:events:us-east-1:123456789012:event-bus/"+n {
			t.Fatalf("arn = %s", aws.ToString(out.EventBusArn))
		}
	}
	createErrs := []struct {
		name      string
		in        *eventbridge.CreateEventBusInput
		code, msg string
	}{
		{"duplicate", &eventbridge.CreateEventBusInput{Name: aws.String("audit")}, "ResourceAlreadyExistsException", "Event bus audit already exists."},
		{"default", &eventbridge.CreateEventBusInput{Name: aws.String("default")}, "ResourceAlreadyExistsException", "Event bus default already exists."},
		{"slash", &eventbridge.CreateEventBusInput{Name: aws.String("a/b")}, "ValidationException", ""},
		{"bad character", &eventbridge.CreateEventBusInput{Name: aws.String("a b")}, "ValidationException", ""},
		{"duplicate tag", &eventbridge.CreateEventBusInput{Name: aws.String("t"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("1")}, {Key: aws.String("k"), Value: aws.String("2")}}}, "ValidationException", "Invalid parameter: Duplicated keys are not allowed."},
	}
	for _, c := range createErrs {
		t.Run("create "+c.name, func(t *testing.T) {
			_, err := e.eb.CreateEventBus(ctx(), c.in)
			emutest.WantError(t, err, c.code, c.msg)
		})
	}
	t.Run("describe", func(t *testing.T) {
		def, err := e.eb.DescribeEventBus(ctx(), &eventbridge.DescribeEventBusInput{})
		if err != nil || aws.ToString(def.Name) != "default" || aws.ToString(def.Arn) != "arn:aws:events:us-east-1:123456789012:event-bus/default" || !aws.ToTime(def.CreationTime).Equal(t0) {
			t.Fatalf("default bus: %+v %v", def, err)
		}
		ops, err := e.eb.DescribeEventBus(ctx(), &eventbridge.DescribeEventBusInput{Name: aws.String("arn:aws:events:us-east-1:123456789012:event-bus/ops-a")})
		if err != nil || aws.ToString(ops.Name) != "ops-a" || aws.ToString(ops.Description) != "d ops-a" {
			t.Fatalf("ops-a: %+v %v", ops, err)
		}
		_, err = e.eb.DescribeEventBus(ctx(), &eventbridge.DescribeEventBusInput{Name: aws.String("nope")})
		emutest.WantError(t, err, "ResourceNotFoundException", "Event bus nope does not exist.")
	})
	t.Run("list pages in name order", func(t *testing.T) {
		var names []string
		in := &eventbridge.ListEventBusesInput{Limit: aws.Int32(2)}
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
			out, err := e.eb.ListEventBuses(ctx(), in)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range out.EventBuses {
				names = append(names, aws.ToString(b.Name))
			}
			if out.NextToken == nil {
				break
			}
			in.NextToken = out.NextToken
		}
		if want := []string{"audit", "default", "ops-a", "ops-b"}; !slices.Equal(names, want) {
			t.Fatalf("buses = %v, want %v", names, want)
		}
		out, err := e.eb.ListEventBuses(ctx(), &eventbridge.ListEventBusesInput{NamePrefix: aws.String("ops")})
		if err != nil || len(out.EventBuses) != 2 {
			t.Fatalf("prefix: %+v %v", out, err)
		}
	})
	t.Run("delete", func(t *testing.T) {
		_, err := e.eb.DeleteEventBus(ctx(), &eventbridge.DeleteEventBusInput{Name: aws.String("default")})
		emutest.WantError(t, err, "ValidationException", "Cannot delete event bus default.")
		if _, err := e.eb.DeleteEventBus(ctx(), &eventbridge.DeleteEventBusInput{Name: aws.String("audit")}); err != nil {
			t.Fatal(err)
		}
		_, err = e.eb.DeleteEventBus(ctx(), &eventbridge.DeleteEventBusInput{Name: aws.String("audit")})
		emutest.WantError(t, err, "ResourceNotFoundException", "Event bus audit does not exist.")
		// Events for a deleted bus are accepted and dropped.
		en := entry(`{}`)
		en.EventBusName = aws.String("audit")
		if out, err := e.eb.PutEvents(ctx(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{en}}); err != nil || out.FailedEntryCount != 0 {
			t.Fatalf("put to deleted bus: %+v %v", out, err)
		}
		evs := e.svc.Events()
		if !evs[len(evs)-1].Dropped {
			t.Fatal("event to a deleted bus not marked dropped")
		}
	})
}

// TestAWSCLI drives the service with the AWS CLI (v2 at /usr/bin/aws when
// installed, else the aws on PATH).
func TestAWSCLI(t *testing.T) {
	c := emutest.NewCLI(t, awsemu.DefaultAccessKeyID, awsemu.DefaultSecretAccessKey)
	e := start(t)
	run := func(args ...string) (string, string, error) {
		return c.Run(append(args, "--endpoint-url", e.url, "--output", "json")...)
	}
	out, stderr, err := run("events", "put-events", "--entries", `[{"Source":"dualkey","DetailType":"Rotation refresh failed","Detail":"{\"service\":\"ecs:c/s\"}"},{"Source":"dualkey","DetailType":"x","Detail":"[]"}]`)
	if err != nil {
		t.Fatalf("aws events put-events: %v\n%s", err, stderr)
	}
	var res struct {
		FailedEntryCount int
		Entries          []struct{ EventId, ErrorCode string }
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if res.FailedEntryCount != 1 || res.Entries[0].EventId == "" || res.Entries[1].ErrorCode != "MalformedDetail" {
		t.Fatalf("put-events output: %+v", res)
	}
	if evs := e.svc.Events(); len(evs) != 1 || evs[0].Detail != `{"service":"ecs:c/s"}` || evs[0].ID != res.Entries[0].EventId {
		t.Fatalf("events = %+v", evs)
	}
	if out, stderr, err := run("events", "list-event-buses"); err != nil || !strings.Contains(out, `"Name": "default"`) {
		t.Fatalf("list-event-buses: %v %s %s", err, out, stderr)
	}
	if _, stderr, err := run("events", "describe-event-bus", "--name", "nope"); err == nil || !strings.Contains(stderr, "ResourceNotFoundException") {
		t.Fatalf("describe-event-bus nope: %v %s", err, stderr)
	}
}

func TestEventsHandler(t *testing.T) {
	e := start(t)
	en := entry(`{"n":1}`)
	en.EventBusName = aws.String("missing")
	if _, err := e.eb.PutEvents(ctx(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry(`{"n":0}`), en}}); err != nil {
		t.Fatal(err)
	}
	h := e.svc.EventsHandler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/_dualkey/events", nil))
	var got []struct {
		EventBusName string
		Dropped      bool
		Event        struct {
			ID     string `json:"id"`
			Detail struct{ N int }
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("GET: %d %s %v", rec.Code, rec.Body, err)
	}
	if len(got) != 2 || got[0].EventBusName != "default" || got[0].Dropped || got[1].EventBusName != "missing" || !got[1].Dropped ||
		got[1].Event.Detail.N != 1 || got[0].Event.ID != e.svc.Events()[0].ID {
		t.Fatalf("GET = %+v", got)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodDelete, "/_dualkey/events", nil))
	if rec.Code != http.StatusNoContent || len(e.svc.Events()) != 0 {
		t.Fatalf("DELETE: %d, %d events left", rec.Code, len(e.svc.Events()))
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/_dualkey/events", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", rec.Code)
	}
}
