package lifecycle

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Window is a weekly time window in which deactivation is allowed, such as
// "Mon-Fri 09:00-17:00 Europe/Berlin". Days are optional (every day), the
// time zone is optional (UTC), and a range may cross midnight
// ("22:00-02:00": the part after midnight belongs to the day it started).
type Window struct {
	raw        string
	days       [7]bool
	start, end int // minutes after midnight
	loc        *time.Location
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseWindow parses a window expression.
func ParseWindow(s string) (*Window, error) {
	w := &Window{raw: s, loc: time.UTC}
	fields := strings.Fields(s)
	if len(fields) == 0 || len(fields) > 3 {
		return nil, fmt.Errorf("window %q: want [DAYS] HH:MM-HH:MM [TIMEZONE], e.g. \"Mon-Fri 09:00-17:00 Europe/Berlin\"", s)
	}
	i := 0
	if !strings.Contains(fields[0], ":") {
		if err := w.parseDays(fields[0]); err != nil {
			return nil, fmt.Errorf("window %q: %w", s, err)
		}
		i++
	} else {
		for d := range w.days {
			w.days[d] = true
		}
	}
	if i >= len(fields) {
		return nil, fmt.Errorf("window %q: missing time range HH:MM-HH:MM", s)
	}
	a, b, ok := strings.Cut(fields[i], "-")
	if !ok {
		return nil, fmt.Errorf("window %q: time range %q must be HH:MM-HH:MM", s, fields[i])
	}
	var err error
	if w.start, err = clock(a); err != nil {
		return nil, fmt.Errorf("window %q: %w", s, err)
	}
	if w.end, err = clock(b); err != nil {
		return nil, fmt.Errorf("window %q: %w", s, err)
	}
	if w.start == w.end {
		return nil, fmt.Errorf("window %q: the range is empty", s)
	}
	i++
	if i < len(fields) {
		loc, err := time.LoadLocation(fields[i])
		if err != nil {
			return nil, fmt.Errorf("window %q: unknown time zone %q", s, fields[i])
		}
		w.loc = loc
	}
	return w, nil
}

func (w *Window) parseDays(s string) error {
	for _, part := range strings.Split(strings.ToLower(s), ",") {
		a, b, isRange := strings.Cut(part, "-")
		from, ok := dayNames[a]
		if !ok {
			return fmt.Errorf("unknown day %q (use Mon, Tue, ... Sun)", a)
		}
		to := from
		if isRange {
			if to, ok = dayNames[b]; !ok {
				return fmt.Errorf("unknown day %q (use Mon, Tue, ... Sun)", b)
			}
		}
		for d := from; ; d = (d + 1) % 7 {
			w.days[d] = true
			if d == to {
				break
			}
		}
	}
	return nil
}

func clock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("time %q must be HH:MM", s)
	}
	return hh*60 + mm, nil
}

// String returns the expression the window was parsed from.
func (w *Window) String() string { return w.raw }

// Contains reports whether t falls inside the window.
func (w *Window) Contains(t time.Time) bool {
	t = t.In(w.loc)
	min := t.Hour()*60 + t.Minute()
	day := t.Weekday()
	if w.start < w.end {
		return w.days[day] && min >= w.start && min < w.end
	}
	// Crosses midnight.
	if min >= w.start {
		return w.days[day]
	}
	return min < w.end && w.days[(day+6)%7]
}

// Next returns the first minute at or after t inside the window.
func (w *Window) Next(t time.Time) time.Time {
	t = t.Truncate(time.Minute)
	for i := 0; i < 8*24*60; i++ {
		if w.Contains(t) {
			return t
		}
		t = t.Add(time.Minute)
	}
	return t
}
