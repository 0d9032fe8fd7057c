// Package lifecycle carries an old credential through the part of the
// dual-key lifecycle that comes after Secrets Manager's four rotation steps.
// Each provider declares how its old credentials are switched off
// (rotation.SwitchOff), and the lifecycle takes that provider's path:
//
//	reversible:  drain → usage check → deactivate → grace → delete
//	             (no delete stage when the provider is not a Deleter)
//	label-gated: drain → usage check → remove AWSPREVIOUS → grace → delete
//	delete-only: drain → usage check → confirmation period → delete
//	external:    drain → usage check → the vendor's announced expiry → checked dead
//
// with rollback possible until the delete. It never claims a step it did
// not take. It is run by the scheduled retire Lambda (every managed
// secret), the rollback Lambda (a CloudWatch alarm linked to a secret) and
// the dualkey CLI. Its state lives in Secrets Manager itself: the
// DUALKEY_DEACTIVATED staging label marks the deactivated version and the
// dualkey:state* tags record the state, so it survives restarts and shows in
// DescribeSecret. The clock is injected.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/shared/notify"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/usagelogs"
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
	// UntagResource removes state tags (and dualkey:emergency once acted on).
	UntagResource(ctx context.Context, in *secretsmanager.UntagResourceInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UntagResourceOutput, error)
	// UpdateSecretVersionStage moves DUALKEY_DEACTIVATED, AWSPREVIOUS,
	// AWSPENDING (cancel) and, on rollback, AWSCURRENT.
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
}

var _ SecretsAPI = (*secretsmanager.Client)(nil)

// Errors the lifecycle returns (wrapped).
var (
	// ErrNotManaged: the secret lacks the tags dualkey needs.
	ErrNotManaged = errors.New("secret is not managed by dualkey")
	// ErrBadSetting: a dualkey:* tag has a value that cannot be used.
	ErrBadSetting = errors.New("invalid dualkey setting")
	// ErrNothingToRollBack: no previous or deactivated credential exists.
	ErrNothingToRollBack = errors.New("nothing to roll back")
	// ErrOutsideRollbackWindow: rollback was asked too late.
	ErrOutsideRollbackWindow = errors.New("outside the rollback window")
	// ErrLeakedCredential: the rollback would bring back a credential an
	// emergency rotation switched off because it leaked.
	ErrLeakedCredential = errors.New("the old credential leaked")
	// ErrNothingToCancel: no rotation is pending.
	ErrNothingToCancel = errors.New("nothing to cancel")
	// ErrRotationIncomplete: AWSPENDING sits on a version from a rotation
	// that did not finish, so Secrets Manager refuses a new one.
	ErrRotationIncomplete = errors.New("a previous rotation isn't complete")
	// ErrCancelUnsafe: cancelling the pending rotation could leave the
	// secret without a working credential (its rotation replaces the
	// credential in place).
	ErrCancelUnsafe = errors.New("cancelling could lose the working credential")
	// ErrCannotAudit: the provider cannot list its credentials.
	ErrCannotAudit = errors.New("provider cannot list its credentials")
	// ErrCannotSwitchOff: an emergency needs a credential switched off that
	// only the vendor can switch off (SwitchOffExternal), and it still works.
	ErrCannotSwitchOff = errors.New("dualkey cannot switch this credential off")
	// ErrInvalidEvent: the alarm event is malformed.
	ErrInvalidEvent = errors.New("invalid alarm event")
)

// Config configures a Lifecycle.
type Config struct {
	SecretsManager SecretsAPI
	// Providers by the name in the dualkey:provider tag. New refuses a
	// provider whose declared SwitchOff does not match its capabilities.
	Providers map[string]rotation.Provider
	Defaults  Settings
	Now       func() time.Time
	// LogWriter receives JSON logs (default os.Stdout); MetricsWriter EMF lines (default os.Stdout).
	LogWriter, MetricsWriter io.Writer
	Redactor                 *rotation.Redactor
	// Alarms selects the alarms HandleAlarm acts on (zero: every alarm).
	Alarms AlarmFilter
	// CommandFlags are inserted after the verb of every dualkey command the
	// lifecycle names in its messages (the CLI passes its --endpoint and
	// --region), so the command can be pasted as it is.
	CommandFlags string
	// Logs searches CloudWatch Logs for the secrets tagged
	// dualkey:usage-logs; nil refuses such secrets with an error.
	Logs *usagelogs.Reporter
	// Events publishes "Credential Deactivated", "Credential Deleted",
	// "Credential Expired" and "Rollback Performed"; nil publishes nothing.
	Events *notify.Publisher
	// Sweep configures RunAll and Sweep (concurrency, cursor).
	Sweep SweepConfig
	// Pace limits the lifecycle's Secrets Manager requests per second
	// (nil: DefaultPace); throttled requests are retried with backoff.
	Pace *Pace
}

// Lifecycle runs retirement, rollback and cancellation.
type Lifecycle struct {
	sm        SecretsAPI
	providers map[string]rotation.Provider
	defaults  Settings
	now       func() time.Time
	log       *slog.Logger
	metrics   *rotation.Metrics
	red       *rotation.Redactor
	alarms    AlarmFilter
	flags     string
	logs      *usagelogs.Reporter
	events    *notify.Publisher
	sweep     SweepConfig
}

