package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/shared/rotation"
)

// TagSweepCursor is the tag, on the secret named by
// SweepConfig.CursorSecret, that holds the name of the first secret a sweep
// that ran out of time did not reach; the next sweep starts there.
const TagSweepCursor = "dualkey:state-sweep-cursor"

// SweepConfig configures how the retire sweep (RunAll, Sweep) walks the
// managed secrets.
type SweepConfig struct {
	// Concurrency bounds the secrets retired at once (default 8). Providers
	// must be safe for concurrent use on different secrets.
	Concurrency int
	// CursorSecret names a secret that exists only to hold the sweep's
	// cursor in its TagSweepCursor tag (it must not be tagged
	// dualkey:managed). Empty: every sweep starts with the first secret
	// (in name order) that has work.
	CursorSecret string
	// MaxWork bounds the secrets with work one sweep retires (0: no bound);
	// the rest wait for the next sweep, which resumes at the cursor.
	MaxWork int
	// Margin: no secret is started when the context's deadline (the
	// Lambda's timeout) is closer than this. Default: a tenth of the time
	// left when the sweep starts, at least 10 s.
	Margin time.Duration
}

// SweepConfigFromEnv reads DUALKEY_SWEEP_CONCURRENCY (1-64),
// DUALKEY_SWEEP_CURSOR_SECRET and DUALKEY_SWEEP_MAX_WORK.
func SweepConfigFromEnv(getenv func(string) string) (SweepConfig, error) {
	var c SweepConfig
	if v := getenv("DUALKEY_SWEEP_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			return c, fmt.Errorf("environment variable DUALKEY_SWEEP_CONCURRENCY=%q: want a whole number from 1 to 64", v)
		}
		c.Concurrency = n
	}
	if v := getenv("DUALKEY_SWEEP_MAX_WORK"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return c, fmt.Errorf("environment variable DUALKEY_SWEEP_MAX_WORK=%q: want a whole number, 0 for no bound", v)
		}
		c.MaxWork = n
	}
	c.CursorSecret = strings.TrimSpace(getenv("DUALKEY_SWEEP_CURSOR_SECRET"))
	return c, nil
}

// SweepResult counts what one sweep did.
type SweepResult struct {
	// Listed: managed secrets ListSecrets returned.
	Listed int
	// Idle: secrets decided from their ListSecrets entry alone, with no
	// further Secrets Manager or provider call.
	Idle int
	// Worked: secrets retired with further calls; Failed of them failed.
	Worked, Failed int
	// Left: secrets with work this sweep did not reach (deadline or
	// MaxWork); the next sweep starts with them.
	Left int
	// ListCalls: ListSecrets pages.
	ListCalls int
	// Cursor: where the next sweep starts ("" : at the beginning).
	Cursor string
}

// work is a managed secret that needs more than its list entry.
type work struct{ name, arn string }

