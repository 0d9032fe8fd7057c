package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/shared/rotation"
)

// TagRisk names a secret's risk class, which says how often it must be
// rotated at least: 30d (payment processors, cloud root keys, production
// databases), 60d (SaaS integrations, CI/CD tokens, monitoring keys) or 90d
// (internal service keys, staging, read-only analytics). A leaked
// credential is rotated at once whatever its class: dualkey rotate
// --emergency.
const TagRisk = "dualkey:risk"

// riskClasses are the values TagRisk may take, with the longest interval
// between two rotations each allows.
var riskClasses = map[string]time.Duration{"30d": 30 * day, "60d": 60 * day, "90d": 90 * day}

const day = 24 * time.Hour

// errScheduleFindings: schedule found secrets rotated less often than
// their class, or without one.
var errScheduleFindings = errors.New("rotation schedules below their risk class")

// Verdicts of the schedule check, as printed.
const (
	verdictOK          = "OK"
	verdictTooRare     = "TOO-RARE"
	verdictOverdue     = "OVERDUE"
	verdictNotRotating = "NOT-ROTATING"
	verdictNoClass     = "NO-CLASS"
	verdictBadClass    = "BAD-CLASS"
)

// scheduleFinding is the schedule check's verdict on one secret.
type scheduleFinding struct {
	secret, verdict, detail, fix string
}

func runSchedule(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("schedule", stderr)
	var f awsFlags
	f.register(fs)
	all := fs.Bool("all", false, "check every secret tagged dualkey:managed=true")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := secretOrAll(*all, pos, "missing SECRET: schedule checks one secret; to check every secret tagged dualkey:managed=true, pass --all"); err != nil {
		return err
	}
	sm, err := f.secretsManager(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	var findings []scheduleFinding
	if *all {
		in := &secretsmanager.ListSecretsInput{Filters: []types.Filter{
			{Key: types.FilterNameStringTypeTagKey, Values: []string{rotation.TagManaged}},
			{Key: types.FilterNameStringTypeTagValue, Values: []string{"true"}},
		}}
		for {
			out, err := sm.ListSecrets(ctx, in)
			if err != nil {
				return f.hint(fmt.Errorf("list secrets tagged %s=true: %w", rotation.TagManaged, err), "")
			}
			for _, e := range out.SecretList {
				if !managedEntry(e.Tags) {
					continue
				}
				findings = append(findings, f.checkSchedule(scheduleInput{name: aws.ToString(e.Name), tags: e.Tags, enabled: aws.ToBool(e.RotationEnabled),
					rules: e.RotationRules, lastRotated: e.LastRotatedDate, created: e.CreatedDate}, now))
			}
			if out.NextToken == nil {
				break
			}
			in.NextToken = out.NextToken
		}
		if len(findings) == 0 {
			fmt.Fprintf(stdout, "no secret is tagged %s=true\n", rotation.TagManaged)
			return nil
		}
	} else {
		d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(pos[0])})
		if err != nil {
			return f.hint(fmt.Errorf("describe %s: %w", pos[0], err), "")
		}
		findings = append(findings, f.checkSchedule(scheduleInput{name: aws.ToString(d.Name), tags: d.Tags, enabled: aws.ToBool(d.RotationEnabled),
			rules: d.RotationRules, lastRotated: d.LastRotatedDate, created: d.CreatedDate}, now))
	}
	sort.Slice(findings, func(i, j int) bool { return findings[i].secret < findings[j].secret })
	bad := 0
	width := 0
	for _, x := range findings {
		width = max(width, len(x.secret))
	}
	for _, x := range findings {
		fmt.Fprintf(stdout, "%-12s %-*s  %s\n", x.verdict, width, x.secret, x.detail)
		if x.fix != "" {
			fmt.Fprintf(stdout, "%-12s %-*s  fix: %s\n", "", width, "", x.fix)
		}
		if x.verdict != verdictOK {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%w: %d of %d secret(s); each line above ends with its fix; check again with: %s", errScheduleFindings, bad, len(findings), f.cmd("schedule", scheduleArg(*all, pos)))
	}
	return nil
}

func scheduleArg(all bool, pos []string) string {
	if all {
		return "--all"
	}
	return pos[0]
}

func managedEntry(tags []types.Tag) bool {
	for _, t := range tags {
		if aws.ToString(t.Key) == rotation.TagManaged && aws.ToString(t.Value) == "true" {
			return true
		}
	}
	return false
}

type scheduleInput struct {
	name        string
	tags        []types.Tag
	enabled     bool
	rules       *types.RotationRulesType
	lastRotated *time.Time
	created     *time.Time
}