// New returns a Lifecycle. It refuses a provider whose SwitchOff does not
// match what it implements: reversible needs a rotation.Deactivator,
// delete-only a rotation.Deleter, and neither label-gated nor delete-only
// may be a Deactivator.
func New(cfg Config) (*Lifecycle, error) {
	if cfg.SecretsManager == nil {
		return nil, errors.New("lifecycle: config has no Secrets Manager client")
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Providers)) {
		if err := checkProvider(name, cfg.Providers[name]); err != nil {
			return nil, err
		}
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
	// The sweep retires secrets concurrently: one lock serializes the lines
	// written to both writers, which are often the same one.
	mu := &sync.Mutex{}
	cfg.LogWriter = &lockedWriter{mu: mu, w: cfg.LogWriter}
	cfg.MetricsWriter = &lockedWriter{mu: mu, w: cfg.MetricsWriter}
	if cfg.Defaults == (Settings{}) {
		cfg.Defaults = DefaultSettings
	}
	if cfg.Sweep.Concurrency < 0 || cfg.Sweep.MaxWork < 0 || cfg.Sweep.Margin < 0 {
		return nil, fmt.Errorf("lifecycle: sweep concurrency %d, max work %d and margin %s may not be negative", cfg.Sweep.Concurrency, cfg.Sweep.MaxWork, cfg.Sweep.Margin)
	}
	pace := DefaultPace
	if cfg.Pace != nil {
		pace = *cfg.Pace
	}
	return &Lifecycle{
		sm: newPaced(cfg.SecretsManager, pace), sweep: cfg.Sweep, providers: cfg.Providers, defaults: cfg.Defaults, now: cfg.Now,
		log:     slog.New(cfg.Redactor.Handler(slog.NewJSONHandler(cfg.LogWriter, nil))),
		metrics: rotation.NewMetrics(cfg.MetricsWriter, cfg.Now),
		red:     cfg.Redactor,
		alarms:  cfg.Alarms,
		flags:   strings.TrimSpace(cfg.CommandFlags),
		logs:    cfg.Logs,
		events:  cfg.Events,
	}, nil
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// cmd renders a dualkey command for a message: "dualkey VERB [flags] ARGS",
// each argument quoted for a POSIX shell when it needs it.
func (l *Lifecycle) cmd(verb string, args ...string) string {
	parts := []string{"dualkey", verb}
	if l.flags != "" {
		parts = append(parts, l.flags)
	}
	for _, a := range args {
		parts = append(parts, ShellWord(a))
	}
	return strings.Join(parts, " ")
}

// ShellWord quotes s for a POSIX shell unless it is made only of
// characters that need no quoting (those of secret names and ARNs).
func ShellWord(s string) string {
	safe := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/_+=.@:,-", c)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Op is one kind of step the lifecycle takes or reports.
type Op string

// Ops. Wait, Hold, Check, Alert and Ignore report what the lifecycle saw;
// the others change something (in a dry run they are what it would do).
const (
	OpWait           Op = "wait"            // nothing to do yet: drain, window, grace, confirmation
	OpHold           Op = "hold"            // retirement held after a rollback
	OpCheck          Op = "check"           // usage evidence looked at
	OpAlert          Op = "alert"           // something needs a person (metric emitted)
	OpIgnore         Op = "ignore"          // an alarm ignored, with the reason
	OpConfirm        Op = "confirm"         // delete-only: the confirmation period starts
	OpDeactivate     Op = "deactivate"      // the credential switched off (reversible or label-gated)
	OpDelete         Op = "delete"          // the credential destroyed
	OpForget         Op = "forget"          // a label removed; the provider is not touched
	OpReactivate     Op = "reactivate"      // rollback: the credential switched on again
	OpRestoreCurrent Op = "restore-current" // rollback: AWSCURRENT moved back
	OpResume         Op = "resume"          // a hold cleared
	OpDiscard        Op = "discard"         // cancel: the pending credential destroyed
	OpRemovePending  Op = "remove-pending"  // cancel: AWSPENDING removed
	OpMarkLeaked     Op = "mark-leaked"     // emergency: a version recorded as leaked
)

// Changes reports whether the op changes something (so a dry run says
// "would").
func (o Op) Changes() bool {
	switch o {
	case OpWait, OpHold, OpCheck, OpAlert, OpIgnore:
		return false
	}
	return true
}

// Action is one thing the lifecycle did, or would do in a dry run.
type Action struct {
	Op          Op
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
	// Path is the provider's lifecycle path in words, with this secret's
	// settings (see Path).
	Path    string
	State   string
	Actions []Action
	Err     error
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
	if r.Path != "" {
		fmt.Fprintf(&b, "  lifecycle: %s\n", r.Path)
	}
	for _, a := range r.Actions {
		verb := string(a.Op)
		if !a.Applied && a.Op.Changes() {
			verb = "would " + verb
		}
		who := shortID(a.Version)
		if a.Fingerprint != "" {
			who = a.Fingerprint + " (version " + shortID(a.Version) + ")"
		}
		if who != "" {
			who += ": "
		}
		fmt.Fprintf(&b, "  %-18s %s%s\n", verb, who, a.Reason)
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
	// Emergency skips the drain, the usage check, the window and the
	// confirmation period, overrides a hold, and records the old credential
	// as leaked so no automatic rollback brings it back.
	Emergency bool
}

// secret is what one run knows about a secret.
type secret struct {
	arn, name string
	tags      map[string]string
	stages    map[string][]string
	promoted  time.Time
	// lastRotated is LastRotatedDate (nil: never rotated).
	lastRotated *time.Time
	next        *time.Time
	enabled     bool
	provider    rotation.Provider
	settings    Settings
	reader      *rotation.Reader
}

// stateOf returns the state tag when it is about version, else "".
func (s *secret) stateOf(version string) string {
	if version == "" || s.tags[TagStateVersion] != version {
		return ""
	}
	return s.tags[TagState]
}

func (l *Lifecycle) load(ctx context.Context, id string) (*secret, *Report, error) {
	rep := &Report{Secret: id}
	d, err := l.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		return nil, rep, fmt.Errorf("describe secret %s: %w", id, err)
	}
	s := &secret{
		arn: aws.ToString(d.ARN), name: aws.ToString(d.Name), stages: d.VersionIdsToStages,
		tags: map[string]string{}, next: d.NextRotationDate, enabled: aws.ToBool(d.RotationEnabled), lastRotated: d.LastRotatedDate,
	}
	rep.Secret, rep.ARN = s.name, s.arn
	for _, t := range d.Tags {
		s.tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	rep.State = s.tags[TagState]
	name := s.tags[TagProvider]
	rep.Provider = name
	if name == "" {
		return nil, rep, fmt.Errorf("secret %s: %w: tag %s is missing; set it to one of %s: aws secretsmanager tag-resource --secret-id %s --tags Key=%s,Value=PROVIDER",
			s.name, ErrNotManaged, TagProvider, l.providerNames(), s.name, TagProvider)
	}
	p, ok := l.providers[name]
	if !ok {
		return nil, rep, fmt.Errorf("secret %s: %w: tag %s=%q names no provider this function serves (%s); fix it with: aws secretsmanager tag-resource --secret-id %s --tags Key=%s,Value=PROVIDER",
			s.name, ErrNotManaged, TagProvider, name, l.providerNames(), s.name, TagProvider)
	}
	s.provider = p
	if s.settings, err = l.defaults.withTags(s.tags); err != nil {
		return nil, rep, fmt.Errorf("secret %s: %w: %w; fix it with: aws secretsmanager tag-resource --secret-id %s --tags Key=TAG,Value=VALUE", s.name, ErrBadSetting, err, s.name)
	}
	rep.Path = Path(p, s.settings)
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
	return strings.Join(slices.Sorted(maps.Keys(l.providers)), ", ")
}

func (l *Lifecycle) credential(ctx context.Context, s *secret, id string) (*rotation.CredentialRequest, string, error) {
	v, err := s.reader.Version(ctx, id, "")
	if err != nil {
		return nil, "", fmt.Errorf("read version %s: %w", id, err)
	}
	return &rotation.CredentialRequest{SecretID: s.arn, Version: v, Versions: s.reader}, s.provider.Fingerprint(v.Value), nil
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

// Retire moves the old credentials of one secret as far along its
// provider's path as the evidence and the clock allow. It is safe to run
// again at any time.
func (l *Lifecycle) Retire(ctx context.Context, id string, opt Options) (*Report, error) {
	s, rep, err := l.load(ctx, id)
	if err != nil {
		rep.Err = err
		l.log.Error("retire failed", "secret", id, "error", err.Error())
		return rep, err
	}
	var check func(*Report) error
	if verifyQuick {
		check = l.quickCheck(s, opt)
	}
	err = l.retire(ctx, s, rep, opt)
	if serr := l.checkStaged(ctx, s, rep, l.now()); serr != nil {
		err = errors.Join(err, serr)
	}
	if err == nil && check != nil {
		err = check(rep)
	}
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
	l.checkOverdue(s, rep, now)
	emergency := opt.Emergency
	cur := rotation.Holder(s.stages, rotation.StageCurrent)
	prev := rotation.Holder(s.stages, rotation.StagePrevious)
	dv := rotation.Holder(s.stages, rotation.StageDeactivated)
	if !emergency && s.tags[TagEmergency] == "true" {
		// The emergency switch-off acts only on a version recorded as
		// leaked: the emergency rotation's createSecret (or dualkey rotate
		// --emergency, before it) records AWSCURRENT, which the rotation
		// then makes AWSPREVIOUS.
		leaked := leakedVersions(s.tags)
		switch {
		case slices.Contains(leaked, cur):
			// Until the rotation replaces it, switching off the older
			// AWSPREVIOUS would be the wrong credential.
			rep.add(Action{Op: OpWait, Version: cur, Reason: "emergency: waiting for the rotation to replace the leaked AWSCURRENT credential; see " + l.cmd("status", s.name)})
			return nil
		case (prev != "" && slices.Contains(leaked, prev)) || (prev == "" && dv != "" && slices.Contains(leaked, dv)):
			emergency = true
		default:
			// The tag was set by hand and no rotation has run since: the
			// older AWSPREVIOUS is not the leaked credential and follows
			// its usual path; the tag stays for the rotation.
			rep.add(Action{Op: OpWait, Version: cur, Reason: fmt.Sprintf("emergency: tag %s=true is set, but no version is recorded as leaked yet; the emergency rotation's createSecret records AWSCURRENT and the retire run after it switches it off at once; the older previous credential follows its usual path meanwhile; rotate now: %s",
				TagEmergency, l.cmd("rotate", "--emergency", s.name))})
		}
	}
	if prev == "" || prev == dv {
		if prev == "" && cur != "" && !apply {
			l.currentPath(ctx, s, rep, cur)
		}
		if dv != "" {
			if err := l.deactivated(ctx, s, rep, dv, now, apply); err != nil {
				return err
			}
		} else if len(rep.Actions) == 0 {
			rep.add(Action{Op: OpWait, Reason: "no AWSPREVIOUS version: nothing to retire"})
		}
		// dualkey:emergency goes once its leaked credential is switched off
		// (a crash may have left it); before that it must stay.
		if dv != "" {
			return l.clearEmergency(ctx, s, apply, dv)
		}
		if st := s.tags[TagState]; st == StateDeleted || st == StateDeactivated || st == StateReplaced {
			return l.clearEmergency(ctx, s, apply, s.tags[TagStateVersion])
		}
		return nil
	}
	// prev holds a credential that has not been switched off.
	if dv != "" {
		gone, err := l.older(ctx, s, rep, dv, now, apply)
		if err != nil {
			return err
		}
		if gone {
			dv = ""
		}
	}
	switch s.stateOf(prev) {
	case StateDeleted:
		rep.add(Action{Op: OpWait, Version: prev, Reason: "the old credential was deleted " + s.tags[TagStateSince] + "; nothing to do until the next rotation"})
		return nil
	case StateExpired:
		rep.add(Action{Op: OpWait, Version: prev, Reason: "the vendor switched the old credential off (checked " + s.tags[TagStateSince] + "); nothing to do until the next rotation"})
		return nil
	case StateReplaced:
		rep.Path = PathFor(s.provider, rotation.SwitchOffNone, s.tags[TagStateNote], s.settings)
		rep.add(Action{Op: OpWait, Version: prev, Reason: replacedWait(s)})
		return l.clearEmergency(ctx, s, apply, prev)
	case StateDeleting:
		return l.deletePrevious(ctx, s, rep, prev, apply, emergency, "finishing the delete started "+s.tags[TagStateSince])
	case StateHeld:
		if !emergency {
			rep.add(Action{Op: OpHold, Version: prev, Reason: "retirement held since " + s.tags[TagStateSince] + " (" + s.tags[TagStateNote] + "); resume with: " + l.cmd("retire", "--resume", s.name)})
			return nil
		}
	}
	req, fp, err := l.credential(ctx, s, prev)
	if err != nil {
		return err
	}
	path, why, err := l.switchOffOf(s, req.Version)
	if err != nil {
		return err
	}
	rep.Path = PathFor(s.provider, path, why, s.settings)
	if path == rotation.SwitchOffNone {
		return l.replaced(ctx, s, rep, prev, fp, why, now, apply, emergency)
	}
	if !emergency {
		if end := s.promoted.Add(s.settings.Drain); now.Before(end) {
			rep.add(Action{Op: OpWait, Version: prev, Fingerprint: fp, Reason: fmt.Sprintf("drain window: consumers have until %s to pick up the new credential", stamp(end))})
			return l.setState(ctx, s, rep, apply, prev, StateDraining, s.promoted, "promoted "+stamp(s.promoted))
		}
		inUse, err := l.usage(ctx, s, rep, req, fp, now, apply)
		if err != nil || inUse {
			return err
		}
		if path == rotation.SwitchOffExternal {
			return l.expiry(ctx, s, rep, req, fp, now, apply, false)
		}
		if path == rotation.SwitchOffDeleteOnly {
			waiting, err := l.confirmation(ctx, s, rep, prev, fp, now, apply)
			if err != nil || waiting {
				return err
			}
		}
		if w := s.settings.Window; w != nil && !w.Contains(now) {
			reason := fmt.Sprintf("outside the deactivation window %q; next opens %s", w.String(), stamp(w.Next(now)))
			rep.add(Action{Op: OpWait, Version: prev, Fingerprint: fp, Reason: reason})
			if path == rotation.SwitchOffDeleteOnly {
				return nil // keep the confirmation state: its period is over
			}
			return l.setState(ctx, s, rep, apply, prev, StateWaitingWindow, now, "window "+w.String())
		}
	}
	if dv != "" {
		// Only one credential waits for deletion at a time: an older one is
		// superseded by this retirement and goes now.
		if err := l.delete(ctx, s, rep, dv, apply, "superseded by the retirement of the newer previous credential"); err != nil {
			return err
		}
	}
	if emergency {
		if err := l.recordLeaked(ctx, s, apply, prev); err != nil {
			return err
		}
	}
	if path == rotation.SwitchOffExternal {
		return l.expiry(ctx, s, rep, req, fp, now, apply, emergency)
	}
	if path == rotation.SwitchOffDeleteOnly {
		why := fmt.Sprintf("drained, unused, and the confirmation period of %s is over", human(s.settings.Confirm))
		if emergency {
			why = "emergency: the credential leaked and the vendor cannot disable it, so it is deleted at once; no rollback is possible"
		}
		return l.deletePrevious(ctx, s, rep, prev, apply, emergency, why)
	}
	return l.switchOff(ctx, s, rep, req, fp, now, apply, emergency)
}

// currentPath sets the report's path to the one the current credential
// will take, for a provider whose path depends on the secret, so that
// status and dry runs of a secret not rotated yet say it. It costs a read,
// so only dry runs ask; a failure leaves the provider's path.
func (l *Lifecycle) currentPath(ctx context.Context, s *secret, rep *Report, cur string) {
	if _, ok := s.provider.(rotation.SwitchOffPerSecret); !ok {
		return
	}
	req, _, err := l.credential(ctx, s, cur)
	if err != nil {
		return
	}
	if off, why, err := l.switchOffOf(s, req.Version); err == nil {
		rep.Path = PathFor(s.provider, off, why, s.settings)
	}
}

// replaced records that the old credential of prev was replaced in place
// at setSecret (rotation.SwitchOffNone): nothing is switched off or
// claimed to be, the version keeps its labels, and no rollback can bring
// it back. An emergency records it as leaked all the same.
func (l *Lifecycle) replaced(ctx context.Context, s *secret, rep *Report, prev, fp, why string, now time.Time, apply, emergency bool) error {
	if emergency {
		if err := l.recordLeaked(ctx, s, apply, prev); err != nil {
			return err
		}
	}
	rep.add(Action{Op: OpCheck, Version: prev, Fingerprint: fp, Applied: true, Reason: "nothing to switch off: " + why +
		"; no deactivation is recorded, AWSPREVIOUS keeps its label, and no rollback can bring the old credential back"})
	if err := l.setState(ctx, s, rep, apply, prev, StateReplaced, now, why); err != nil {
		return err
	}
	return l.clearEmergency(ctx, s, apply, prev)
}

// replacedWait is the report of a run after replaced.
func replacedWait(s *secret) string {
	return "the old credential was replaced in place at setSecret (" + s.tags[TagStateNote] + "), recorded " + s.tags[TagStateSince] + "; nothing to switch off until the next rotation"
}

// usage checks the provider's evidence of use of the old credential. It
// reports whether the credential is still in use (and records that).
func (l *Lifecycle) usage(ctx context.Context, s *secret, rep *Report, req *rotation.CredentialRequest, fp string, now time.Time, apply bool) (bool, error) {
	prev := req.Version.ID
	var u *rotation.Usage
	if ur, ok := s.provider.(rotation.UsageReporter); ok {
		var err error
		if u, err = ur.LastUsed(ctx, req); err != nil {
			return false, fmt.Errorf("usage evidence for %s: %w", fp, err)
		}
	}
	if s.settings.UsageLogs != "" {
		if l.logs == nil {
			return false, fmt.Errorf("secret %s: %w: tag %s is set, but this function has no CloudWatch Logs client", s.name, ErrBadSetting, usagelogs.Tag)
		}
		ev, err := l.logs.ForCredential(ctx, s.provider, req, s.tags, now.Add(-s.settings.Quiet), now)
		if err != nil {
			return false, fmt.Errorf("secret %s: usage evidence from CloudWatch Logs for %s: %w", s.name, fp, err)
		}
		u = usagelogs.Combine(u, ev.Usage())
	}
	if u == nil {
		guard := "the drain window is the only guard"
		if s.provider.SwitchOff() == rotation.SwitchOffDeleteOnly {
			guard = "the drain window and the confirmation period are the only guards"
		}
		rep.add(Action{Op: OpCheck, Version: prev, Fingerprint: fp, Reason: "provider " + s.provider.Name() + " has no usage evidence; " + guard, Applied: true})
		return false, nil
	}
	if !u.Known {
		rep.add(Action{Op: OpCheck, Version: prev, Fingerprint: fp, Reason: "no usage evidence: " + u.Detail, Applied: true})
		return false, nil
	}
	if u.Granularity > 0 && s.settings.Quiet < u.Granularity {
		return false, fmt.Errorf("secret %s: %w: the quiet period is %s (tag %s, else DUALKEY_QUIET, else the drain), but provider %s reports last use only to %s, "+
			"so a shorter quiet period cannot show that the credential is unused; set it to %s or more: aws secretsmanager tag-resource --secret-id %s --tags Key=%s,Value=%s",
			s.name, ErrBadSetting, s.settings.Quiet, TagQuiet, s.provider.Name(), u.Granularity, u.Granularity, s.name, TagQuiet, human(u.Granularity))
	}
	// A reported time stands for any moment of its granule (IAM reports
	// 12:33:00 for a use at 12:33:27): count the use at the granule's end.
	if last := u.LastUsed; !last.IsZero() && last.Add(u.Granularity).After(now.Add(-s.settings.Quiet)) {
		reason := fmt.Sprintf("old credential still in use: %s, within the last %s; find the consumer that did not pick up the new credential", u.Detail, human(s.settings.Quiet))
		rep.add(Action{Op: OpAlert, Version: prev, Fingerprint: fp, Reason: reason})
		l.metric(s, "OldCredentialInUse")
		l.log.Warn("old credential still in use", "secret", s.arn, "credential", fp, "evidence", u.Detail)
		return true, l.setState(ctx, s, rep, apply, prev, StateInUse, now, u.Detail)
	}
	rep.add(Action{Op: OpCheck, Version: prev, Fingerprint: fp, Reason: "usage evidence: " + u.Detail, Applied: true})
	return false, nil
}

// confirmation runs the delete-only provider's confirmation period. It
// reports whether the lifecycle still waits.
func (l *Lifecycle) confirmation(ctx context.Context, s *secret, rep *Report, prev, fp string, now time.Time, apply bool) (bool, error) {
	since := now
	if s.stateOf(prev) == StateConfirming {
		if t, err := time.Parse(time.RFC3339, s.tags[TagStateSince]); err == nil && !t.After(now) {
			since = t
		}
	}
	end := since.Add(s.settings.Confirm)
	if !now.Before(end) {
		return false, nil
	}
	if s.stateOf(prev) != StateConfirming {
		rep.add(Action{Op: OpConfirm, Version: prev, Fingerprint: fp, Applied: apply, Reason: fmt.Sprintf(
			"drained and unused; the vendor cannot disable a credential, so it stays valid for the confirmation period of %s; deletion not before %s; rollback possible until then",
			human(s.settings.Confirm), stamp(end))})
	} else {
		rep.add(Action{Op: OpWait, Version: prev, Fingerprint: fp, Reason: fmt.Sprintf("confirmation period since %s: deletion not before %s; rollback possible until then", stamp(since), stamp(end))})
	}
	return true, l.setState(ctx, s, rep, apply, prev, StateConfirming, since, "confirmation period until "+stamp(end))
}

// switchOff deactivates the previous credential (reversible or label-gated)
// and labels it DUALKEY_DEACTIVATED.
func (l *Lifecycle) switchOff(ctx context.Context, s *secret, rep *Report, req *rotation.CredentialRequest, fp string, now time.Time, apply, emergency bool) error {
	prev := req.Version.ID
	why := fmt.Sprintf("drained since %s and unused", stamp(s.promoted.Add(s.settings.Drain)))
	if emergency {
		why = "emergency rotation: the old credential leaked and is switched off at once; no automatic rollback will bring it back"
	}
	how := "made inactive at the provider"
	if s.provider.SwitchOff() == rotation.SwitchOffLabelGated {
		how = "AWSPREVIOUS removed, so keyring services refuse it within their check interval"
	}
	next := fmt.Sprintf("deletion after %s; rollback possible until then", human(s.settings.Grace))
	if _, ok := s.provider.(rotation.Deleter); !ok && s.provider.SwitchOff() == rotation.SwitchOffReversible {
		next = "no delete stage: it stays deactivated until the next rotation reuses it; rollback possible until then"
	}
	rep.add(Action{Op: OpDeactivate, Version: prev, Fingerprint: fp, Reason: why + "; " + how + "; " + next, Applied: apply})
	if !apply {
		return nil
	}
	switch s.provider.SwitchOff() {
	case rotation.SwitchOffReversible:
		if err := s.provider.(rotation.Deactivator).Deactivate(ctx, req); err != nil {
			return fmt.Errorf("deactivate %s: %w", fp, err)
		}
	case rotation.SwitchOffLabelGated:
		// The label move below is the switch-off: one call moves
		// DUALKEY_DEACTIVATED on, a second takes AWSPREVIOUS off.
	}
	if _, err := l.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(s.arn), VersionStage: aws.String(rotation.StageDeactivated), MoveToVersionId: aws.String(prev),
	}); err != nil {
		return fmt.Errorf("label %s %s: %w", prev, rotation.StageDeactivated, err)
	}
	if s.provider.SwitchOff() == rotation.SwitchOffLabelGated {
		if err := l.removeStage(ctx, s, rotation.StagePrevious, prev); err != nil {
			return err
		}
	}
	if err := l.tag(ctx, s, map[string]string{TagDeactivatedAt: stamp(now)}); err != nil {
		return err
	}
	l.metric(s, "CredentialDeactivated")
	l.publish(ctx, s, notify.CredentialDeactivated, prev, fp, why)
	if err := l.setState(ctx, s, rep, apply, prev, StateDeactivated, now, why); err != nil {
		return err
	}
	return l.clearEmergency(ctx, s, apply, prev)
}

// expiry follows a credential the vendor switches off by itself
// (SwitchOffExternal): it asks the provider whether the vendor still
// accepts it; once dead, AWSPREVIOUS goes; while it works past its
// announced expiry (or with none announced), it alerts.
func (l *Lifecycle) expiry(ctx context.Context, s *secret, rep *Report, req *rotation.CredentialRequest, fp string, now time.Time, apply, emergency bool) error {
	prev := req.Version.ID
	live, err := s.provider.(rotation.ExpiryChecker).CheckDead(ctx, req)
	if err != nil {
		return fmt.Errorf("check whether %s still works: %w", fp, err)
	}
	if live.Dead {
		rep.add(Action{Op: OpCheck, Version: prev, Fingerprint: fp, Applied: true, Reason: "the vendor switched it off: " + live.Detail})
		rep.add(Action{Op: OpForget, Version: prev, Fingerprint: fp, Applied: apply, Reason: "remove AWSPREVIOUS: the credential is dead, nothing can roll back to it"})
		rep.State = StateExpired
		if !apply {
			return nil
		}
		if err := l.removeStage(ctx, s, rotation.StagePrevious, prev); err != nil {
			return err
		}
		l.metric(s, "CredentialExpired")
		l.publish(ctx, s, notify.CredentialExpired, prev, fp, live.Detail)
		if err := l.setState(ctx, s, rep, apply, prev, StateExpired, now, live.Detail); err != nil {
			return err
		}
		return l.clearEmergency(ctx, s, apply, prev)
	}
	if emergency {
		reason := fmt.Sprintf("emergency: the old credential leaked and still works (%s); provider %s cannot switch it off: expire or revoke it in the vendor's dashboard now, then check with: %s",
			live.Detail, s.provider.Name(), l.cmd("retire", s.name))
		rep.add(Action{Op: OpAlert, Version: prev, Fingerprint: fp, Reason: reason})
		l.metric(s, "OldCredentialStillValid")
		l.log.Error("leaked credential still works", "secret", s.arn, "credential", fp, "evidence", live.Detail)
		if err := l.setState(ctx, s, rep, apply, prev, StateWaitingExpiry, now, "leaked; "+live.Detail); err != nil {
			return err
		}
		return fmt.Errorf("secret %s: %w: %s", s.name, ErrCannotSwitchOff, reason)
	}
	if !live.ExpiresAt.IsZero() && now.Before(live.ExpiresAt) {
		rep.add(Action{Op: OpWait, Version: prev, Fingerprint: fp, Reason: fmt.Sprintf(
			"the vendor switches it off at %s (chosen when the key was rolled); rollback possible until then", stamp(live.ExpiresAt))})
		return l.setState(ctx, s, rep, apply, prev, StateWaitingExpiry, now, "vendor expiry "+stamp(live.ExpiresAt))
	}
	when := "and no expiry was announced"
	if !live.ExpiresAt.IsZero() {
		when = "after its announced expiry at " + stamp(live.ExpiresAt)
	}
	reason := fmt.Sprintf("the old credential still works %s: %s; expire or revoke it in the vendor's dashboard; the next run checks again", when, live.Detail)
	rep.add(Action{Op: OpAlert, Version: prev, Fingerprint: fp, Reason: reason})
	l.metric(s, "OldCredentialStillValid")
	l.log.Warn("old credential still works", "secret", s.arn, "credential", fp, "evidence", live.Detail)
	return l.setState(ctx, s, rep, apply, prev, StateWaitingExpiry, now, live.Detail)
}

// deactivated handles the version labelled DUALKEY_DEACTIVATED that is the
// current retiree: wait for the grace period, then delete.
func (l *Lifecycle) deactivated(ctx context.Context, s *secret, rep *Report, dv string, now time.Time, apply bool) error {
	if s.stateOf(dv) == StateHeld {
		rep.add(Action{Op: OpHold, Version: dv, Reason: "a rollback of it did not finish; run it again: " + l.cmd("rollback", s.name)})
		return nil
	}
	if s.provider.SwitchOff() == rotation.SwitchOffLabelGated && slices.Contains(s.stages[dv], rotation.StagePrevious) {
		// A crash between the two label moves of the switch-off: finish it.
		_, fp, err := l.credential(ctx, s, dv)
		if err != nil {
			return err
		}
		rep.add(Action{Op: OpDeactivate, Version: dv, Fingerprint: fp, Applied: apply,
			Reason: "finishing the switch-off: the version is labelled " + rotation.StageDeactivated + " but still holds AWSPREVIOUS"})
		if apply {
			if err := l.removeStage(ctx, s, rotation.StagePrevious, dv); err != nil {
				return err
			}
		}
	}
	if _, ok := s.provider.(rotation.Deleter); !ok && s.provider.SwitchOff() == rotation.SwitchOffReversible {
		_, fp, err := l.credential(ctx, s, dv)
		if err != nil {
			return err
		}
		rep.add(Action{Op: OpWait, Version: dv, Fingerprint: fp, Reason: fmt.Sprintf(
			"deactivated %s; provider %s has no delete stage: the credential stays deactivated until the next rotation reuses it; rollback possible until then",
			s.tags[TagDeactivatedAt], s.provider.Name())})
		return nil
	}
	_, err := l.grace(ctx, s, rep, dv, now, apply)
	return err
}

// older handles a DUALKEY_DEACTIVATED version older than AWSPREVIOUS. It
// reports whether the label is gone.
func (l *Lifecycle) older(ctx context.Context, s *secret, rep *Report, dv string, now time.Time, apply bool) (bool, error) {
	if _, ok := s.provider.(rotation.Deleter); !ok && s.provider.SwitchOff() == rotation.SwitchOffReversible {
		// The rotation that made the newer previous credential reused this
		// one (a database's alternating users): the provider must not be
		// touched, only the label goes.
		rep.add(Action{Op: OpForget, Version: dv, Applied: apply, Reason: fmt.Sprintf(
			"remove %s: provider %s has no delete stage and the last rotation reused this credential; the provider is not touched", rotation.StageDeactivated, s.provider.Name())})
		if !apply {
			return true, nil
		}
		if err := l.removeStage(ctx, s, rotation.StageDeactivated, dv); err != nil {
			return false, err
		}
		return true, l.untag(ctx, s, TagDeactivatedAt)
	}
	return l.grace(ctx, s, rep, dv, now, apply)
}

// grace deletes the deactivated version's credential once the grace period
// is over. It reports whether the credential was deleted.
func (l *Lifecycle) grace(ctx context.Context, s *secret, rep *Report, dv string, now time.Time, apply bool) (bool, error) {
	since, err := time.Parse(time.RFC3339, s.tags[TagDeactivatedAt])
	if err != nil {
		// Deactivated, but the time was not recorded (a crash in between):
		// start the grace period now, the safe side.
		since = now
		rep.add(Action{Op: OpWait, Version: dv, Reason: "deactivation time missing; grace period starts now", Applied: apply})
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
		rep.add(Action{Op: OpWait, Version: dv, Fingerprint: fp, Reason: fmt.Sprintf("deactivated %s; deletion at %s; rollback possible until then", stamp(since), stamp(end))})
		return false, nil
	}
	err = l.delete(ctx, s, rep, dv, apply, fmt.Sprintf("grace period of %s since deactivation at %s is over", human(s.settings.Grace), stamp(since)))
	return err == nil, err
}

// delete destroys a deactivated credential and takes its labels off.
func (l *Lifecycle) delete(ctx context.Context, s *secret, rep *Report, id string, apply bool, why string) error {
	req, fp, err := l.credential(ctx, s, id)
	if err != nil {
		return err
	}
	d, deleter := s.provider.(rotation.Deleter)
	if !deleter {
		why += "; the credential exists only in this version, which keeps no label and so is no longer accepted anywhere"
	}
	rep.add(Action{Op: OpDelete, Version: id, Fingerprint: fp, Reason: why, Applied: apply})
	if !apply {
		return nil
	}
	if deleter {
		if err := d.Delete(ctx, req); err != nil {
			return fmt.Errorf("delete %s: %w", fp, err)
		}
	}
	if err := l.removeStage(ctx, s, rotation.StageDeactivated, id); err != nil {
		return err
	}
	if err := l.removeStage(ctx, s, rotation.StagePrevious, id); err != nil {
		return err
	}
	if err := l.untag(ctx, s, TagDeactivatedAt); err != nil {
		return err
	}
	l.metric(s, "CredentialDeleted")
	l.publish(ctx, s, notify.CredentialDeleted, id, fp, why)
	if s.tags[TagStateVersion] == id {
		return l.setState(ctx, s, rep, apply, id, StateDeleted, l.now(), why)
	}
	return nil
}

// deletePrevious deletes a delete-only provider's previous credential:
// state deleting (so a crash resumes the delete, not the checks), the
// provider's Delete, AWSPREVIOUS off, state deleted.
func (l *Lifecycle) deletePrevious(ctx context.Context, s *secret, rep *Report, prev string, apply, emergency bool, why string) error {
	req, fp, err := l.credential(ctx, s, prev)
	if err != nil {
		return err
	}
	rep.add(Action{Op: OpDelete, Version: prev, Fingerprint: fp, Reason: why, Applied: apply})
	if !apply {
		return nil
	}
	if err := l.setState(ctx, s, rep, apply, prev, StateDeleting, l.now(), why); err != nil {
		return err
	}
	if err := s.provider.(rotation.Deleter).Delete(ctx, req); err != nil {
		return fmt.Errorf("delete %s: %w", fp, err)
	}
	if err := l.removeStage(ctx, s, rotation.StagePrevious, prev); err != nil {
		return err
	}
	l.metric(s, "CredentialDeleted")
	l.publish(ctx, s, notify.CredentialDeleted, prev, fp, why)
	if err := l.setState(ctx, s, rep, apply, prev, StateDeleted, l.now(), why); err != nil {
		return err
	}
	if emergency {
		return l.clearEmergency(ctx, s, apply, prev)
	}
	return nil
}

// removeStage takes stage off version, when it holds it.
func (l *Lifecycle) removeStage(ctx context.Context, s *secret, stage, version string) error {
	if !slices.Contains(s.stages[version], stage) {
		return nil
	}
	if _, err := l.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(s.arn), VersionStage: aws.String(stage), RemoveFromVersionId: aws.String(version),
	}); err != nil {
		return fmt.Errorf("remove %s from %s: %w", stage, version, err)
	}
	s.stages[version] = slices.DeleteFunc(slices.Clone(s.stages[version]), func(x string) bool { return x == stage })
	return nil
}

