package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/notify"
	"github.com/dualkey/dualkey/shared/rotation"
)

// RollbackOptions change how Rollback runs.
type RollbackOptions struct {
	// Reason is recorded in the state tags (no secrets).
	Reason string
	// RestoreCurrent moves AWSCURRENT back to the old version; nil uses the
	// secret's dualkey:rollback-restore setting.
	RestoreCurrent *bool
	// Force allows a rollback after the rollback window, as long as the old
	// credential still exists (an operator's decision, never an alarm's).
	Force bool
	// ReactivateLeaked allows bringing back a credential an emergency
	// rotation switched off because it leaked (an operator's decision,
	// never an alarm's).
	ReactivateLeaked bool
	// DryRun reports what would be done.
	DryRun bool
	// Alarm is the name of the alarm that asks for the rollback; empty for
	// an operator. An alarm's rollback never brings back a leaked
	// credential, never acts during an emergency rotation, is never forced,
	// and is ignored when the alarm changed state before the promotion.
	Alarm string
	// AlarmTime is when the alarm entered ALARM.
	AlarmTime time.Time
}

// ignored is why an alarm's rollback was not done.
type ignored string

// Rollback undoes the retirement of the old credential: within the rollback
// window after promotion, or at any time until its delete once it is
// switched off (deactivated, or waiting for the confirmation period of a
// delete-only provider), it switches it back on, holds retirement, and
// optionally moves AWSCURRENT back to it. An alarm's rollback that does not
// apply is reported as an ignore action, without an error.
func (l *Lifecycle) Rollback(ctx context.Context, id string, opt RollbackOptions) (*Report, error) {
	s, rep, err := l.load(ctx, id)
	if err != nil {
		rep.Err = err
		return rep, err
	}
	why, err := l.rollback(ctx, s, rep, opt)
	if why != "" {
		rep.add(Action{Op: OpIgnore, Reason: fmt.Sprintf("alarm %s ignored: %s", opt.Alarm, why)})
		l.log.Info("alarm ignored", "alarm", opt.Alarm, "secret", s.arn, "reason", string(why))
		return rep, nil
	}
	if err != nil {
		rep.Err = err
		l.log.Error("rollback failed", "secret", s.arn, "error", err.Error())
	}
	for _, a := range rep.Actions {
		l.log.Info("rollback", "secret", s.arn, "op", a.Op, "version", a.Version, "credential", a.Fingerprint, "reason", a.Reason, "applied", a.Applied, "alarm", opt.Alarm)
	}
	return rep, err
}

