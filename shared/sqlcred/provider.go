package sqlcred

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/dualkey/dualkey/shared/fingerprint"
	"github.com/dualkey/dualkey/shared/rotation"
)

// Provider implements rotation.Provider and dualkey's lifecycle
// capabilities for the users of an SQL database, over an Engine: the
// alternating-users and single-user strategies of AWS's rotation
// functions, the database's own usage evidence (open sessions), and the
// previous user's switch-off (lock) and rollback (unlock).
type Provider struct {
	d   Dialect
	e   Engine
	now func() time.Time
	log *slog.Logger
}

var (
	_ rotation.Provider           = (*Provider)(nil)
	_ rotation.Deactivator        = (*Provider)(nil)
	_ rotation.UsageReporter      = (*Provider)(nil)
	_ rotation.UsageFingerprinter = (*Provider)(nil)
	_ rotation.SwitchOffPerSecret = (*Provider)(nil)
)

// NewProvider returns the Provider of dialect d over engine e; cfg gives
// its clock and logger (the engine uses the rest).
func NewProvider(d Dialect, e Engine, cfg Config) *Provider {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Provider{d: d, e: e, now: now, log: log.With("provider", d.Name)}
}

// Name implements rotation.Provider.
func (p *Provider) Name() string { return p.d.Name }

// SwitchOff implements rotation.Provider: the previous user of an
// alternating pair is locked and unlocked again on rollback or by the next
// rotation, which reuses it; there is no delete stage. A single-user secret
// has nothing left to switch off (SwitchOffFor).
func (p *Provider) SwitchOff() rotation.SwitchOff { return rotation.SwitchOffReversible }

// SwitchOffFor implements rotation.SwitchOffPerSecret. The rotation that
// replaces version v follows v's strategy (it was AWSCURRENT then):
// alternating users keep v's user working until the lifecycle locks it
// (SwitchOffReversible); a single user changes its own password at
// setSecret, so v's password stopped working then and nothing is left to
// switch off (rotation.SwitchOffNone). A value it cannot read gets
// SwitchOffReversible, whose Deactivate then fails naming the problem.
func (p *Provider) SwitchOffFor(v *rotation.Version) (rotation.SwitchOff, string) {
	if v == nil {
		return rotation.SwitchOffReversible, ""
	}
	sec, err := p.d.Syntax.Parse(v.Value, true)
	if err != nil {
		return rotation.SwitchOffReversible, ""
	}
	if strategy, err := StrategyOf(v.Value); err != nil || strategy != StrategySingle {
		return rotation.SwitchOffReversible, ""
	}
	return rotation.SwitchOffNone, "single-user secret: user " + strconv.Quote(Printable(sec.Username)) + " changes its own password at setSecret, so the old password stopped working then"
}

// Fingerprint implements rotation.Provider: the user name and the last four
// characters of the password ("app_clone …x7Qa"), never more.
func (p *Provider) Fingerprint(value string) string {
	var v struct {
		Username any `json:"username"`
		Password any `json:"password"`
	}
	if json.Unmarshal([]byte(value), &v) != nil {
		return ""
	}
	user, _ := v.Username.(string)
	pw, _ := v.Password.(string)
	if user == "" {
		return ""
	}
	return strings.TrimSpace(Printable(user) + " " + rotation.LastFour(pw))
}

// UsageFingerprint implements rotation.UsageFingerprinter: consumers log
// in with the password (GetRandomPassword made it: random, so its
// fingerprint cannot be confirmed by guessing). The database's own
// evidence (open sessions) comes first; logs add what it cannot see.
func (p *Provider) UsageFingerprint(value string) string {
	var v struct {
		Password any `json:"password"`
	}
	if json.Unmarshal([]byte(value), &v) != nil {
		return ""
	}
	pw, _ := v.Password.(string)
	return fingerprint.Of(pw)
}

// login is the credential of secret s.
func login(s *Secret, label string) Login { return Login{Secret: *s, Label: label} }

// parseVersion decodes a version of the secret, naming it in errors.
func (p *Provider) parseVersion(what string, v *rotation.Version) (*Secret, error) {
	if v == nil {
		return nil, fmt.Errorf("%s: no version", what)
	}
	s, err := p.d.Syntax.Parse(v.Value, true)
	if err != nil {
		return nil, fmt.Errorf("%s (version %s): %w", what, v.ID, err)
	}
	return s, nil
}

// current reads and decodes AWSCURRENT.
func (p *Provider) current(ctx context.Context, versions rotation.VersionReader) (*Secret, *rotation.Version, error) {
	v, err := versions.Stage(ctx, rotation.StageCurrent)
	if err != nil {
		return nil, nil, fmt.Errorf("read AWSCURRENT: %w", err)
	}
	s, err := p.parseVersion("AWSCURRENT", v)
	return s, v, err
}

// master logs in as the master user of the secret's server: the admin
// secret the AWSCURRENT version names, checked to be the same server as
// user, over a connection at least as strict as either secret asks.
func (p *Provider) master(ctx context.Context, versions rotation.VersionReader, user *Secret) (Session, error) {
	admin, err := versions.Admin(ctx)
	if err != nil {
		return nil, err
	}
	if admin == nil {
		return nil, rotation.SecretFieldError("masterarn", "is missing from AWSCURRENT, so no master user can manage the alternating users",
			"add masterarn (the ARN of the master user's secret) to the secret, or use the single-user strategy")
	}
	m, err := p.d.Syntax.Parse(admin.Version.Value, false)
	if err != nil {
		return nil, fmt.Errorf("master secret %s: %w", admin.SecretARN, err)
	}
	if err := p.d.Syntax.CheckMaster(user, m); err != nil {
		return nil, fmt.Errorf("master secret %s: %w", admin.SecretARN, err)
	}
	if m.Username == user.Username || BaseUsername(m.Username) == BaseUsername(user.Username) {
		return nil, fmt.Errorf("master secret %s: %w", admin.SecretARN,
			rotation.SecretFieldError("username", "of the master secret is the rotated user or its alternate", "point masterarn at the secret of another user, the database's master user"))
	}
	l := login(m, "master secret")
	l.Secret.DBName = "" // the master needs no database, and may lack rights on the user's
	if p.d.MasterInUserDB {
		l.Secret.DBName = user.DBName
	}
	l.Secret.TLSMode = Stricter(user.TLSMode, m.TLSMode)
	return p.e.Connect(ctx, l)
}

// closeSession ends s with a context that outlives ctx's cancellation.
func closeSession(ctx context.Context, s Session) { s.Close(context.WithoutCancel(ctx)) }

// errSingleUser is wrapped by Reactivate's error for a single-user secret.
var errSingleUser = errors.New("single-user secret")