// clearEmergency removes dualkey:emergency once the credential of version,
// recorded as leaked, is switched off (the only non-state tag the
// functions remove). The switch-off of a credential not recorded as
// leaked (an older one, retired before the emergency rotation ran) leaves
// the tag for the rotation and the run after it.
func (l *Lifecycle) clearEmergency(ctx context.Context, s *secret, apply bool, version string) error {
	if !apply || s.tags[TagEmergency] == "" || version == "" || !slices.Contains(leakedVersions(s.tags), version) {
		return nil
	}
	return l.untag(ctx, s, TagEmergency)
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
	tags := make([]types.Tag, 0, len(kv))
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(kv[k])})
		s.tags[k] = kv[k]
	}
	if _, err := l.sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(s.arn), Tags: tags}); err != nil {
		return fmt.Errorf("tag secret %s: %w", s.name, err)
	}
	return nil
}

func (l *Lifecycle) untag(ctx context.Context, s *secret, keys ...string) error {
	keys = slices.DeleteFunc(slices.Clone(keys), func(k string) bool { _, ok := s.tags[k]; return !ok })
	if len(keys) == 0 {
		return nil
	}
	if _, err := l.sm.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String(s.arn), TagKeys: keys}); err != nil {
		return fmt.Errorf("clear tags %s of secret %s: %w", strings.Join(keys, ", "), s.name, err)
	}
	for _, k := range keys {
		delete(s.tags, k)
	}
	return nil
}