func (l *Lifecycle) rollback(ctx context.Context, s *secret, rep *Report, opt RollbackOptions) (ignored, error) {
	now := l.now()
	apply := !opt.DryRun
	automatic := opt.Alarm != ""
	cur := rotation.Holder(s.stages, rotation.StageCurrent)
	prev := rotation.Holder(s.stages, rotation.StagePrevious)
	dv := rotation.Holder(s.stages, rotation.StageDeactivated)
	// The old credential of the last promotion: AWSPREVIOUS; after a
	// label-gated switch-off only DUALKEY_DEACTIVATED holds it.
	target := prev
	if target == "" {
		target = dv
	}
	if target == "" || target == cur {
		if automatic {
			return "no AWSPREVIOUS or " + rotation.StageDeactivated + " version: nothing to roll back", nil
		}
		return "", fmt.Errorf("secret %s: %w: no AWSPREVIOUS or %s version exists; to replace the current credential, rotate: %s",
			s.name, ErrNothingToRollBack, rotation.StageDeactivated, l.cmd("rotate", s.name))
	}
	if st := s.stateOf(target); st == StateDeleted || st == StateDeleting || st == StateExpired {
		gone := "deleted"
		if st == StateExpired {
			gone = "switched off by the vendor"
		}
		if automatic {
			return ignored("the old credential was " + gone + " " + s.tags[TagStateSince]), nil
		}
		return "", fmt.Errorf("secret %s: %w: the old credential of version %s was %s %s and cannot come back; to replace the current one, rotate: %s",
			s.name, ErrNothingToRollBack, target, gone, s.tags[TagStateSince], l.cmd("rotate", s.name))
	}
	leaked := slices.Contains(leakedVersions(s.tags), target)
	path := s.provider.SwitchOff()
	if automatic {
		switch {
		case s.tags[TagEmergency] == "true":
			return ignored("an emergency rotation is under way (tag " + TagEmergency + "); alarms never roll it back"), nil
		case leaked:
			return ignored(fmt.Sprintf("the old credential of version %s leaked (an emergency rotation switched it off); an alarm never brings it back", target)), nil
		case !opt.AlarmTime.IsZero() && opt.AlarmTime.Before(s.promoted):
			return ignored(fmt.Sprintf("it entered ALARM at %s, before the promotion at %s, so this rotation did not cause it", stamp(opt.AlarmTime), stamp(s.promoted))), nil
		}
	} else if leaked && !opt.ReactivateLeaked {
		_, fp, _ := l.credential(ctx, s, target)
		return "", fmt.Errorf("secret %s: %w: credential %s of version %s was switched off by an emergency rotation because it leaked, and a rollback would bring it back; "+
			"if you accept that: %s", s.name, ErrLeakedCredential, fp, target, l.cmd("rollback", "--reactivate-leaked-credential", s.name))
	}
	req, fp, err := l.credential(ctx, s, target)
	if err != nil {
		return "", err
	}
	off, why, err := l.switchOffOf(s, req.Version)
	if err != nil {
		return "", err
	}
	rep.Path = PathFor(s.provider, off, why, s.settings)
	if off == rotation.SwitchOffNone {
		msg := fmt.Sprintf("the old credential of version %s cannot come back: %s", target, why)
		if automatic {
			return ignored(msg), nil
		}
		return "", fmt.Errorf("secret %s: %w: %s; to replace the current credential, rotate: %s", s.name, ErrNothingToRollBack, msg, l.cmd("rotate", s.name))
	}
	path = off
	switchedOff := target == dv
	// Until the delete (delete-only) or the vendor's expiry (external), a
	// rollback stays possible past the window, as for a deactivated one.
	confirming := (path == rotation.SwitchOffDeleteOnly && s.stateOf(target) == StateConfirming) ||
		(path == rotation.SwitchOffExternal && s.stateOf(target) == StateWaitingExpiry)
	deadline := s.promoted.Add(s.settings.RollbackWindow)
	if !switchedOff && !confirming && now.After(deadline) && (automatic || !opt.Force) {
		msg := fmt.Sprintf("promoted %s, the %s rollback window closed %s and the old credential was not switched off", stamp(s.promoted), human(s.settings.RollbackWindow), stamp(deadline))
		if automatic {
			return ignored("outside the rollback window: " + msg), nil
		}
		return "", fmt.Errorf("secret %s: %w: %s; an operator can still force it: %s", s.name, ErrOutsideRollbackWindow, msg, l.cmd("rollback", "--force", s.name))
	}
	reason := opt.Reason
	if reason == "" {
		reason = "manual rollback"
	}
	expires := ""
	if path == rotation.SwitchOffExternal {
		live, err := s.provider.(rotation.ExpiryChecker).CheckDead(ctx, req)
		if err != nil {
			return "", fmt.Errorf("check whether %s still works: %w", fp, err)
		}
		if live.Dead {
			if automatic {
				return ignored("the vendor already switched the old credential off: " + live.Detail), nil
			}
			return "", fmt.Errorf("secret %s: %w: the vendor already switched the old credential off (%s); to replace the current one, rotate: %s",
				s.name, ErrNothingToRollBack, live.Detail, l.cmd("rotate", s.name))
		}
		expires = "the vendor still switches it off when it was told to (dualkey cannot stop that): roll a new key before then"
		if !live.ExpiresAt.IsZero() {
			expires = "the vendor still switches it off at " + stamp(live.ExpiresAt) + " (dualkey cannot stop that): roll a new key before then"
		}
	}
	switch {
	case path == rotation.SwitchOffReversible && switchedOff:
		rep.add(Action{Op: OpReactivate, Version: target, Fingerprint: fp, Reason: reason + "; deactivated " + s.tags[TagDeactivatedAt], Applied: apply})
	case path == rotation.SwitchOffReversible:
		rep.add(Action{Op: OpReactivate, Version: target, Fingerprint: fp, Reason: reason + "; not deactivated, made sure it is active", Applied: apply})
	case path == rotation.SwitchOffLabelGated && switchedOff:
		rep.add(Action{Op: OpReactivate, Version: target, Fingerprint: fp, Reason: reason + "; AWSPREVIOUS put back, so keyring services accept it again", Applied: apply})
	case path == rotation.SwitchOffLabelGated:
		rep.add(Action{Op: OpHold, Version: target, Fingerprint: fp, Reason: reason + "; still accepted (it holds AWSPREVIOUS): nothing to reactivate"})
	case path == rotation.SwitchOffExternal:
		rep.add(Action{Op: OpHold, Version: target, Fingerprint: fp, Reason: reason + "; the vendor still accepts it: nothing to reactivate; " + expires})
	default:
		rep.add(Action{Op: OpHold, Version: target, Fingerprint: fp, Reason: reason + "; never switched off (the vendor cannot disable it): it works until deleted"})
	}
	restore := s.settings.RestoreCurrent
	if opt.RestoreCurrent != nil {
		restore = *opt.RestoreCurrent
	}
	if restore {
		rep.add(Action{Op: OpRestoreCurrent, Version: target, Fingerprint: fp, Reason: "AWSCURRENT moves back to the old credential", Applied: apply})
	}
	held := target
	if restore {
		held = cur // the rolled-back credential becomes AWSPREVIOUS
	}
	rep.add(Action{Op: OpHold, Version: held, Reason: "retirement held until: " + l.cmd("retire", "--resume", s.name)})
	rep.State = StateHeld
	if !apply {
		return "", nil
	}
	// Hold first, so a crash part-way leaves retirement held (the retire
	// run never deletes a held credential); running the rollback again
	// finishes it.
	if err := l.tag(ctx, s, map[string]string{TagState: StateHeld, TagStateVersion: target, TagStateSince: stamp(now), TagStateNote: tagValue(reason)}); err != nil {
		return "", err
	}
	if path == rotation.SwitchOffReversible {
		if err := s.provider.(rotation.Deactivator).Reactivate(ctx, req); err != nil {
			return "", fmt.Errorf("reactivate %s: %w", fp, err)
		}
	}
	if path == rotation.SwitchOffLabelGated && switchedOff && !restore {
		if _, err := l.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(s.arn), VersionStage: aws.String(rotation.StagePrevious), MoveToVersionId: aws.String(target),
		}); err != nil {
			return "", fmt.Errorf("put AWSPREVIOUS back on %s: %w", target, err)
		}
	}
	if switchedOff {
		if err := l.removeStage(ctx, s, rotation.StageDeactivated, target); err != nil {
			return "", err
		}
		if err := l.untag(ctx, s, TagDeactivatedAt); err != nil {
			return "", err
		}
	}
	if restore {
		// Secrets Manager moves AWSPREVIOUS to the version that loses
		// AWSCURRENT.
		if _, err := l.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(s.arn), VersionStage: aws.String(rotation.StageCurrent), MoveToVersionId: aws.String(target), RemoveFromVersionId: aws.String(cur),
		}); err != nil {
			return "", fmt.Errorf("move AWSCURRENT back to %s: %w", target, err)
		}
		if err := l.tag(ctx, s, map[string]string{TagStateVersion: held}); err != nil {
			return "", err
		}
	}
	l.metric(s, "RollbackPerformed")
	l.publish(ctx, s, notify.RollbackPerformed, target, fp, reason)
	return "", nil
}

