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
	if w.start == 24*60 {
		return nil, fmt.Errorf("window %q: a range cannot start at 24:00; use 00:00", s)
	}
	if w.start == w.end {
		return nil, fmt.Errorf("window %q: the range is empty", s)
	}
	i++
	if i < len(fields) {
		// "Local" would mean the zone of whichever machine runs the check.
		loc, err := time.LoadLocation(fields[i])
		if err != nil || fields[i] == "Local" {
			return nil, fmt.Errorf("window %q: unknown time zone %q (use an IANA name such as Europe/Berlin, or UTC)", s, fields[i])
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

// clock parses H:MM or HH:MM (ASCII digits only) into minutes after
// midnight; 24:00 is allowed as the end of a range.
func clock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 || !digits(h) || !digits(m) {
		return 0, fmt.Errorf("time %q must be HH:MM", s)
	}
	hh, _ := strconv.Atoi(h)
	mm, _ := strconv.Atoi(m)
	if hh > 24 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("time %q must be HH:MM between 00:00 and 24:00", s)
	}
	return hh*60 + mm, nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
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

// Next returns t when it is inside the window, else the first minute
// boundary after t inside it. It looks 15 days ahead (a weekly window
// recurs within a week; a daylight-saving gap can swallow one occurrence)
// and returns t plus 15 days when it finds none.
func (w *Window) Next(t time.Time) time.Time {
	if w.Contains(t) {
		return t
	}
	local := t.In(w.loc)
	c := t.Add(time.Minute - time.Duration(local.Second())*time.Second - time.Duration(local.Nanosecond()))
	for i := 0; i < 15*24*60; i++ {
		if w.Contains(c) {
			return c
		}
		c = c.Add(time.Minute)
	}
	return t.Add(15 * 24 * time.Hour)
}
