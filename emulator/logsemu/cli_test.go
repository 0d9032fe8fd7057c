package logsemu_test

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/internal/emutest"
)

// cli runs the AWS CLI against the emulator as the bootstrap key, with no
// user configuration.
type cli struct {
	*emutest.CLI
	t   *testing.T
	url string
}

func newCLI(t *testing.T, url string) *cli {
	return &cli{CLI: emutest.NewCLI(t, awsemu.DefaultAccessKeyID, awsemu.DefaultSecretAccessKey), t: t, url: url}
}

func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, stderr, err := c.Run(append(args, "--endpoint-url", c.url, "--output", "json")...)
	if err != nil {
		c.t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

// TestAWSCLIRunbookCheck runs the exact command a rotation runbook uses to
// check that consumers stopped using the old key, and the commands around it.
func TestAWSCLIRunbookCheck(t *testing.T) {
	e := start(t)
	c := newCLI(t, e.url)
	c.ok("logs", "create-log-group", "--log-group-name", "/app/api")
	c.ok("logs", "create-log-stream", "--log-group-name", "/app/api", "--log-stream-name", "web-1")
	events, _ := json.Marshal([]map[string]any{
		{"timestamp": ms(t0.Add(-50 * time.Minute)), "message": "auth ok key=SK_OLD_1234 user=1"},
		{"timestamp": ms(t0.Add(-20 * time.Minute)), "message": "auth ok key=SK_OLD_1234 user=2"},
		{"timestamp": ms(t0.Add(-10 * time.Minute)), "message": "auth ok key=SK_NEW_9876 user=3"},
	})
	var put struct {
		NextSequenceToken string `json:"nextSequenceToken"`
	}
	if err := json.Unmarshal([]byte(c.ok("logs", "put-log-events", "--log-group-name", "/app/api", "--log-stream-name", "web-1", "--log-events", string(events))), &put); err != nil || put.NextSequenceToken == "" {
		t.Fatalf("put-log-events output: %+v %v", put, err)
	}
	// Many more events in another stream, to make the CLI follow nextToken.
	e.group2(t, "/app/api", "web-2")
	var many []ev
	for i := range 25 {
		many = append(many, ev{t0.Add(-30*time.Minute + time.Duration(i)*time.Second), "bulk key=SK_OLD_1234 n=" + strconv.Itoa(i)})
	}
	e.put(t, "/app/api", "web-2", many...)

	// The runbook's command, verbatim.
	start := strconv.FormatInt(ms(t0.Add(-45*time.Minute)), 10)
	out, stderr, err := c.Run("logs", "filter-log-events", "--log-group-name", "/app/api", "--filter-pattern", `"SK_OLD_"`, "--start-time", start, "--endpoint-url", e.url)
	if err != nil {
		t.Fatalf("aws logs filter-log-events: %v\n%s", err, stderr)
	}
	var res struct {
		Events []struct {
			LogStreamName string `json:"logStreamName"`
			Timestamp     int64  `json:"timestamp"`
			Message       string `json:"message"`
			IngestionTime int64  `json:"ingestionTime"`
			EventID       string `json:"eventId"`
		} `json:"events"`
		SearchedLogStreams []any `json:"searchedLogStreams"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if len(res.Events) != 26 {
		t.Fatalf("events = %d, want 26 (25 bulk + 1 after the start time)", len(res.Events))
	}
	for i, x := range res.Events {
		if !strings.Contains(x.Message, "SK_OLD_") || x.Timestamp < ms(t0.Add(-45*time.Minute)) || len(x.EventID) != 56 || x.IngestionTime != ms(t0) {
			t.Fatalf("event %d = %+v", i, x)
		}
		if i > 0 && x.Timestamp < res.Events[i-1].Timestamp {
			t.Fatalf("events out of order at %d", i)
		}
	}
	if last := res.Events[25]; last.LogStreamName != "web-1" || last.Message != "auth ok key=SK_OLD_1234 user=2" {
		t.Fatalf("last event = %+v", last)
	}

	// The CLI pages (--page-size) and still returns everything once.
	var paged struct {
		Events []struct {
			Message string `json:"message"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(c.ok("logs", "filter-log-events", "--log-group-name", "/app/api", "--filter-pattern", `"SK_OLD_"`, "--start-time", start, "--page-size", "4")), &paged); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, x := range paged.Events {
		msgs = append(msgs, x.Message)
	}
	uniq := slices.Clone(msgs)
	slices.Sort(uniq)
	if len(msgs) != 26 || len(slices.Compact(uniq)) != 26 || msgs[25] != "auth ok key=SK_OLD_1234 user=2" {
		t.Fatalf("paged events: %d, last %q", len(msgs), msgs[len(msgs)-1])
	}

	// New key seen, old key gone after the switch.
	var newer struct {
		Events []struct{ Message string } `json:"events"`
	}
	if err := json.Unmarshal([]byte(c.ok("logs", "filter-log-events", "--log-group-name", "/app/api", "--filter-pattern", `"SK_NEW_"`, "--start-time", strconv.FormatInt(ms(t0.Add(-15*time.Minute)), 10))), &newer); err != nil {
		t.Fatal(err)
	}
	if len(newer.Events) != 1 {
		t.Fatalf("SK_NEW_ events: %+v", newer.Events)
	}

	if !strings.Contains(c.ok("logs", "describe-log-groups", "--log-group-name-prefix", "/app"), `"logGroupName": "/app/api"`) {
		t.Fatal("describe-log-groups does not list /app/api")
	}
	var got struct {
		Events []struct{ Message string } `json:"events"`
	}
	if err := json.Unmarshal([]byte(c.ok("logs", "get-log-events", "--log-group-name", "/app/api", "--log-stream-name", "web-1", "--start-from-head")), &got); err != nil || len(got.Events) != 3 {
		t.Fatalf("get-log-events: %+v %v", got, err)
	}

	// Errors carry CloudWatch Logs' codes.
	for _, bad := range []struct {
		args []string
		code string
	}{
		{[]string{"logs", "filter-log-events", "--log-group-name", "/nope", "--filter-pattern", `"SK_OLD_"`}, "ResourceNotFoundException"},
		{[]string{"logs", "filter-log-events", "--log-group-name", "/app/api", "--filter-pattern", `"SK_OLD_`}, "InvalidParameterException"},
		{[]string{"logs", "create-log-group", "--log-group-name", "/app/api"}, "ResourceAlreadyExistsException"},
	} {
		_, stderr, err := c.Run(append(bad.args, "--endpoint-url", e.url)...)
		if err == nil || !strings.Contains(stderr, bad.code) {
			t.Errorf("aws %s: err %v, stderr %q; want %s", strings.Join(bad.args, " "), err, stderr, bad.code)
		}
	}
}