// checkSchedule compares a secret's rotation rules and last rotation with
// its risk class.
func (a *awsFlags) checkSchedule(in scheduleInput, now time.Time) scheduleFinding {
	out := scheduleFinding{secret: in.name}
	risk, hasRisk := "", false
	for _, t := range in.tags {
		if aws.ToString(t.Key) == TagRisk {
			risk, hasRisk = strings.TrimSpace(aws.ToString(t.Value)), true
		}
	}
	tagFix := func(v string) string {
		return a.awsCmd("secretsmanager", "tag-resource", "--secret-id", in.name, "--tags", "Key="+TagRisk+",Value="+v)
	}
	if !hasRisk {
		out.verdict = verdictNoClass
		out.detail = fmt.Sprintf("no %s tag: every managed secret needs a risk class: 30d (payment processors, cloud root keys, production databases), 60d (SaaS integrations, CI/CD tokens, monitoring keys) or 90d (internal service keys, staging, read-only analytics); put its class in the command below", TagRisk)
		out.fix = tagFix("30d")
		return out
	}
	limit, ok := riskClasses[risk]
	if !ok {
		out.verdict = verdictBadClass
		out.detail = fmt.Sprintf("%s=%q: want 30d, 60d or 90d; put its class in the command below", TagRisk, risk)
		out.fix = tagFix("30d")
		return out
	}
	rulesFix := func() string {
		return a.awsCmd("secretsmanager", "rotate-secret", "--secret-id", in.name, "--rotation-rules", `{"ScheduleExpression":"rate(`+strconv.Itoa(int(limit/day))+` days)"}`, "--no-rotate-immediately")
	}
	if !in.enabled || in.rules == nil {
		out.verdict = verdictNotRotating
		out.detail = fmt.Sprintf("risk %s, but automatic rotation is off (if the secret has no rotation function yet, add --rotation-lambda-arn with its ARN to the command below)", risk)
		out.fix = rulesFix()
		return out
	}
	sched, err := parseRotationRules(in.rules)
	if err != nil {
		out.verdict = verdictTooRare
		out.detail = fmt.Sprintf("risk %s, but the rotation rules cannot be read: %v", risk, err)
		out.fix = rulesFix()
		return out
	}
	gap, example := sched.longestGap(now)
	if gap > limit {
		out.verdict = verdictTooRare
		if gap == forever {
			out.detail = fmt.Sprintf("risk %s needs a rotation at least every %d days, but %s stops rotating (last scheduled %s)", risk, limit/day, sched.text, example)
		} else {
			out.detail = fmt.Sprintf("risk %s needs a rotation at least every %d days, but %s leaves %s between two rotations (%s)", risk, limit/day, sched.text, days(gap), example)
		}
		out.fix = rulesFix()
		return out
	}
	last, what := in.lastRotated, "last rotated"
	if last == nil || last.IsZero() {
		last, what = in.created, "never rotated; created"
	}
	if last != nil && !last.IsZero() && now.Sub(*last) > limit {
		out.verdict = verdictOverdue
		out.detail = fmt.Sprintf("risk %s, %s: %s %s (%s ago), more than %d days; see why it did not rotate with: %s",
			risk, sched.text, what, last.UTC().Format(time.RFC3339), days(now.Sub(*last)), limit/day, a.cmd("status", in.name))
		out.fix = a.cmd("rotate", in.name)
		return out
	}
	out.verdict = verdictOK
	out.detail = fmt.Sprintf("risk %s: %s, at most %s between two rotations", risk, sched.text, days(gap))
	if last != nil && !last.IsZero() {
		out.detail += fmt.Sprintf("; %s %s", what, last.UTC().Format("2006-01-02"))
	}
	return out
}

// days renders a duration in days (and hours when not whole).
func days(d time.Duration) string {
	n := int(d / day)
	h := int((d % day) / time.Hour)
	unit := "days"
	if n == 1 {
		unit = "day"
	}
	if h == 0 {
		return fmt.Sprintf("%d %s", n, unit)
	}
	return fmt.Sprintf("%d %s %dh", n, unit, h)
}

// forever is the gap of a schedule that stops.
const forever = time.Duration(1<<63 - 1)

// rotationSchedule is a secret's rotation rules as a schedule of window
// starts: a fixed interval (AutomaticallyAfterDays, rate()) or a cron
// expression. The rotation window (Duration) is not counted: a rotation may
// happen anywhere in it.
type rotationSchedule struct {
	text  string
	every time.Duration
	cron  *cronSchedule
}

var rateExpr = regexp.MustCompile(`^rate\(\s*(\d+)\s+(day|days|hour|hours)\s*\)$`)

