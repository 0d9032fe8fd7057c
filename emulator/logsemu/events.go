package logsemu

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/dualkey/dualkey/emulator/internal/awsjson"
)

// ---- PutLogEvents ----

type inputLogEvent struct {
	Timestamp *int64  `json:"timestamp"`
	Message   *string `json:"message"`
}

type putLogEventsInput struct {
	LogGroupName  *string         `json:"logGroupName"`
	LogStreamName *string         `json:"logStreamName"`
	LogEvents     []inputLogEvent `json:"logEvents"`
	SequenceToken *string         `json:"sequenceToken"` // ignored, as at AWS
	Entity        any             `json:"entity"`        // accepted and ignored
}

type rejectedLogEventsInfo struct {
	TooNewLogEventStartIndex *int `json:"tooNewLogEventStartIndex,omitempty"`
	TooOldLogEventEndIndex   *int `json:"tooOldLogEventEndIndex,omitempty"`
	ExpiredLogEventEndIndex  *int `json:"expiredLogEventEndIndex,omitempty"`
}

type putLogEventsOutput struct {
	NextSequenceToken     string                 `json:"nextSequenceToken"`
	RejectedLogEventsInfo *rejectedLogEventsInfo `json:"rejectedLogEventsInfo,omitempty"`
}

func (s *Service) putLogEvents(in *putLogEventsInput) (any, *awsjson.Error) {
	if aerr := checkStreamRef(in.LogGroupName, in.LogStreamName); aerr != nil {
		return nil, aerr
	}
	if in.LogEvents == nil {
		return nil, protocol.Null("logEvents")
	}
	if len(in.LogEvents) < 1 {
		return nil, protocol.Constraint("[]", "logEvents", "Member must have length greater than or equal to 1")
	}
	if len(in.LogEvents) > MaxBatchEvents {
		return nil, protocol.Constraint("[...]", "logEvents", fmt.Sprintf("Member must have length less than or equal to %d", MaxBatchEvents))
	}
	total := 0
	for i, e := range in.LogEvents {
		member := fmt.Sprintf("logEvents.%d.member", i+1)
		if e.Timestamp == nil {
			return nil, protocol.Null(member + ".timestamp")
		}
		if *e.Timestamp < 0 {
			return nil, protocol.Constraint(*e.Timestamp, member+".timestamp", "Member must have value greater than or equal to 0")
		}
		if e.Message == nil {
			return nil, protocol.Null(member + ".message")
		}
		if len(*e.Message) < 1 {
			return nil, protocol.Constraint("", member+".message", "Member must have length greater than or equal to 1")
		}
		size := len(*e.Message) + EventOverheadBytes
		if size > MaxEventBytes {
			return nil, awsjson.Errorf(codeInvalidParameter, "Log event too large: %d bytes exceeds limit of %d", size, MaxEventBytes)
		}
		total += size
	}
	if total > MaxBatchBytes {
		return nil, awsjson.Errorf(codeInvalidParameter, "Upload too large: %d bytes exceeds limit of %d", total, MaxBatchBytes)
	}
	for i := 1; i < len(in.LogEvents); i++ {
		if *in.LogEvents[i].Timestamp < *in.LogEvents[i-1].Timestamp {
			return nil, awsjson.Errorf(codeInvalidParameter, "Log events in a single PutLogEvents request must be in chronological order.")
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	g, st, aerr := s.streamLocked(*in.LogGroupName, *in.LogStreamName)
	if aerr != nil {
		return nil, aerr
	}
	now := s.now()
	oldest := now.Add(-MaxEventAge).UnixMilli()
	newest := now.Add(MaxEventFuture).UnixMilli()
	// Events are in chronological order, so the too-old ones are a prefix
	// and the too-new ones a suffix.
	lo, hi := 0, len(in.LogEvents)
	for lo < hi && *in.LogEvents[lo].Timestamp < oldest {
		lo++
	}
	for hi > lo && *in.LogEvents[hi-1].Timestamp > newest {
		hi--
	}
	out := putLogEventsOutput{}
	if lo > 0 || hi < len(in.LogEvents) {
		out.RejectedLogEventsInfo = &rejectedLogEventsInfo{}
		if lo > 0 {
			end := lo - 1
			out.RejectedLogEventsInfo.TooOldLogEventEndIndex = &end
		}
		if hi < len(in.LogEvents) {
			start := hi
			out.RejectedLogEventsInfo.TooNewLogEventStartIndex = &start
		}
	}
	accepted := in.LogEvents[lo:hi]
	if len(accepted) > 1 && *accepted[len(accepted)-1].Timestamp-*accepted[0].Timestamp > MaxBatchSpan.Milliseconds() {
		return nil, awsjson.Errorf(codeInvalidParameter, "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
	}
	ingest := now.UnixMilli()
	batch := make([]event, 0, len(accepted))
	for _, e := range accepted {
		s.seq++
		batch = append(batch, event{key: key{ts: *e.Timestamp, ingest: ingest, seq: s.seq}, msg: *e.Message})
	}
	g.add(st, batch)
	st.uploads++
	out.NextSequenceToken = sequenceToken(st.uploads)
	return out, nil
}

// ---- reading: one cursor per stream, merged in key order ----

// cursorRange is the half-open index range [lo, hi) of one stream still to
// be read, in either direction.
type cursorRange struct {
	st     *stream
	lo, hi int
}

// merger yields the events of several streams in key order (forward) or
// reverse key order (backward).
type merger struct {
	ranges  []*cursorRange
	forward bool
}

func (m *merger) Len() int { return len(m.ranges) }
func (m *merger) Less(i, j int) bool {
	a, b := m.head(m.ranges[i]), m.head(m.ranges[j])
	if m.forward {
		return a.key.cmp(b.key) < 0
	}
	return a.key.cmp(b.key) > 0
}
func (m *merger) Swap(i, j int) { m.ranges[i], m.ranges[j] = m.ranges[j], m.ranges[i] }
func (m *merger) Push(x any)    { m.ranges = append(m.ranges, x.(*cursorRange)) }
func (m *merger) Pop() any {
	x := m.ranges[len(m.ranges)-1]
	m.ranges = m.ranges[:len(m.ranges)-1]
	return x
}

func (m *merger) head(r *cursorRange) *event {
	if m.forward {
		return &r.st.events[r.lo]
	}
	return &r.st.events[r.hi-1]
}

// next returns the next event and its stream, or nil when all are read.
func (m *merger) next() (*event, *stream) {
	if len(m.ranges) == 0 {
		return nil, nil
	}
	r := m.ranges[0]
	e := m.head(r)
	if m.forward {
		r.lo++
	} else {
		r.hi--
	}
	if r.lo >= r.hi {
		heap.Pop(m)
	} else {
		heap.Fix(m, 0)
	}
	return e, r.st
}

// newMerger reads events with start <= timestamp <= end from streams,
// continuing after (forward) or before (backward) the cursor when one is
// given.
func newMerger(streams []*stream, start, end int64, forward bool, cursor *key) *merger {
	m := &merger{forward: forward}
	for _, st := range streams {
		lo := st.firstAtOrAfter(start)
		hi := len(st.events)
		if end < math.MaxInt64 {
			hi = st.firstAtOrAfter(end + 1)
		}
		if cursor != nil {
			if forward {
				lo = max(lo, st.firstAfterKey(*cursor))
			} else {
				hi = min(hi, st.firstAtOrAfterKey(*cursor))
			}
		}
		if lo < hi {
			m.ranges = append(m.ranges, &cursorRange{st: st, lo: lo, hi: hi})
		}
	}
	heap.Init(m)
	return m
}

func checkTimeRange(start, end *int64) (int64, int64, *awsjson.Error) {
	lo, hi := int64(0), int64(math.MaxInt64)
	if start != nil {
		if *start < 0 {
			return 0, 0, protocol.Constraint(*start, "startTime", "Member must have value greater than or equal to 0")
		}
		lo = *start
	}
	if end != nil {
		if *end < 0 {
			return 0, 0, protocol.Constraint(*end, "endTime", "Member must have value greater than or equal to 0")
		}
		hi = *end
	}
	if lo > hi {
		return 0, 0, awsjson.Errorf(codeInvalidParameter, "startTime (%d) must not be later than endTime (%d).", lo, hi)
	}
	return lo, hi, nil
}

// ---- GetLogEvents ----

type getLogEventsInput struct {
	LogGroupName       *string `json:"logGroupName"`
	LogGroupIdentifier *string `json:"logGroupIdentifier"`
	LogStreamName      *string `json:"logStreamName"`
	StartTime          *int64  `json:"startTime"`
	EndTime            *int64  `json:"endTime"`
	NextToken          *string `json:"nextToken"`
	Limit              *int32  `json:"limit"`
	StartFromHead      *bool   `json:"startFromHead"`
	Unmask             bool    `json:"unmask"`
}

type outputLogEvent struct {
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
}

type getLogEventsOutput struct {
	Events            []outputLogEvent `json:"events"`
	NextForwardToken  string           `json:"nextForwardToken"`
	NextBackwardToken string           `json:"nextBackwardToken"`
}

func (s *Service) getLogEvents(in *getLogEventsInput) (any, *awsjson.Error) {
	if aerr := streamName.check("logStreamName", in.LogStreamName, true); aerr != nil {
		return nil, aerr
	}
	if aerr := checkPage(in.Limit, MaxBatchEvents, in.NextToken); aerr != nil {
		return nil, aerr
	}
	start, end, aerr := checkTimeRange(in.StartTime, in.EndTime)
	if aerr != nil {
		return nil, aerr
	}
	// GetLogEvents' endTime is exclusive.
	if in.EndTime != nil {
		if end == 0 || end-1 < start {
			end = -1
		} else {
			end--
		}
	}
	forward, cursor, limit, aerr := readPaging(in.NextToken, in.Limit, in.StartFromHead != nil && *in.StartFromHead)
	if aerr != nil {
		return nil, aerr
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	g, aerr := s.groupRefLocked(in.LogGroupName, in.LogGroupIdentifier)
	if aerr != nil {
		return nil, aerr
	}
	st := g.streams[*in.LogStreamName]
	if st == nil {
		return nil, errStreamNotFound()
	}
	var page []event
	if end >= start {
		m := newMerger([]*stream{st}, start, end, forward, cursor)
		bytes := 0
		for len(page) < limit {
			e, _ := m.next()
			if e == nil {
				break
			}
			s.scanned.Add(1)
			size := len(e.msg) + EventOverheadBytes
			if len(page) > 0 && bytes+size > MaxBatchBytes {
				break
			}
			bytes += size
			page = append(page, *e)
		}
	}
	if !forward { // a backward read collects newest first; answers are oldest first
		for i, j := 0, len(page)-1; i < j; i, j = i+1, j-1 {
			page[i], page[j] = page[j], page[i]
		}
	}
	out := getLogEventsOutput{Events: make([]outputLogEvent, 0, len(page))}
	for _, e := range page {
		out.Events = append(out.Events, outputLogEvent{Timestamp: e.ts, Message: e.msg, IngestionTime: e.ingest})
	}
	switch {
	case len(page) > 0:
		out.NextForwardToken = token('f', page[len(page)-1].key)
		out.NextBackwardToken = token('b', page[0].key)
	case cursor != nil: // nothing further: hand the same position back
		out.NextForwardToken = token('f', *cursor)
		out.NextBackwardToken = token('b', *cursor)
	default:
		out.NextForwardToken = token('f', key{})
		out.NextBackwardToken = token('b', key{})
	}
	return out, nil
}

// ---- FilterLogEvents ----

type filterLogEventsInput struct {
	LogGroupName        *string  `json:"logGroupName"`
	LogGroupIdentifier  *string  `json:"logGroupIdentifier"`
	LogStreamNames      []string `json:"logStreamNames"`
	LogStreamNamePrefix *string  `json:"logStreamNamePrefix"`
	StartTime           *int64   `json:"startTime"`
	EndTime             *int64   `json:"endTime"`
	FilterPattern       *string  `json:"filterPattern"`
	NextToken           *string  `json:"nextToken"`
	Limit               *int32   `json:"limit"`
	Interleaved         *bool    `json:"interleaved"` // ignored: always interleaved, as at AWS
	StartFromHead       *bool    `json:"startFromHead"`
	Unmask              bool     `json:"unmask"`
}

type filteredLogEvent struct {
	LogStreamName string `json:"logStreamName"`
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
	EventID       string `json:"eventId"`
}

type searchedLogStream struct {
	LogStreamName      string `json:"logStreamName"`
	SearchedCompletely bool   `json:"searchedCompletely"`
}

type filterLogEventsOutput struct {
	Events             []filteredLogEvent  `json:"events"`
	SearchedLogStreams []searchedLogStream `json:"searchedLogStreams"`
	NextToken          *string             `json:"nextToken,omitempty"`
}

// startFromHeadFalseEarliest is the earliest startTime AWS accepts with
// startFromHead=false: 2024-01-01T00:00:00Z.
var startFromHeadFalseEarliest = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

func (s *Service) filterLogEvents(in *filterLogEventsInput) (any, *awsjson.Error) {
	if in.LogStreamNames != nil && in.LogStreamNamePrefix != nil {
		return nil, awsjson.Errorf(codeInvalidParameter, "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
	}
	if in.LogStreamNames != nil && (len(in.LogStreamNames) < 1 || len(in.LogStreamNames) > 100) {
		return nil, protocol.Constraint("[...]", "logStreamNames", "Member must have length between 1 and 100")
	}
	for i := range in.LogStreamNames {
		if aerr := streamName.check(fmt.Sprintf("logStreamNames.%d.member", i+1), &in.LogStreamNames[i], true); aerr != nil {
			return nil, aerr
		}
	}
	if aerr := streamName.check("logStreamNamePrefix", in.LogStreamNamePrefix, false); aerr != nil {
		return nil, aerr
	}
	if aerr := checkPage(in.Limit, MaxBatchEvents, in.NextToken); aerr != nil {
		return nil, aerr
	}
	if in.FilterPattern != nil && len(*in.FilterPattern) > MaxFilterPatternLength {
		return nil, protocol.Constraint(awsjson.Abbrev(*in.FilterPattern), "filterPattern", fmt.Sprintf("Member must have length less than or equal to %d", MaxFilterPatternLength))
	}
	start, end, aerr := checkTimeRange(in.StartTime, in.EndTime)
	if aerr != nil {
		return nil, aerr
	}
	var pat *FilterPattern
	if in.FilterPattern != nil {
		p, err := ParseFilterPattern(*in.FilterPattern)
		if err != nil {
			var pe *PatternError
			if errors.As(err, &pe) {
				return nil, awsjson.Errorf(codeInvalidParameter, "%s", pe.apiMessage())
			}
			return nil, awsjson.Errorf(codeInvalidParameter, "Invalid filter pattern: %v", err)
		}
		pat = p
	}
	forward := in.StartFromHead == nil || *in.StartFromHead
	if !forward && start < startFromHeadFalseEarliest {
		return nil, awsjson.Errorf(codeInvalidParameter, "startFromHead=false requires a startTime on or after 2024-01-01T00:00:00Z (%d).", startFromHeadFalseEarliest)
	}
	forward, cursor, limit, aerr := readPaging(in.NextToken, in.Limit, forward)
	if aerr != nil {
		return nil, aerr
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	g, aerr := s.groupRefLocked(in.LogGroupName, in.LogGroupIdentifier)
	if aerr != nil {
		return nil, aerr
	}
	var streams []*stream
	switch {
	case in.LogStreamNames != nil:
		for _, n := range in.LogStreamNames {
			if st := g.streams[n]; st != nil {
				streams = append(streams, st)
			}
		}
	default:
		for _, st := range g.streams {
			if in.LogStreamNamePrefix == nil || strings.HasPrefix(st.name, *in.LogStreamNamePrefix) {
				streams = append(streams, st)
			}
		}
	}
	sort.Slice(streams, func(i, j int) bool { return streams[i].name < streams[j].name })

	out := filterLogEventsOutput{Events: []filteredLogEvent{}, SearchedLogStreams: []searchedLogStream{}}
	m := newMerger(streams, start, end, forward, cursor)
	bytes := 0
	var last *event
	for {
		e, st := m.next()
		if e == nil {
			break
		}
		s.scanned.Add(1)
		if !pat.Match(e.msg) {
			continue
		}
		size := len(e.msg) + EventOverheadBytes
		if len(out.Events) == limit || (len(out.Events) > 0 && bytes+size > MaxBatchBytes) {
			// A further match exists: the next page starts after the last
			// event returned.
			t := token(dirByte(forward), last.key)
			out.NextToken = &t
			break
		}
		bytes += size
		out.Events = append(out.Events, filteredLogEvent{
			LogStreamName: st.name, Timestamp: e.ts, Message: e.msg, IngestionTime: e.ingest, EventID: e.key.id(),
		})
		last = e
	}
	return out, nil
}

func dirByte(forward bool) byte {
	if forward {
		return 'f'
	}
	return 'b'
}

// readPaging reads the nextToken and limit of a GetLogEvents or
// FilterLogEvents request: the direction to read in (forward unless the
// token says otherwise), where to resume (nil at the start) and how many
// events a page holds at most.
func readPaging(token *string, limit *int32, forward bool) (bool, *key, int, *awsjson.Error) {
	var cursor *key
	if token != nil {
		dir, k, ok := parseToken(*token)
		if !ok {
			return false, nil, 0, awsjson.Errorf(codeInvalidParameter, msgBadToken)
		}
		forward, cursor = dir == 'f', &k
	}
	n := MaxBatchEvents
	if limit != nil {
		n = int(*limit)
	}
	return forward, cursor, n, nil
}