// Sweep moves the old credentials of every secret tagged
// dualkey:managed=true along their paths, as Retire does for one, at a
// cost that grows with the work there is rather than with the number of
// secrets: ListSecrets already returns each secret's tags, labels and
// rotation dates, so a secret whose next step lies in the future (nothing
// to retire, deleted or expired, held, draining, or deactivated within its
// grace period) is decided from its list entry alone, with its overdue
// alert, and costs no further call; a secret whose entry shows AWSPENDING
// is looked at again with DescribeSecret, since ListSecrets may lag behind
// a rotation that just finished. The others are retired, in
// name order starting at the cursor, by at most SweepConfig.Concurrency at
// once, at the lifecycle's Pace. When the context's deadline comes near
// (less than the margin left) or MaxWork secrets were retired, no further
// secret is started; the cursor records the first one not reached and the
// SweepBacklog metric says how many wait.
//
// each, when not nil, receives every secret's report, one call at a time.
// Sweep goes on past a failing secret and returns all errors joined.
func (l *Lifecycle) Sweep(ctx context.Context, opt Options, each func(*Report)) (*SweepResult, error) {
	res := &SweepResult{}
	var errs []error
	var mu sync.Mutex // guards res, errs and calls to each
	emit := func(rep *Report) {
		if each != nil {
			each(rep)
		}
	}
	margin := l.sweep.Margin
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline && margin <= 0 {
		margin = max(10*time.Second, time.Until(deadline)/10)
	}
	useCursor := l.sweep.CursorSecret != "" && !opt.DryRun
	cursor := ""
	if useCursor {
		c, err := l.loadCursor(ctx)
		if err != nil {
			errs = append(errs, err)
			useCursor = false
		}
		cursor = c
	}

	var todo []work
	now := l.now()
	in := &secretsmanager.ListSecretsInput{Filters: []types.Filter{
		{Key: types.FilterNameStringTypeTagKey, Values: []string{TagManaged}},
		{Key: types.FilterNameStringTypeTagValue, Values: []string{"true"}},
	}}
	for {
		out, err := l.sm.ListSecrets(ctx, in)
		res.ListCalls++
		if err != nil {
			errs = append(errs, fmt.Errorf("list secrets tagged %s=true: %w", TagManaged, err))
			return res, errors.Join(errs...)
		}
		for i := range out.SecretList {
			e := &out.SecretList[i]
			if !hasTag(e.Tags, TagManaged, "true") {
				continue // the filters match prefixes, and key and value separately
			}
			res.Listed++
			if rep, ok := l.idle(e, now, opt, each != nil); ok {
				res.Idle++
				emit(rep)
				continue
			}
			todo = append(todo, work{name: aws.ToString(e.Name), arn: aws.ToString(e.ARN)})
		}
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}

	// Name order, starting at the cursor and wrapping around: a sweep that
	// keeps running out of time still reaches every secret in turn.
	slices.SortFunc(todo, func(a, b work) int { return strings.Compare(a.name, b.name) })
	if cursor != "" {
		i, _ := slices.BinarySearchFunc(todo, cursor, func(w work, c string) int { return strings.Compare(w.name, c) })
		todo = append(todo[i:], todo[:i]...)
	}
	conc := l.sweep.Concurrency
	if conc <= 0 {
		conc = 8
	}
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	started := 0
	for _, w := range todo {
		sem <- struct{}{} // wait for a free worker before looking at the clock
		if (hasDeadline && time.Until(deadline) < margin) || (l.sweep.MaxWork > 0 && started == l.sweep.MaxWork) || ctx.Err() != nil {
			<-sem
			break
		}
		started++
		wg.Add(1)
		go func(w work) {
			defer wg.Done()
			defer func() { <-sem }()
			rep, err := l.Retire(ctx, w.arn, opt)
			mu.Lock()
			defer mu.Unlock()
			res.Worked++
			if err != nil {
				res.Failed++
				errs = append(errs, err)
			}
			emit(rep)
		}(w)
	}
	wg.Wait()
	res.Left = len(todo) - started
	if res.Left > 0 {
		res.Cursor = todo[started].name
	}
	if useCursor {
		if err := l.saveCursor(ctx, cursor, res.Cursor); err != nil {
			errs = append(errs, err)
		}
	}
	if !opt.DryRun {
		// Dimension sets {Action} and {Service}: never an empty set.
		l.metrics.Emit(map[string]string{"Action": "sweep"}, nil, rotation.MetricDatum{Name: "SweepBacklog", Unit: "Count", Value: float64(res.Left)})
	}
	attrs := []any{"listed", res.Listed, "idle", res.Idle, "worked", res.Worked, "failed", res.Failed, "left", res.Left,
		"list_calls", res.ListCalls, "cursor", res.Cursor, "dry_run", opt.DryRun}
	if res.Left > 0 {
		why := "the deadline came near"
		if l.sweep.MaxWork > 0 && res.Left > 0 && started == l.sweep.MaxWork {
			why = fmt.Sprintf("DUALKEY_SWEEP_MAX_WORK=%d secrets were retired", l.sweep.MaxWork)
		}
		l.log.Warn("sweep stopped before the end", append(attrs, "reason", why+"; the next sweep starts at the cursor")...)
	} else {
		l.log.Info("sweep", attrs...)
	}
	return res, errors.Join(errs...)
}

