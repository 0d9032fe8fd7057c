package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/dualkey/dualkey/shared/fingerprint"
	"github.com/dualkey/dualkey/shared/notify"
	"github.com/dualkey/dualkey/shared/rotation"
)

const (
	secretARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/payments/stripe-AbCdEf"
	newVer    = "6b1d3c1e-7f44-4d55-9a5e-0c1f2a3b4c5d"
	oldVer    = "0a9b8c7d-1e2f-4a5b-8c6d-7e8f9a0b1c2d"
	oldSecret = "sk_live_OLDsecret0123456789abcdef"
	newSecret = "sk_live_NEWsecret0123456789abcdef"
)

func publisher(t testing.TB, api notify.EventsAPI, cfg notify.Config) *notify.Publisher {
	t.Helper()
	cfg.Events = api
	p, err := notify.NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func rotated() notify.Event {
	return notify.Event{
		DetailType: notify.SecretRotated, SecretARN: secretARN, SecretName: "prod/payments/stripe", Provider: "stripe",
		Versions:          map[string]string{notify.RoleCurrent: newVer, notify.RolePrevious: oldVer},
		Fingerprints:      map[string]string{notify.RoleCurrent: "sk_live_…cdef", notify.RolePrevious: "sk_live_…cdef"},
		UsageFingerprints: map[string]string{notify.RoleCurrent: fingerprint.Of(newSecret), notify.RolePrevious: fingerprint.Of(oldSecret)},
		Reason:            "scheduled rotation",
	}
}

func TestPublishEveryDetailType(t *testing.T) {
	e := start(t)
	p := publisher(t, e.eb, notify.Config{Now: e.clock.Now})
	refresh := &notify.Refresh{Version: newVer, At: t0, Results: []notify.Result{
		{Target: notify.Target{Cluster: "prod", Service: "api"}, Deployment: "ecs-svc/1234567890123456789"},
		{Target: notify.Target{Cluster: "prod", Service: "worker"}, Err: fmt.Errorf("x: %w", &smithy.GenericAPIError{Code: "AccessDeniedException"})},
	}}
	var evs []notify.Event
	for _, dt := range notify.DetailTypes {
		ev := rotated()
		ev.DetailType = dt
		if dt == notify.SecretRotated {
			ev.Refresh = refresh
		} else {
			ev.UsageFingerprints = nil
			ev.Reason = "grace period of 48h is over"
			ev.Time = t0.Add(-time.Minute)
		}
		evs = append(evs, ev)
	}
	ids, err := p.Publish(ctx(), evs...)
	if err != nil {
		t.Fatal(err)
	}
	got := e.events.Events()
	if len(got) != len(notify.DetailTypes) || len(ids) != len(got) {
		t.Fatalf("%d events accepted, %d ids; want %d", len(got), len(ids), len(notify.DetailTypes))
	}
	if calls := e.events.Calls()["PutEvents"]; calls != 1 {
		t.Errorf("PutEvents calls = %d, want 1 (one batch)", calls)
	}
	for i, ev := range got {
		if ev.ID != ids[i] || ev.Source != "dualkey" || ev.DetailType != notify.DetailTypes[i] || ev.EventBusName != "default" || ev.Dropped ||
			!reflect.DeepEqual(ev.Resources, []string{secretARN}) {
			t.Errorf("event %d = %+v", i, ev)
		}
		wantTime := t0
		if i > 0 {
			wantTime = t0.Add(-time.Minute)
		}
		if !ev.Time.Equal(wantTime) {
			t.Errorf("event %d time = %v, want %v", i, ev.Time, wantTime)
		}
		var d notify.Detail
		if err := json.Unmarshal([]byte(ev.Detail), &d); err != nil {
			t.Fatal(err)
		}
		want := notify.Detail{
			SchemaVersion: 1, SecretARN: secretARN, SecretName: "prod/payments/stripe", Provider: "stripe",
			Versions:     map[string]string{"current": newVer, "previous": oldVer},
			Fingerprints: map[string]string{"current": "sk_live_…cdef", "previous": "sk_live_…cdef"},
			Reason:       "grace period of 48h is over",
		}
		if i == 0 {
			want.UsageFingerprints = map[string]string{"current": fingerprint.Of(newSecret), "previous": fingerprint.Of(oldSecret)}
			want.Reason = "scheduled rotation"
			want.Refresh = []notify.RefreshEntry{{Target: "ecs:prod/api", Deployment: "ecs-svc/1234567890123456789"}, {Target: "ecs:prod/worker", Error: "AccessDeniedException"}}
		}
		if !reflect.DeepEqual(d, want) {
			t.Errorf("event %d detail = %+v\nwant %+v", i, d, want)
		}
	}
	// The field names consumers' rules match on.
	for _, k := range []string{`"secretArn"`, `"versions"`, `"current"`, `"previous"`, `"usageFingerprints"`, `"schemaVersion":1`} {
		if !strings.Contains(got[0].Detail, k) {
			t.Errorf("detail %s lacks %s", got[0].Detail, k)
		}
	}
}

func TestPublishNeverCarriesASecret(t *testing.T) {
	e := start(t)
	red := rotation.NewRedactor()
	red.AddSecretValue(`{"api_key":"` + oldSecret + `"}`)
	red.AddSecretValue(`{"api_key":"` + newSecret + `"}`)
	p := publisher(t, e.eb, notify.Config{Now: e.clock.Now, Redact: red.Redact})
	ev := rotated()
	// A careless caller: the reason and a fingerprint carry credentials.
	ev.Reason = "rotated after " + oldSecret + " was pasted in chat"
	ev.Fingerprints[notify.RoleCurrent] = newSecret
	if _, err := p.Publish(ctx(), ev); err != nil {
		t.Fatal(err)
	}
	got := e.events.Events()
	if len(got) != 1 {
		t.Fatalf("%d events", len(got))
	}
	for _, s := range []string{oldSecret, newSecret} {
		if strings.Contains(got[0].Detail, s) || strings.Contains(e.wire.String(), s) {
			t.Errorf("a credential reached EventBridge:\n%s", e.wire.String())
		}
	}
	if !strings.Contains(got[0].Detail, "was pasted in chat") {
		t.Errorf("detail %s lost the rest of the reason", got[0].Detail)
	}
}

func TestPublishRetriesRetryableEntryFailures(t *testing.T) {
	cases := []struct {
		name      string
		code      string
		fails     int
		wantOK    bool
		wantSends int // PutEvents calls
		wantWaits []time.Duration
		wantMsg   string
	}{
		{"throttled once", "ThrottlingException", 1, true, 2, []time.Duration{100 * time.Millisecond}, ""},
		{"internal failure twice", "InternalFailure", 2, true, 3, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, ""},
		{"throttled beyond the attempts", "ThrottlingException", 3, false, 3, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond},
			`"Secret Rotated" for secret prod/payments/stripe: ThrottlingException: injected ThrottlingException (after 3 attempts)`},
		{"access denied is final", "AccessDeniedException", 1, false, 1, nil,
			"grant events:PutEvents on arn:aws:events:REGION:ACCOUNT:event-bus/default"},
		{"not authorized for the source is final", "NotAuthorizedForSourceException", 5, false, 1, nil, "grant events:PutEvents"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := start(t)
			f := &flaky{real: e.eb, code: c.code, fails: c.fails}
			var s sleeps
			p := publisher(t, f, notify.Config{Now: e.clock.Now, Sleep: s.Sleep})
			ids, err := p.Publish(ctx(), rotated())
			if c.wantOK != (err == nil) {
				t.Fatalf("Publish error = %v, want ok=%v", err, c.wantOK)
			}
			if f.calls != c.wantSends || !reflect.DeepEqual(s.d, c.wantWaits) {
				t.Errorf("sends = %d, waits = %v; want %d, %v", f.calls, s.d, c.wantSends, c.wantWaits)
			}
			accepted := e.events.Events()
			if c.wantOK {
				if len(accepted) != 1 || ids[0] != accepted[0].ID {
					t.Errorf("accepted %d events (ids %v), want exactly 1: a retry must not duplicate", len(accepted), ids)
				}
				return
			}
			var pe *notify.PublishError
			if !errors.As(err, &pe) || !errors.Is(err, notify.ErrPublish) || len(pe.Failed) != 1 || pe.Failed[0].Code != c.code || len(accepted) != 0 || ids[0] != "" {
				t.Fatalf("Publish = %q, %v; accepted %d", ids, err, len(accepted))
			}
			if !strings.Contains(err.Error(), c.wantMsg) {
				t.Errorf("error = %q\nwant it to contain %q", err, c.wantMsg)
			}
		})
	}
}