// AlarmDetail is the detail of an EventBridge "CloudWatch Alarm State Change" event.
type AlarmDetail struct {
	AlarmName string `json:"alarmName"`
	State     struct {
		Value     string `json:"value"`
		Reason    string `json:"reason"`
		Timestamp string `json:"timestamp"`
	} `json:"state"`
}

// alarmTimeLayouts are the forms of detail.state.timestamp: CloudWatch
// writes "2026-11-26T12:05:00.000+0000".
var alarmTimeLayouts = []string{"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05-0700", time.RFC3339Nano}

// alarmTime returns when the alarm changed state: detail.state.timestamp,
// else the event's time.
func alarmTime(d *AlarmDetail, ev events.CloudWatchEvent) (time.Time, error) {
	if ts := strings.TrimSpace(d.State.Timestamp); ts != "" {
		for _, layout := range alarmTimeLayouts {
			if t, err := time.Parse(layout, ts); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("%w: field \"detail.state.timestamp\" is %q, want a time such as 2026-11-26T12:05:00.000+0000", ErrInvalidEvent, ts)
	}
	if ev.Time.IsZero() {
		return time.Time{}, fmt.Errorf("%w: neither \"detail.state.timestamp\" nor \"time\" says when the alarm changed state", ErrInvalidEvent)
	}
	return ev.Time, nil
}

// AlarmFilter selects the alarms the rollback function acts on: those whose
// name starts with Prefix or is one of Names. The zero filter selects every
// alarm.
type AlarmFilter struct {
	Prefix string
	Names  []string
}

// Match reports whether the filter selects the alarm.
func (f AlarmFilter) Match(alarm string) bool {
	if f.Prefix == "" && len(f.Names) == 0 {
		return true
	}
	return (f.Prefix != "" && strings.HasPrefix(alarm, f.Prefix)) || slices.Contains(f.Names, alarm)
}

// String describes the filter for log lines.
func (f AlarmFilter) String() string {
	var parts []string
	if f.Prefix != "" {
		parts = append(parts, fmt.Sprintf("names starting with %q", f.Prefix))
	}
	if len(f.Names) > 0 {
		parts = append(parts, "the names "+strings.Join(f.Names, ", "))
	}
	if len(parts) == 0 {
		return "every alarm"
	}
	return strings.Join(parts, " or ")
}

// AlarmFilterFromEnv reads DUALKEY_ROLLBACK_ALARM_PREFIX and
// DUALKEY_ROLLBACK_ALARMS (comma-separated alarm names).
func AlarmFilterFromEnv(getenv func(string) string) (AlarmFilter, error) {
	f := AlarmFilter{Prefix: strings.TrimSpace(getenv("DUALKEY_ROLLBACK_ALARM_PREFIX"))}
	if v := getenv("DUALKEY_ROLLBACK_ALARMS"); strings.TrimSpace(v) != "" {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				return f, fmt.Errorf("environment variable DUALKEY_ROLLBACK_ALARMS=%q has an empty alarm name; want names separated by commas, e.g. api-5xx,deploys-failing", v)
			}
			f.Names = append(f.Names, name)
		}
	}
	return f, nil
}

