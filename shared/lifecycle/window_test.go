package lifecycle

import (
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
	for _, bad := range []string{"", "9-5", "Funday 09:00-17:00", "09:00-09:00", "25:00-26:00", "09:00-17:00 Mars/Base", "a b c d"} {
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
	if got := tagValue("old key used: 2026-11-23T10:00:00Z via sts (us-east-1) & more!"); got != "old key used: 2026-11-23T10:00:00Z via sts us-east-1 more" {
		t.Fatalf("tagValue = %q", got)
	}
}
