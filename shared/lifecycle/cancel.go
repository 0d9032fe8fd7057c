package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/dualkey/dualkey/shared/rotation"
)

// CancelOptions change how Cancel runs.
type CancelOptions struct {
	// DryRun reports what would be done.
	DryRun bool
}

// Cancel ends a rotation that did not finish, so Secrets Manager accepts a
// new one: it destroys the pending credential at the provider (no orphan is
// left) and removes AWSPENDING from its version. A version without a value
// (RotateSecret's placeholder) needs no discard; a label-gated credential
// exists only in its version, so removing the label is enough; a credential
// another version also holds is never destroyed. Running it again after it
// succeeded fails with ErrNothingToCancel and changes nothing.
func (l *Lifecycle) Cancel(ctx context.Context, id string, opt CancelOptions) (*Report, error) {
	s, rep, err := l.load(ctx, id)
	if err != nil {
		rep.Err = err
		return rep, err
	}
	err = l.cancel(ctx, s, rep, opt)
	if err != nil {
		rep.Err = err
		l.log.Error("cancel failed", "secret", s.arn, "error", err.Error())
	}
	for _, a := range rep.Actions {
		l.log.Info("cancel", "secret", s.arn, "op", a.Op, "version", a.Version, "credential", a.Fingerprint, "reason", a.Reason, "applied", a.Applied, "dry_run", opt.DryRun)
	}
	return rep, err
}

func (l *Lifecycle) cancel(ctx context.Context, s *secret, rep *Report, opt CancelOptions) error {
	apply := !opt.DryRun
	pend := rotation.Holder(s.stages, rotation.StagePending)
	if pend == "" {
		return fmt.Errorf("secret %s: %w: no version holds AWSPENDING, so no rotation is pending; see its state with: %s", s.name, ErrNothingToCancel, l.cmd("status", s.name))
	}
	if slices.Contains(s.stages[pend], rotation.StageCurrent) {
		rep.add(Action{Op: OpRemovePending, Version: pend, Applied: apply,
			Reason: "the rotation finished but left AWSPENDING on the AWSCURRENT version; only the label goes, the credential stays"})
		if !apply {
			return nil
		}
		return l.removeStage(ctx, s, rotation.StagePending, pend)
	}
	started := ""
	if t, err := s.reader.Created(ctx, pend); err == nil {
		started = " (started " + stamp(t) + ")"
	}
	var discard *rotation.DiscardRequest
	v, err := s.reader.Version(ctx, pend, rotation.StagePending)
	switch {
	case errors.Is(err, rotation.ErrNoVersion):
		rep.add(Action{Op: OpCheck, Version: pend, Applied: true,
			Reason: "RotateSecret's placeholder" + started + ": createSecret stored no value, so no credential exists to discard"})
	case err != nil:
		return fmt.Errorf("read the pending version %s: %w", pend, err)
	default:
		fp := s.provider.Fingerprint(v.Value)
		other, err := l.alsoIn(ctx, s, pend, v.Value, fp)
		if err != nil {
			return err
		}
		if err := l.inPlace(ctx, s, pend); err != nil {
			return err
		}
		_, discarder := s.provider.(rotation.Discarder)
		switch {
		case other != "":
			rep.add(Action{Op: OpCheck, Version: pend, Fingerprint: fp, Applied: true,
				Reason: "the pending credential is also in version " + other + ", so it is not destroyed"})
		case discarder:
			rep.add(Action{Op: OpDiscard, Version: pend, Fingerprint: fp, Applied: apply,
				Reason: "destroy the pending credential" + started + " at provider " + s.provider.Name() + ": no version will ever reference it"})
			discard = &rotation.DiscardRequest{SecretID: s.arn, Token: pend, Value: v.Value, Versions: s.reader, Destroy: true}
		case s.provider.SwitchOff() == rotation.SwitchOffLabelGated: // per secret, label-gated is never an answer
			rep.add(Action{Op: OpCheck, Version: pend, Fingerprint: fp, Applied: true,
				Reason: "a label-gated credential exists only in its version: once AWSPENDING goes, no service accepts it"})
		default:
			rep.add(Action{Op: OpCheck, Version: pend, Fingerprint: fp, Applied: true,
				Reason: "provider " + s.provider.Name() + " makes nothing at the provider that a cancel must remove"})
		}
	}
	rep.add(Action{Op: OpRemovePending, Version: pend, Applied: apply,
		Reason: "remove AWSPENDING so Secrets Manager accepts a new rotation: " + l.cmd("rotate", s.name)})
	if !apply {
		return nil
	}
	if discard != nil {
		if err := s.provider.(rotation.Discarder).Discard(ctx, discard); err != nil {
			return fmt.Errorf("discard the pending credential %s: %w; AWSPENDING stays, run again: %s", s.provider.Fingerprint(discard.Value), err, l.cmd("cancel", s.name))
		}
	}
	if err := l.removeStage(ctx, s, rotation.StagePending, pend); err != nil {
		return err
	}
	l.metric(s, "RotationCancelled")
	return nil
}

