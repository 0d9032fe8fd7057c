// Package lifecycle carries an old credential through the part of the
// dual-key lifecycle that comes after Secrets Manager's four rotation steps:
//
//	promoted (AWSPREVIOUS, still valid) → drain → verify unused → deactivate
//	→ grace → delete, with rollback possible until deletion.
//
// It is run by the scheduled retire Lambda (every managed secret), the
// rollback Lambda (a CloudWatch alarm linked to a secret) and the dualkey CLI.
// Its state lives in Secrets Manager itself: the DUALKEY_DEACTIVATED staging
// label marks the deactivated version and dualkey:* tags record the state,
// so it survives restarts and shows in DescribeSecret. The clock is injected.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/shared/rotation"
)

// SecretsAPI is the subset of *secretsmanager.Client the lifecycle uses.
type SecretsAPI interface {
	rotation.VersionAPI
	// DescribeSecret returns metadata, tags and the version-to-stages map.
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	// ListSecrets finds managed secrets by tag.
	ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
	// TagResource writes state tags.
	TagResource(ctx context.Context, in *secretsmanager.TagResourceInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error)
	// UntagResource removes state tags.
	UntagResource(ctx context.Context, in *secretsmanager.UntagResourceInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UntagResourceOutput, error)
	// UpdateSecretVersionStage moves DUALKEY_DEACTIVATED, AWSPREVIOUS and, on rollback, AWSCURRENT.
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
}

// Errors the lifecycle returns (wrapped).
var (
	// ErrNotManaged: the secret lacks the tags dualkey needs.
	ErrNotManaged = errors.New("secret is not managed by dualkey")
	// ErrBadSetting: a dualkey:* tag has a value that cannot be used.
	ErrBadSetting = errors.New("invalid dualkey setting")
	// ErrNothingToRollBack: no previous or deactivated version exists.
	ErrNothingToRollBack = errors.New("nothing to roll back")
	// ErrOutsideRollbackWindow: rollback was asked too late.
	ErrOutsideRollbackWindow = errors.New("outside the rollback window")
	// ErrNoSecretForAlarm: no secret is linked to the alarm.
	ErrNoSecretForAlarm = errors.New("no secret is linked to the alarm")
	// ErrInvalidEvent: the alarm event is malformed.
	ErrInvalidEvent = errors.New("invalid alarm event")
)

// Config configures a Lifecycle.
type Config struct {
	SecretsManager SecretsAPI
	// Providers by the name in the dualkey:provider tag.
	Providers map[string]rotation.Provider
	Defaults  Settings
	Now       func() time.Time
	// LogWriter receives JSON logs (default os.Stdout); MetricsWriter EMF lines (default os.Stdout).
	LogWriter, MetricsWriter io.Writer
	Redactor                 *rotation.Redactor
}

// Lifecycle runs retirement and rollback.
type Lifecycle struct {
	sm        SecretsAPI
	providers map[string]rotation.Provider
	defaults  Settings
	now       func() time.Time
	log       *slog.Logger
	metrics   *rotation.Metrics
	red       *rotation.Redactor
}

// New returns a Lifecycle.
func New(cfg Config) (*Lifecycle, error) {
	if cfg.SecretsManager == nil {
		return nil, errors.New("lifecycle: config has no Secrets Manager client")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LogWriter == nil {
		cfg.LogWriter = os.Stdout
	}
	if cfg.MetricsWriter == nil {
		cfg.MetricsWriter = os.Stdout
	}
	if cfg.Redactor == nil {
		cfg.Redactor = rotation.NewRedactor()
	}
	if cfg.Defaults == (Settings{}) {
		cfg.Defaults = DefaultSettings
	}
	return &Lifecycle{
		sm: cfg.SecretsManager, providers: cfg.Providers, defaults: cfg.Defaults, now: cfg.Now,
		log:     slog.New(cfg.Redactor.Handler(slog.NewJSONHandler(cfg.LogWriter, nil))),
		metrics: rotation.NewMetrics(cfg.MetricsWriter, cfg.Now),
		red:     cfg.Redactor,
	}, nil
}

// Action is one thing the lifecycle did, or would do in a dry run.
type Action struct {
	Op          string // wait, hold, deactivate, delete, reactivate, restore-current, alert
	Version     string
	Fingerprint string
	Reason      string
	Applied     bool
}

// Report is the outcome for one secret.
type Report struct {
	Secret   string
	ARN      string
	Provider string
	State    string
	Actions  []Action
	Err      error
}

func (r *Report) add(a Action) { r.Actions = append(r.Actions, a) }

// String renders the report for people.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s)", r.Secret, r.Provider)
	if r.State != "" {
		fmt.Fprintf(&b, " state=%s", r.State)
	}
	b.WriteByte('\n')
	for _, a := range r.Actions {
		verb := a.Op
		if !a.Applied && a.Op != "wait" && a.Op != "hold" && a.Op != "alert" {
			verb = "would " + a.Op
		}
		who := shortID(a.Version)
		if a.Fingerprint != "" {
			who = a.Fingerprint + " (version " + shortID(a.Version) + ")"
		}
		fmt.Fprintf(&b, "  %-18s %s: %s\n", verb, who, a.Reason)
	}
	if r.Err != nil {
		fmt.Fprintf(&b, "  error: %v\n", r.Err)
	}
	return b.String()
}

