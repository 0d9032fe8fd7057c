package awsemu

import (
	"testing"
	"time"
)

func TestScheduleNext(t *testing.T) {
	now := time.Date(2030, 3, 14, 10, 30, 0, 0, time.UTC) // a Thursday
	tests := []struct {
		rules rotationRules
		want  time.Time
	}{
		{rotationRules{AutomaticallyAfterDays: ptr(int64(30))}, now.Add(30 * 24 * time.Hour)},
		{rotationRules{ScheduleExpression: ptr("rate(4 hours)")}, now.Add(4 * time.Hour)},
		{rotationRules{ScheduleExpression: ptr("rate(1 day)")}, now.Add(24 * time.Hour)},
		{rotationRules{ScheduleExpression: ptr("cron(0 12 * * ? *)")}, time.Date(2030, 3, 14, 12, 0, 0, 0, time.UTC)},
		{rotationRules{ScheduleExpression: ptr("cron(0 8 * * ? *)")}, time.Date(2030, 3, 15, 8, 0, 0, 0, time.UTC)},
		{rotationRules{ScheduleExpression: ptr("cron(0 0 ? * MON *)")}, time.Date(2030, 3, 18, 0, 0, 0, 0, time.UTC)},
		{rotationRules{ScheduleExpression: ptr("cron(0 4 ? * 2-6 *)")}, time.Date(2030, 3, 15, 4, 0, 0, 0, time.UTC)},
		{rotationRules{ScheduleExpression: ptr("cron(*/15 10 * * ? *)")}, time.Date(2030, 3, 14, 10, 45, 0, 0, time.UTC)},
		{rotationRules{ScheduleExpression: ptr("cron(0 0 1 JAN ? *)")}, time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)},
		{rotationRules{ScheduleExpression: ptr("cron(0 0 L * ? *)")}, time.Date(2030, 3, 31, 0, 0, 0, 0, time.UTC)},
		{rotationRules{ScheduleExpression: ptr("cron(0 0 ? * 6#3 *)"), Duration: ptr("3h")}, time.Date(2030, 3, 15, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		s, aerr := parseRules(&tt.rules)
		if aerr != nil {
			t.Fatalf("%+v: %v", tt.rules, aerr)
		}
		if got := s.next(now); got == nil || !got.Equal(tt.want) {
			t.Errorf("%v/%v: next = %v, want %v", ptrStr(tt.rules.ScheduleExpression), tt.rules.AutomaticallyAfterDays, got, tt.want)
		}
	}
	if s, aerr := parseRules(nil); aerr != nil || s.next(now) != nil {
		t.Fatal("nil rules must give no next rotation")
	}
}

func ptrStr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func TestLambdaResult(t *testing.T) {
	tests := []struct {
		status int
		fnErr  string
		body   string
		ok     bool
	}{
		{200, "", "null", true},
		{200, "", "", true},
		{202, "", `{"StatusCode":202}`, true},
		{200, "", `{"errorMessage":"x","errorType":"E"}`, false},
		{200, "Unhandled", `"x"`, false},
		{500, "", "oops", false},
		{404, "", "", false},
	}
	for _, tt := range tests {
		err := lambdaResult(tt.status, tt.fnErr, []byte(tt.body))
		if (err == nil) != tt.ok {
			t.Errorf("lambdaResult(%d, %q, %q) = %v", tt.status, tt.fnErr, tt.body, err)
		}
	}
}

func TestFunctionName(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:lambda:us-east-1:123456789012:function:rot":      "rot",
		"arn:aws:lambda:us-east-1:123456789012:function:rot:live": "rot",
		"rot": "rot",
	} {
		if got := functionName(in); got != want {
			t.Errorf("functionName(%q) = %q, want %q", in, got, want)
		}
	}
}
