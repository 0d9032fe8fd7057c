package lifecycle

import (
	"context"
	"fmt"
	"time"

	"github.com/dualkey/dualkey/shared/rotation"
)

// stageDue reports whether a secret of a provider whose new credentials an
// operator stages (rotation.StageChecker) is within its stage lead: its
// rotation is enabled and NextRotationDate is at most StageLead away (or
// past). The sweep never decides such a secret from its list entry.
func (l *Lifecycle) stageDue(s *secret, now time.Time) bool {
	if _, ok := s.provider.(rotation.StageChecker); !ok {
		return false
	}
	return s.enabled && s.next != nil && !now.Before(s.next.Add(-s.settings.StageLead))
}

// checkStaged asks the provider, within the stage lead, whether a new
// credential is staged for the coming rotation. When nothing is, it
// alerts (KeyNotStaged, a warning log line naming the secret and the
// dualkey stage command, an alert action); when something is, the report
// says what. It changes nothing.
func (l *Lifecycle) checkStaged(ctx context.Context, s *secret, rep *Report, now time.Time) error {
	if !l.stageDue(s, now) {
		return nil
	}
	cur := rotation.Holder(s.stages, rotation.StageCurrent)
	if cur == "" {
		return nil
	}
	v, err := s.reader.Version(ctx, cur, "")
	if err != nil {
		return fmt.Errorf("secret %s: read AWSCURRENT to check whether a new credential is staged: %w", s.name, err)
	}
	staged, detail, err := s.provider.(rotation.StageChecker).Staged(ctx, &rotation.CredentialRequest{SecretID: s.arn, Version: v, Versions: s.reader})
	if err != nil {
		return fmt.Errorf("secret %s: check whether a new credential is staged for the rotation due %s: %w", s.name, stamp(*s.next), err)
	}
	due := "the rotation is due " + stamp(*s.next)
	if !now.Before(*s.next) {
		due = "the rotation was due " + stamp(*s.next)
	}
	if staged {
		rep.add(Action{Op: OpCheck, Version: rotation.Holder(s.stages, rotation.StageIncoming), Applied: true, Reason: due + "; " + detail})
		return nil
	}
	fix := l.cmd("stage", s.name)
	reason := fmt.Sprintf("key not staged: %s (stage lead %s) and nothing newer than AWSCURRENT is staged (%s); roll the credential in the vendor's dashboard, then stage it: %s",
		due, human(s.settings.StageLead), detail, fix)
	rep.add(Action{Op: OpAlert, Version: cur, Reason: reason})
	l.metric(s, "KeyNotStaged")
	l.log.Warn("new credential not staged before the rotation is due", "secret", s.arn, "next_rotation", stamp(*s.next), "detail", detail, "fix", fix)
	return nil
}