// inPlace refuses to cancel a rotation that replaces the credential in
// place (rotation.SwitchOffNone for AWSCURRENT: a single-user database
// secret): once its setSecret ran, only the pending version's credential
// works, and removing AWSPENDING would leave the secret without a working
// credential. It names the ways to finish or, when setSecret never ran, to
// drop the rotation by hand.
func (l *Lifecycle) inPlace(ctx context.Context, s *secret, pend string) error {
	cur := rotation.Holder(s.stages, rotation.StageCurrent)
	if cur == "" {
		return nil
	}
	if _, ok := s.provider.(rotation.SwitchOffPerSecret); !ok {
		return nil
	}
	req, _, err := l.credential(ctx, s, cur)
	if err != nil {
		return err
	}
	off, why, err := l.switchOffOf(s, req.Version)
	if err != nil || off != rotation.SwitchOffNone {
		return err
	}
	return fmt.Errorf("secret %s: %w: provider %s replaces this secret's credential in place at setSecret (%s), so once setSecret has run only the pending version %s holds a working credential, "+
		"and removing AWSPENDING would leave AWSCURRENT's credential not working. Finish the rotation instead: fix its cause and let Secrets Manager retry it, or start it again with its own version id: "+
		"aws secretsmanager rotate-secret --secret-id %s --client-request-token %s. Only if the rotation function's log shows that setSecret never ran for version %s, remove the label yourself: "+
		"aws secretsmanager update-secret-version-stage --secret-id %s --version-stage AWSPENDING --remove-from-version-id %s",
		s.name, ErrCancelUnsafe, s.provider.Name(), why, pend, ShellWord(s.name), pend, pend, ShellWord(s.name), pend)
}

// alsoIn returns another labelled version that holds the same credential
// as value ("" when none).
func (l *Lifecycle) alsoIn(ctx context.Context, s *secret, id, value, fp string) (string, error) {
	for _, other := range slices.Sorted(maps.Keys(s.stages)) {
		if other == id || len(s.stages[other]) == 0 {
			continue
		}
		v, err := s.reader.Version(ctx, other, "")
		if errors.Is(err, rotation.ErrNoVersion) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("read version %s: %w", other, err)
		}
		if v.Value == value || (fp != "" && s.provider.Fingerprint(v.Value) == fp) {
			return other + " (" + strings.Join(s.stages[other], ",") + ")", nil
		}
	}
	return "", nil
}

// RotationCheck is what an operator should know before starting a
// rotation.
type RotationCheck struct {
	Secret, ARN, Provider string
	// Pending is the version holding AWSPENDING from a rotation that did
	// not finish ("" when none): Secrets Manager refuses a new rotation
	// until it is cancelled.
	Pending string
	// Ends, when not nil, is the deactivated credential the new rotation
	// may destroy to make room under the provider's credential limit,
	// ending its rollback window.
	Ends *Action
}

