package notify

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"
)

// Tags of the refresh.
const (
	// TagRefresh names the consumers to refresh after a promotion:
	// "ecs:CLUSTER/SERVICE", several separated by commas or spaces.
	TagRefresh = "dualkey:refresh"
	// TagRefreshState records the last refresh (Refresh.Note): the version
	// it was for, when, and each service's outcome. It starts with
	// dualkey:state, so the functions' IAM policies let them write it, and
	// the lifecycle's state tags never overwrite it.
	TagRefreshState = "dualkey:state-refresh"
)

// MaxTargets bounds the services one secret may name.
const MaxTargets = 10

// ErrRefresh: at least one consumer could not be refreshed (wrapped).
var ErrRefresh = errors.New("refresh failed")

// Target is an ECS service to refresh.
type Target struct{ Cluster, Service string }

// String returns the target as the tag writes it: "ecs:CLUSTER/SERVICE".
func (t Target) String() string { return "ecs:" + t.Cluster + "/" + t.Service }

// ecsName is Amazon ECS's rule for cluster and service names.
var ecsName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

const refreshExample = "ecs:prod/api,ecs:prod/worker"

// ParseTargets reads the value of TagRefresh. Repeated targets count
// once. Errors name the tag, the offending item and an example.
func ParseTargets(value string) ([]Target, error) {
	items := strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	if len(items) == 0 {
		return nil, fmt.Errorf("tag %s is empty: want ECS services as ecs:CLUSTER/SERVICE separated by commas, e.g. %s", TagRefresh, refreshExample)
	}
	var out []Target
	for _, it := range items {
		kind, rest, ok := strings.Cut(it, ":")
		if !ok || kind != "ecs" {
			return nil, fmt.Errorf("tag %s: %s is not ecs:CLUSTER/SERVICE (ECS services are the refresh dualkey does itself; "+
				"restart anything else with an EventBridge rule on the %q event), e.g. %s", TagRefresh, quote(it), SecretRotated, refreshExample)
		}
		cluster, service, ok := strings.Cut(rest, "/")
		if !ok || !ecsName.MatchString(cluster) || !ecsName.MatchString(service) {
			return nil, fmt.Errorf("tag %s: %s is not ecs:CLUSTER/SERVICE with ECS names (letters, digits, - and _; no ARNs: the function refreshes services of its own account and region), e.g. %s",
				TagRefresh, quote(it), refreshExample)
		}
		t := Target{Cluster: cluster, Service: service}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	if len(out) > MaxTargets {
		return nil, fmt.Errorf("tag %s names %d services; at most %d are refreshed per secret", TagRefresh, len(out), MaxTargets)
	}
	return out, nil
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// ECSAPI is the subset of *ecs.Client the Refresher uses.
type ECSAPI interface {
	// UpdateService with ForceNewDeployment starts a new deployment of the
	// service's current task definition: new tasks start (and read the
	// secret again), then the old ones stop.
	UpdateService(ctx context.Context, in *ecs.UpdateServiceInput, optFns ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
}

var _ ECSAPI = (*ecs.Client)(nil)

// RefresherConfig configures a Refresher.
type RefresherConfig struct {
	// ECS is the Amazon ECS client (required).
	ECS ECSAPI
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Refresher forces new deployments of ECS services. It is safe for
// concurrent use; a nil *Refresher refreshes nothing.
type Refresher struct {
	ecs ECSAPI
	now func() time.Time
}

// NewRefresher returns a Refresher.
func NewRefresher(cfg RefresherConfig) (*Refresher, error) {
	if cfg.ECS == nil {
		return nil, errors.New("notify: refresher config has no ECS client")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Refresher{ecs: cfg.ECS, now: cfg.Now}, nil
}

// Result is the outcome for one service.
type Result struct {
	Target Target
	// Deployment is the id of the new PRIMARY deployment ("" on failure).
	Deployment string
	// Err is nil when the deployment started; it names the service, the
	// AWS error and the fix.
	Err error
}

// Code is the AWS error code of a failed result ("" when it succeeded,
// "Error" when the failure carried no code).
func (r Result) Code() string {
	if r.Err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(r.Err, &ae) && ae.ErrorCode() != "" {
		return ae.ErrorCode()
	}
	return "Error"
}

// Refresh is what one refresh did.
type Refresh struct {
	// Version is the version the refresh is for (the new AWSCURRENT).
	Version string
	At      time.Time
	Results []Result
}

// Refresh forces a new deployment of every target, one after the other,
// going on past failures, and reports each.
func (r *Refresher) Refresh(ctx context.Context, version string, targets []Target) *Refresh {
	if r == nil {
		return nil
	}
	out := &Refresh{Version: version, At: r.now().UTC()}
	for _, t := range targets {
		out.Results = append(out.Results, r.one(ctx, t))
	}
	return out
}

// FromTags refreshes the services the secret's TagRefresh names, for the
// new version. It returns nil and no error when the tag is absent (or r is
// nil); a malformed tag is an error and nothing is refreshed. Otherwise the
// error is Refresh.Err: nil when every deployment started.
func (r *Refresher) FromTags(ctx context.Context, version string, tags map[string]string) (*Refresh, error) {
	v, ok := tags[TagRefresh]
	if r == nil || !ok {
		return nil, nil
	}
	targets, err := ParseTargets(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRefresh, err)
	}
	res := r.Refresh(ctx, version, targets)
	return res, res.Err()
}

func (r *Refresher) one(ctx context.Context, t Target) Result {
	out, err := r.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster:            aws.String(t.Cluster),
		Service:            aws.String(t.Service),
		ForceNewDeployment: true,
	})
	if err != nil {
		return Result{Target: t, Err: refreshErr(t, err)}
	}
	res := Result{Target: t}
	if out.Service != nil {
		for _, d := range out.Service.Deployments {
			if aws.ToString(d.Status) == "PRIMARY" {
				res.Deployment = aws.ToString(d.Id)
				break
			}
		}
	}
	return res
}

func refreshErr(t Target, err error) error {
	fix := "the next rotation tries again; to refresh now: aws ecs update-service --cluster " + t.Cluster + " --service " + t.Service + " --force-new-deployment"
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AccessDeniedException", "AccessDenied":
			fix = fmt.Sprintf("grant ecs:UpdateService on arn:aws:ecs:REGION:ACCOUNT:service/%s/%s to the function's role: add that ARN (or a wildcard covering it) to the template's RefreshServiceArns parameter", t.Cluster, t.Service)
		case "ClusterNotFoundException", "ServiceNotFoundException", "ServiceNotActiveException":
			fix = fmt.Sprintf("correct tag %s (the service must exist, be ACTIVE and be in the function's account and region)", TagRefresh)
		}
	}
	return fmt.Errorf("force a new deployment of %s: %w; %s", t, err, fix)
}

