// Package usagelogs is dualkey's usage evidence from CloudWatch Logs, for
// any provider: consumers log the usage fingerprint of the credential they
// call with (shared/fingerprint: "dualkey_fp=dkfp_…"), a secret names the
// log groups they log to (tag dualkey:usage-logs=GROUP[,GROUP…]), and the
// retire run asks CloudWatch Logs, for the quiet period:
//
//   - the old credential's fingerprint in any group ⇒ still in use: the
//     lifecycle holds retirement (OldCredentialInUse), naming the group and
//     the last time;
//   - the new credential's fingerprint in every group ⇒ positive evidence
//     that the consumers switched, shown by dualkey status and
//     retire --dry-run.
//
// Each question is one FilterLogEvents call per group in the usual case
// (newest event first, limit 1), following pagination through the empty
// pages CloudWatch Logs may return, with a bound on the calls. A group that
// does not exist, or cannot be read, is an error that names the group and
// the fix, never "unused".
//
// Nothing secret is sent or returned: requests carry fingerprints only, and
// evidence and errors hold group names, fingerprints and times.
package usagelogs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/smithy-go"

	"github.com/dualkey/dualkey/shared/fingerprint"
)

// LogsAPI is the subset of *cloudwatchlogs.Client the Reporter uses.
type LogsAPI interface {
	// FilterLogEvents returns one page of the events of a log group that
	// match a filter pattern in a time range (both ends inclusive). A page
	// may be empty while NextToken says more may follow; no NextToken means
	// the search is complete. With StartFromHead false the newest events
	// come first (for a StartTime on or after 2024-01-01).
	FilterLogEvents(ctx context.Context, in *cloudwatchlogs.FilterLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error)
}

var _ LogsAPI = (*cloudwatchlogs.Client)(nil)

// DefaultMaxCalls bounds the FilterLogEvents calls of one search (one
// fingerprint in one group).
const DefaultMaxCalls = 20

// newestFirstFrom is the earliest StartTime CloudWatch Logs accepts with
// StartFromHead=false.
var newestFirstFrom = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Errors (wrapped; the message names the group and the fix).
var (
	// ErrGroupNotFound: a log group the tag names does not exist.
	ErrGroupNotFound = errors.New("log group not found")
	// ErrAccessDenied: the caller may not read a log group.
	ErrAccessDenied = errors.New("not allowed to read log group")
	// ErrIncomplete: a search did not finish within Config.MaxCalls.
	ErrIncomplete = errors.New("log search incomplete")
	// ErrBadRequest: the request itself is unusable (no groups, a
	// malformed fingerprint, an empty time range).
	ErrBadRequest = errors.New("invalid usage-logs request")
)

// Config configures a Reporter.
type Config struct {
	// Logs is the CloudWatch Logs client (required).
	Logs LogsAPI
	// MaxCalls bounds the FilterLogEvents calls of one search;
	// DefaultMaxCalls when zero.
	MaxCalls int
}

// Reporter searches CloudWatch Logs for usage fingerprints. It is safe for
// concurrent use.
type Reporter struct {
	logs     LogsAPI
	maxCalls int
}

// New returns a Reporter.
func New(cfg Config) (*Reporter, error) {
	if cfg.Logs == nil {
		return nil, errors.New("usagelogs: config has no CloudWatch Logs client")
	}
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = DefaultMaxCalls
	}
	return &Reporter{logs: cfg.Logs, maxCalls: cfg.MaxCalls}, nil
}

// Request asks for the evidence of one old and one new credential.
type Request struct {
	// Secret names the secret in messages (the fix commands); optional.
	Secret string
	// Groups are log group names or ARNs (ParseGroups).
	Groups []string
	// Old and New are usage fingerprints (fingerprint.Of); New may be empty
	// when only the old credential is asked about.
	Old, New string
	// Since and Until bound the search (both inclusive): usually now minus
	// the quiet period, and now.
	Since, Until time.Time
}

// GroupEvidence is what one log group shows.
type GroupEvidence struct {
	Group string
	// OldLast is the newest event with the old fingerprint in the range;
	// zero when there is none.
	OldLast time.Time
	// NewLast is the newest event with the new fingerprint in the range;
	// zero when there is none (or the request had no New).
	NewLast time.Time
	// Calls is the number of FilterLogEvents calls made for the group.
	Calls int
}