// RunAll retires old credentials of every secret tagged dualkey:managed=true
// (see Sweep) and returns the reports sorted by secret name. The CLI calls
// it with --all; the retire Lambda calls Sweep.
func (l *Lifecycle) RunAll(ctx context.Context, opt Options) ([]*Report, error) {
	var reports []*Report
	_, err := l.Sweep(ctx, opt, func(r *Report) { reports = append(reports, r) })
	slices.SortStableFunc(reports, func(a, b *Report) int { return strings.Compare(a.Secret, b.Secret) })
	return reports, err
}

func hasTag(tags []types.Tag, key, value string) bool {
	for _, t := range tags {
		if aws.ToString(t.Key) == key && aws.ToString(t.Value) == value {
			return true
		}
	}
	return false
}

// idle decides a secret from its ListSecrets entry alone. When it has
// nothing to do in this run that needs another call, it emits the secret's
// overdue and incomplete alerts (metrics and log lines) and returns its
// report (built only when report is true) and true.
func (l *Lifecycle) idle(e *types.SecretListEntry, now time.Time, opt Options, report bool) (*Report, bool) {
	s := &secret{
		arn: aws.ToString(e.ARN), name: aws.ToString(e.Name), stages: e.SecretVersionsToStages,
		tags: make(map[string]string, len(e.Tags)), next: e.NextRotationDate, enabled: aws.ToBool(e.RotationEnabled),
		lastRotated: e.LastRotatedDate,
	}
	if s.stages == nil {
		s.stages = map[string][]string{}
	}
	for _, t := range e.Tags {
		s.tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	p, ok := l.providers[s.tags[TagProvider]]
	if !ok {
		return nil, false // Retire reports the missing or unknown provider
	}
	s.provider = p
	var err error
	if s.settings, err = l.defaults.withTags(s.tags); err != nil {
		return nil, false // Retire reports the bad setting
	}
	alerts, actions, ok := l.quick(s, now, opt)
	if !ok {
		return nil, false
	}
	for _, a := range alerts {
		l.metric(s, a.metric)
	}
	for _, a := range actions {
		if a.Op == OpAlert {
			l.log.Info("lifecycle", "secret", s.arn, "op", a.Op, "version", a.Version, "credential", a.Fingerprint, "reason", a.Reason, "applied", a.Applied, "dry_run", opt.DryRun)
		}
	}
	if !report {
		return nil, true
	}
	path := Path(p, s.settings)
	if s.stateOf(rotation.Holder(s.stages, rotation.StagePrevious)) == StateReplaced {
		path = PathFor(p, rotation.SwitchOffNone, s.tags[TagStateNote], s.settings)
	}
	rep := &Report{Secret: s.name, ARN: s.arn, Provider: p.Name(), Path: path, State: s.tags[TagState], Actions: actions}
	return rep, true
}

// alert is an alert action's metric.
type alert struct {
	action Action
	metric string
}

// overdue returns the rotation-overdue and rotation-incomplete alerts, which
// need nothing but the secret's labels and rotation dates.
func (l *Lifecycle) overdue(s *secret, now time.Time) []alert {
	var out []alert
	if pend := rotation.Holder(s.stages, rotation.StagePending); pend != "" && !slices.Contains(s.stages[pend], rotation.StageCurrent) {
		out = append(out, alert{Action{Op: OpAlert, Version: pend, Reason: "a rotation is incomplete: AWSPENDING sits on a version that is not AWSCURRENT; once its cause is fixed, cancel it with: " + l.cmd("cancel", s.name)},
			"RotationIncomplete"})
	}
	if s.enabled && s.next != nil && now.After(s.next.Add(24*time.Hour)) {
		out = append(out, alert{Action{Op: OpAlert, Reason: "rotation overdue: it was due " + stamp(*s.next) + "; see why with: " + l.cmd("status", s.name)}, "RotationOverdue"})
	}
	return out
}

// quick is retire's decision for the cases whose next step lies in the
// future and needs no call: it returns the actions retire would report
// (without fingerprints, which need the version's value) and true, or
// false when retire must run. It mirrors retire: every case it accepts
// leaves retire nothing to change. Its only inputs are the labels, the tags
// and the last rotation date, as ListSecrets returns them.
func (l *Lifecycle) quick(s *secret, now time.Time, opt Options) ([]alert, []Action, bool) {
	if opt.Emergency || s.tags[TagEmergency] != "" {
		return nil, nil, false
	}
	// A credential must be staged before the rotation: retire asks the
	// provider (KeyNotStaged).
	if l.stageDue(s, now) {
		return nil, nil, false
	}
	// ListSecrets may lag by minutes (AWS: "might not reflect changes from
	// the last five minutes"): AWSPENDING seen there may belong to a
	// rotation that has finished since. Retire looks again with
	// DescribeSecret before it raises RotationIncomplete.
	if pend := rotation.Holder(s.stages, rotation.StagePending); pend != "" && !slices.Contains(s.stages[pend], rotation.StageCurrent) {
		return nil, nil, false
	}
	alerts := l.overdue(s, now)
	var acts []Action
	for _, a := range alerts {
		acts = append(acts, a.action)
	}
	off := s.provider.SwitchOff()
	_, deleter := s.provider.(rotation.Deleter)
	noDeleteStage := off == rotation.SwitchOffReversible && !deleter
	prev := rotation.Holder(s.stages, rotation.StagePrevious)
	dv := rotation.Holder(s.stages, rotation.StageDeactivated)
	// graceWait is grace's wait, when the grace period of dv is not over.
	graceWait := func() (Action, bool) {
		since, err := time.Parse(time.RFC3339, s.tags[TagDeactivatedAt])
		if err != nil {
			return Action{}, false // retire records the missing time
		}
		end := since.Add(s.settings.Grace)
		if !now.Before(end) {
			return Action{}, false // the delete is due
		}
		return Action{Op: OpWait, Version: dv, Reason: fmt.Sprintf("deactivated %s; deletion at %s; rollback possible until then", stamp(since), stamp(end))}, true
	}
	if prev == "" || prev == dv {
		switch {
		case dv == "":
			if len(acts) == 0 {
				acts = append(acts, Action{Op: OpWait, Reason: "no AWSPREVIOUS version: nothing to retire"})
			}
		case s.stateOf(dv) == StateHeld:
			acts = append(acts, Action{Op: OpHold, Version: dv, Reason: "a rollback of it did not finish; run it again: " + l.cmd("rollback", s.name)})
		case off == rotation.SwitchOffLabelGated && slices.Contains(s.stages[dv], rotation.StagePrevious):
			return nil, nil, false // an interrupted switch-off to finish
		case noDeleteStage:
			acts = append(acts, Action{Op: OpWait, Version: dv, Reason: fmt.Sprintf(
				"deactivated %s; provider %s has no delete stage: the credential stays deactivated until the next rotation reuses it; rollback possible until then",
				s.tags[TagDeactivatedAt], s.provider.Name())})
		default:
			a, ok := graceWait()
			if !ok {
				return nil, nil, false
			}
			acts = append(acts, a)
		}
		return alerts, acts, true
	}
	if dv != "" {
		if noDeleteStage {
			return nil, nil, false // the label of the reused credential goes
		}
		a, ok := graceWait()
		if !ok {
			return nil, nil, false
		}
		acts = append(acts, a)
	}
	switch s.stateOf(prev) {
	case StateDeleted:
		acts = append(acts, Action{Op: OpWait, Version: prev, Reason: "the old credential was deleted " + s.tags[TagStateSince] + "; nothing to do until the next rotation"})
	case StateExpired:
		acts = append(acts, Action{Op: OpWait, Version: prev, Reason: "the vendor switched the old credential off (checked " + s.tags[TagStateSince] + "); nothing to do until the next rotation"})
	case StateReplaced:
		acts = append(acts, Action{Op: OpWait, Version: prev, Reason: replacedWait(s)})
	case StateHeld:
		acts = append(acts, Action{Op: OpHold, Version: prev, Reason: "retirement held since " + s.tags[TagStateSince] + " (" + s.tags[TagStateNote] + "); resume with: " + l.cmd("retire", "--resume", s.name)})
	case StateDraining:
		// The drain ends at promotion + drain. Promotion is the later of the
		// last rotation and the creation of the AWSCURRENT version; the
		// state-since tag recorded it when draining began. The later of the
		// two known times is no later than the promotion, so while it plus
		// the drain lies ahead, so does the end of the drain.
		var lower time.Time
		if s.lastRotated != nil {
			lower = *s.lastRotated
		}
		if t, err := time.Parse(time.RFC3339, s.tags[TagStateSince]); err == nil && t.After(lower) {
			lower = t
		}
		end := lower.Add(s.settings.Drain)
		if lower.IsZero() || !now.Before(end) {
			return nil, nil, false
		}
		acts = append(acts, Action{Op: OpWait, Version: prev, Reason: fmt.Sprintf("drain window: consumers have until %s at least to pick up the new credential", stamp(end))})
	default:
		return nil, nil, false
	}
	return alerts, acts, true
}

// loadCursor reads the sweep cursor from its secret's tag.
func (l *Lifecycle) loadCursor(ctx context.Context) (string, error) {
	id := l.sweep.CursorSecret
	d, err := l.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		if rotation.IsErrorCode(err, "ResourceNotFoundException") {
			return "", fmt.Errorf("sweep cursor secret %s (DUALKEY_SWEEP_CURSOR_SECRET) does not exist; this sweep started at the beginning; create it with: aws secretsmanager create-secret --name %s --description 'dualkey retire sweep cursor (tag %s)': %w",
				id, ShellWord(id), TagSweepCursor, err)
		}
		return "", fmt.Errorf("read the sweep cursor from secret %s (DUALKEY_SWEEP_CURSOR_SECRET); this sweep started at the beginning: %w", id, err)
	}
	if hasTag(d.Tags, TagManaged, "true") {
		return "", fmt.Errorf("sweep cursor secret %s (DUALKEY_SWEEP_CURSOR_SECRET) is tagged %s=true: it must hold only the cursor; name another secret or remove the tag: aws secretsmanager untag-resource --secret-id %s --tag-keys %s",
			id, TagManaged, ShellWord(id), TagManaged)
	}
	for _, t := range d.Tags {
		if aws.ToString(t.Key) == TagSweepCursor {
			return aws.ToString(t.Value), nil
		}
	}
	return "", nil
}