// leakedVersions reads dualkey:state-leaked (rotation.LeakedVersions).
func leakedVersions(tags map[string]string) []string { return rotation.LeakedVersions(tags) }

// recordLeaked adds versions to dualkey:state-leaked, before anything is
// switched off. Versions that no longer hold a label are dropped (nothing
// can roll back to them), then the oldest, to fit a tag value.
func (l *Lifecycle) recordLeaked(ctx context.Context, s *secret, apply bool, versions ...string) error {
	old := leakedVersions(s.tags)
	list := slices.DeleteFunc(slices.Clone(old), func(v string) bool { return len(s.stages[v]) == 0 && !slices.Contains(versions, v) })
	value := rotation.WithLeaked(list, versions...)
	if !apply || value == s.tags[TagStateLeaked] {
		return nil
	}
	if tagValue(value) != value {
		return fmt.Errorf("secret %s: version ids %s cannot be recorded in tag %s", s.name, value, TagStateLeaked)
	}
	return l.tag(ctx, s, map[string]string{TagStateLeaked: value})
}

func (l *Lifecycle) checkOverdue(s *secret, rep *Report, now time.Time) {
	for _, a := range l.overdue(s, now) {
		rep.add(a.action)
		l.metric(s, a.metric)
	}
}

func (l *Lifecycle) metric(s *secret, name string) {
	l.metrics.Emit(map[string]string{"Provider": s.provider.Name(), "SecretName": s.name}, [][]string{{"SecretName"}},
		rotation.MetricDatum{Name: name, Unit: "Count", Value: 1})
}