// Evidence is the outcome of Check.
type Evidence struct {
	Old, New     string
	Since, Until time.Time
	Groups       []GroupEvidence
}

// Check searches every group of req for the old and the new fingerprint
// and returns what each shows. It fails, naming the group and the fix, when
// a group does not exist or cannot be read, or when a search does not
// finish within the call bound: an unanswered question is never counted as
// "unused".
func (r *Reporter) Check(ctx context.Context, req Request) (*Evidence, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	ev := &Evidence{Old: req.Old, New: req.New, Since: req.Since, Until: req.Until}
	for _, g := range req.Groups {
		ge := GroupEvidence{Group: g}
		last, calls, err := r.newest(ctx, req, g, req.Old)
		ge.Calls += calls
		if err != nil {
			return nil, err
		}
		ge.OldLast = last
		if req.New != "" {
			last, calls, err := r.newest(ctx, req, g, req.New)
			ge.Calls += calls
			if err != nil {
				return nil, err
			}
			ge.NewLast = last
		}
		ev.Groups = append(ev.Groups, ge)
	}
	return ev, nil
}

func (req *Request) check() error {
	switch {
	case len(req.Groups) == 0:
		return fmt.Errorf("%w: no log groups to search (tag %s)", ErrBadRequest, Tag)
	case len(req.Groups) > MaxGroups:
		return fmt.Errorf("%w: %d log groups; at most %d are searched (tag %s)", ErrBadRequest, len(req.Groups), MaxGroups, Tag)
	case !fingerprint.Valid(req.Old):
		// Never echoed: a caller may have passed the credential itself.
		return fmt.Errorf("%w: the old credential's usage fingerprint (%d characters) is not a dkfp_ fingerprint (fingerprint.Of)", ErrBadRequest, len(req.Old))
	case req.New != "" && !fingerprint.Valid(req.New):
		return fmt.Errorf("%w: the new credential's usage fingerprint (%d characters) is not a dkfp_ fingerprint (fingerprint.Of)", ErrBadRequest, len(req.New))
	case req.New == req.Old:
		return fmt.Errorf("%w: the old and the new credential have the same usage fingerprint %s, so their use cannot be told apart", ErrBadRequest, req.Old)
	case req.Until.Before(req.Since):
		return fmt.Errorf("%w: the search ends (%s) before it starts (%s)", ErrBadRequest, stamp(req.Until), stamp(req.Since))
	case req.Since.Before(newestFirstFrom):
		return fmt.Errorf("%w: the search starts %s, before 2024-01-01, the earliest time CloudWatch Logs returns newest events first for; check the clock", ErrBadRequest, stamp(req.Since))
	}
	for _, g := range req.Groups {
		if err := checkGroup(g); err != nil {
			return fmt.Errorf("%w: %w (tag %s)", ErrBadRequest, err, Tag)
		}
	}
	return nil
}

// newest returns the time of the newest event with fp in group within the
// request's range (zero when none) and the calls it took.
func (r *Reporter) newest(ctx context.Context, req Request, group, fp string) (time.Time, int, error) {
	in := &cloudwatchlogs.FilterLogEventsInput{
		FilterPattern: aws.String(fingerprint.FilterPattern(fp)),
		StartTime:     aws.Int64(req.Since.UnixMilli()),
		EndTime:       aws.Int64(req.Until.UnixMilli()),
		StartFromHead: aws.Bool(false),
		Limit:         aws.Int32(1),
	}
	if strings.HasPrefix(group, "arn:") {
		in.LogGroupIdentifier = aws.String(group)
	} else {
		in.LogGroupName = aws.String(group)
	}
	for calls := 1; ; calls++ {
		out, err := r.logs.FilterLogEvents(ctx, in)
		if err != nil {
			return time.Time{}, calls, groupErr(req, group, err)
		}
		for _, e := range out.Events {
			// Newest first: the first event is the answer.
			if e.Timestamp != nil {
				return time.UnixMilli(*e.Timestamp).UTC(), calls, nil
			}
		}
		if out.NextToken == nil {
			return time.Time{}, calls, nil
		}
		if calls >= r.maxCalls {
			return time.Time{}, calls, fmt.Errorf("%w: searching log group %s for %s did not finish within %d FilterLogEvents calls (CloudWatch Logs kept answering with empty pages); "+
				"nothing is concluded from it and the next run searches again; if it persists, name smaller log groups in tag %s",
				ErrIncomplete, group, fp, calls, Tag)
		}
		in.NextToken = out.NextToken
	}
}