// Options change how Retire runs.
type Options struct {
	// DryRun computes and reports the plan without changing anything.
	DryRun bool
	// Emergency skips the drain, the usage check and the window.
	Emergency bool
}

// secret is what one run knows about a secret.
type secret struct {
	arn, name string
	tags      map[string]string
	stages    map[string][]string
	promoted  time.Time
	next      *time.Time
	enabled   bool
	provider  rotation.Provider
	settings  Settings
	reader    *rotation.Reader
}

func (l *Lifecycle) load(ctx context.Context, id string) (*secret, *Report, error) {
	rep := &Report{Secret: id}
	d, err := l.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		return nil, rep, fmt.Errorf("describe secret %s: %w", id, err)
	}
	s := &secret{
		arn: aws.ToString(d.ARN), name: aws.ToString(d.Name), stages: d.VersionIdsToStages,
		tags: map[string]string{}, next: d.NextRotationDate, enabled: aws.ToBool(d.RotationEnabled),
	}
	rep.Secret, rep.ARN = s.name, s.arn
	for _, t := range d.Tags {
		s.tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	rep.State = s.tags[TagState]
	name := s.tags[TagProvider]
	rep.Provider = name
	if name == "" {
		return nil, rep, fmt.Errorf("secret %s: %w: tag %s is missing; set it to one of %s", s.name, ErrNotManaged, TagProvider, l.providerNames())
	}
	p, ok := l.providers[name]
	if !ok {
		return nil, rep, fmt.Errorf("secret %s: %w: tag %s=%q names no provider this function serves (%s)", s.name, ErrNotManaged, TagProvider, name, l.providerNames())
	}
	s.provider = p
	if s.settings, err = l.defaults.withTags(s.tags); err != nil {
		return nil, rep, fmt.Errorf("secret %s: %w: %w", s.name, ErrBadSetting, err)
	}
	s.reader = rotation.NewReader(l.sm, s.arn, s.stages, l.red)
	// Promotion: the last rotation, or the creation of the AWSCURRENT version
	// when that is later (a value put by hand, without a rotation). The later
	// of the two is the safe side for the drain and rollback windows.
	s.promoted = aws.ToTime(d.LastRotatedDate)
	if cur := rotation.Holder(s.stages, rotation.StageCurrent); cur != "" {
		created, err := s.reader.Created(ctx, cur)
		if err != nil {
			return nil, rep, fmt.Errorf("secret %s: %w", s.name, err)
		}
		if created.After(s.promoted) {
			s.promoted = created
		}
	}
	return s, rep, nil
}