// HandleAlarm is the rollback Lambda's handler: an alarm the filter selects
// that entered ALARM rolls back every secret tagged dualkey:alarm=<alarm
// name>. Other state changes, other alarms, alarms no secret is linked to
// and rollbacks that do not apply (a leaked credential, an alarm older than
// the promotion, outside the window) are logged with the reason and
// ignored; only a malformed event or a failed rollback is an error.
func (l *Lifecycle) HandleAlarm(ctx context.Context, ev events.CloudWatchEvent) ([]*Report, error) {
	if ev.DetailType != "CloudWatch Alarm State Change" {
		return nil, fmt.Errorf("%w: field \"detail-type\" is %q, want \"CloudWatch Alarm State Change\"; route only alarm events to this function", ErrInvalidEvent, ev.DetailType)
	}
	var d AlarmDetail
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		return nil, fmt.Errorf("%w: field \"detail\" is not an alarm state change: %w", ErrInvalidEvent, err)
	}
	if d.AlarmName == "" {
		return nil, fmt.Errorf("%w: field \"detail.alarmName\" is empty", ErrInvalidEvent)
	}
	if d.State.Value != "ALARM" {
		l.log.Info("alarm ignored", "alarm", d.AlarmName, "reason", "state "+d.State.Value+" is not ALARM")
		return nil, nil
	}
	if !l.alarms.Match(d.AlarmName) {
		l.log.Info("alarm ignored", "alarm", d.AlarmName, "reason", "not a rollback alarm: this function acts on "+l.alarms.String())
		return nil, nil
	}
	at, err := alarmTime(&d, ev)
	if err != nil {
		return nil, err
	}
	ids, err := l.managed(ctx, TagAlarm, d.AlarmName)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		l.log.Info("alarm ignored", "alarm", d.AlarmName, "reason", fmt.Sprintf("no secret is linked to it: tag a secret %s=%s to roll it back on this alarm", TagAlarm, d.AlarmName))
		return nil, nil
	}
	reason := fmt.Sprintf("alarm %s entered ALARM at %s", d.AlarmName, stamp(at))
	var reports []*Report
	var errs []error
	for _, id := range ids {
		rep, err := l.Rollback(ctx, id, RollbackOptions{Reason: reason, Alarm: d.AlarmName, AlarmTime: at})
		reports = append(reports, rep)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return reports, errors.Join(errs...)
}
