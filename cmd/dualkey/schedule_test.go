package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

func TestRotationScheduleLongestGap(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		rules types.RotationRulesType
		gap   time.Duration
		err   string
	}{
		{types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}, 30 * day, ""},
		{types.RotationRulesType{ScheduleExpression: aws.String("rate(60 days)")}, 60 * day, ""},
		{types.RotationRulesType{ScheduleExpression: aws.String("rate(1 day)")}, day, ""},
		{types.RotationRulesType{ScheduleExpression: aws.String("rate(12 hours)")}, 12 * time.Hour, ""},
		// Monthly is not every 30 days: 31-day months leave 31 days.
		{types.RotationRulesType{ScheduleExpression: aws.String("cron(0 0 1 * ? *)")}, 31 * day, ""},
		// Twice a month: from the 15th to the 1st of the next month, 17 days after a 31-day month.
		{types.RotationRulesType{ScheduleExpression: aws.String("cron(0 16 1,15 * ? *)")}, 17 * day, ""},
		{types.RotationRulesType{ScheduleExpression: aws.String("cron(0 8 ? * MON *)")}, 7 * day, ""},
		{types.RotationRulesType{ScheduleExpression: aws.String("cron(0 8 ? * MON-FRI *)")}, 3 * day, ""},
		{types.RotationRulesType{ScheduleExpression: aws.String("cron(0 0/4 * * ? *)")}, 4 * time.Hour, ""},
		// The last day of each month: from Jan 31 to Feb 28/29 is shorter than from Feb 28 to Mar 31.
		{types.RotationRulesType{ScheduleExpression: aws.String("cron(0 0 L * ? *)")}, 31 * day, ""},
		// The last Friday of each month: up to five weeks apart.
		{types.RotationRulesType{ScheduleExpression: aws.String("cron(0 0 ? * 6L *)")}, 35 * day, ""},
		// The first Monday of each month: likewise.
		{types.RotationRulesType{ScheduleExpression: aws.String("cron(0 0 ? * 2#1 *)")}, 35 * day, ""},
		// Every three months.
		{types.RotationRulesType{ScheduleExpression: aws.String("cron(0 0 1 1/3 ? *)")}, 92 * day, ""},
		// Only in 2027: it stops.
		{types.RotationRulesType{ScheduleExpression: aws.String("cron(0 0 1 * ? 2027)")}, forever, ""},
		{types.RotationRulesType{ScheduleExpression: aws.String("cron(0 0 1 * *)")}, 0, "want 6 fields"},
		{types.RotationRulesType{ScheduleExpression: aws.String("cron(0 0 1 * MON *)")}, 0, "exactly one of day-of-month and day-of-week must be ?"},
		{types.RotationRulesType{ScheduleExpression: aws.String("cron(0 25 1 * ? *)")}, 0, "hours"},
		{types.RotationRulesType{ScheduleExpression: aws.String("cron(0 0 1 * ? 2030-2027)")}, 0, "backwards"},
		{types.RotationRulesType{ScheduleExpression: aws.String("rate(0 days)")}, 0, "at least 1"},
		{types.RotationRulesType{ScheduleExpression: aws.String("every day")}, 0, "want rate(N days)"},
		{types.RotationRulesType{}, 0, "neither"},
	}
	for _, c := range cases {
		name := aws.ToString(c.rules.ScheduleExpression)
		if n := aws.ToInt64(c.rules.AutomaticallyAfterDays); n > 0 {
			name = "AutomaticallyAfterDays"
		}
		s, err := parseRotationRules(&c.rules)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", name, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if gap, ex := s.longestGap(now); gap != c.gap {
			t.Errorf("%s: longest gap %s (%s), want %s", name, gap, ex, c.gap)
		}
	}
}