func TestPublishPartialFailureKeepsTheOthers(t *testing.T) {
	e := start(t)
	var s sleeps
	p := publisher(t, &flakyOne{real: e.eb, failDetailType: notify.CredentialDeleted}, notify.Config{Now: e.clock.Now, Sleep: s.Sleep})
	a, b := rotated(), rotated()
	b.DetailType = notify.CredentialDeleted
	ids, err := p.Publish(ctx(), a, b)
	var pe *notify.PublishError
	if !errors.As(err, &pe) || pe.Total != 2 || len(pe.Failed) != 1 || pe.Failed[0].DetailType != notify.CredentialDeleted || ids[0] == "" || ids[1] != "" {
		t.Fatalf("Publish = %q, %v", ids, err)
	}
	if !strings.Contains(err.Error(), "1 of 2 events to EventBridge bus default failed") || len(s.d) != 0 {
		t.Errorf("error = %v, waits %v (a final code is not retried)", err, s.d)
	}
	if got := e.events.Events(); len(got) != 1 || got[0].DetailType != notify.SecretRotated || got[0].ID != ids[0] {
		t.Errorf("accepted %+v, want only the Secret Rotated event", got)
	}
}

// flakyOne refuses, for good, every entry of one detail type.
type flakyOne struct {
	real           *eventbridge.Client
	failDetailType string
}