// CheckRotation looks at a secret before a rotation: an unfinished
// rotation, and a deactivated credential that the provider's credential
// limit (rotation.CredentialLimit) would make the rotation delete.
func (l *Lifecycle) CheckRotation(ctx context.Context, id string) (*RotationCheck, error) {
	s, rep, err := l.load(ctx, id)
	if err != nil {
		return nil, err
	}
	c := &RotationCheck{Secret: rep.Secret, ARN: rep.ARN, Provider: rep.Provider}
	cur := rotation.Holder(s.stages, rotation.StageCurrent)
	if pend := rotation.Holder(s.stages, rotation.StagePending); pend != "" && pend != cur {
		c.Pending = pend
	}
	lim, ok := s.provider.(rotation.CredentialLimit)
	dv := rotation.Holder(s.stages, rotation.StageDeactivated)
	if !ok || dv == "" || dv == cur {
		return c, nil
	}
	live := map[string]bool{}
	for _, v := range []string{cur, rotation.Holder(s.stages, rotation.StagePrevious), dv} {
		if v != "" && s.stateOf(v) != StateDeleted {
			live[v] = true
		}
	}
	if len(live) < lim.MaxLive() {
		return c, nil
	}
	_, fp, err := l.credential(ctx, s, dv)
	if err != nil {
		return nil, err
	}
	until := "until its delete"
	if t, err := parseStamp(s.tags[TagDeactivatedAt]); err == nil {
		until = "until " + stamp(t.Add(s.settings.Grace))
	}
	c.Ends = &Action{Op: OpDelete, Version: dv, Fingerprint: fp, Reason: fmt.Sprintf(
		"provider %s allows %d credentials per identity and %d exist, so this rotation may delete the deactivated credential %s (version %s, deactivated %s) to make room: "+
			"its rollback window (%s) ends now", s.provider.Name(), lim.MaxLive(), len(live), fp, shortID(dv), s.tags[TagDeactivatedAt], until)}
	return c, nil
}

// PrepareEmergency readies an emergency rotation: it records the AWSCURRENT
// version as leaked (so no alarm ever brings it back, even before the
// rotation finishes) and tags the secret dualkey:emergency=true (so the
// rotation and the next retire run switch it off at once). It refuses while
// a rotation is pending, naming the command that cancels it.
func (l *Lifecycle) PrepareEmergency(ctx context.Context, id string) (*Report, error) {
	s, rep, err := l.load(ctx, id)
	if err != nil {
		return rep, err
	}
	cur := rotation.Holder(s.stages, rotation.StageCurrent)
	if pend := rotation.Holder(s.stages, rotation.StagePending); pend != "" && pend != cur {
		return rep, fmt.Errorf("secret %s: %w: version %s holds AWSPENDING; cancel it first, then rotate: %s && %s",
			s.name, ErrRotationIncomplete, pend, l.cmd("cancel", s.name), l.cmd("rotate", "--emergency", s.name))
	}
	if cur == "" {
		return rep, fmt.Errorf("secret %s has no AWSCURRENT version to replace", s.name)
	}
	_, fp, err := l.credential(ctx, s, cur)
	if err != nil {
		return rep, err
	}
	if err := l.recordLeaked(ctx, s, true, cur); err != nil {
		return rep, err
	}
	if err := l.tag(ctx, s, map[string]string{TagEmergency: "true"}); err != nil {
		return rep, err
	}
	rep.add(Action{Op: OpMarkLeaked, Version: cur, Fingerprint: fp, Applied: true,
		Reason: "recorded as leaked in " + TagStateLeaked + ": no alarm will ever bring it back; " + TagEmergency + "=true set"})
	l.log.Warn("emergency rotation prepared", "secret", s.arn, "leaked_version", cur, "credential", fp)
	return rep, nil
}
