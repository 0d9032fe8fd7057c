// Package eventsemu emulates the parts of Amazon EventBridge that dualkey
// uses: PutEvents, with every accepted event kept for tests to read, and
// custom event buses (CreateEventBus, DescribeEventBus, DeleteEventBus,
// ListEventBuses).
//
// A Service speaks the real AWS JSON 1.1 protocol (POST /, X-Amz-Target:
// AWSEvents.<Operation>), so the unmodified aws-sdk-go-v2 eventbridge client
// and `aws events ...` work against it. It does not verify signatures: mount
// it behind the dualkey AWS emulator, which verifies SigV4 and routes
// requests whose credential scope names the "events" service here:
//
//	events := eventsemu.New(eventsemu.Config{})
//	srv, _ := awsemu.New(awsemu.Config{Services: map[string]http.Handler{eventsemu.SigningName: events}})
//	... code under test calls PutEvents ...
//	for _, ev := range events.Events() { ... }
//
// PutEvents behaves as EventBridge does: up to 10 entries and 256 KB per
// request (ValidationException beyond), per-entry failures (InvalidArgument,
// MalformedDetail) counted in FailedEntryCount while the other entries are
// accepted, and events sent to an event bus that does not exist accepted and
// dropped (Event.Dropped). No rules or targets are evaluated.
package eventsemu

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/dualkey/dualkey/emulator/internal/awsjson"
)

// Identity of the service on the wire.
const (
	// SigningName is the SigV4 credential-scope service name of EventBridge:
	// the key under which awsemu.Config.Services mounts a Service.
	SigningName = "events"
	// TargetPrefix is the X-Amz-Target prefix of every operation.
	TargetPrefix = "AWSEvents"
	// DefaultBus is the event bus every account has.
	DefaultBus = "default"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultRegion    = awsjson.DefaultRegion
	DefaultAccountID = awsjson.DefaultAccountID
)

// EventBridge quotas the emulator enforces.
const (
	// MaxEntries is the most entries one PutEvents request may carry.
	MaxEntries = 10
	// MaxRequestBytes bounds the total entry size of a PutEvents request, as
	// EventBridge calculates it (Time 14 bytes when set, plus the UTF-8 bytes
	// of Source, DetailType, Detail and every Resource).
	MaxRequestBytes = 256 * 1024
)

// Config configures a Service. The zero value is usable.
type Config struct {
	// Region and AccountID appear in ARNs and events; DefaultRegion and
	// DefaultAccountID when empty.
	Region, AccountID string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Event is an event PutEvents accepted.
type Event struct {
	// ID is the EventId PutEvents returned.
	ID string
	// EventBusName is the bus the entry named (DefaultBus when it named
	// none); an ARN of this account and region is reduced to the name.
	EventBusName string
	Source       string
	DetailType   string
	// Detail is the entry's Detail, a JSON object, as sent.
	Detail    string
	Resources []string
	// Time is the entry's Time, or when PutEvents received it.
	Time        time.Time
	TraceHeader string
	Account     string
	Region      string
	// Dropped is true when EventBusName named no existing bus: EventBridge
	// accepts such entries (no error, an EventId) and delivers them nowhere.
	Dropped bool
}

// Envelope returns the event as EventBridge delivers it to targets:
// {"version":"0","id":...,"detail-type":...,"source":...,"account":...,
// "time":...,"region":...,"resources":[...],"detail":{...}}.
func (e Event) Envelope() ([]byte, error) {
	resources := e.Resources
	if resources == nil {
		resources = []string{}
	}
	return json.Marshal(struct {
		Version    string          `json:"version"`
		ID         string          `json:"id"`
		DetailType string          `json:"detail-type"`
		Source     string          `json:"source"`
		Account    string          `json:"account"`
		Time       string          `json:"time"`
		Region     string          `json:"region"`
		Resources  []string        `json:"resources"`
		Detail     json.RawMessage `json:"detail"`
	}{"0", e.ID, e.DetailType, e.Source, e.Account, e.Time.UTC().Format("2006-01-02T15:04:05Z"), e.Region, resources, json.RawMessage(e.Detail)})
}

// Service is an in-memory EventBridge. It is an http.Handler for requests
// whose signature a front end (awsemu) has already verified, and safe for
// concurrent use.
type Service struct {
	region, account string
	now             func() time.Time

	mu     sync.Mutex
	buses  map[string]*bus
	events []Event

	calls awsjson.Calls
}

type bus struct {
	name, description string
	created, modified time.Time
	tags              []tag
}

type tag struct {
	Key   *string `json:"Key"`
	Value *string `json:"Value"`
}

var _ http.Handler = (*Service)(nil)

// New returns a Service holding only the default event bus.
func New(cfg Config) *Service {
	s := &Service{buses: map[string]*bus{}}
	s.region, s.account, s.now = awsjson.Defaults(cfg.Region, cfg.AccountID, cfg.Now)
	now := s.now()
	s.buses[DefaultBus] = &bus{name: DefaultBus, created: now, modified: now}
	return s
}

var operations = map[string]awsjson.Handler[*Service]{
	"PutEvents":        awsjson.Op((*Service).putEvents),
	"CreateEventBus":   awsjson.Op((*Service).createEventBus),
	"DescribeEventBus": awsjson.Op((*Service).describeEventBus),
	"DeleteEventBus":   awsjson.Op((*Service).deleteEventBus),
	"ListEventBuses":   awsjson.Op((*Service).listEventBuses),
}

// ServeHTTP implements http.Handler for verified EventBridge requests.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	awsjson.Serve(protocol, w, r, operations, s, &s.calls)
}

// Calls returns how many times each operation was called (successfully or
// not) since New or the last Reset.
func (s *Service) Calls() map[string]int { return s.calls.Snapshot() }

// Events returns every event PutEvents accepted, in the order accepted.
func (s *Service) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Event, len(s.events))
	for i, e := range s.events {
		e.Resources = append([]string(nil), e.Resources...)
		out[i] = e
	}
	return out
}

// Reset forgets the accepted events and the call counters; buses stay.
func (s *Service) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = nil
	s.calls.Reset()
}

func (s *Service) busARN(name string) string {
	return "arn:aws:events:" + s.region + ":" + s.account + ":event-bus/" + name
}

// EventsHandler serves the accepted events as JSON for tools outside Go
// (mount it on an unauthenticated admin path such as /_dualkey/events): GET
// returns [{"eventBusName":...,"dropped":...,"event":{envelope}}, ...] in the
// order accepted; DELETE forgets them (as Reset does).
func (s *Service) EventsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			type item struct {
				EventBusName string          `json:"eventBusName"`
				Dropped      bool            `json:"dropped"`
				Event        json.RawMessage `json:"event"`
			}
			out := []item{}
			for _, e := range s.Events() {
				env, err := e.Envelope()
				if err != nil {
					http.Error(w, "could not encode an event", http.StatusInternalServerError)
					return
				}
				out = append(out, item{EventBusName: e.EventBusName, Dropped: e.Dropped, Event: env})
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(out)
		case http.MethodDelete:
			s.Reset()
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Allow", "GET, DELETE")
			http.Error(w, "use GET or DELETE", http.StatusMethodNotAllowed)
		}
	})
}
