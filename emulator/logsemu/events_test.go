package logsemu_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/dualkey/dualkey/emulator/internal/emutest"
)

func TestPutLogEventsRefusals(t *testing.T) {
	e := start(t)
	e.group(t, "g", "s")
	big := strings.Repeat("x", 1<<20)
	cases := []struct {
		name      string
		in        *cloudwatchlogs.PutLogEventsInput
		code, msg string
	}{
		{"out of order", putInput("g", "s", ev{t0, "b"}, ev{t0.Add(-time.Millisecond), "a"}), "InvalidParameterException", "Log events in a single PutLogEvents request must be in chronological order."},
		{"spans more than 24 hours", putInput("g", "s", ev{t0.Add(-25 * time.Hour), "a"}, ev{t0, "b"}), "InvalidParameterException", "The batch of log events in a single PutLogEvents request cannot span more than 24 hours."},
		{"event too large", putInput("g", "s", ev{t0, big}), "InvalidParameterException", fmt.Sprintf("Log event too large: %d bytes exceeds limit of 1048576", 1<<20+26)},
		{"batch too large", putInput("g", "s", ev{t0, big[:600000]}, ev{t0, big[:600000]}), "InvalidParameterException", "Upload too large: 1200052 bytes exceeds limit of 1048576"},
		{"empty message", putInput("g", "s", ev{t0, ""}), "InvalidParameterException", "1 validation error detected: Value '' at 'logEvents.1.member.message' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"too many events", putInput("g", "s", manyEvents(10001)...), "InvalidParameterException", "1 validation error detected: Value '[...]' at 'logEvents' failed to satisfy constraint: Member must have length less than or equal to 10000"},
		{"missing group", putInput("nope", "s", ev{t0, "a"}), "ResourceNotFoundException", "The specified log group does not exist."},
		{"missing stream", putInput("g", "nope", ev{t0, "a"}), "ResourceNotFoundException", "The specified log stream does not exist."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.cw.PutLogEvents(ctx(t), c.in)
			emutest.WantError(t, err, c.code, c.msg)
		})
	}
	if got := e.svc.Events("g"); len(got) != 0 {
		t.Fatalf("refused batches stored %d events", len(got))
	}
}

func manyEvents(n int) []ev {
	out := make([]ev, n)
	for i := range out {
		out[i] = ev{t0, "m"}
	}
	return out
}

func TestPutLogEventsRejectsTooOldAndTooNew(t *testing.T) {
	e := start(t)
	e.group(t, "g", "s")
	old := t0.Add(-14*24*time.Hour - time.Millisecond)
	edgeOld := t0.Add(-14 * 24 * time.Hour)
	edgeNew := t0.Add(2 * time.Hour)
	future := t0.Add(2*time.Hour + time.Millisecond)
	cases := []struct {
		name             string
		evs              []ev
		tooOld, tooNew   int32 // -1: absent
		stored           []string
		rejectedReported bool
	}{
		{"all fresh", []ev{{t0, "a"}}, -1, -1, []string{"a"}, false},
		{"exactly 14 days old is accepted", []ev{{edgeOld, "x"}}, -1, -1, []string{"x"}, false},
		{"old prefix", []ev{{old, "o1"}, {old, "o2"}, {t0.Add(-13 * 24 * time.Hour), "k"}}, 1, -1, []string{"k"}, true},
		{"new suffix", []ev{{t0, "k"}, {edgeNew, "edge"}, {future, "n"}}, -1, 2, []string{"edge", "k"}, true},
		{"all rejected", []ev{{old, "o"}, {future, "n"}}, 0, 1, nil, true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stream := fmt.Sprintf("s%d", i)
			e.group2(t, "g", stream)
			out, err := e.cw.PutLogEvents(ctx(t), putInput("g", stream, c.evs...))
			if err != nil {
				t.Fatalf("PutLogEvents: %v", err)
			}
			r := out.RejectedLogEventsInfo
			if (r != nil) != c.rejectedReported {
				t.Fatalf("rejectedLogEventsInfo = %+v", r)
			}
			if r != nil {
				if got := idx(r.TooOldLogEventEndIndex); got != c.tooOld {
					t.Errorf("tooOldLogEventEndIndex = %d, want %d", got, c.tooOld)
				}
				if got := idx(r.TooNewLogEventStartIndex); got != c.tooNew {
					t.Errorf("tooNewLogEventStartIndex = %d, want %d", got, c.tooNew)
				}
				if r.ExpiredLogEventEndIndex != nil {
					t.Errorf("expiredLogEventEndIndex set without retention")
				}
			}
			got := e.filterAll(t, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("g"), LogStreamNames: []string{stream}})
			slices.Sort(got)
			if !slices.Equal(got, c.stored) {
				t.Fatalf("stored %v, want %v", got, c.stored)
			}
			if len(aws.ToString(out.NextSequenceToken)) != 56 {
				t.Fatalf("nextSequenceToken = %q", aws.ToString(out.NextSequenceToken))
			}
		})
	}
	// The limits follow the emulator's clock, not the wall clock.
	e.clock.Advance(30 * 24 * time.Hour)
	e.group2(t, "g", "later")
	out := e.put(t, "g", "later", ev{t0, "now too old"})
	if out.RejectedLogEventsInfo == nil || idx(out.RejectedLogEventsInfo.TooOldLogEventEndIndex) != 0 {
		t.Fatalf("after the clock moved: %+v", out.RejectedLogEventsInfo)
	}
}