// parseRotationRules reads Secrets Manager RotationRules.
func parseRotationRules(r *types.RotationRulesType) (*rotationSchedule, error) {
	if n := aws.ToInt64(r.AutomaticallyAfterDays); n > 0 {
		return &rotationSchedule{text: fmt.Sprintf("AutomaticallyAfterDays=%d", n), every: time.Duration(n) * day}, nil
	}
	expr := strings.TrimSpace(aws.ToString(r.ScheduleExpression))
	if expr == "" {
		return nil, errors.New("neither AutomaticallyAfterDays nor ScheduleExpression is set")
	}
	if m := rateExpr.FindStringSubmatch(expr); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: want rate(N days) or rate(N hours) with N at least 1", expr)
		}
		unit := day
		if strings.HasPrefix(m[2], "hour") {
			unit = time.Hour
		}
		return &rotationSchedule{text: expr, every: time.Duration(n) * unit}, nil
	}
	if inner, ok := strings.CutPrefix(expr, "cron("); ok && strings.HasSuffix(inner, ")") {
		c, err := parseCronSchedule(strings.TrimSuffix(inner, ")"))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", expr, err)
		}
		return &rotationSchedule{text: expr, cron: c}, nil
	}
	return nil, fmt.Errorf("%s: want rate(N days), rate(N hours) or cron(minutes hours day-of-month month day-of-week year)", expr)
}

// cronHorizon is how far ahead longestGap looks at a cron schedule: four
// years hold every pattern of month lengths, leap days and weekdays.
const cronHorizon = 4 * 366 * day

// longestGap returns the longest time between two window starts from now
// on, and an example of it in words.
func (s *rotationSchedule) longestGap(now time.Time) (time.Duration, string) {
	if s.cron == nil {
		return s.every, "every " + days(s.every)
	}
	times := s.cron.between(now.UTC(), now.UTC().Add(cronHorizon))
	if len(times) < 2 {
		last := "never"
		if len(times) == 1 {
			last = times[0].Format("2006-01-02 15:04")
		}
		return forever, last
	}
	var gap time.Duration
	var from, to time.Time
	for i := 1; i < len(times); i++ {
		if g := times[i].Sub(times[i-1]); g > gap {
			gap, from, to = g, times[i-1], times[i]
		}
	}
	if end := now.UTC().Add(cronHorizon); s.cron.years != nil && end.Sub(times[len(times)-1]) > gap+day {
		return forever, times[len(times)-1].Format("2006-01-02 15:04")
	}
	return gap, "from " + from.Format("2006-01-02 15:04") + " to " + to.Format("2006-01-02 15:04") + " UTC"
}

// cronSchedule is an AWS cron expression (minutes hours day-of-month month
// day-of-week year), evaluated in UTC as Secrets Manager does. Supported:
// *, ?, numbers, names (JAN-DEC, SUN-SAT), a-b, x/n, lists; in
// day-of-month L, LW and nW; in day-of-week nL (last such weekday of the
// month) and n#k (k-th such weekday).
type cronSchedule struct {
	minutes, hours, months, years set // nil: any
	dom                           func(time.Time) bool
	dow                           func(time.Time) bool
}

type set map[int]bool

var (
	cronMonths = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
	cronDays   = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
)

func parseCronSchedule(expr string) (*cronSchedule, error) {
	f := strings.Fields(expr)
	if len(f) != 6 {
		return nil, fmt.Errorf("want 6 fields (minutes hours day-of-month month day-of-week year), got %d", len(f))
	}
	c := &cronSchedule{}
	var err error
	if c.minutes, err = parseSet("minutes", f[0], 0, 59, nil); err != nil {
		return nil, err
	}
	if c.hours, err = parseSet("hours", f[1], 0, 23, nil); err != nil {
		return nil, err
	}
	if c.months, err = parseSet("month", f[3], 1, 12, cronMonths); err != nil {
		return nil, err
	}
	if c.years, err = parseSet("year", f[5], 1970, 2199, nil); err != nil {
		return nil, err
	}
	if (f[2] == "?") == (f[4] == "?") {
		return nil, errors.New("exactly one of day-of-month and day-of-week must be ?")
	}
	if c.dom, err = parseDOM(f[2]); err != nil {
		return nil, err
	}
	if c.dow, err = parseDOW(f[4]); err != nil {
		return nil, err
	}
	return c, nil
}

