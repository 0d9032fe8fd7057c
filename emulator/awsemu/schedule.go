package awsemu

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dualkey/dualkey/emulator/internal/awsjson"
)

// schedule is a parsed RotationRules: either a fixed interval
// (AutomaticallyAfterDays, rate(...)) or a cron expression.
type schedule struct {
	every time.Duration
	cron  *cronExpr
}

var (
	rateRE     = regexp.MustCompile(`^rate\(\s*(\d+)\s+(day|days|hour|hours)\s*\)$`)
	cronRE     = regexp.MustCompile(`^cron\((.*)\)$`)
	durationRE = regexp.MustCompile(`^(\d{1,2})h$`)
)

func errSchedule(expr string) *awsjson.Error {
	return awsjson.Errorf(codeInvalidParameter, "The ScheduleExpression %q is not valid. Use rate(N days), rate(N hours) or cron(minutes hours day-of-month month day-of-week year).", expr)
}

// parseRules validates RotationRules like AWS and returns its schedule. A nil
// rules value yields a nil schedule (no automatic rotation).
func parseRules(r *rotationRules) (*schedule, *awsjson.Error) {
	if r == nil {
		return nil, nil
	}
	if r.AutomaticallyAfterDays != nil && r.ScheduleExpression != nil {
		return nil, awsjson.Errorf(codeInvalidParameter, "You can't specify both AutomaticallyAfterDays and ScheduleExpression in RotationRules.")
	}
	if r.Duration != nil {
		m := durationRE.FindStringSubmatch(*r.Duration)
		if m == nil {
			return nil, awsjson.Errorf(codeInvalidParameter, "The Duration %q is not valid. Use a number of hours such as 3h, between 1h and 24h.", *r.Duration)
		}
		if h, _ := strconv.Atoi(m[1]); h < 1 || h > 24 {
			return nil, awsjson.Errorf(codeInvalidParameter, "The Duration %q is not valid. Use a number of hours such as 3h, between 1h and 24h.", *r.Duration)
		}
	}
	switch {
	case r.AutomaticallyAfterDays != nil:
		d := *r.AutomaticallyAfterDays
		if aerr := awsjson.CheckRange(protocol, "rotationRules.automaticallyAfterDays", &d, 1, 1000); aerr != nil {
			return nil, aerr
		}
		return &schedule{every: time.Duration(d) * 24 * time.Hour}, nil
	case r.ScheduleExpression != nil:
		expr := strings.TrimSpace(*r.ScheduleExpression)
		if m := rateRE.FindStringSubmatch(expr); m != nil {
			n, err := strconv.Atoi(m[1])
			if err != nil {
				return nil, errSchedule(expr)
			}
			if strings.HasPrefix(m[2], "hour") {
				if n < 4 || n > 24000 {
					return nil, errSchedule(expr)
				}
				return &schedule{every: time.Duration(n) * time.Hour}, nil
			}
			if n < 1 || n > 1000 {
				return nil, errSchedule(expr)
			}
			return &schedule{every: time.Duration(n) * 24 * time.Hour}, nil
		}
		if m := cronRE.FindStringSubmatch(expr); m != nil {
			c, ok := parseCron(m[1])
			if !ok {
				return nil, errSchedule(expr)
			}
			return &schedule{cron: c}, nil
		}
		return nil, errSchedule(expr)
	}
	return nil, nil
}

// next returns the next rotation date after now, or nil without a schedule.
func (s *schedule) next(now time.Time) *time.Time {
	switch {
	case s == nil:
		return nil
	case s.cron != nil:
		return s.cron.next(now)
	default:
		return ptr(now.Add(s.every))
	}
}

// cronExpr is an AWS (EventBridge-style) cron expression with six fields:
// minutes hours day-of-month month day-of-week year. Supported syntax per
// field: *, ?, numbers, names (JAN-DEC, SUN-SAT), ranges a-b, steps x/n,
// comma lists and L in day-of-month. W and # are accepted and treated as
// "any" — enough for a next-rotation estimate.
type cronExpr struct {
	min, hour, dom, month, dow, year fieldSet
	lastDOM                          bool
}

// fieldSet is nil for "any", else the allowed values.
type fieldSet map[int]bool

func (f fieldSet) has(v int) bool { return f == nil || f[v] }

var (
	monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
	dowNames   = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
)

func parseCron(s string) (*cronExpr, bool) {
	f := strings.Fields(s)
	if len(f) != 6 {
		return nil, false
	}
	c := &cronExpr{}
	var ok bool
	if c.min, ok = parseField(f[0], 0, 59, nil); !ok {
		return nil, false
	}
	if c.hour, ok = parseField(f[1], 0, 23, nil); !ok {
		return nil, false
	}
	if strings.ToUpper(f[2]) == "L" {
		c.lastDOM = true
	} else if c.dom, ok = parseField(f[2], 1, 31, nil); !ok {
		return nil, false
	}
	if c.month, ok = parseField(f[3], 1, 12, monthNames); !ok {
		return nil, false
	}
	if c.dow, ok = parseField(f[4], 1, 7, dowNames); !ok {
		return nil, false
	}
	if c.year, ok = parseField(f[5], 1970, 2199, nil); !ok {
		return nil, false
	}
	return c, true
}

func parseField(s string, lo, hi int, names map[string]int) (fieldSet, bool) {
	if s == "*" || s == "?" || strings.ContainsAny(s, "WL#") {
		return nil, true
	}
	num := func(x string) (int, bool) {
		if v, ok := names[strings.ToUpper(x)]; ok {
			return v, true
		}
		v, err := strconv.Atoi(x)
		return v, err == nil && v >= lo && v <= hi
	}
	set := fieldSet{}
	for _, part := range strings.Split(s, ",") {
		rng, stepStr, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n < 1 {
				return nil, false
			}
			step = n
		}
		a, b := lo, hi
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			x, y, _ := strings.Cut(rng, "-")
			var ok1, ok2 bool
			a, ok1 = num(x)
			b, ok2 = num(y)
			if !ok1 || !ok2 || a > b {
				return nil, false
			}
		default:
			v, ok := num(rng)
			if !ok {
				return nil, false
			}
			a = v
			if !hasStep {
				b = v
			}
		}
		for v := a; v <= b; v += step {
			set[v] = true
		}
	}
	return set, true
}

// next finds the first matching minute strictly after now (UTC), searching up
// to five years ahead.
func (c *cronExpr) next(now time.Time) *time.Time {
	now = now.UTC()
	start := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	for d := 0; d < 5*366; d++ {
		t := start.AddDate(0, 0, d)
		if !c.year.has(t.Year()) || !c.month.has(int(t.Month())) || !c.dow.has(int(t.Weekday())+1) {
			continue
		}
		if c.lastDOM {
			if t.AddDate(0, 0, 1).Month() == t.Month() {
				continue
			}
		} else if !c.dom.has(t.Day()) {
			continue
		}
		for h := 0; h < 24; h++ {
			if !c.hour.has(h) {
				continue
			}
			for m := 0; m < 60; m++ {
				if !c.min.has(m) {
					continue
				}
				if cand := t.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute); cand.After(now) {
					return &cand
				}
			}
		}
	}
	return nil
}