func (f *flakyOne) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	var keep []int
	cp := *in
	cp.Entries = nil
	for i, e := range in.Entries {
		if *e.DetailType != f.failDetailType {
			keep = append(keep, i)
			cp.Entries = append(cp.Entries, e)
		}
	}
	var real *eventbridge.PutEventsOutput
	if len(cp.Entries) > 0 {
		var err error
		if real, err = f.real.PutEvents(ctx, &cp, optFns...); err != nil {
			return nil, err
		}
	}
	out := &eventbridge.PutEventsOutput{}
	j := 0
	for i := range in.Entries {
		if j < len(keep) && keep[j] == i {
			out.Entries = append(out.Entries, real.Entries[j])
			j++
			continue
		}
		out.FailedEntryCount++
		out.Entries = append(out.Entries, types.PutEventsResultEntry{
			ErrorCode: aws.String("NotAuthorizedForDetailTypeException"), ErrorMessage: aws.String("not authorized for this detail type"),
		})
	}
	return out, nil
}

func TestPublishBatchesOfTen(t *testing.T) {
	e := start(t)
	p := publisher(t, e.eb, notify.Config{Now: e.clock.Now})
	var evs []notify.Event
	for i := range 23 {
		ev := rotated()
		ev.SecretARN = fmt.Sprintf("%s-%02d", secretARN, i)
		evs = append(evs, ev)
	}
	ids, err := p.Publish(ctx(), evs...)
	if err != nil {
		t.Fatal(err)
	}
	got := e.events.Events()
	if len(got) != 23 || e.events.Calls()["PutEvents"] != 3 {
		t.Fatalf("%d events in %d calls, want 23 in 3", len(got), e.events.Calls()["PutEvents"])
	}
	for i := range got {
		if got[i].ID != ids[i] || got[i].Resources[0] != evs[i].SecretARN {
			t.Errorf("event %d out of order: %+v", i, got[i])
		}
	}
}

