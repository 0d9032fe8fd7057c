// Package logsemu emulates the parts of Amazon CloudWatch Logs that dualkey
// and its runbooks use: log groups and streams, PutLogEvents, GetLogEvents
// and FilterLogEvents with CloudWatch's term filter patterns, time ranges and
// stable pagination.
//
// A Service speaks the real AWS JSON 1.1 protocol (POST /, X-Amz-Target:
// Logs_20140328.<Operation>), so the unmodified aws-sdk-go-v2 cloudwatchlogs
// client and `aws logs ...` work against it. It does not verify signatures
// itself: mount it behind the dualkey AWS emulator, which verifies SigV4 and
// routes requests whose credential scope names the "logs" service here:
//
//	logs := logsemu.New(logsemu.Config{})
//	srv, _ := awsemu.New(awsemu.Config{Services: map[string]http.Handler{logsemu.SigningName: logs}})
//
// State lives in memory and is safe for concurrent use. Each stream keeps its
// events sorted by (timestamp, ingestion time, arrival), so a time-ranged
// FilterLogEvents or GetLogEvents costs a binary search per stream plus the
// events inside the range, not a scan of everything stored.
//
// The clock is injectable (Config.Now): PutLogEvents judges "too old" (more
// than 14 days) and "too new" (more than 2 hours ahead) against it, exactly
// as CloudWatch Logs judges them against its own clock.
package logsemu

import (
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dualkey/dualkey/emulator/internal/awsjson"
)

// Identity of the service on the wire.
const (
	// SigningName is the SigV4 credential-scope service name of CloudWatch
	// Logs: the key under which awsemu.Config.Services mounts a Service.
	SigningName = "logs"
	// TargetPrefix is the X-Amz-Target prefix of every operation.
	TargetPrefix = "Logs_20140328"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultRegion    = awsjson.DefaultRegion
	DefaultAccountID = awsjson.DefaultAccountID
)

// CloudWatch Logs quotas and rules the emulator enforces.
const (
	// MaxBatchBytes bounds a PutLogEvents batch: the sum of the messages'
	// UTF-8 bytes plus EventOverheadBytes per event. It also bounds a page of
	// GetLogEvents or FilterLogEvents results.
	MaxBatchBytes = 1 << 20
	// MaxEventBytes bounds one event (message bytes plus EventOverheadBytes).
	MaxEventBytes = 1 << 20
	// EventOverheadBytes is what CloudWatch Logs counts per event on top of
	// its message.
	EventOverheadBytes = 26
	// MaxBatchEvents bounds the number of events in a PutLogEvents batch and
	// the default and largest page of GetLogEvents and FilterLogEvents.
	MaxBatchEvents = 10000
	// MaxEventAge: older events are rejected (tooOldLogEventEndIndex).
	MaxEventAge = 14 * 24 * time.Hour
	// MaxEventFuture: events further ahead are rejected
	// (tooNewLogEventStartIndex).
	MaxEventFuture = 2 * time.Hour
	// MaxBatchSpan bounds the time span of the accepted events of one batch.
	MaxBatchSpan = 24 * time.Hour
)

// Config configures a Service. The zero value is usable.
type Config struct {
	// Region and AccountID appear in ARNs; DefaultRegion and DefaultAccountID
	// when empty.
	Region, AccountID string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Service is an in-memory CloudWatch Logs. It is an http.Handler for
// requests whose signature a front end (awsemu) has already verified, and
// safe for concurrent use.
type Service struct {
	region, account string
	now             func() time.Time

	mu     sync.RWMutex // guards groups and seq
	groups map[string]*group
	seq    uint64 // arrival order of every stored event

	calls awsjson.Calls

	scanned atomic.Int64 // events examined by reads (white-box tests)
}

var _ http.Handler = (*Service)(nil)

// New returns an empty Service.
func New(cfg Config) *Service {
	s := &Service{groups: map[string]*group{}}
	s.region, s.account, s.now = awsjson.Defaults(cfg.Region, cfg.AccountID, cfg.Now)
	return s
}

var operations = map[string]awsjson.Handler[*Service]{
	"CreateLogGroup":     awsjson.Op((*Service).createLogGroup),
	"DeleteLogGroup":     awsjson.Op((*Service).deleteLogGroup),
	"DescribeLogGroups":  awsjson.Op((*Service).describeLogGroups),
	"CreateLogStream":    awsjson.Op((*Service).createLogStream),
	"DeleteLogStream":    awsjson.Op((*Service).deleteLogStream),
	"DescribeLogStreams": awsjson.Op((*Service).describeLogStreams),
	"PutLogEvents":       awsjson.Op((*Service).putLogEvents),
	"GetLogEvents":       awsjson.Op((*Service).getLogEvents),
	"FilterLogEvents":    awsjson.Op((*Service).filterLogEvents),
}

// ServeHTTP implements http.Handler for verified CloudWatch Logs requests.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	awsjson.Serve(protocol, w, r, operations, s, &s.calls)
}

// Calls returns how many times each operation was called (successfully or
// not) since New or the last ResetCalls.
func (s *Service) Calls() map[string]int { return s.calls.Snapshot() }

// ResetCalls zeroes the operation counters.
func (s *Service) ResetCalls() { s.calls.Reset() }

// Event is a stored log event.
type Event struct {
	Group, Stream string
	// Timestamp is when the event happened, IngestionTime when the emulator
	// stored it (both millisecond precision).
	Timestamp, IngestionTime time.Time
	Message                  string
	// ID is the eventId FilterLogEvents reports.
	ID string
}

// Put stores messages in groupName/streamName with timestamp at (clamped to
// the epoch), creating the group and the stream when they do not exist. It is
// a test fixture: unlike PutLogEvents it accepts any timestamp (also older
// than 14 days) and any order, so tests can seed history.
func (s *Service) Put(groupName, streamName string, at time.Time, messages ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	g := s.groups[groupName]
	if g == nil {
		g = &group{name: groupName, created: now.UnixMilli(), class: "STANDARD", streams: map[string]*stream{}}
		s.groups[groupName] = g
	}
	st := g.streams[streamName]
	if st == nil {
		st = &stream{name: streamName, created: now.UnixMilli()}
		g.streams[streamName] = st
	}
	ts := max(at.UnixMilli(), 0)
	batch := make([]event, 0, len(messages))
	for _, m := range messages {
		s.seq++
		batch = append(batch, event{key: key{ts: ts, ingest: now.UnixMilli(), seq: s.seq}, msg: m})
	}
	g.add(st, batch)
}

// Events returns every event of groupName in the order FilterLogEvents returns
// them (by timestamp, then ingestion), or nil when the group does not exist.
func (s *Service) Events(groupName string) []Event {
	s.mu.RLock()
	defer s.mu.RUnlock()
	g := s.groups[groupName]
	if g == nil {
		return nil
	}
	var out []Event
	for _, st := range g.streams {
		for _, e := range st.events {
			out = append(out, Event{
				Group: groupName, Stream: st.name,
				Timestamp:     time.UnixMilli(e.ts).UTC(),
				IngestionTime: time.UnixMilli(e.ingest).UTC(),
				Message:       e.msg,
				ID:            e.key.id(),
			})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