// saveCursor writes next where the next sweep starts, when it changed; ""
// removes the tag. A name longer than a tag value is cut: the next sweep
// starts at the first name not below the cut, which only repeats a few.
func (l *Lifecycle) saveCursor(ctx context.Context, old, next string) error {
	if len(next) > maxTagValue {
		next = next[:maxTagValue]
	}
	if next == old {
		return nil
	}
	id := l.sweep.CursorSecret
	if next == "" {
		if _, err := l.sm.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String(id), TagKeys: []string{TagSweepCursor}}); err != nil {
			return fmt.Errorf("clear the sweep cursor on secret %s: %w", id, err)
		}
		return nil
	}
	if _, err := l.sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(id),
		Tags: []types.Tag{{Key: aws.String(TagSweepCursor), Value: aws.String(next)}}}); err != nil {
		return fmt.Errorf("save the sweep cursor %s on secret %s: %w", next, id, err)
	}
	return nil
}

// verifyQuick, set by this package's tests, makes every Retire check the
// sweep's list-entry decision against its own: a secret quick decides alone
// must get the same actions from retire, and no change.
var verifyQuick bool

// quickCheck returns a check of retire's report against quick's decision
// for s, taken before retire changes anything.
func (l *Lifecycle) quickCheck(s *secret, opt Options) func(*Report) error {
	state := s.tags[TagState]
	_, acts, ok := l.quick(s, l.now(), opt)
	if !ok {
		return nil
	}
	return func(rep *Report) error {
		var got, want []string
		for _, a := range rep.Actions {
			got = append(got, string(a.Op)+" "+a.Version)
			if a.Applied && a.Op.Changes() {
				return fmt.Errorf("secret %s: the sweep would skip it, but retire changed something: %s %s: %s", s.name, a.Op, a.Version, a.Reason)
			}
		}
		for _, a := range acts {
			want = append(want, string(a.Op)+" "+a.Version)
		}
		if !slices.Equal(got, want) || rep.State != state {
			return fmt.Errorf("secret %s: the sweep's decision from the list entry (%q, state %q) differs from retire's (%q, state %q)", s.name, want, state, got, rep.State)
		}
		return nil
	}
}