func TestPublishToANamedBus(t *testing.T) {
	e := start(t)
	if _, err := e.eb.CreateEventBus(ctx(), &eventbridge.CreateEventBusInput{Name: aws.String("dualkey")}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		bus     string
		dropped bool
	}{
		{"dualkey", false},
		{"arn:aws:events:us-east-1:123456789012:event-bus/dualkey", false},
		// EventBridge accepts events for a bus that does not exist and
		// drops them: no error can tell (documented).
		{"no-such-bus", true},
	} {
		e.events.Reset()
		p := publisher(t, e.eb, notify.Config{Now: e.clock.Now, EventBus: c.bus})
		if _, err := p.Publish(ctx(), rotated()); err != nil {
			t.Fatal(err)
		}
		got := e.events.Events()
		if len(got) != 1 || got[0].Dropped != c.dropped || (!c.dropped && got[0].EventBusName != "dualkey") {
			t.Errorf("bus %s: %+v", c.bus, got)
		}
	}
}

func TestInvalidEventsSendNothing(t *testing.T) {
	e := start(t)
	p := publisher(t, e.eb, notify.Config{Now: e.clock.Now})
	mod := func(f func(*notify.Event)) notify.Event {
		ev := rotated()
		f(&ev)
		return ev
	}
	cases := []struct {
		name string
		ev   notify.Event
		want string
	}{
		{"unknown detail type", mod(func(e *notify.Event) { e.DetailType = "Secret Leaked" }), `detail type "Secret Leaked" is not one of Secret Rotated, Credential Deactivated`},
		{"no ARN", mod(func(e *notify.Event) { e.SecretARN = "" }), "Secret Rotated event has no secret ARN"},
		{"a name for an ARN", mod(func(e *notify.Event) { e.SecretARN = "prod/x" }), "has no secret ARN"},
		{"no versions", mod(func(e *notify.Event) { e.Versions = map[string]string{notify.RoleCurrent: ""} }), "names no version"},
		{"unknown role", mod(func(e *notify.Event) { e.Versions["pending"] = "x" }), `versions has role "pending"`},
		{"long fingerprint", mod(func(e *notify.Event) { e.Fingerprints[notify.RoleCurrent] = strings.Repeat("x", 129) }), "fingerprints[current] is not a short printable id"},
		{"control character", mod(func(e *notify.Event) { e.UsageFingerprints[notify.RolePrevious] = "dkfp_\n" }), "usageFingerprints[previous] is not a short printable id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// A valid event in the same call is not sent either.
			_, err := p.Publish(ctx(), rotated(), c.ev)
			if !errors.Is(err, notify.ErrInvalidEvent) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v\nwant ErrInvalidEvent containing %q", err, c.want)
			}
		})
	}
	if n := e.events.Calls()["PutEvents"]; n != 0 {
		t.Errorf("invalid events made %d PutEvents calls", n)
	}
	// A long reason is cut, not refused.
	long := rotated()
	long.Reason = strings.Repeat("r", 5000)
	if _, err := p.Publish(ctx(), long); err != nil {
		t.Fatal(err)
	}
	var d notify.Detail
	_ = json.Unmarshal([]byte(e.events.Events()[0].Detail), &d)
	if len(d.Reason) != 1024 {
		t.Errorf("reason is %d bytes, want 1024", len(d.Reason))
	}
}

type denied struct{}

func (denied) PutEvents(context.Context, *eventbridge.PutEventsInput, ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "User is not authorized to perform: events:PutEvents"}
}

func TestPublishCallErrorNamesEventsAndFix(t *testing.T) {
	p := publisher(t, denied{}, notify.Config{EventBus: "ops"})
	ids, err := p.Publish(ctx(), rotated())
	if !errors.Is(err, notify.ErrPublish) || len(ids) != 1 || ids[0] != "" {
		t.Fatalf("Publish = %q, %v", ids, err)
	}
	for _, want := range []string{`"Secret Rotated" for secret prod/payments/stripe to EventBridge bus ops`, "grant events:PutEvents on arn:aws:events:REGION:ACCOUNT:event-bus/ops"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error = %q\nwant %q", err, want)
		}
	}
}

