package postgres

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
		return nil, "", errors.New("postgres: the request names no version")
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
// evidence: the sessions of the version's user that are open now
// (pg_stat_activity, read by the master user). Open sessions mean "in use
// now", with their client addresses and application names in Detail; none
// mean no use now (PostgreSQL keeps no record of past logins, so the drain
// window must cover the consumers' reconnect interval). Sessions whose
// details the master user may not see still count as use. A single-user
// secret has no usage evidence: the old and the new password belong to
// the same user.
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
	defer m.Close(context.WithoutCancel(ctx))
	sessions, err := m.Sessions(ctx, s.Username)
	if err != nil {
		return nil, err
	}
	if len(sessions) == 0 {
		return &rotation.Usage{Known: true, Detail: fmt.Sprintf("no open session of user %q (pg_stat_activity)", printable(s.Username))}, nil
	}
	return &rotation.Usage{Known: true, LastUsed: p.cfg.Now(), Detail: describeSessions(s.Username, sessions)}, nil
}

// maxShown bounds the sessions a usage detail lists.
const maxShown = 5

// describeSessions says who holds sessions of user: client addresses and
// application names, never a query.
func describeSessions(user string, sessions []Session) string {
	var parts []string
	for i, s := range sessions {
		if i == maxShown {
			parts = append(parts, fmt.Sprintf("and %d more", len(sessions)-maxShown))
			break
		}
		var b strings.Builder
		switch {
		case s.Hidden:
			b.WriteString("client address hidden (grant pg_read_all_stats to the master user)")
		case s.ClientAddr.IsValid():
			fmt.Fprintf(&b, "client %s:%d", s.ClientAddr, s.ClientPort)
		default:
			b.WriteString("local socket")
		}
		if s.ApplicationName != "" {
			fmt.Fprintf(&b, " application %q", printable(s.ApplicationName))
		}
		if s.Database != "" {
			fmt.Fprintf(&b, " database %q", printable(s.Database))
		}
		if !s.BackendStart.IsZero() {
			fmt.Fprintf(&b, " since %s", s.BackendStart.UTC().Format("2006-01-02T15:04:05Z"))
		}
		parts = append(parts, b.String())
	}
	noun := "sessions"
	if len(sessions) == 1 {
		noun = "session"
	}
	return fmt.Sprintf("%d open %s of user %q (pg_stat_activity): %s", len(sessions), noun, printable(user), strings.Join(parts, "; "))
}

// Deactivate implements rotation.Deactivator: the version's user is locked
// (NOLOGIN) by the master user, after proving under the pair's lock that
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
		return fmt.Errorf("postgres: refusing to lock user %q of version %s: it is the user of %s", printable(s.Username), req.Version.ID, stage)
	}
	m, err := p.master(ctx, req.Versions, s)
	if err != nil {
		return err
	}
	defer m.Close(context.WithoutCancel(ctx))
	resp, err := m.LockCredential(ctx, p.conn(s, "version "+req.Version.ID))
	if err != nil {
		return err
	}
	p.log.Info("user locked (NOLOGIN); open sessions continue", "user", s.Username, "version", req.Version.ID, "already_locked", resp.AlreadyLocked)
	return nil
}

// Reactivate implements rotation.Deactivator: the version's user may log in
// again (LOGIN), and its password is proven to be still the user's
// (Conn.UnlockCredential). For a single-user secret it fails: the old
// password was replaced in place, and setting it back would lock out
// AWSCURRENT.
func (p *Provider) Reactivate(ctx context.Context, req *rotation.CredentialRequest) error {
	s, strategy, err := credential(req)
	if err != nil {
		return err
	}
	if strategy == StrategySingle {
		return fmt.Errorf("postgres: %w: the old password of user %q was replaced in place at setSecret and cannot come back without locking out AWSCURRENT; rotate the secret instead",
			errSingleUser, printable(s.Username))
	}
	m, err := p.master(ctx, req.Versions, s)
	if err != nil {
		return err
	}
	defer m.Close(context.WithoutCancel(ctx))
	if err := m.UnlockCredential(ctx, p.conn(s, "version "+req.Version.ID)); err != nil {
		return err
	}
	p.log.Info("user unlocked (LOGIN) and its password proven", "user", s.Username, "version", req.Version.ID)
	return nil
}
