package postgres

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dualkey/dualkey/shared/fingerprint"
	"github.com/dualkey/dualkey/shared/rotation"
)

// Name is the provider's name: the dualkey:provider tag value of PostgreSQL
// secrets, the functions/ folder and the registry key.
const Name = "postgres"

// EnvCABundle names the environment variable that holds the path of a PEM
// file of CA certificates the provider trusts besides the system's roots
// (for Amazon RDS: the global bundle, packaged with the function). A
// relative path is taken from the function's package directory
// ($LAMBDA_TASK_ROOT).
const EnvCABundle = "DUALKEY_DB_CA_BUNDLE"

// Strategy is how a secret's credential is rotated.
type Strategy string

// Strategies. A secret that names a master secret (masterarn, or dualkey's
// master_secret_arn) rotates with alternating users; any other secret with
// a single user, as AWS's two families of rotation functions do.
const (
	// StrategyAlternating: the master user gives "<user>_clone" (or, on the
	// next rotation, "<user>" again) a new password; the previous user keeps
	// working until dualkey's lifecycle switches it off.
	StrategyAlternating Strategy = "alternating-users"
	// StrategySingle: the user changes its own password; the old password
	// stops working at setSecret (no dual-key window).
	StrategySingle Strategy = "single-user"
)

// StrategyOf returns the strategy of a secret value. Errors name the field.
func StrategyOf(value string) (Strategy, error) {
	_, ref, err := rotation.AdminRef(value)
	if err != nil {
		return "", err
	}
	if ref != "" {
		return StrategyAlternating, nil
	}
	return StrategySingle, nil
}

// Config configures a Provider.
type Config struct {
	// RootCAs verifies servers in TLSVerifyFull mode (nil: the system's
	// roots). FromEnv builds it from the system's roots and EnvCABundle.
	RootCAs *x509.CertPool
	// ConnectTimeout bounds each login (default DefaultConnectTimeout,
	// shortened to fit the step's deadline).
	ConnectTimeout time.Duration
	// Hook wraps every login and statement (tests count and fault them
	// with it); nil in production.
	Hook CallHook
	// Now is the clock of usage evidence (default time.Now).
	Now func() time.Time
	// Logger receives the provider's log lines (user names, never
	// passwords); default: discarded.
	Logger *slog.Logger
}

// Provider implements rotation.Provider and dualkey's lifecycle
// capabilities for PostgreSQL users (see the package documentation).
type Provider struct {
	cfg Config
	log *slog.Logger
}

var (
	_ rotation.Provider           = (*Provider)(nil)
	_ rotation.Deactivator        = (*Provider)(nil)
	_ rotation.UsageReporter      = (*Provider)(nil)
	_ rotation.UsageFingerprinter = (*Provider)(nil)
	_ rotation.SwitchOffPerSecret = (*Provider)(nil)
	_ rotation.Factory            = FromEnv
)

// New returns a Provider.
func New(cfg Config) *Provider {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Provider{cfg: cfg, log: log.With("provider", Name)}
}

// FromEnv is the provider's rotation.Factory: the system's roots plus the
// CA bundle EnvCABundle names, log lines to env.Logger.
func FromEnv(_ context.Context, env rotation.Env) (rotation.Provider, error) {
	pool, err := CABundleFromEnv(env.Get)
	if err != nil {
		return nil, err
	}
	return New(Config{RootCAs: pool, Logger: env.Log()}), nil
}

// CABundleFromEnv returns the system's roots plus the certificates of the
// file EnvCABundle names (nil, nil when it is unset: the system's roots).
func CABundleFromEnv(getenv func(string) string) (*x509.CertPool, error) {
	path := getenv(EnvCABundle)
	if path == "" {
		return nil, nil
	}
	if !filepath.IsAbs(path) {
		if root := getenv("LAMBDA_TASK_ROOT"); root != "" {
			path = filepath.Join(root, path)
		}
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("environment variable %s=%q: cannot read the CA bundle: %w; package the PEM file with the function (for Amazon RDS, the global bundle from https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem) or unset it to trust only the system's roots",
			EnvCABundle, getenv(EnvCABundle), err)
	}
	pool, err := CAPool(pem)
	if err != nil {
		return nil, fmt.Errorf("environment variable %s=%q: %w; it must name a PEM file of CA certificates", EnvCABundle, getenv(EnvCABundle), err)
	}
	return pool, nil
}

// Name implements rotation.Provider.
func (p *Provider) Name() string { return Name }

