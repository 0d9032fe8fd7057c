package logsemu_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/dualkey/dualkey/emulator/internal/emutest"
)

func TestCreateLogGroupErrors(t *testing.T) {
	e := start(t)
	e.group(t, "/dualkey/app")
	cases := []struct {
		name      string
		in        *cloudwatchlogs.CreateLogGroupInput
		code, msg string
	}{
		{"duplicate", &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/dualkey/app")}, "ResourceAlreadyExistsException", "The specified log group already exists"},
		{"too long", &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(strings.Repeat("a", 513))}, "InvalidParameterException", "Invalid LogGroup or LogStream, both must have length less than or equal to 512."},
		{"bad character", &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("a b")}, "InvalidParameterException", `1 validation error detected: Value 'a b' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+`},
		{"reserved prefix", &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("AWS/mine")}, "InvalidParameterException", "Log groups starting with AWS/ are reserved for AWS."},
		{"bad class", &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("x"), LogGroupClass: "COLD"}, "InvalidParameterException", ""},
		{"too many tags", &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("x"), Tags: manyTags(51)}, "InvalidParameterException", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.cw.CreateLogGroup(ctx(t), c.in)
			emutest.WantError(t, err, c.code, c.msg)
		})
	}
	// Nothing was created by the refused calls.
	out, err := e.cw.DescribeLogGroups(ctx(t), &cloudwatchlogs.DescribeLogGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.LogGroups) != 1 {
		t.Fatalf("groups after refused creations: %d, want 1", len(out.LogGroups))
	}
}

func manyTags(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[strings.Repeat("k", i+1)] = "v"
	}
	return m
}

func TestDescribeLogGroups(t *testing.T) {
	e := start(t)
	for _, n := range []string{"/app/b", "/app/a", "/app/c", "/other/x", "/app/d"} {
		e.group(t, n)
	}
	e.group2(t, "/app/a", "s")
	e.put(t, "/app/a", "s", ev{t0, "12345"})
	t.Run("shape", func(t *testing.T) {
		out, err := e.cw.DescribeLogGroups(ctx(t), &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/app/a")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.LogGroups) != 1 {
			t.Fatalf("groups: %d", len(out.LogGroups))
		}
		g := out.LogGroups[0]
		if aws.ToString(g.Arn) != "arn:aws:logs:us-east-1:123456789012:log-group:/app/a:*" ||
			aws.ToString(g.LogGroupArn) != "arn:aws:logs:us-east-1:123456789012:log-group:/app/a" ||
			aws.ToInt64(g.CreationTime) != ms(t0) || g.LogGroupClass != types.LogGroupClassStandard ||
			aws.ToInt64(g.StoredBytes) != 5 {
			t.Fatalf("group = %+v", g)
		}
	})
	t.Run("prefix pages in name order", func(t *testing.T) {
		var names []string
		p := cloudwatchlogs.NewDescribeLogGroupsPaginator(e.cw, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/app/"), Limit: aws.Int32(2)})
		pages := 0
		for p.HasMorePages() {
			out, err := p.NextPage(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if pages == 1 {
				e.group(t, "/app/aa") // sorts before the page boundary: not repeated, not returned
				e.group(t, "/app/e")  // after it: returned
			}
			for _, g := range out.LogGroups {
				names = append(names, aws.ToString(g.LogGroupName))
			}
		}
		want := []string{"/app/a", "/app/b", "/app/c", "/app/d", "/app/e"}
		if !slices.Equal(names, want) || pages != 3 {
			t.Fatalf("names = %v in %d pages, want %v in 3", names, pages, want)
		}
	})
	t.Run("pattern is a case-sensitive substring", func(t *testing.T) {
		out, err := e.cw.DescribeLogGroups(ctx(t), &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePattern: aws.String("her")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.LogGroups) != 1 || aws.ToString(out.LogGroups[0].LogGroupName) != "/other/x" {
			t.Fatalf("pattern result: %+v", out.LogGroups)
		}
	})
	errs := []struct {
		name      string
		in        *cloudwatchlogs.DescribeLogGroupsInput
		code, msg string
	}{
		{"prefix and pattern", &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("a"), LogGroupNamePattern: aws.String("b")}, "InvalidParameterException", "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."},
		{"limit", &cloudwatchlogs.DescribeLogGroupsInput{Limit: aws.Int32(51)}, "InvalidParameterException", "1 validation error detected: Value '51' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 50"},
		{"token", &cloudwatchlogs.DescribeLogGroupsInput{NextToken: aws.String("@@not-a-token")}, "InvalidParameterException", "The specified nextToken is invalid."},
	}
	for _, c := range errs {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.cw.DescribeLogGroups(ctx(t), c.in)
			emutest.WantError(t, err, c.code, c.msg)
		})
	}
}

func TestDeleteLogGroup(t *testing.T) {
	e := start(t)
	e.group(t, "g", "s")
	e.put(t, "g", "s", ev{t0, "hello"})
	if _, err := e.cw.DeleteLogGroup(ctx(t), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String("g")}); err != nil {
		t.Fatal(err)
	}
	_, err := e.cw.DeleteLogGroup(ctx(t), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String("g")})
	emutest.WantError(t, err, "ResourceNotFoundException", "The specified log group does not exist.")
	_, err = e.cw.FilterLogEvents(ctx(t), &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("g")})
	emutest.WantError(t, err, "ResourceNotFoundException", "The specified log group does not exist.")
	// A recreated group starts empty.
	e.group(t, "g", "s")
	if got := e.filterAll(t, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("g")}); len(got) != 0 {
		t.Fatalf("recreated group holds %v", got)
	}

	e.svc.ResetCalls()
	if _, err := e.cw.CreateLogGroup(ctx(t), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("kept"), DeletionProtectionEnabled: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	_, err = e.cw.DeleteLogGroup(ctx(t), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String("kept")})
	emutest.WantError(t, err, "ValidationException", "")
	if calls := e.svc.Calls(); calls["CreateLogGroup"] != 1 || calls["DeleteLogGroup"] != 1 {
		t.Fatalf("calls = %v", calls)
	}
}

