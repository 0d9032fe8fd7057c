package lifecycle

import (
	"strings"
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	mon := func(h, m int) time.Time { return time.Date(2026, 11, 23, h, m, 0, 0, time.UTC) } // Monday
	cases := []struct {
		expr string
		at   time.Time
		in   bool
	}{
		{"09:00-17:00", mon(9, 0), true},
		{"09:00-17:00", mon(17, 0), false},
		{"Mon-Fri 09:00-17:00", mon(12, 0), true},
		{"Mon-Fri 09:00-17:00", mon(12, 0).AddDate(0, 0, 5), false}, // Saturday
		{"Sat-Mon 09:00-17:00", mon(12, 0), true},                   // wraps the week
		{"Tue,Thu 09:00-17:00", mon(12, 0), false},
		{"Mon 22:00-02:00", mon(23, 0), true},
		{"Mon 22:00-02:00", mon(1, 0).AddDate(0, 0, 1), true}, // Tuesday 01:00 belongs to Monday's window
		{"Mon 22:00-02:00", mon(1, 0), false},                 // Monday 01:00 belongs to Sunday
		{"Mon-Fri 09:00-17:00 Asia/Tokyo", mon(1, 0), true},   // 10:00 in Tokyo
		{"Mon-Fri 09:00-17:00 Asia/Tokyo", mon(12, 0), false}, // 21:00 in Tokyo
	}
	for _, c := range cases {
		w, err := ParseWindow(c.expr)
		if err != nil {
			t.Fatalf("%q: %v", c.expr, err)
		}
		if got := w.Contains(c.at); got != c.in {
			t.Errorf("%q at %s: got %v, want %v", c.expr, c.at, got, c.in)
		}
	}
	w, _ := ParseWindow("Mon-Fri 02:00-04:00")
	if got := w.Next(mon(12, 0)); !got.Equal(time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("Next = %s", got)
	}
	if at := mon(12, 30).Add(17 * time.Second); !w.Next(at).Equal(time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("Next from inside a minute = %s", w.Next(at))
	}
	in, _ := ParseWindow("09:00-17:00")
	if at := mon(12, 30).Add(17 * time.Second); !in.Next(at).Equal(at) {
		t.Errorf("Next of a time inside the window = %s, want the time itself", in.Next(at))
	}
	for _, bad := range []string{"", "9-5", "Funday 09:00-17:00", "09:00-09:00", "25:00-26:00", "09:00-17:00 Mars/Base", "a b c d",
		"8:0-0:0", "+9:00-17:00", "09:00-١٧:00", "24:00-01:00", "09:00-17:00 Local", "Mon,", "Mon-"} {
		if _, err := ParseWindow(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestSettingsFromEnv(t *testing.T) {
	env := map[string]string{"DUALKEY_DRAIN": "2h", "DUALKEY_GRACE": "72h", "DUALKEY_DEACTIVATE_WINDOW": "09:00-17:00", "DUALKEY_ROLLBACK_RESTORE": "true"}
	s, err := SettingsFromEnv(func(k string) string { return env[k] })
	if err != nil || s.Drain != 2*time.Hour || s.Grace != 72*time.Hour || s.Window == nil || !s.RestoreCurrent || s.RollbackWindow != 15*time.Minute {
		t.Fatalf("got %+v, %v", s, err)
	}
	if _, err := SettingsFromEnv(func(k string) string { return map[string]string{"DUALKEY_GRACE": "two days"}[k] }); err == nil {
		t.Fatal("bad DUALKEY_GRACE accepted")
	}
	if s.StageLead != 7*24*time.Hour {
		t.Fatalf("default stage lead %s, want 7 days", s.StageLead)
	}
	lead, err := SettingsFromEnv(func(k string) string { return map[string]string{"DUALKEY_STAGE_LEAD": "72h"}[k] })
	if err != nil || lead.StageLead != 72*time.Hour {
		t.Fatalf("DUALKEY_STAGE_LEAD=72h: %+v, %v", lead, err)
	}
	if _, err := SettingsFromEnv(func(k string) string { return map[string]string{"DUALKEY_STAGE_LEAD": "7d"}[k] }); err == nil || !strings.Contains(err.Error(), "DUALKEY_STAGE_LEAD") {
		t.Fatalf("DUALKEY_STAGE_LEAD=7d: %v, want an error naming it", err)
	}
	if tagged, err := s.withTags(map[string]string{TagStageLead: "24h"}); err != nil || tagged.StageLead != 24*time.Hour {
		t.Fatalf("tag %s=24h: %+v, %v", TagStageLead, tagged, err)
	}
	if _, err := s.withTags(map[string]string{TagStageLead: "soon"}); err == nil || !strings.Contains(err.Error(), TagStageLead) {
		t.Fatalf("tag %s=soon: %v, want an error naming it", TagStageLead, err)
	}
	if got := tagValue("old key used: 2026-11-23T10:00:00Z via sts (us-east-1) & more!"); got != "old key used: 2026-11-23T10:00:00Z via sts us-east-1 more" {
		t.Fatalf("tagValue = %q", got)
	}
}

// FuzzParseWindow feeds arbitrary window expressions and times. A parsed
// window must round-trip its expression, answer Contains for any time, and
// Next must return a time inside the window no earlier than the minute of t
// and at most 15 days later (a weekly window recurs within a week; a DST
// gap can swallow one occurrence).
func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{"09:00-17:00", "Mon-Fri 09:00-17:00 Europe/Berlin", "Sat-Mon 22:00-02:00", "Tue,Thu 00:00-24:00 Asia/Tokyo",
		"Sun 02:00-02:30 Europe/Berlin", "Mon 22:00-02:00 America/New_York", "9-5", "", "Mon-Fri", "24:00-01:00", "a b c d"} {
		f.Add(s, int64(1795430400)) // 2026-11-23T10:00:00Z, a Monday
	}
	f.Add("Sun 02:00-03:00 Europe/Berlin", int64(1806195600)) // Saturday before the spring-forward Sunday 2027-03-28
	f.Fuzz(func(t *testing.T, expr string, unix int64) {
		w, err := ParseWindow(expr)
		if err != nil {
			if w != nil {
				t.Fatalf("%q: error %v with a window", expr, err)
			}
			return
		}
		if w.String() != expr {
			t.Fatalf("String() = %q, want %q", w.String(), expr)
		}
		at := time.Unix(unix%(400*365*24*3600), 0) // within 1570..2370
		in := w.Contains(at)
		next := w.Next(at)
		if next.Before(at.Truncate(time.Minute)) || next.Sub(at) > 15*24*time.Hour {
			t.Fatalf("%q at %s: Next = %s", expr, at, next)
		}
		if !w.Contains(next) {
			t.Fatalf("%q at %s: Next = %s is not inside the window", expr, at, next)
		}
		if in && !next.Equal(at) {
			t.Fatalf("%q at %s is inside, but Next = %s", expr, at, next)
		}
	})
}