func (e *env) group2(t testing.TB, group, stream string) {
	t.Helper()
	if _, err := e.cw.CreateLogStream(ctx(t), &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)}); err != nil {
		t.Fatal(err)
	}
}

func idx(p *int32) int32 {
	if p == nil {
		return -1
	}
	return *p
}

func TestGetLogEvents(t *testing.T) {
	e := start(t)
	e.group(t, "g", "s", "empty")
	var evs []ev
	for i := range 10 {
		evs = append(evs, ev{t0.Add(time.Duration(i) * time.Second), fmt.Sprintf("m%d", i)})
	}
	e.put(t, "g", "s", evs...)
	get := func(in *cloudwatchlogs.GetLogEventsInput) *cloudwatchlogs.GetLogEventsOutput {
		t.Helper()
		if in.LogGroupName == nil && in.LogGroupIdentifier == nil {
			in.LogGroupName = aws.String("g")
		}
		if in.LogStreamName == nil {
			in.LogStreamName = aws.String("s")
		}
		out, err := e.cw.GetLogEvents(ctx(t), in)
		if err != nil {
			t.Fatalf("GetLogEvents: %v", err)
		}
		return out
	}
	msgs := func(out *cloudwatchlogs.GetLogEventsOutput) []string {
		var m []string
		for _, x := range out.Events {
			m = append(m, aws.ToString(x.Message))
		}
		return m
	}
	t.Run("tail by default", func(t *testing.T) {
		if got := msgs(get(&cloudwatchlogs.GetLogEventsInput{Limit: aws.Int32(3)})); !slices.Equal(got, []string{"m7", "m8", "m9"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("forward paging until the token repeats", func(t *testing.T) {
		var all []string
		in := &cloudwatchlogs.GetLogEventsInput{StartFromHead: aws.Bool(true), Limit: aws.Int32(4)}
		for range 10 {
			out := get(in)
			all = append(all, msgs(out)...)
			if in.NextToken != nil && aws.ToString(out.NextForwardToken) == aws.ToString(in.NextToken) {
				break
			}
			in.NextToken = out.NextForwardToken
		}
		if want := []string{"m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"}; !slices.Equal(all, want) {
			t.Fatalf("got %v", all)
		}
	})
	t.Run("backward token", func(t *testing.T) {
		out := get(&cloudwatchlogs.GetLogEventsInput{Limit: aws.Int32(3)})
		back := get(&cloudwatchlogs.GetLogEventsInput{NextToken: out.NextBackwardToken, Limit: aws.Int32(3)})
		if got := msgs(back); !slices.Equal(got, []string{"m4", "m5", "m6"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("start inclusive, end exclusive", func(t *testing.T) {
		out := get(&cloudwatchlogs.GetLogEventsInput{StartTime: aws.Int64(ms(t0.Add(2 * time.Second))), EndTime: aws.Int64(ms(t0.Add(5 * time.Second))), StartFromHead: aws.Bool(true)})
		if got := msgs(out); !slices.Equal(got, []string{"m2", "m3", "m4"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("empty stream", func(t *testing.T) {
		out := get(&cloudwatchlogs.GetLogEventsInput{LogStreamName: aws.String("empty")})
		if len(out.Events) != 0 || !strings.HasPrefix(aws.ToString(out.NextForwardToken), "f/") || !strings.HasPrefix(aws.ToString(out.NextBackwardToken), "b/") {
			t.Fatalf("out = %+v", out)
		}
	})
	errs := []struct {
		name      string
		in        *cloudwatchlogs.GetLogEventsInput
		code, msg string
	}{
		{"missing stream", &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("g"), LogStreamName: aws.String("nope")}, "ResourceNotFoundException", "The specified log stream does not exist."},
		{"bad token", &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("g"), LogStreamName: aws.String("s"), NextToken: aws.String("f/123/s")}, "InvalidParameterException", "The specified nextToken is invalid."},
		{"limit", &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("g"), LogStreamName: aws.String("s"), Limit: aws.Int32(10001)}, "InvalidParameterException", "1 validation error detected: Value '10001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000"},
	}
	for _, c := range errs {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.cw.GetLogEvents(ctx(t), c.in)
			emutest.WantError(t, err, c.code, c.msg)
		})
	}
}

// seedUsage writes what a rotation's usage check searches: two consumer
// streams logging key fingerprints over time.
func seedUsage(t *testing.T, e *env) {
	t.Helper()
	e.group(t, "/app/api", "web-1", "web-2", "worker")
	e.put(t, "/app/api", "web-1",
		ev{t0.Add(-50 * time.Minute), "auth ok key=SK_OLD_1234 user=1"},
		ev{t0.Add(-20 * time.Minute), "auth ok key=SK_NEW_9876 user=2"},
		ev{t0.Add(-5 * time.Minute), "ERROR upstream timeout"},
	)
	e.put(t, "/app/api", "web-2",
		ev{t0.Add(-40 * time.Minute), "auth ok key=SK_OLD_1234 user=3"},
		ev{t0.Add(-10 * time.Minute), "WARN slow key=SK_NEW_9876"},
	)
	e.put(t, "/app/api", "worker",
		ev{t0.Add(-30 * time.Minute), "ERROR Exiting with ERRORCODE: -1"},
		ev{t0.Add(-1 * time.Minute), "auth ok key=SK_NEW_9876 job=7"},
	)
}

func TestFilterLogEventsPatternsAndRanges(t *testing.T) {
	e := start(t)
	seedUsage(t, e)
	from := ms(t0.Add(-45 * time.Minute))
	cases := []struct {
		name string
		in   cloudwatchlogs.FilterLogEventsInput
		want []string
	}{
		{"no pattern: everything, interleaved by time", cloudwatchlogs.FilterLogEventsInput{}, []string{
			"auth ok key=SK_OLD_1234 user=1", "auth ok key=SK_OLD_1234 user=3", "ERROR Exiting with ERRORCODE: -1",
			"auth ok key=SK_NEW_9876 user=2", "WARN slow key=SK_NEW_9876", "ERROR upstream timeout", "auth ok key=SK_NEW_9876 job=7"}},
		{"quoted prefix, as the runbook runs it", cloudwatchlogs.FilterLogEventsInput{FilterPattern: aws.String(`"SK_OLD_"`)}, []string{
			"auth ok key=SK_OLD_1234 user=1", "auth ok key=SK_OLD_1234 user=3"}},
		{"quoted prefix from a start time", cloudwatchlogs.FilterLogEventsInput{FilterPattern: aws.String(`"SK_OLD_"`), StartTime: aws.Int64(from)}, []string{
			"auth ok key=SK_OLD_1234 user=3"}},
		{"start and end are inclusive", cloudwatchlogs.FilterLogEventsInput{StartTime: aws.Int64(ms(t0.Add(-40 * time.Minute))), EndTime: aws.Int64(ms(t0.Add(-20 * time.Minute)))}, []string{
			"auth ok key=SK_OLD_1234 user=3", "ERROR Exiting with ERRORCODE: -1", "auth ok key=SK_NEW_9876 user=2"}},
		{"bare term is a case-sensitive substring", cloudwatchlogs.FilterLogEventsInput{FilterPattern: aws.String("ERROR")}, []string{
			"ERROR Exiting with ERRORCODE: -1", "ERROR upstream timeout"}},
		{"lower case does not match", cloudwatchlogs.FilterLogEventsInput{FilterPattern: aws.String("error")}, nil},
		{"all terms must occur", cloudwatchlogs.FilterLogEventsInput{FilterPattern: aws.String("auth user")}, []string{
			"auth ok key=SK_OLD_1234 user=1", "auth ok key=SK_OLD_1234 user=3", "auth ok key=SK_NEW_9876 user=2"}},
		{"exclusion", cloudwatchlogs.FilterLogEventsInput{FilterPattern: aws.String("ERROR -Exiting")}, []string{"ERROR upstream timeout"}},
		{"or terms", cloudwatchlogs.FilterLogEventsInput{FilterPattern: aws.String("?WARN ?timeout")}, []string{"WARN slow key=SK_NEW_9876", "ERROR upstream timeout"}},
		{"exact phrase", cloudwatchlogs.FilterLogEventsInput{FilterPattern: aws.String(`"upstream timeout"`)}, []string{"ERROR upstream timeout"}},
		{"phrase order matters", cloudwatchlogs.FilterLogEventsInput{FilterPattern: aws.String(`"timeout upstream"`)}, nil},
		{"regex", cloudwatchlogs.FilterLogEventsInput{FilterPattern: aws.String(`%SK_[A-Z]+_9876 job%`)}, []string{"auth ok key=SK_NEW_9876 job=7"}},
		{"stream names", cloudwatchlogs.FilterLogEventsInput{FilterPattern: aws.String(`"SK_NEW_"`), LogStreamNames: []string{"web-2", "worker", "no-such-stream"}}, []string{
			"WARN slow key=SK_NEW_9876", "auth ok key=SK_NEW_9876 job=7"}},
		{"stream prefix", cloudwatchlogs.FilterLogEventsInput{FilterPattern: aws.String(`"SK_NEW_"`), LogStreamNamePrefix: aws.String("web")}, []string{
			"auth ok key=SK_NEW_9876 user=2", "WARN slow key=SK_NEW_9876"}},
		{"group ARN", cloudwatchlogs.FilterLogEventsInput{LogGroupName: nil, LogGroupIdentifier: aws.String("arn:aws:logs:us-east-1:123456789012:log-group:/app/api"), FilterPattern: aws.String("job")}, []string{
			"auth ok key=SK_NEW_9876 job=7"}},
		{"newest first", cloudwatchlogs.FilterLogEventsInput{FilterPattern: aws.String(`"SK_"`), StartFromHead: aws.Bool(false), StartTime: aws.Int64(ms(t0.Add(-time.Hour)))}, []string{
			"auth ok key=SK_NEW_9876 job=7", "WARN slow key=SK_NEW_9876", "auth ok key=SK_NEW_9876 user=2", "auth ok key=SK_OLD_1234 user=3", "auth ok key=SK_OLD_1234 user=1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.in
			if in.LogGroupIdentifier == nil {
				in.LogGroupName = aws.String("/app/api")
			}
			if got := e.filterAll(t, &in); !slices.Equal(got, c.want) {
				t.Fatalf("got %q\nwant %q", got, c.want)
			}
		})
	}
	t.Run("event fields", func(t *testing.T) {
		out, err := e.cw.FilterLogEvents(ctx(t), &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/app/api"), FilterPattern: aws.String("job")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Events) != 1 || out.SearchedLogStreams == nil || len(out.SearchedLogStreams) != 0 || out.NextToken != nil {
			t.Fatalf("out = %+v", out)
		}
		x := out.Events[0]
		if aws.ToString(x.LogStreamName) != "worker" || aws.ToInt64(x.Timestamp) != ms(t0.Add(-time.Minute)) ||
			aws.ToInt64(x.IngestionTime) != ms(t0) || len(aws.ToString(x.EventId)) != 56 {
			t.Fatalf("event = %+v", x)
		}
	})
}

func TestFilterLogEventsRefusals(t *testing.T) {
	e := start(t)
	seedUsage(t, e)
	cases := []struct {
		name      string
		in        *cloudwatchlogs.FilterLogEventsInput
		code, msg string
	}{
		{"missing group", &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/nope")}, "ResourceNotFoundException", "The specified log group does not exist."},
		{"no group at all", &cloudwatchlogs.FilterLogEventsInput{}, "InvalidParameterException", ""},
		{"name and identifier", &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/app/api"), LogGroupIdentifier: aws.String("/app/api")}, "ValidationException", "LogGroup name and LogGroup ARN are mutually exclusive parameters."},
		{"names and prefix", &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/app/api"), LogStreamNames: []string{"a"}, LogStreamNamePrefix: aws.String("a")}, "InvalidParameterException", ""},
		{"unterminated quote", &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/app/api"), FilterPattern: aws.String(`"SK_OLD_`)}, "InvalidParameterException", `Invalid filter pattern: the quoted term is not closed; add a closing " (at character 1)`},
		{"unquoted punctuation", &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/app/api"), FilterPattern: aws.String(`key=SK_OLD_`)}, "InvalidParameterException", ""},
		{"JSON pattern", &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/app/api"), FilterPattern: aws.String(`{ $.level = "ERROR" }`)}, "InvalidParameterException", ""},
		{"unbalanced JSON pattern", &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/app/api"), FilterPattern: aws.String(`{ $.level = "ERROR"`)}, "InvalidParameterException", "If a filter pattern starts with '{' it must end with '}'"},
		{"pattern too long", &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/app/api"), FilterPattern: aws.String(strings.Repeat("a", 1025))}, "InvalidParameterException", ""},
		{"limit", &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/app/api"), Limit: aws.Int32(10001)}, "InvalidParameterException", "1 validation error detected: Value '10001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000"},
		{"unknown token", &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/app/api"), NextToken: aws.String("not-a-token")}, "InvalidParameterException", "The specified nextToken is invalid."},
		{"start after end", &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/app/api"), StartTime: aws.Int64(2), EndTime: aws.Int64(1)}, "InvalidParameterException", ""},
		{"newest first before 2024", &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/app/api"), StartFromHead: aws.Bool(false), StartTime: aws.Int64(1)}, "InvalidParameterException", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.cw.FilterLogEvents(ctx(t), c.in)
			emutest.WantError(t, err, c.code, c.msg)
		})
	}
}

func TestFilterLogEventsPagination(t *testing.T) {
	e := start(t)
	e.group(t, "g", "a", "b", "c")
	// 3 streams × 40 events, several sharing a timestamp: ties are broken
	// by ingestion, then arrival.
	var want []string
	for i := range 40 {
		at := t0.Add(-time.Hour + time.Duration(i/2)*time.Second)
		for _, s := range []string{"a", "b", "c"} {
			msg := fmt.Sprintf("%s-%02d key=K", s, i)
			e.put(t, "g", s, ev{at, msg})
			want = append(want, msg)
		}
	}
	for _, limit := range []int32{1, 7, 50, 10000} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			got := e.filterAll(t, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("g"), Limit: aws.Int32(limit), FilterPattern: aws.String("K")})
			if !slices.Equal(got, want) {
				t.Fatalf("paged with limit %d: %d events, first %v", limit, len(got), got[:min(5, len(got))])
			}
		})
	}
	t.Run("no token on an exactly full last page", func(t *testing.T) {
		out, err := e.cw.FilterLogEvents(ctx(t), &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("g"), Limit: aws.Int32(120)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Events) != 120 || out.NextToken != nil {
			t.Fatalf("events %d, token %v", len(out.Events), out.NextToken)
		}
	})
	t.Run("pages stay stable while events arrive", func(t *testing.T) {
		in := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("g"), Limit: aws.Int32(10)}
		first, err := e.cw.FilterLogEvents(ctx(t), in)
		if err != nil {
			t.Fatal(err)
		}
		// An event older than the page boundary and one newer arrive.
		e.put(t, "g", "a", ev{t0.Add(-2 * time.Hour), "late-old"})
		e.put(t, "g", "b", ev{t0.Add(-time.Minute), "late-new"})
		got := msgsOf(first.Events)
		in.NextToken = first.NextToken
		for in.NextToken != nil {
			page, err := e.cw.FilterLogEvents(ctx(t), in)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, msgsOf(page.Events)...)
			in.NextToken = page.NextToken
		}
		wantNow := append(slices.Clone(want), "late-new")
		if !slices.Equal(got, wantNow) {
			t.Fatalf("got %d events (last %q), want %d", len(got), got[len(got)-1], len(wantNow))
		}
	})
}

func msgsOf(evs []types.FilteredLogEvent) []string {
	var m []string
	for _, x := range evs {
		m = append(m, aws.ToString(x.Message))
	}
	return m
}

// TestConcurrentWritersAndReaders hammers one group from many goroutines
// (run with -race): every accepted event is stored exactly once, in order.
func TestConcurrentWritersAndReaders(t *testing.T) {
	e := start(t)
	const writers, batches, perBatch = 8, 10, 20
	streams := make([]string, writers)
	for i := range streams {
		streams[i] = fmt.Sprintf("w%d", i)
	}
	e.group(t, "g", streams...)
	var wg sync.WaitGroup
	errs := make(chan error, writers*batches+4)
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				var evs []ev
				for i := range perBatch {
					evs = append(evs, ev{t0.Add(-time.Duration(b*perBatch+i) * time.Millisecond), fmt.Sprintf("w%d-b%d-%d", w, b, i)})
				}
				slices.Reverse(evs) // chronological within the batch; batches go back in time
				if _, err := e.cw.PutLogEvents(ctx(t), putInput("g", streams[w], evs...)); err != nil {
					errs <- err
				}
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 5 {
				if _, err := e.cw.FilterLogEvents(ctx(t), &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("g"), FilterPattern: aws.String("b1")}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all := e.svc.Events("g")
	if len(all) != writers*batches*perBatch {
		t.Fatalf("stored %d events, want %d", len(all), writers*batches*perBatch)
	}
	seen := map[string]bool{}
	for i, x := range all {
		if seen[x.Message] {
			t.Fatalf("duplicate %q", x.Message)
		}
		seen[x.Message] = true
		if i > 0 && x.Timestamp.Before(all[i-1].Timestamp) {
			t.Fatalf("events out of order at %d", i)
		}
	}
	got := e.filterAll(t, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("g"), Limit: aws.Int32(333)})
	if len(got) != len(all) {
		t.Fatalf("FilterLogEvents returned %d of %d", len(got), len(all))
	}
}

func TestPutFixture(t *testing.T) {
	e := start(t)
	e.svc.Put("/seeded", "s", t0.Add(-30*24*time.Hour), "ancient SK_OLD_1")
	e.svc.Put("/seeded", "s", t0.Add(-time.Hour), "recent SK_OLD_1")
	got := e.filterAll(t, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/seeded"), FilterPattern: aws.String(`"SK_OLD_"`), StartTime: aws.Int64(ms(t0.Add(-7 * 24 * time.Hour)))})
	if !slices.Equal(got, []string{"recent SK_OLD_1"}) {
		t.Fatalf("got %v", got)
	}
	evs := e.svc.Events("/seeded")
	if len(evs) != 2 || evs[0].Message != "ancient SK_OLD_1" || evs[0].Stream != "s" || !evs[1].Timestamp.Equal(t0.Add(-time.Hour)) {
		t.Fatalf("Events = %+v", evs)
	}
	if e.svc.Events("/none") != nil {
		t.Fatal("Events of a missing group is not nil")
	}
}