// SwitchOff implements rotation.Provider: the previous user of an
// alternating pair is locked (NOLOGIN) and unlocked again on rollback or by
// the next rotation, which reuses it; there is no delete stage. A
// single-user secret has nothing left to switch off (SwitchOffFor).
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
	sec, err := Parse(v.Value)
	if err != nil {
		return rotation.SwitchOffReversible, ""
	}
	if strategy, err := StrategyOf(v.Value); err != nil || strategy != StrategySingle {
		return rotation.SwitchOffReversible, ""
	}
	return rotation.SwitchOffNone, "single-user secret: user " + strconv.Quote(printable(sec.Username)) + " changes its own password at setSecret, so the old password stopped working then"
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
	return strings.TrimSpace(printable(user) + " " + rotation.LastFour(pw))
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

// printable bounds a name that goes into a log line or a message.
func printable(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// conn returns the connection settings of a secret, with the provider's
// TLS trust and timeout.
func (p *Provider) conn(s *Secret, label string) ConnConfig {
	c := s.ConnConfig()
	c.RootCAs = p.cfg.RootCAs
	c.ConnectTimeout = p.cfg.ConnectTimeout
	c.Hook = p.cfg.Hook
	c.Label = label
	return c
}

// stricter returns the stricter of two TLS modes.
func stricter(a, b TLSMode) TLSMode {
	rank := map[TLSMode]int{TLSInsecureDisable: 0, TLSInsecureSkipVerify: 1, TLSVerifyFull: 2, "": 2}
	if rank[a] >= rank[b] {
		return a
	}
	return b
}

// parseVersion decodes a version of the secret, naming it in errors.
func parseVersion(what string, v *rotation.Version) (*Secret, error) {
	if v == nil {
		return nil, fmt.Errorf("%s: no version", what)
	}
	s, err := Parse(v.Value)
	if err != nil {
		return nil, fmt.Errorf("%s (version %s): %w", what, v.ID, err)
	}
	return s, nil
}

// current reads and decodes AWSCURRENT.
func current(ctx context.Context, versions rotation.VersionReader) (*Secret, *rotation.Version, error) {
	v, err := versions.Stage(ctx, rotation.StageCurrent)
	if err != nil {
		return nil, nil, fmt.Errorf("read AWSCURRENT: %w", err)
	}
	s, err := parseVersion("AWSCURRENT", v)
	return s, v, err
}

// sameServer refuses a version that points at another server or database
// than AWSCURRENT: its password must not be set or tried elsewhere.
func sameServer(what string, cur, s *Secret) error {
	switch {
	case !strings.EqualFold(strings.TrimSuffix(cur.Host, "."), strings.TrimSuffix(s.Host, ".")):
		return rotation.SecretFieldError("host", what+" names another host than AWSCURRENT", "a rotation keeps host, port and dbname; cancel it with dualkey cancel and rotate again")
	case cur.Port != s.Port:
		return rotation.SecretFieldError("port", what+" names another port than AWSCURRENT", "a rotation keeps host, port and dbname; cancel it with dualkey cancel and rotate again")
	case cur.DBName != s.DBName:
		return rotation.SecretFieldError("dbname", what+" names another database than AWSCURRENT", "a rotation keeps host, port and dbname; cancel it with dualkey cancel and rotate again")
	}
	return nil
}

// master logs in as the master user of the secret's server: the admin
// secret the AWSCURRENT version names, checked to be the same server as
// user, over a connection at least as strict as either secret asks.
func (p *Provider) master(ctx context.Context, versions rotation.VersionReader, user *Secret) (*Conn, error) {
	admin, err := versions.Admin(ctx)
	if err != nil {
		return nil, err
	}
	if admin == nil {
		return nil, rotation.SecretFieldError("masterarn", "is missing from AWSCURRENT, so no master user can manage the alternating users",
			"add masterarn (the ARN of the master user's secret) to the secret, or use the single-user strategy")
	}
	m, err := ParseCredentials(admin.Version.Value)
	if err != nil {
		return nil, fmt.Errorf("master secret %s: %w", admin.SecretARN, err)
	}
	if err := CheckMaster(user, m); err != nil {
		return nil, fmt.Errorf("master secret %s: %w", admin.SecretARN, err)
	}
	if m.Username == user.Username || BaseUsername(m.Username) == BaseUsername(user.Username) {
		return nil, fmt.Errorf("master secret %s: %w", admin.SecretARN,
			rotation.SecretFieldError("username", "of the master secret is the rotated user or its alternate", "point masterarn at the secret of another user, the database's master user"))
	}
	cfg := p.conn(m, "master secret")
	cfg.DBName = user.DBName
	cfg.TLS = stricter(user.TLSMode, m.TLSMode)
	return Connect(ctx, cfg)
}

// errSingleUser is wrapped by Reactivate's error for a single-user secret.
var errSingleUser = errors.New("single-user secret")