// publish sends one lifecycle event about version; a failure is logged and
// counted (EventPublishFailed), never the step's failure.
func (l *Lifecycle) publish(ctx context.Context, s *secret, detailType, version, fp, reason string) {
	if l.events == nil {
		return
	}
	ev := notify.Event{DetailType: detailType, SecretARN: s.arn, SecretName: s.name, Provider: s.provider.Name(),
		Versions:     map[string]string{notify.RoleCurrent: rotation.Holder(s.stages, rotation.StageCurrent), notify.RolePrevious: version},
		Fingerprints: map[string]string{notify.RolePrevious: fp}, Reason: reason, Time: l.now()}
	if _, err := l.events.Publish(ctx, ev); err != nil {
		l.metric(s, "EventPublishFailed")
		l.log.Error("event not published; the lifecycle step stands", "secret", s.arn, "detail_type", detailType, "error", l.red.Redact(err.Error()))
	}
}

// Resume clears a rollback hold so the next run retires the old credential again.
func (l *Lifecycle) Resume(ctx context.Context, id string) (*Report, error) {
	s, rep, err := l.load(ctx, id)
	if err != nil {
		return rep, err
	}
	if s.tags[TagState] != StateHeld {
		rep.add(Action{Op: OpWait, Reason: "retirement is not held; nothing to resume"})
		return rep, nil
	}
	if err := l.untag(ctx, s, TagState, TagStateVersion, TagStateSince, TagStateNote); err != nil {
		return rep, fmt.Errorf("clear hold on %s: %w", s.name, err)
	}
	rep.State = ""
	rep.add(Action{Op: OpResume, Reason: "hold cleared; the next retire run checks the old credential again", Applied: true})
	return rep, nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func parseStamp(s string) (time.Time, error) { return time.Parse(time.RFC3339, s) }

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
