package logsemu

import (
	"fmt"
	"testing"
	"time"
)

var base = time.Date(2030, 3, 14, 10, 30, 0, 0, time.UTC)

// seeded returns a Service holding streams×perStream events, one per second
// and stream, the last at base; every 100th message carries "NEEDLE".
func seeded(tb testing.TB, streams, perStream int) *Service {
	tb.Helper()
	s := New(Config{Now: func() time.Time { return base }})
	for st := range streams {
		for i := range perStream {
			msg := fmt.Sprintf("stream %d event %d", st, i)
			if i%100 == 0 {
				msg += " NEEDLE"
			}
			s.Put("/big", fmt.Sprintf("s%03d", st), base.Add(-time.Duration(perStream-i)*time.Second), msg)
		}
	}
	return s
}

func ptr[T any](v T) *T { return &v }

// TestTimeRangedReadsDoNotScanEverything proves the cost claim of the
// package doc: a time-ranged read examines the events inside the range, not
// every stored event.
func TestTimeRangedReadsDoNotScanEverything(t *testing.T) {
	const streams, perStream, window = 20, 2000, 30
	s := seeded(t, streams, perStream)
	from := base.Add(-100 * time.Second).UnixMilli()
	to := base.Add(-(100 - window + 1) * time.Second).UnixMilli() // window seconds, inclusive

	s.scanned.Store(0)
	out, aerr := s.filterLogEvents(&filterLogEventsInput{LogGroupName: ptr("/big"), StartTime: &from, EndTime: &to})
	if aerr != nil {
		t.Fatal(aerr)
	}
	got := len(out.(filterLogEventsOutput).Events)
	if got != streams*window {
		t.Fatalf("events in window = %d, want %d", got, streams*window)
	}
	if n := s.scanned.Load(); n != int64(streams*window) {
		t.Fatalf("FilterLogEvents examined %d events for a window of %d (of %d stored)", n, streams*window, streams*perStream)
	}

	s.scanned.Store(0)
	if _, aerr := s.getLogEvents(&getLogEventsInput{LogGroupName: ptr("/big"), LogStreamName: ptr("s007"), StartTime: &from, EndTime: &to, StartFromHead: ptr(true)}); aerr != nil {
		t.Fatal(aerr)
	}
	if n := s.scanned.Load(); n != window-1 { // GetLogEvents' end is exclusive
		t.Fatalf("GetLogEvents examined %d events for a window of %d", n, window-1)
	}

	// Paging: each page continues where the last stopped.
	s.scanned.Store(0)
	in := &filterLogEventsInput{LogGroupName: ptr("/big"), StartTime: &from, EndTime: &to, Limit: ptr(int32(100))}
	pages, total := 0, 0
	for {
		out, aerr := s.filterLogEvents(in)
		if aerr != nil {
			t.Fatal(aerr)
		}
		res := out.(filterLogEventsOutput)
		pages++
		total += len(res.Events)
		if res.NextToken == nil {
			break
		}
		in.NextToken = res.NextToken
	}
	// Each page reads one event past its end to know whether to hand out a token.
	if total != streams*window || s.scanned.Load() > int64(total+pages) {
		t.Fatalf("%d pages returned %d events and examined %d", pages, total, s.scanned.Load())
	}
}

func BenchmarkFilterLogEvents(b *testing.B) {
	s := seeded(b, 50, 4000) // 200,000 events
	for _, bc := range []struct {
		name    string
		window  time.Duration
		pattern *string
	}{
		{"1min window", time.Minute, nil},
		{"1min window, pattern", time.Minute, ptr(`"NEEDLE"`)},
		{"1h window, pattern", time.Hour, ptr(`"NEEDLE"`)},
		{"everything, pattern", 0, ptr(`"NEEDLE"`)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in := &filterLogEventsInput{LogGroupName: ptr("/big"), FilterPattern: bc.pattern}
			if bc.window > 0 {
				in.StartTime = ptr(base.Add(-bc.window).UnixMilli())
			}
			for b.Loop() {
				if _, aerr := s.filterLogEvents(in); aerr != nil {
					b.Fatal(aerr)
				}
			}
		})
	}
}

func BenchmarkPutLogEvents(b *testing.B) {
	s := New(Config{Now: func() time.Time { return base }})
	s.Put("/g", "s", base) // creates the group and the stream
	batch := make([]inputLogEvent, 100)
	for i := range batch {
		batch[i] = inputLogEvent{Timestamp: ptr(base.UnixMilli()), Message: ptr("auth ok key=SK_NEW_9876 user=42")}
	}
	in := &putLogEventsInput{LogGroupName: ptr("/g"), LogStreamName: ptr("s"), LogEvents: batch}
	for b.Loop() {
		if _, aerr := s.putLogEvents(in); aerr != nil {
			b.Fatal(aerr)
		}
	}
}
