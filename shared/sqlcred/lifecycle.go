package sqlcred

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dualkey/dualkey/shared/rotation"
)

// credential decodes the version of a lifecycle request and its strategy.
func (p *Provider) credential(req *rotation.CredentialRequest) (*Secret, Strategy, error) {
	if req == nil || req.Version == nil {
		return nil, "", errors.New(p.d.Name + ": the request names no version")
	}
	s, err := p.parseVersion("version", req.Version)
	if err != nil {
		return nil, "", err
	}
	strategy, err := StrategyOf(req.Version.Value)
	if err != nil {
		return nil, "", fmt.Errorf("version %s: %w", req.Version.ID, err)
	}
	return s, strategy, nil
}

// liveUsers returns the users of AWSCURRENT and, when a rotation is under
// way, of the AWSPENDING value: users the lifecycle must never switch off.
func (p *Provider) liveUsers(ctx context.Context, versions rotation.VersionReader) (map[string]string, error) {
	out := map[string]string{}
	for _, stage := range []string{rotation.StageCurrent, rotation.StagePending} {
		v, err := versions.Stage(ctx, stage)
		if errors.Is(err, rotation.ErrNoVersion) && stage == rotation.StagePending {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stage, err)
		}
		s, err := p.parseVersion(stage, v)
		if err != nil {
			return nil, err
		}
		if _, ok := out[s.Username]; !ok {
			out[s.Username] = stage
		}
	}
	return out, nil
}

// LastUsed implements rotation.UsageReporter with the database's own
// evidence: the sessions of the version's user that are open now
// (Session.Sessions, read by the master user). Open sessions mean "in use
// now", with their clients in Detail; none mean no use now (the databases
// keep no record of past logins, so the drain window must cover the
// consumers' reconnect interval). A single-user secret has no usage
// evidence: the old and the new password belong to the same user.
func (p *Provider) LastUsed(ctx context.Context, req *rotation.CredentialRequest) (*rotation.Usage, error) {
	s, strategy, err := p.credential(req)
	if err != nil {
		return nil, err
	}
	if strategy == StrategySingle {
		return &rotation.Usage{Known: false, Detail: fmt.Sprintf("single-user secret: the old and the new password belong to the same user %q, so its sessions cannot tell them apart; the old password stopped working at setSecret", Printable(s.Username))}, nil
	}
	live, err := p.liveUsers(ctx, req.Versions)
	if err != nil {
		return nil, err
	}
	if stage, ok := live[s.Username]; ok {
		return &rotation.Usage{Known: false, Detail: fmt.Sprintf("user %q is also the user of %s, so its sessions say nothing about this version", Printable(s.Username), stage)}, nil
	}
	m, err := p.master(ctx, req.Versions, s)
	if err != nil {
		return nil, err
	}
	defer closeSession(ctx, m)
	sessions, err := m.Sessions(ctx, s.Username)
	if err != nil {
		return nil, err
	}
	if len(sessions) == 0 {
		return &rotation.Usage{Known: true, Detail: fmt.Sprintf("no open session of user %q (%s)", Printable(s.Username), p.d.SessionSource)}, nil
	}
	return &rotation.Usage{Known: true, LastUsed: p.now(), Detail: p.describeSessions(s.Username, sessions)}, nil
}

// maxShown bounds the sessions a usage detail lists.
const maxShown = 5

// describeSessions says who holds sessions of user.
func (p *Provider) describeSessions(user string, sessions []string) string {
	var parts []string
	for i, s := range sessions {
		if i == maxShown {
			parts = append(parts, fmt.Sprintf("and %d more", len(sessions)-maxShown))
			break
		}
		parts = append(parts, s)
	}
	noun := "sessions"
	if len(sessions) == 1 {
		noun = "session"
	}
	return fmt.Sprintf("%d open %s of user %q (%s): %s", len(sessions), noun, Printable(user), p.d.SessionSource, strings.Join(parts, "; "))
}

// Deactivate implements rotation.Deactivator: the version's user is locked
// by the master user, after proving under the pair's lock that the
// version's password is still the user's (Session.LockCredential), so a
// user a rotation is reusing is never locked. It refuses the user of
// AWSCURRENT or of a pending rotation. Open sessions continue (the usage
// check before it found none).
//
// A single-user secret has nothing left to switch off: setSecret replaced
// the old password in place, so it stopped working then. The lifecycle
// does not ask (SwitchOffFor says rotation.SwitchOffNone); asked anyway,
// Deactivate changes nothing and says so in the log.
func (p *Provider) Deactivate(ctx context.Context, req *rotation.CredentialRequest) error {
	s, strategy, err := p.credential(req)
	if err != nil {
		return err
	}
	if strategy == StrategySingle {
		p.log.Info("single-user secret: the old password stopped working when setSecret replaced it; nothing to switch off", "user", s.Username, "version", req.Version.ID)
		return nil
	}
	live, err := p.liveUsers(ctx, req.Versions)
	if err != nil {
		return err
	}
	if stage, ok := live[s.Username]; ok {
		return fmt.Errorf("%s: refusing to lock user %q of version %s: it is the user of %s", p.d.Name, Printable(s.Username), req.Version.ID, stage)
	}
	m, err := p.master(ctx, req.Versions, s)
	if err != nil {
		return err
	}
	defer closeSession(ctx, m)
	already, err := m.LockCredential(ctx, login(s, "version "+req.Version.ID))
	if err != nil {
		return err
	}
	p.log.Info(p.d.LockedLog, "user", s.Username, "version", req.Version.ID, "already_locked", already)
	return nil
}

// Reactivate implements rotation.Deactivator: the version's user may log in
// again, and its password is proven to be still the user's
// (Session.UnlockCredential). For a single-user secret it fails: the old
// password was replaced in place, and setting it back would lock out
// AWSCURRENT.
func (p *Provider) Reactivate(ctx context.Context, req *rotation.CredentialRequest) error {
	s, strategy, err := p.credential(req)
	if err != nil {
		return err
	}
	if strategy == StrategySingle {
		return fmt.Errorf("%s: %w: the old password of user %q was replaced in place at setSecret and cannot come back without locking out AWSCURRENT; rotate the secret instead",
			p.d.Name, errSingleUser, Printable(s.Username))
	}
	m, err := p.master(ctx, req.Versions, s)
	if err != nil {
		return err
	}
	defer closeSession(ctx, m)
	if err := m.UnlockCredential(ctx, login(s, "version "+req.Version.ID)); err != nil {
		return err
	}
	p.log.Info(p.d.UnlockedLog, "user", s.Username, "version", req.Version.ID)
	return nil
}