func TestLogStreams(t *testing.T) {
	e := start(t)
	e.group(t, "g", "b", "a", "c")
	e.put(t, "g", "c", ev{t0.Add(-3 * time.Second), "old"})
	e.put(t, "g", "a", ev{t0.Add(-time.Second), "new"})

	t.Run("errors", func(t *testing.T) {
		cases := []struct {
			name      string
			in        *cloudwatchlogs.CreateLogStreamInput
			code, msg string
		}{
			{"duplicate", &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("g"), LogStreamName: aws.String("a")}, "ResourceAlreadyExistsException", "The specified log stream already exists"},
			{"missing group", &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("nope"), LogStreamName: aws.String("a")}, "ResourceNotFoundException", "The specified log group does not exist."},
			{"colon", &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("g"), LogStreamName: aws.String("a:b")}, "InvalidParameterException", "1 validation error detected: Value 'a:b' at 'logStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				_, err := e.cw.CreateLogStream(ctx(t), c.in)
				emutest.WantError(t, err, c.code, c.msg)
			})
		}
	})
	names := func(out *cloudwatchlogs.DescribeLogStreamsOutput) []string {
		var n []string
		for _, s := range out.LogStreams {
			n = append(n, aws.ToString(s.LogStreamName))
		}
		return n
	}
	orders := []struct {
		name string
		in   *cloudwatchlogs.DescribeLogStreamsInput
		want []string
	}{
		{"by name", &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("g")}, []string{"a", "b", "c"}},
		{"by name descending", &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("g"), Descending: aws.Bool(true)}, []string{"c", "b", "a"}},
		{"by last event, newest first", &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("g"), OrderBy: types.OrderByLastEventTime, Descending: aws.Bool(true)}, []string{"a", "c", "b"}},
		{"prefix", &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("g"), LogStreamNamePrefix: aws.String("b")}, []string{"b"}},
		{"group ARN", &cloudwatchlogs.DescribeLogStreamsInput{LogGroupIdentifier: aws.String("arn:aws:logs:us-east-1:123456789012:log-group:g")}, []string{"a", "b", "c"}},
		{"group name as identifier", &cloudwatchlogs.DescribeLogStreamsInput{LogGroupIdentifier: aws.String("g")}, []string{"a", "b", "c"}},
	}
	for _, c := range orders {
		t.Run(c.name, func(t *testing.T) {
			out, err := e.cw.DescribeLogStreams(ctx(t), c.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(out); !slices.Equal(got, c.want) {
				t.Fatalf("streams = %v, want %v", got, c.want)
			}
		})
	}
	t.Run("paginated by last event time", func(t *testing.T) {
		var got []string
		p := cloudwatchlogs.NewDescribeLogStreamsPaginator(e.cw, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("g"), OrderBy: types.OrderByLastEventTime, Limit: aws.Int32(1)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, names(out)...)
		}
		if want := []string{"b", "c", "a"}; !slices.Equal(got, want) {
			t.Fatalf("streams = %v, want %v", got, want)
		}
	})
	t.Run("stream fields", func(t *testing.T) {
		out, err := e.cw.DescribeLogStreams(ctx(t), &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("g"), LogStreamNamePrefix: aws.String("a")})
		if err != nil {
			t.Fatal(err)
		}
		s := out.LogStreams[0]
		if aws.ToString(s.Arn) != "arn:aws:logs:us-east-1:123456789012:log-group:g:log-stream:a" ||
			aws.ToInt64(s.FirstEventTimestamp) != ms(t0)-1000 || aws.ToInt64(s.LastEventTimestamp) != ms(t0)-1000 ||
			aws.ToInt64(s.LastIngestionTime) != ms(t0) || len(aws.ToString(s.UploadSequenceToken)) != 56 {
			t.Fatalf("stream = %+v", s)
		}
	})
	errs := []struct {
		name      string
		in        *cloudwatchlogs.DescribeLogStreamsInput
		code, msg string
	}{
		{"name and ARN", &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("g"), LogGroupIdentifier: aws.String("g")}, "ValidationException", "LogGroup name and LogGroup ARN are mutually exclusive parameters."},
		{"last event time with prefix", &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("g"), OrderBy: types.OrderByLastEventTime, LogStreamNamePrefix: aws.String("a")}, "InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix."},
		{"missing group", &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("nope")}, "ResourceNotFoundException", "The specified log group does not exist."},
		{"ARN of another account", &cloudwatchlogs.DescribeLogStreamsInput{LogGroupIdentifier: aws.String("arn:aws:logs:us-east-1:999999999999:log-group:g")}, "ResourceNotFoundException", "The specified log group does not exist."},
	}
	for _, c := range errs {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.cw.DescribeLogStreams(ctx(t), c.in)
			emutest.WantError(t, err, c.code, c.msg)
		})
	}
	t.Run("delete", func(t *testing.T) {
		if _, err := e.cw.DeleteLogStream(ctx(t), &cloudwatchlogs.DeleteLogStreamInput{LogGroupName: aws.String("g"), LogStreamName: aws.String("a")}); err != nil {
			t.Fatal(err)
		}
		_, err := e.cw.DeleteLogStream(ctx(t), &cloudwatchlogs.DeleteLogStreamInput{LogGroupName: aws.String("g"), LogStreamName: aws.String("a")})
		emutest.WantError(t, err, "ResourceNotFoundException", "The specified log stream does not exist.")
	})
}