func parseSet(field, s string, lo, hi int, names map[string]int) (set, error) {
	if s == "*" || s == "?" {
		return nil, nil
	}
	num := func(x string) (int, error) {
		if v, ok := names[strings.ToUpper(x)]; ok {
			return v, nil
		}
		v, err := strconv.Atoi(x)
		if err != nil || v < lo || v > hi {
			return 0, fmt.Errorf("%s: %q is not a value from %d to %d", field, x, lo, hi)
		}
		return v, nil
	}
	out := set{}
	for _, part := range strings.Split(s, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("%s: step %q is not a positive number", field, stepText)
			}
			step = n
		}
		a, b := lo, hi
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			x, y, _ := strings.Cut(rng, "-")
			var err error
			if a, err = num(x); err != nil {
				return nil, err
			}
			if b, err = num(y); err != nil {
				return nil, err
			}
			if a > b {
				return nil, fmt.Errorf("%s: range %q runs backwards", field, rng)
			}
		default:
			v, err := num(rng)
			if err != nil {
				return nil, err
			}
			a = v
			if !hasStep {
				b = v
			}
		}
		for v := a; v <= b; v += step {
			out[v] = true
		}
	}
	return out, nil
}

func lastDay(t time.Time) int { return time.Date(t.Year(), t.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day() }

// nearestWeekday is the weekday nearest to day d of t's month, within it
// (cron's W).
func nearestWeekday(t time.Time, d int) int {
	d = min(d, lastDay(t))
	x := time.Date(t.Year(), t.Month(), d, 0, 0, 0, 0, time.UTC)
	switch x.Weekday() {
	case time.Saturday:
		if d == 1 {
			return 3
		}
		return d - 1
	case time.Sunday:
		if d == lastDay(t) {
			return d - 2
		}
		return d + 1
	}
	return d
}

func parseDOM(s string) (func(time.Time) bool, error) {
	up := strings.ToUpper(s)
	switch {
	case up == "?" || up == "*":
		return func(time.Time) bool { return true }, nil
	case up == "L":
		return func(t time.Time) bool { return t.Day() == lastDay(t) }, nil
	case up == "LW":
		return func(t time.Time) bool { return t.Day() == nearestWeekday(t, lastDay(t)) }, nil
	case strings.HasSuffix(up, "W"):
		d, err := strconv.Atoi(strings.TrimSuffix(up, "W"))
		if err != nil || d < 1 || d > 31 {
			return nil, fmt.Errorf("day-of-month: %q: want nW with n from 1 to 31", s)
		}
		return func(t time.Time) bool { return t.Day() == nearestWeekday(t, d) }, nil
	}
	days, err := parseSet("day-of-month", s, 1, 31, nil)
	if err != nil {
		return nil, err
	}
	return func(t time.Time) bool { return days[t.Day()] }, nil
}

func parseDOW(s string) (func(time.Time) bool, error) {
	up := strings.ToUpper(s)
	wd := func(t time.Time) int { return int(t.Weekday()) + 1 }
	one := func(x string) (int, error) {
		if v, ok := cronDays[x]; ok {
			return v, nil
		}
		v, err := strconv.Atoi(x)
		if err != nil || v < 1 || v > 7 {
			return 0, fmt.Errorf("day-of-week: %q is not a day from 1 (SUN) to 7 (SAT)", x)
		}
		return v, nil
	}
	switch {
	case up == "?" || up == "*":
		return func(time.Time) bool { return true }, nil
	case strings.Contains(up, "#"):
		x, k, _ := strings.Cut(up, "#")
		d, err := one(x)
		if err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(k)
		if err != nil || n < 1 || n > 5 {
			return nil, fmt.Errorf("day-of-week: %q: want d#n with n from 1 to 5", s)
		}
		return func(t time.Time) bool { return wd(t) == d && (t.Day()-1)/7+1 == n }, nil
	case strings.HasSuffix(up, "L") && len(up) > 1:
		d, err := one(strings.TrimSuffix(up, "L"))
		if err != nil {
			return nil, err
		}
		return func(t time.Time) bool { return wd(t) == d && t.Day()+7 > lastDay(t) }, nil
	}
	days, err := parseSet("day-of-week", up, 1, 7, cronDays)
	if err != nil {
		return nil, err
	}
	return func(t time.Time) bool { return days[wd(t)] }, nil
}

// between returns the window starts in [from, to).
func (c *cronSchedule) between(from, to time.Time) []time.Time {
	var out []time.Time
	has := func(s set, v int) bool { return s == nil || s[v] }
	for d := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC); d.Before(to); d = d.AddDate(0, 0, 1) {
		if !has(c.years, d.Year()) || !has(c.months, int(d.Month())) || !c.dom(d) || !c.dow(d) {
			continue
		}
		for h := 0; h < 24; h++ {
			if !has(c.hours, h) {
				continue
			}
			for m := 0; m < 60; m++ {
				if !has(c.minutes, m) {
					continue
				}
				if t := d.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute); !t.Before(from) && t.Before(to) {
					out = append(out, t)
				}
			}
		}
	}
	return out
}