func (l *Lifecycle) providerNames() string {
	names := make([]string, 0, len(l.providers))
	for n := range l.providers {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (l *Lifecycle) credential(ctx context.Context, s *secret, id string) (*rotation.CredentialRequest, string, error) {
	v, err := s.reader.Version(ctx, id, "")
	if err != nil {
		return nil, "", fmt.Errorf("read version %s: %w", id, err)
	}
	return &rotation.CredentialRequest{SecretID: s.arn, Version: v, Versions: s.reader}, s.provider.Fingerprint(v.Value), nil
}

// RunAll retires old credentials of every secret tagged dualkey:managed=true.
// It goes on past a failing secret and returns all errors joined.
func (l *Lifecycle) RunAll(ctx context.Context, opt Options) ([]*Report, error) {
	ids, err := l.managed(ctx, TagManaged, "true")
	if err != nil {
		return nil, err
	}
	var reports []*Report
	var errs []error
	for _, id := range ids {
		rep, err := l.Retire(ctx, id, opt)
		reports = append(reports, rep)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return reports, errors.Join(errs...)
}

// managed lists the ARNs of secrets whose tag key has value.
func (l *Lifecycle) managed(ctx context.Context, key, value string) ([]string, error) {
	in := &secretsmanager.ListSecretsInput{Filters: []types.Filter{
		{Key: types.FilterNameStringTypeTagKey, Values: []string{key}},
		{Key: types.FilterNameStringTypeTagValue, Values: []string{value}},
	}}
	var ids []string
	for {
		out, err := l.sm.ListSecrets(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list secrets tagged %s=%s: %w", key, value, err)
		}
		for _, e := range out.SecretList {
			for _, t := range e.Tags {
				if aws.ToString(t.Key) == key && aws.ToString(t.Value) == value {
					ids = append(ids, aws.ToString(e.ARN))
					break
				}
			}
		}
		if out.NextToken == nil {
			return ids, nil
		}
		in.NextToken = out.NextToken
	}
}

// Retire moves the old credentials of one secret as far along the lifecycle
// as the evidence and the clock allow. It is safe to run again at any time.
func (l *Lifecycle) Retire(ctx context.Context, id string, opt Options) (*Report, error) {
	s, rep, err := l.load(ctx, id)
	if err != nil {
		rep.Err = err
		l.log.Error("retire failed", "secret", id, "error", err.Error())
		return rep, err
	}
	err = l.retire(ctx, s, rep, opt)
	if err != nil {
		rep.Err = err
		l.metric(s, "RetireFailed")
		l.log.Error("retire failed", "secret", s.arn, "error", err.Error())
	}
	for _, a := range rep.Actions {
		l.log.Info("lifecycle", "secret", s.arn, "op", a.Op, "version", a.Version, "credential", a.Fingerprint, "reason", a.Reason, "applied", a.Applied, "dry_run", opt.DryRun)
	}
	return rep, err
}

func (l *Lifecycle) retire(ctx context.Context, s *secret, rep *Report, opt Options) error {
	now := l.now()
	apply := !opt.DryRun
	emergency := opt.Emergency || s.tags[TagEmergency] == "true"
	l.checkOverdue(s, rep, now)

	dv := rotation.Holder(s.stages, rotation.StageDeactivated)
	prev := rotation.Holder(s.stages, rotation.StagePrevious)
	if dv != "" && dv != prev {
		// The deactivated version of an earlier retirement: delete after grace.
		deleted, err := l.grace(ctx, s, rep, dv, now, apply)
		if err != nil {
			return err
		}
		if deleted {
			dv = ""
		}
	}
	if prev == "" {
		if len(rep.Actions) == 0 {
			rep.add(Action{Op: "wait", Reason: "no AWSPREVIOUS version: nothing to retire"})
		}
		return nil
	}
	if prev == dv {
		_, err := l.grace(ctx, s, rep, dv, now, apply)
		return err
	}
	if s.tags[TagStateVersion] == prev && s.tags[TagState] == StateHeld {
		rep.add(Action{Op: "hold", Version: prev, Reason: "retirement held since " + s.tags[TagStateSince] + " (" + s.tags[TagStateNote] + "); resume with: dualkey retire --resume " + s.name})
		return nil
	}
	req, fp, err := l.credential(ctx, s, prev)
	if err != nil {
		return err
	}
	if !emergency {
		if end := s.promoted.Add(s.settings.Drain); now.Before(end) {
			rep.add(Action{Op: "wait", Version: prev, Fingerprint: fp, Reason: fmt.Sprintf("drain window: consumers have until %s to pick up the new credential", stamp(end))})
			return l.setState(ctx, s, rep, apply, prev, StateDraining, s.promoted, "promoted "+stamp(s.promoted))
		}
		if ur, ok := s.provider.(rotation.UsageReporter); ok {
			u, err := ur.LastUsed(ctx, req)
			if err != nil {
				return fmt.Errorf("usage evidence for %s: %w", fp, err)
			}
			if u.Known && !u.LastUsed.IsZero() && u.LastUsed.After(now.Add(-s.settings.Quiet)) {
				reason := fmt.Sprintf("old credential still in use: %s, within the last %s; find the consumer that did not pick up the new credential", u.Detail, s.settings.Quiet)
				rep.add(Action{Op: "alert", Version: prev, Fingerprint: fp, Reason: reason})
				l.metric(s, "OldCredentialInUse")
				l.log.Warn("old credential still in use", "secret", s.arn, "credential", fp, "evidence", u.Detail)
				return l.setState(ctx, s, rep, apply, prev, StateInUse, now, u.Detail)
			}
			rep.add(Action{Op: "check", Version: prev, Fingerprint: fp, Reason: "usage evidence: " + u.Detail, Applied: true})
		} else {
			rep.add(Action{Op: "check", Version: prev, Fingerprint: fp, Reason: "provider " + s.provider.Name() + " has no usage evidence; the drain window is the only guard", Applied: true})
		}
		if w := s.settings.Window; w != nil && !w.Contains(now) {
			next := w.Next(now)
			rep.add(Action{Op: "wait", Version: prev, Fingerprint: fp, Reason: fmt.Sprintf("outside the deactivation window %q; next opens %s", w.String(), stamp(next))})
			return l.setState(ctx, s, rep, apply, prev, StateWaitingWindow, now, "window "+w.String())
		}
	}
	if dv != "" && dv != prev {
		// Only one credential waits for deletion at a time: an older one is
		// superseded by this retirement and goes now.
		if err := l.delete(ctx, s, rep, dv, apply, "superseded by the retirement of the newer previous credential"); err != nil {
			return err
		}
	}
	why := fmt.Sprintf("drained since %s and unused", stamp(s.promoted.Add(s.settings.Drain)))
	if emergency {
		why = "emergency rotation: the old credential is switched off at once"
	}
	if err := l.deactivate(ctx, s, req, apply); err != nil {
		return fmt.Errorf("deactivate %s: %w", fp, err)
	}
	rep.add(Action{Op: "deactivate", Version: prev, Fingerprint: fp, Reason: why + fmt.Sprintf("; deletion after %s; rollback possible until then", s.settings.Grace), Applied: apply})
	if !apply {
		return nil
	}
	if _, err := l.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(s.arn), VersionStage: aws.String(rotation.StageDeactivated), MoveToVersionId: aws.String(prev),
	}); err != nil {
		return fmt.Errorf("label %s %s: %w", prev, rotation.StageDeactivated, err)
	}
	if err := l.tag(ctx, s, map[string]string{TagDeactivatedAt: stamp(now)}); err != nil {
		return err
	}
	l.metric(s, "CredentialDeactivated")
	if err := l.setState(ctx, s, rep, apply, prev, StateDeactivated, now, why); err != nil {
		return err
	}
	if emergency && s.tags[TagEmergency] != "" {
		if _, err := l.sm.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String(s.arn), TagKeys: []string{TagEmergency}}); err != nil {
			return fmt.Errorf("clear tag %s: %w", TagEmergency, err)
		}
	}
	return nil
}