func TestNilPublisherAndConfig(t *testing.T) {
	var p *notify.Publisher
	if ids, err := p.Publish(ctx(), rotated()); ids != nil || err != nil {
		t.Errorf("nil publisher: %v, %v", ids, err)
	}
	if _, err := notify.NewPublisher(notify.Config{}); err == nil {
		t.Error("NewPublisher without a client succeeded")
	}
	if _, err := notify.NewPublisher(notify.Config{Events: denied{}, EventBus: "bad bus!"}); err == nil || !strings.Contains(err.Error(), `event bus "bad bus!"`) {
		t.Errorf("bad bus: %v", err)
	}
}

func TestSettingsFromEnv(t *testing.T) {
	cases := []struct {
		env     map[string]string
		want    notify.Settings
		wantErr string
	}{
		{nil, notify.Settings{Publish: true}, ""},
		{map[string]string{"DUALKEY_EVENTS": "false"}, notify.Settings{Publish: false}, ""},
		{map[string]string{"DUALKEY_EVENT_BUS": "dualkey"}, notify.Settings{Publish: true, EventBus: "dualkey"}, ""},
		{map[string]string{"DUALKEY_EVENT_BUS": "arn:aws:events:eu-west-1:123456789012:event-bus/ops"}, notify.Settings{Publish: true, EventBus: "arn:aws:events:eu-west-1:123456789012:event-bus/ops"}, ""},
		{map[string]string{"DUALKEY_EVENTS": "nope"}, notify.Settings{}, `DUALKEY_EVENTS="nope": want true or false`},
		{map[string]string{"DUALKEY_EVENT_BUS": "my bus"}, notify.Settings{}, `DUALKEY_EVENT_BUS="my bus": want an event bus name`},
	}
	for _, c := range cases {
		got, err := notify.SettingsFromEnv(func(k string) string { return c.env[k] })
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%v: error = %v, want %q", c.env, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%v: %+v, %v; want %+v", c.env, got, err, c.want)
		}
	}
}

// TestPublisherFromEnv: the environment chooses the bus and can switch
// publishing off; the redactor given is applied; a bad setting is an error
// naming the variable and no publisher.
func TestPublisherFromEnv(t *testing.T) {
	e := start(t)
	if _, err := e.eb.CreateEventBus(ctx(), &eventbridge.CreateEventBusInput{Name: aws.String("dualkey")}); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	red := rotation.NewRedactor()
	red.Add(oldSecret)
	p, err := notify.PublisherFromEnv(env(map[string]string{"DUALKEY_EVENT_BUS": "dualkey"}), e.eb, red.Redact)
	if err != nil || p == nil {
		t.Fatalf("publisher: %v, %v", p, err)
	}
	ev := rotated()
	ev.Reason = "rotated after " + oldSecret + " leaked"
	if _, err := p.Publish(ctx(), ev); err != nil {
		t.Fatal(err)
	}
	got := e.events.Events()
	if len(got) != 1 || got[0].EventBusName != "dualkey" || got[0].Dropped || strings.Contains(got[0].Detail, oldSecret) {
		t.Fatalf("events %+v", got)
	}
	if p, err := notify.PublisherFromEnv(env(map[string]string{"DUALKEY_EVENTS": "false"}), e.eb, red.Redact); p != nil || err != nil {
		t.Fatalf("DUALKEY_EVENTS=false: %v, %v; want no publisher and no error", p, err)
	}
	if p, err := notify.PublisherFromEnv(env(map[string]string{"DUALKEY_EVENTS": "nope"}), e.eb, red.Redact); p != nil || err == nil || !strings.Contains(err.Error(), "DUALKEY_EVENTS") {
		t.Fatalf("DUALKEY_EVENTS=nope: %v, %v; want an error naming the variable", p, err)
	}
}