// groupErr explains a failed FilterLogEvents call.
func groupErr(req Request, group string, err error) error {
	secret := req.Secret
	if secret == "" {
		secret = "SECRET"
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ResourceNotFoundException":
			return fmt.Errorf("%w: log group %s (tag %s) does not exist in this account and region, so it shows nothing about the credential's use "+
				"(dualkey never counts a missing group as unused): correct the tag with aws secretsmanager tag-resource --secret-id %s --tags Key=%s,Value=GROUP,GROUP, or create the group",
				ErrGroupNotFound, group, Tag, secret, Tag)
		case "AccessDeniedException", "AccessDenied", "UnauthorizedOperation":
			return fmt.Errorf("%w: the function may not read log group %s (tag %s): grant logs:FilterLogEvents on arn:aws:logs:REGION:ACCOUNT:log-group:%s:* to its role: add that ARN (or a wildcard covering it) to the template's UsageLogGroupArns parameter: %w",
				ErrAccessDenied, group, Tag, strings.TrimPrefix(group, "arn:"), err)
		}
	}
	return fmt.Errorf("search log group %s (tag %s): %w", group, Tag, err)
}

// InUse reports whether the old fingerprint was logged in any group.
func (e *Evidence) InUse() bool {
	last, _ := e.LastUsed()
	return !last.IsZero()
}

// LastUsed returns the newest event with the old fingerprint across the
// groups and its group; zero and "" when there is none.
func (e *Evidence) LastUsed() (time.Time, string) {
	var last time.Time
	group := ""
	for _, g := range e.Groups {
		if g.OldLast.After(last) {
			last, group = g.OldLast, g.Group
		}
	}
	return last, group
}

// Switched reports positive evidence that consumers switched: the new
// fingerprint was logged in every group (and the old one in none).
func (e *Evidence) Switched() bool {
	return e.New != "" && len(e.Groups) > 0 && len(e.Silent()) == 0 && !e.InUse()
}

// Silent returns the groups where the new fingerprint was not logged.
func (e *Evidence) Silent() []string {
	var out []string
	for _, g := range e.Groups {
		if g.NewLast.IsZero() {
			out = append(out, g.Group)
		}
	}
	return out
}

// Calls returns the FilterLogEvents calls the evidence took.
func (e *Evidence) Calls() int {
	n := 0
	for _, g := range e.Groups {
		n += g.Calls
	}
	return n
}

// Detail describes the evidence in one line, without secrets: the group
// and time of the last use of the old credential first (it becomes the
// state note, a tag value cut at 255 characters), then the positive
// evidence.
func (e *Evidence) Detail() string {
	var b strings.Builder
	names := make([]string, len(e.Groups))
	for i, g := range e.Groups {
		names[i] = g.Group
	}
	if last, group := e.LastUsed(); !last.IsZero() {
		fmt.Fprintf(&b, "CloudWatch Logs: old credential %s logged in %s at %s", e.Old, group, stamp(last))
		var others []string
		for _, g := range e.Groups {
			if !g.OldLast.IsZero() && g.Group != group {
				others = append(others, g.Group+" at "+stamp(g.OldLast))
			}
		}
		if len(others) > 0 {
			fmt.Fprintf(&b, ", also in %s", strings.Join(others, ", "))
		}
	} else {
		fmt.Fprintf(&b, "CloudWatch Logs: old credential %s not logged in %s since %s", e.Old, strings.Join(names, ", "), stamp(e.Since))
	}
	if e.New == "" {
		return b.String()
	}
	switch silent := e.Silent(); {
	case len(silent) == 0 && !e.InUse():
		fmt.Fprintf(&b, "; new credential %s logged in every group: its consumers switched", e.New)
	case len(silent) == 0:
		fmt.Fprintf(&b, "; new credential %s logged in every group too", e.New)
	case e.InUse():
		// The old credential's use is the news; keep the line short.
		fmt.Fprintf(&b, "; new credential %s not logged in %s", e.New, strings.Join(silent, ", "))
	case len(silent) == len(e.Groups):
		fmt.Fprintf(&b, "; new credential %s not logged in any group: no sign that consumers switched (idle, or not logging %s)", e.New, fingerprint.Key)
	default:
		fmt.Fprintf(&b, "; new credential %s not logged in %s: no sign that its consumers switched", e.New, strings.Join(silent, ", "))
	}
	return b.String()
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
