package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

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
	// DryRun reports what would be done.
	DryRun bool
}

// Rollback undoes the retirement of the old credential: within the rollback
// window after promotion, or at any time while the old credential is
// deactivated but not deleted, it reactivates it, holds retirement, and
// optionally moves AWSCURRENT back to it.
func (l *Lifecycle) Rollback(ctx context.Context, id string, opt RollbackOptions) (*Report, error) {
	s, rep, err := l.load(ctx, id)
	if err != nil {
		rep.Err = err
		return rep, err
	}
	err = l.rollback(ctx, s, rep, opt)
	if err != nil {
		rep.Err = err
		l.log.Error("rollback failed", "secret", s.arn, "error", err.Error())
	}
	for _, a := range rep.Actions {
		l.log.Info("rollback", "secret", s.arn, "op", a.Op, "version", a.Version, "credential", a.Fingerprint, "reason", a.Reason, "applied", a.Applied)
	}
	return rep, err
}

func (l *Lifecycle) rollback(ctx context.Context, s *secret, rep *Report, opt RollbackOptions) error {
	now := l.now()
	apply := !opt.DryRun
	dv := rotation.Holder(s.stages, rotation.StageDeactivated)
	prev := rotation.Holder(s.stages, rotation.StagePrevious)
	cur := rotation.Holder(s.stages, rotation.StageCurrent)
	target := dv
	if target == "" {
		target = prev
	}
	if target == "" || target == cur {
		return fmt.Errorf("secret %s: %w: no AWSPREVIOUS or %s version exists", s.name, ErrNothingToRollBack, rotation.StageDeactivated)
	}
	deadline := s.promoted.Add(s.settings.RollbackWindow)
	if dv == "" && now.After(deadline) && !opt.Force {
		return fmt.Errorf("secret %s: %w: promoted %s, the %s window closed %s and the old credential was not deactivated; "+
			"an operator can still force it with: dualkey rollback --force %s", s.name, ErrOutsideRollbackWindow, stamp(s.promoted), s.settings.RollbackWindow, stamp(deadline), s.name)
	}
	req, fp, err := l.credential(ctx, s, target)
	if err != nil {
		return err
	}
	reason := opt.Reason
	if reason == "" {
		reason = "manual rollback"
	}
	rep.add(Action{Op: "reactivate", Version: target, Fingerprint: fp, Reason: reason, Applied: apply})
	restore := s.settings.RestoreCurrent
	if opt.RestoreCurrent != nil {
		restore = *opt.RestoreCurrent
	}
	if restore {
		rep.add(Action{Op: "restore-current", Version: target, Fingerprint: fp, Reason: "AWSCURRENT moves back to the old credential", Applied: apply})
	}
	rep.add(Action{Op: "hold", Version: target, Reason: "retirement held until: dualkey retire --resume " + s.name})
	if !apply {
		rep.State = StateHeld
		return nil
	}
	if d, ok := s.provider.(rotation.Deactivator); ok {
		if err := d.Reactivate(ctx, req); err != nil {
			return fmt.Errorf("reactivate %s: %w", fp, err)
		}
	}
	if s.provider.SwitchOff() == rotation.SwitchOffLabelGated && prev != target && !restore {
		in := &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(s.arn), VersionStage: aws.String(rotation.StagePrevious), MoveToVersionId: aws.String(target)}
		if prev != "" {
			in.RemoveFromVersionId = aws.String(prev)
		}
		if _, err := l.sm.UpdateSecretVersionStage(ctx, in); err != nil {
			return fmt.Errorf("put AWSPREVIOUS back on %s: %w", target, err)
		}
	}
	if dv != "" {
		if _, err := l.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(s.arn), VersionStage: aws.String(rotation.StageDeactivated), RemoveFromVersionId: aws.String(dv),
		}); err != nil {
			return fmt.Errorf("remove %s from %s: %w", rotation.StageDeactivated, dv, err)
		}
		if _, err := l.sm.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String(s.arn), TagKeys: []string{TagDeactivatedAt}}); err != nil {
			return fmt.Errorf("clear tag %s: %w", TagDeactivatedAt, err)
		}
	}
	held := target
	if restore {
		if _, err := l.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(s.arn), VersionStage: aws.String(rotation.StageCurrent), MoveToVersionId: aws.String(target), RemoveFromVersionId: aws.String(cur),
		}); err != nil {
			return fmt.Errorf("move AWSCURRENT back to %s: %w", target, err)
		}
		// The rolled-back credential is now AWSPREVIOUS: hold its retirement.
		held = cur
	}
	l.metric(s, "RollbackPerformed")
	rep.State = StateHeld
	return l.tag(ctx, s, map[string]string{TagState: StateHeld, TagStateVersion: held, TagStateSince: stamp(now), TagStateNote: tagValue(reason)})
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

// HandleAlarm is the rollback Lambda's handler: an alarm that entered ALARM
// rolls back every secret tagged dualkey:alarm=<alarm name>. Other state
// changes are ignored.
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
		l.log.Info("alarm state change ignored", "alarm", d.AlarmName, "state", d.State.Value)
		return nil, nil
	}
	ids, err := l.managed(ctx, TagAlarm, d.AlarmName)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: no secret has tag %s=%s; tag the secret the alarm watches", ErrNoSecretForAlarm, TagAlarm, d.AlarmName)
	}
	reason := fmt.Sprintf("alarm %s entered ALARM at %s", d.AlarmName, d.State.Timestamp)
	var reports []*Report
	var errs []error
	for _, id := range ids {
		rep, err := l.Rollback(ctx, id, RollbackOptions{Reason: reason})
		reports = append(reports, rep)
		if errors.Is(err, ErrOutsideRollbackWindow) {
			// Not this rotation's fault: the alarm is about something else.
			rep.Err = nil
			rep.add(Action{Op: "hold", Reason: "alarm ignored: " + strings.SplitN(err.Error(), ";", 2)[0]})
			continue
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return reports, errors.Join(errs...)
}
