package demosvc

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TimelineEvent is one recorded event.
type TimelineEvent struct {
	At     time.Duration // since the timeline started
	Event  string
	Fields []any // alternating key, value (as for log/slog)
}

// Timeline records demo events for printing. It is safe for concurrent use.
// The zero value is ready to use and starts at the first Add. Callers must
// pass fingerprints, never key values, as fields.
type Timeline struct {
	mu     sync.Mutex
	now    func() time.Time
	start  time.Time
	events []TimelineEvent
}

// NewTimeline returns a Timeline that starts now; now is the clock (nil
// means time.Now).
func NewTimeline(now func() time.Time) *Timeline {
	if now == nil {
		now = time.Now
	}
	return &Timeline{now: now, start: now()}
}

// Add records an event with alternating key/value fields, e.g.
// Add("rotation finished", "n", 1, "version", "1a2b3c4d").
func (t *Timeline) Add(event string, fields ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.now == nil {
		t.now = time.Now
	}
	now := t.now()
	if t.start.IsZero() {
		t.start = now
	}
	t.events = append(t.events, TimelineEvent{At: now.Sub(t.start), Event: event, Fields: append([]any(nil), fields...)})
}

// Events returns a copy of the recorded events in order.
func (t *Timeline) Events() []TimelineEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]TimelineEvent(nil), t.events...)
}

// Print writes one line per event: offset, event name (aligned) and fields as
// key=value. Write errors are ignored (it prints to a terminal).
func (t *Timeline) Print(w io.Writer) {
	events := t.Events()
	width := 0
	for _, e := range events {
		width = max(width, len([]rune(e.Event)))
	}
	for _, e := range events {
		var b strings.Builder
		fmt.Fprintf(&b, "%+9.3fs  %s", e.At.Seconds(), e.Event)
		if len(e.Fields) > 0 {
			b.WriteString(strings.Repeat(" ", width-len([]rune(e.Event))))
			for i := 0; i < len(e.Fields); i += 2 {
				if i+1 == len(e.Fields) {
					fmt.Fprintf(&b, "  !BADKEY=%s", formatValue(e.Fields[i]))
					break
				}
				fmt.Fprintf(&b, "  %v=%s", e.Fields[i], formatValue(e.Fields[i+1]))
			}
		}
		b.WriteByte('\n')
		_, _ = io.WriteString(w, b.String())
	}
}

func formatValue(v any) string {
	s := fmt.Sprint(v)
	if s == "" || strings.ContainsAny(s, " \t\n\"=") {
		return strconv.Quote(s)
	}
	return s
}