// Failed returns the results that failed.
func (r *Refresh) Failed() []Result {
	if r == nil {
		return nil
	}
	var out []Result
	for _, res := range r.Results {
		if res.Err != nil {
			out = append(out, res)
		}
	}
	return out
}

// Err summarises the failures for an alert (nil when every deployment
// started). It wraps ErrRefresh and each result's error.
func (r *Refresh) Err() error {
	failed := r.Failed()
	if len(failed) == 0 {
		return nil
	}
	errs := []error{fmt.Errorf("%w: %d of %d services not refreshed after the promotion of version %s; the rotation stands", ErrRefresh, len(failed), len(r.Results), r.Version)}
	for _, f := range failed {
		errs = append(errs, f.Err)
	}
	return errors.Join(errs...)
}

// maxNote is the longest tag value Secrets Manager documents.
const maxNote = 255

// Note renders the refresh for TagRefreshState, within a tag value's 255
// characters and allowed characters:
//
//	v=VERSION at=2030-03-14T10:30:00Z ecs:prod/api=ok:ecs-svc/123 ecs:prod/worker=failed:AccessDeniedException
//
// When all does not fit, deployment ids are left out, then failed
// services are kept first and the rest counted ("+3 more").
func (r *Refresh) Note() string {
	if r == nil {
		return ""
	}
	head := "v=" + r.Version + " at=" + r.At.UTC().Format(time.RFC3339)
	long := make([]string, 0, len(r.Results))
	short := make([]string, 0, len(r.Results))
	var failed, ok []string
	for _, res := range r.Results {
		if res.Err != nil {
			e := res.Target.String() + "=failed:" + res.Code()
			long, short, failed = append(long, e), append(short, e), append(failed, e)
			continue
		}
		e := res.Target.String() + "=ok"
		short, ok = append(short, e), append(ok, e)
		if res.Deployment != "" {
			e += ":" + res.Deployment
		}
		long = append(long, e)
	}
	for _, parts := range [][]string{long, short} {
		if s := strings.Join(append([]string{head}, parts...), " "); len(s) <= maxNote {
			return s
		}
	}
	s := head
	all := append(failed, ok...)
	for i, e := range all {
		rest := len(all) - i - 1
		need := len(s) + 1 + len(e)
		if rest > 0 {
			need += len(fmt.Sprintf(" +%d more", rest))
		}
		if need > maxNote {
			return s + fmt.Sprintf(" +%d more", len(all)-i)
		}
		s += " " + e
	}
	return s
}

// RefreshedVersion returns the version a TagRefreshState value is about
// ("" when none), so a repeated finishSecret does not refresh twice.
func RefreshedVersion(note string) string {
	first, _, _ := strings.Cut(note, " ")
	v, ok := strings.CutPrefix(first, "v=")
	if !ok {
		return ""
	}
	return v
}
