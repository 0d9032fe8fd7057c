package mysql

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dualkey/dualkey/shared/rotation"
)

// credential decodes the version of a lifecycle request and its strategy.
func credential(req *rotation.CredentialRequest) (*Secret, Strategy, error) {
	if req == nil || req.Version == nil {
		return nil, "", errors.New("mysql: the request names no version")
	}
	s, err := parseVersion("version", req.Version)
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
func liveUsers(ctx context.Context, versions rotation.VersionReader) (map[string]string, error) {
	out := map[string]string{}
	for _, stage := range []string{rotation.StageCurrent, rotation.StagePending} {
		v, err := versions.Stage(ctx, stage)
		if errors.Is(err, rotation.ErrNoVersion) && stage == rotation.StagePending {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stage, err)
		}
		s, err := parseVersion(stage, v)
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
// evidence: the sessions of the version's user that are open now (the
// process list, read by the master user, which needs PROCESS: without it
// the list would hide them and Sessions fails instead). Open sessions mean
// "in use now", with their client addresses and program names in Detail;
// none mean no use now (MySQL and MariaDB keep no record of past logins, so
// the drain window must cover the consumers' reconnect interval). A
// single-user secret has no usage evidence: the old and the new password
// belong to the same user.
func (p *Provider) LastUsed(ctx context.Context, req *rotation.CredentialRequest) (*rotation.Usage, error) {
	s, strategy, err := credential(req)
	if err != nil {
		return nil, err
	}
	if strategy == StrategySingle {
		return &rotation.Usage{Known: false, Detail: fmt.Sprintf("single-user secret: the old and the new password belong to the same user %q, so its sessions cannot tell them apart; the old password stopped working at setSecret", printable(s.Username))}, nil
	}
	live, err := liveUsers(ctx, req.Versions)
	if err != nil {
		return nil, err
	}
	if stage, ok := live[s.Username]; ok {
		return &rotation.Usage{Known: false, Detail: fmt.Sprintf("user %q is also the user of %s, so its sessions say nothing about this version", printable(s.Username), stage)}, nil
	}
	m, err := p.master(ctx, req.Versions, s)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	sessions, err := m.Sessions(ctx, s.Username)
	if err != nil {
		return nil, err
	}
	if len(sessions) == 0 {
		return &rotation.Usage{Known: true, Detail: fmt.Sprintf("no open session of user %q (process list)", printable(s.Username))}, nil
	}
	return &rotation.Usage{Known: true, LastUsed: p.cfg.Now(), Detail: describeSessions(s.Username, sessions)}, nil
}

// maxShown bounds the sessions a usage detail lists.
const maxShown = 5

// describeSessions says who holds sessions of user: client addresses and
// program names, never a statement.
func describeSessions(user string, sessions []Session) string {
	var parts []string
	for i, s := range sessions {
		if i == maxShown {
			parts = append(parts, fmt.Sprintf("and %d more", len(sessions)-maxShown))
			break
		}
		var b strings.Builder
		switch {
		case s.ClientAddr.IsValid():
			fmt.Fprintf(&b, "client %s:%d", s.ClientAddr, s.ClientPort)
		default:
			fmt.Fprintf(&b, "client %q", printable(s.Host))
		}
		if s.ProgramName != "" {
			fmt.Fprintf(&b, " program %q", printable(s.ProgramName))
		}
		if s.Database != "" {
			fmt.Fprintf(&b, " database %q", printable(s.Database))
		}
		if s.Command == "Sleep" {
			fmt.Fprintf(&b, " idle %ds", s.Seconds)
		} else if s.Command != "" {
			fmt.Fprintf(&b, " %s for %ds", printable(s.Command), s.Seconds)
		}
		parts = append(parts, b.String())
	}
	noun := "sessions"
	if len(sessions) == 1 {
		noun = "session"
	}
	return fmt.Sprintf("%d open %s of user %q (process list): %s", len(sessions), noun, printable(user), strings.Join(parts, "; "))
}

// Deactivate implements rotation.Deactivator: the version's account is
// locked (ACCOUNT LOCK) by the master user, after proving under the pair's lock that
// the version's password is still the user's (Conn.LockCredential), so a
// user a rotation is reusing is never locked. It refuses the user of
// AWSCURRENT or of a pending rotation. Open sessions continue (the usage
// check before it found none).
//
// A single-user secret has nothing left to switch off: setSecret replaced
// the old password in place, so it stopped working then. The lifecycle
// does not ask (SwitchOffFor says rotation.SwitchOffNone); asked anyway,
// Deactivate changes nothing and says so in the log.
func (p *Provider) Deactivate(ctx context.Context, req *rotation.CredentialRequest) error {
	s, strategy, err := credential(req)
	if err != nil {
		return err
	}
	if strategy == StrategySingle {
		p.log.Info("single-user secret: the old password stopped working when setSecret replaced it; nothing to switch off", "user", s.Username, "version", req.Version.ID)
		return nil
	}
	live, err := liveUsers(ctx, req.Versions)
	if err != nil {
		return err
	}
	if stage, ok := live[s.Username]; ok {
		return fmt.Errorf("mysql: refusing to lock user %q of version %s: it is the user of %s", printable(s.Username), req.Version.ID, stage)
	}
	m, err := p.master(ctx, req.Versions, s)
	if err != nil {
		return err
	}
	defer m.Close()
	resp, err := m.LockCredential(ctx, p.conn(s, "version "+req.Version.ID))
	if err != nil {
		return err
	}
	p.log.Info("account locked (ACCOUNT LOCK); open sessions continue", "user", s.Username, "version", req.Version.ID, "already_locked", resp.AlreadyLocked)
	return nil
}

// Reactivate implements rotation.Deactivator: the version's user may log in
// again (ACCOUNT UNLOCK), and its password is proven to be still the user's
// (Conn.UnlockCredential). For a single-user secret it fails: the old
// password was replaced in place, and setting it back would lock out
// AWSCURRENT.
func (p *Provider) Reactivate(ctx context.Context, req *rotation.CredentialRequest) error {
	s, strategy, err := credential(req)
	if err != nil {
		return err
	}
	if strategy == StrategySingle {
		return fmt.Errorf("mysql: %w: the old password of user %q was replaced in place at setSecret and cannot come back without locking out AWSCURRENT; rotate the secret instead",
			errSingleUser, printable(s.Username))
	}
	m, err := p.master(ctx, req.Versions, s)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.UnlockCredential(ctx, p.conn(s, "version "+req.Version.ID)); err != nil {
		return err
	}
	p.log.Info("account unlocked (ACCOUNT UNLOCK) and its password proven", "user", s.Username, "version", req.Version.ID)
	return nil
}