func TestCheckScheduleVerdicts(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { x := now.Add(-d); return &x }
	risk := func(v string) []types.Tag { return []types.Tag{{Key: aws.String(TagRisk), Value: aws.String(v)}} }
	every := func(days int64) *types.RotationRulesType {
		return &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(days)}
	}
	f := &awsFlags{endpoint: "http://127.0.0.1:4566"}
	cases := []struct {
		name    string
		in      scheduleInput
		verdict string
		want    []string
	}{
		{"ok", scheduleInput{tags: risk("30d"), enabled: true, rules: every(30), lastRotated: ago(3 * day)}, verdictOK, []string{"risk 30d", "30 days between"}},
		{"ok 90d with 60 days", scheduleInput{tags: risk("90d"), enabled: true, rules: every(60), created: ago(day)}, verdictOK, nil},
		{"too rare", scheduleInput{tags: risk("30d"), enabled: true, rules: every(90), lastRotated: ago(day)}, verdictTooRare,
			[]string{"every 30 days", "90 days", `aws secretsmanager rotate-secret --secret-id s --rotation-rules '{"ScheduleExpression":"rate(30 days)"}' --no-rotate-immediately --endpoint-url http://127.0.0.1:4566`}},
		{"monthly cron for 30d", scheduleInput{tags: risk("30d"), enabled: true, rules: &types.RotationRulesType{ScheduleExpression: aws.String("cron(0 0 1 * ? *)")}}, verdictTooRare, []string{"31 days"}},
		{"overdue", scheduleInput{tags: risk("60d"), enabled: true, rules: every(30), lastRotated: ago(61 * day)}, verdictOverdue,
			[]string{"last rotated", "61 days ago", "dualkey rotate --endpoint http://127.0.0.1:4566 s"}},
		{"never rotated, old", scheduleInput{tags: risk("90d"), enabled: true, rules: every(90), created: ago(100 * day)}, verdictOverdue, []string{"never rotated; created"}},
		{"rotation off", scheduleInput{tags: risk("90d"), enabled: false, created: ago(day)}, verdictNotRotating, []string{"automatic rotation is off", "rate(90 days)"}},
		{"no class", scheduleInput{enabled: true, rules: every(30)}, verdictNoClass,
			[]string{"no dualkey:risk tag", "aws secretsmanager tag-resource --secret-id s --tags Key=dualkey:risk,Value=30d --endpoint-url http://127.0.0.1:4566"}},
		{"bad class", scheduleInput{tags: risk("45d"), enabled: true, rules: every(30)}, verdictBadClass, []string{`dualkey:risk="45d": want 30d, 60d or 90d`}},
		{"unreadable rules", scheduleInput{tags: risk("30d"), enabled: true, rules: &types.RotationRulesType{ScheduleExpression: aws.String("cron(bad)")}}, verdictTooRare, []string{"cannot be read"}},
	}
	for _, c := range cases {
		c.in.name = "s"
		got := f.checkSchedule(c.in, now)
		if got.verdict != c.verdict {
			t.Errorf("%s: verdict %s (%s), want %s", c.name, got.verdict, got.detail, c.verdict)
		}
		for _, w := range c.want {
			if !strings.Contains(got.detail+" fix: "+got.fix, w) {
				t.Errorf("%s: %q lacks %q", c.name, got.detail+" fix: "+got.fix, w)
			}
		}
	}
}

// dualkey schedule against the emulator: one secret or --all, exit 1 when
// a secret is flagged, unmanaged secrets left out of --all.
func TestCLISchedule(t *testing.T) {
	ctx := context.Background()
	w := newEmuWorld(t)
	rules := func(name string, r *types.RotationRulesType) {
		if _, err := w.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(name), RotationLambdaARN: aws.String(svcLambda),
			RotationRules: r, RotateImmediately: aws.Bool(false)}); err != nil {
			t.Fatal(err)
		}
	}
	value := `{"api_key":"cli-initial-service-key-0123456789abcdef"}`
	w.createSecret(t, "pay/key", value, "servicekey", map[string]string{TagRisk: "30d"})
	rules("pay/key", &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)})
	w.createSecret(t, "ci/token", value, "servicekey", map[string]string{TagRisk: "30d"})
	rules("ci/token", &types.RotationRulesType{ScheduleExpression: aws.String("cron(0 0 1 * ? *)")})
	w.createSecret(t, "svc/untagged", value, "servicekey", nil)
	rules("svc/untagged", &types.RotationRulesType{ScheduleExpression: aws.String("rate(90 days)")})
	if _, err := w.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("not/managed"), SecretString: aws.String("x")}); err != nil {
		t.Fatal(err)
	}

	out, code := w.run(t, "schedule", "--endpoint", w.url, "pay/key")
	if code != exitOK || !strings.HasPrefix(out, "OK ") || !strings.Contains(out, "AutomaticallyAfterDays=30") {
		t.Fatalf("schedule of a compliant secret: %d %s", code, out)
	}
	out, code = w.run(t, "schedule", "ci/token", "--endpoint", w.url)
	if code != exitOrphans || !strings.Contains(out, "TOO-RARE") || !strings.Contains(out, "31 days") || !strings.Contains(out, "fix: aws secretsmanager rotate-secret --secret-id ci/token") ||
		!strings.Contains(out, "dualkey schedule --endpoint "+w.url+" ci/token") {
		t.Fatalf("schedule of a monthly cron with risk 30d: %d %s", code, out)
	}
	out, code = w.run(t, "schedule", "--all", "--endpoint", w.url)
	if code != exitOrphans || strings.Count(out, "\n") < 4 || strings.Contains(out, "not/managed") || !strings.Contains(out, "NO-CLASS") || !strings.Contains(out, "2 of 3 secret(s)") {
		t.Fatalf("schedule --all: %d %s", code, out)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"schedule", "--endpoint", w.url}, exitUsage, "--all"},
		{[]string{"schedule", "--endpoint", w.url, "--all", "pay/key"}, exitUsage, "not both"},
		{[]string{"schedule", "--endpoint", w.url, "no/such"}, exitFailed, "ResourceNotFoundException"},
	} {
		if out, code := w.run(t, c.args...); code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("dualkey %v: %d %s; want %d and %q", c.args, code, out, c.code, c.want)
		}
	}
}