// grace deletes the deactivated version's credential once the grace period is over.
// It reports whether the credential was deleted.
func (l *Lifecycle) grace(ctx context.Context, s *secret, rep *Report, dv string, now time.Time, apply bool) (bool, error) {
	since, err := time.Parse(time.RFC3339, s.tags[TagDeactivatedAt])
	if err != nil {
		// Deactivated, but the time was not recorded (a crash in between):
		// start the grace period now, the safe side.
		since = now
		rep.add(Action{Op: "wait", Version: dv, Reason: "deactivation time missing; grace period starts now", Applied: apply})
		if apply {
			if err := l.tag(ctx, s, map[string]string{TagDeactivatedAt: stamp(now)}); err != nil {
				return false, err
			}
		}
	}
	if end := since.Add(s.settings.Grace); now.Before(end) {
		_, fp, err := l.credential(ctx, s, dv)
		if err != nil {
			return false, err
		}
		rep.add(Action{Op: "wait", Version: dv, Fingerprint: fp, Reason: fmt.Sprintf("deactivated %s; deletion at %s; rollback possible until then", stamp(since), stamp(end))})
		return false, nil
	}
	err = l.delete(ctx, s, rep, dv, apply, fmt.Sprintf("grace period of %s since deactivation at %s is over", s.settings.Grace, stamp(since)))
	return err == nil, err
}

func (l *Lifecycle) delete(ctx context.Context, s *secret, rep *Report, id string, apply bool, why string) error {
	req, fp, err := l.credential(ctx, s, id)
	if err != nil {
		return err
	}
	rep.add(Action{Op: "delete", Version: id, Fingerprint: fp, Reason: why, Applied: apply})
	if !apply {
		return nil
	}
	if d, ok := s.provider.(rotation.Deleter); ok {
		if err := d.Delete(ctx, req); err != nil {
			return fmt.Errorf("delete %s: %w", fp, err)
		}
	}
	if _, err := l.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(s.arn), VersionStage: aws.String(rotation.StageDeactivated), RemoveFromVersionId: aws.String(id),
	}); err != nil {
		return fmt.Errorf("remove %s from %s: %w", rotation.StageDeactivated, id, err)
	}
	if _, err := l.sm.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String(s.arn), TagKeys: []string{TagDeactivatedAt}}); err != nil {
		return fmt.Errorf("clear tag %s: %w", TagDeactivatedAt, err)
	}
	delete(s.tags, TagDeactivatedAt)
	l.metric(s, "CredentialDeleted")
	if s.tags[TagStateVersion] == id {
		return l.setState(ctx, s, rep, apply, id, StateDeleted, l.now(), why)
	}
	return nil
}

// deactivate switches the credential off in the provider's own way.
func (l *Lifecycle) deactivate(ctx context.Context, s *secret, req *rotation.CredentialRequest, apply bool) error {
	if !apply {
		return nil
	}
	if d, ok := s.provider.(rotation.Deactivator); ok {
		return d.Deactivate(ctx, req)
	}
	if s.provider.SwitchOff() == rotation.SwitchOffLabelGated && has(req.Version.Stages, rotation.StagePrevious) {
		_, err := l.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(s.arn), VersionStage: aws.String(rotation.StagePrevious), RemoveFromVersionId: aws.String(req.Version.ID),
		})
		return err
	}
	return nil
}

// setState writes the state tags when they change.
func (l *Lifecycle) setState(ctx context.Context, s *secret, rep *Report, apply bool, version, state string, since time.Time, note string) error {
	rep.State = state
	if !apply || (s.tags[TagState] == state && s.tags[TagStateVersion] == version) {
		return nil
	}
	return l.tag(ctx, s, map[string]string{TagState: state, TagStateVersion: version, TagStateSince: stamp(since), TagStateNote: tagValue(note)})
}

func (l *Lifecycle) tag(ctx context.Context, s *secret, kv map[string]string) error {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tags := make([]types.Tag, 0, len(kv))
	for _, k := range keys {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(kv[k])})
		s.tags[k] = kv[k]
	}
	if _, err := l.sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(s.arn), Tags: tags}); err != nil {
		return fmt.Errorf("tag secret %s: %w", s.name, err)
	}
	return nil
}

func (l *Lifecycle) checkOverdue(s *secret, rep *Report, now time.Time) {
	if pend := rotation.Holder(s.stages, rotation.StagePending); pend != "" && !has(s.stages[pend], rotation.StageCurrent) {
		rep.add(Action{Op: "alert", Version: pend, Reason: "a rotation is incomplete: AWSPENDING sits on a version that is not AWSCURRENT; see docs/lifecycle.md"})
		l.metric(s, "RotationIncomplete")
	}
	if s.enabled && s.next != nil && now.After(s.next.Add(24*time.Hour)) {
		rep.add(Action{Op: "alert", Reason: "rotation overdue: it was due " + stamp(*s.next)})
		l.metric(s, "RotationOverdue")
	}
}

func (l *Lifecycle) metric(s *secret, name string) {
	l.metrics.Emit(map[string]string{"Provider": s.provider.Name(), "SecretName": s.name}, [][]string{{"SecretName"}},
		rotation.MetricDatum{Name: name, Unit: "Count", Value: 1})
}

// Resume clears a rollback hold so the next run retires the old credential again.
func (l *Lifecycle) Resume(ctx context.Context, id string) (*Report, error) {
	s, rep, err := l.load(ctx, id)
	if err != nil {
		return rep, err
	}
	if s.tags[TagState] != StateHeld {
		rep.add(Action{Op: "wait", Reason: "retirement is not held; nothing to resume"})
		return rep, nil
	}
	if _, err := l.sm.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String(s.arn),
		TagKeys: []string{TagState, TagStateVersion, TagStateSince, TagStateNote}}); err != nil {
		return rep, fmt.Errorf("clear hold on %s: %w", s.name, err)
	}
	rep.State = ""
	rep.add(Action{Op: "resume", Reason: "hold cleared; the next retire run checks the old credential again", Applied: true})
	return rep, nil
}

func has(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
