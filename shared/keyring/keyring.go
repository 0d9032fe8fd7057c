// Package keyring lets a service verify incoming internal API keys against a
// secret stored in AWS Secrets Manager while that secret is rotated with the
// dual-key pattern.
//
// During a rotation the new key (staging label AWSPENDING, later AWSCURRENT)
// and the old key (AWSCURRENT, later AWSPREVIOUS) are both valid, so a
// Keyring accepts every key that carries one of the three labels. It keeps
// only SHA-256 digests and fingerprints of the keys in memory, never the keys
// themselves, and never logs or returns a key value.
//
// # Refresh policy
//
// Verify never calls Secrets Manager. A background check loop, started by New
// and stopped by Close, runs every CheckInterval (default 30s):
// DescribeSecret returns the secret's label map (version id → staging
// labels); GetSecretValue is called only for a labelled version the keyring
// has never read (a version's value never changes in Secrets Manager, so a
// label moving between known versions costs no read at all). A version whose
// label was removed — by retire, or by an emergency rotation — is therefore
// refused at most CheckInterval plus one check (bounded by CheckTimeout)
// after the removal.
//
// A key that matches nothing triggers one background check (or joins the one
// already running; concurrent unknown keys share it), at most one per
// MinRefreshInterval, and Verify waits for that shared check at most
// UnknownKeyWait, so a brand-new AWSPENDING key is accepted on first use.
//
// While Secrets Manager cannot be reached the last AWSCURRENT key stays
// valid indefinitely, but AWSPENDING and AWSPREVIOUS keys are refused once the
// last successful check is older than MaxStaleness (default 5m). Entering and
// leaving that state is logged and, when Config.Metrics is set, emitted as the
// EMF metric KeyringStale (namespace dualkey). docs/keyring.md has the details.
package keyring

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/secretwatch"
)

// Staging labels used by Secrets Manager rotation.
const (
	StageCurrent  = secretwatch.StageCurrent
	StagePending  = secretwatch.StagePending
	StagePrevious = secretwatch.StagePrevious
)

// Defaults applied by New to zero Config fields.
const (
	DefaultField              = "api_key"
	DefaultCheckInterval      = 30 * time.Second
	DefaultCheckTimeout       = 10 * time.Second
	DefaultMaxStaleness       = 5 * time.Minute
	DefaultUnknownKeyWait     = 2 * time.Second
	DefaultMinRefreshInterval = time.Second
)

// NoWait as Config.UnknownKeyWait makes Verify refuse an unknown key at once;
// the background check it triggers still runs, so a later request with the
// same (new) key is accepted.
const NoWait time.Duration = -1

// stages is the order in which labels are reported and, when one version
// carries several labels, which label wins (first wins).
var stages = []string{StageCurrent, StagePending, StagePrevious}

// ValueGetter is the part of *secretsmanager.Client that reads one version.
type ValueGetter interface {
	// GetSecretValue returns the secret version selected by in.VersionId (or
	// in.VersionStage). It must return an error whose code is
	// ResourceNotFoundException (for example *types.ResourceNotFoundException)
	// when the secret has no such version. It must be safe for concurrent use.
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// SecretsAPI is the subset of *secretsmanager.Client the keyring uses. Its
// IAM policy needs secretsmanager:DescribeSecret and
// secretsmanager:GetSecretValue on the secret (and kms:Decrypt on its key
// when that is a customer managed key).
type SecretsAPI interface {
	// DescribeSecret returns the secret's metadata; the keyring reads
	// VersionIdsToStages (every version that carries a staging label), Name
	// and DeletedDate. It never returns secret values. It must be safe for
	// concurrent use.
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	ValueGetter
}

var _ SecretsAPI = (*secretsmanager.Client)(nil)

// Config configures a Keyring. Zero fields take the documented defaults.
type Config struct {
	// SecretID is the name or ARN of the secret. Required.
	SecretID string
	// Field is the JSON field of the SecretString holding the key; default
	// "api_key". If the SecretString is not a JSON object it is used whole.
	Field string
	// CheckInterval is how often the background loop asks DescribeSecret
	// whether the labels changed; default 30s. A key whose label is removed
	// is refused at most CheckInterval + CheckTimeout later.
	CheckInterval time.Duration
	// CheckTimeout bounds one check (DescribeSecret plus any GetSecretValue
	// calls, SDK retries included); default 10s.
	CheckTimeout time.Duration
	// MaxStaleness is how long after the last successful check AWSPENDING
	// and AWSPREVIOUS keys are still accepted while checks fail; the last
	// AWSCURRENT key is accepted regardless. Default 5m (or
	// 2×CheckInterval + CheckTimeout if that is longer). It must be longer
	// than CheckInterval + CheckTimeout, or a healthy keyring would go stale
	// between two checks.
	MaxStaleness time.Duration
	// UnknownKeyWait is the longest Verify waits for the background check an
	// unknown key triggered (or joined); default 2s. NoWait (any negative
	// value) never waits.
	UnknownKeyWait time.Duration
	// MinRefreshInterval is the least time between the starts of two checks
	// triggered by unknown keys, so a flood of bad keys cannot hammer Secrets
	// Manager; default 1s.
	MinRefreshInterval time.Duration
	// TTL is ignored.
	//
	// Deprecated: the periodic full refresh was replaced by the check loop;
	// set CheckInterval.
	TTL time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives check events (never key values); default slog.Default().
	Logger *slog.Logger
	// Metrics, if set, receives CloudWatch Embedded Metric Format lines
	// (namespace dualkey, metric KeyringStale) when the keyring becomes stale
	// and fresh again; in Lambda or with the CloudWatch agent, os.Stdout.
	Metrics io.Writer

	// timer, if set, replaces real timers (tests drive it with a fake clock):
	// the channel must receive once Now() reaches deadline.
	timer func(deadline time.Time) <-chan time.Time
}

// Match describes which version a presented key matched.
type Match struct {
	// Stage is the staging label the version had at the last successful
	// check: AWSCURRENT, AWSPENDING or AWSPREVIOUS.
	Stage string
	// VersionID is the Secrets Manager version id.
	VersionID string
	// Fingerprint is the key's fingerprint (see Fingerprint).
	Fingerprint string
}

// VersionUsage is the per-version usage record returned by Usage. It is the
// evidence that an old key is (no longer) used.
type VersionUsage struct {
	VersionID   string
	Stage       string // label at the last successful check; "" once the version carries none of the three labels
	Fingerprint string
	Accepted    uint64    // keys accepted for this version since the Keyring was created
	LastUsed    time.Time // zero if never accepted
	RetiredAt   time.Time // when the version was first seen without a label; zero while staged
}

// Stats is a snapshot of the keyring's checks, for health endpoints and
// tests. It never contains key material.
type Stats struct {
	// LastCheck is when the last check started; LastSuccess when the last
	// successful one started (what MaxStaleness is measured from).
	LastCheck, LastSuccess time.Time
	// LastError is the last check's error, "" if it succeeded.
	LastError string
	// Stale is true while AWSPENDING and AWSPREVIOUS keys are refused
	// because no check has succeeded for longer than MaxStaleness.
	Stale bool
	// Checks and CheckFailures count checks since New (New's own included).
	Checks, CheckFailures uint64
	// DescribeCalls and GetValueCalls count Secrets Manager calls.
	DescribeCalls, GetValueCalls uint64
	// UnknownKeyChecks counts checks started by an unknown key;
	// UnknownKeyJoins counts unknown keys that joined a running check;
	// RateLimited counts unknown keys that started none because the last
	// check began less than MinRefreshInterval ago.
	UnknownKeyChecks, UnknownKeyJoins, RateLimited uint64
}

// Keyring verifies presented API keys against the staged versions of a
// secret. It is safe for concurrent use. Call Close when done with it; a
// Keyring that becomes unreachable stops its loop as well.
type Keyring struct {
	// w runs the checks (shared/secretwatch). Its goroutines hold only w,
	// so an abandoned Keyring can be garbage-collected and stop them.
	w *secretwatch.Watcher[key]
}

// New creates a Keyring, loads the key set once and starts the background
// check loop. It fails if AWSCURRENT cannot be loaded; a missing AWSPENDING
// or AWSPREVIOUS is normal. ctx bounds only this first load: the loop lives
// until Close.
func New(ctx context.Context, api SecretsAPI, cfg Config) (*Keyring, error) {
	if api == nil {
		return nil, errors.New("keyring: nil SecretsAPI: pass a *secretsmanager.Client")
	}
	if cfg.SecretID == "" {
		return nil, errors.New("keyring: empty Config.SecretID: set it to the secret's name or ARN")
	}
	if err := applyDefaults(&cfg); err != nil {
		return nil, err
	}
	w, err := watch(ctx, api, cfg)
	if err != nil {
		return nil, fmt.Errorf("keyring: load %s of secret %q (field %q): %w", StageCurrent, cfg.SecretID, cfg.Field, err)
	}
	k := &Keyring{w: w}
	runtime.AddCleanup(k, func(w *secretwatch.Watcher[key]) { w.Close() }, w)
	return k, nil
}

func applyDefaults(cfg *Config) error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"CheckInterval", cfg.CheckInterval},
		{"CheckTimeout", cfg.CheckTimeout},
		{"MaxStaleness", cfg.MaxStaleness},
		{"MinRefreshInterval", cfg.MinRefreshInterval},
	} {
		if d.v < 0 {
			return fmt.Errorf("keyring: negative Config.%s (%v): use a positive duration, or 0 for the default", d.name, d.v)
		}
	}
	if cfg.Field == "" {
		cfg.Field = DefaultField
	}
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = DefaultCheckInterval
	}
	if cfg.CheckTimeout == 0 {
		cfg.CheckTimeout = DefaultCheckTimeout
	}
	floor := cfg.CheckInterval + cfg.CheckTimeout
	if cfg.MaxStaleness == 0 {
		cfg.MaxStaleness = max(DefaultMaxStaleness, floor+cfg.CheckInterval)
	}
	if cfg.MaxStaleness <= floor {
		return fmt.Errorf("keyring: Config.MaxStaleness (%v) must be longer than CheckInterval + CheckTimeout (%v), or the keyring would go stale between two healthy checks: raise MaxStaleness or lower CheckInterval", cfg.MaxStaleness, floor)
	}
	if cfg.UnknownKeyWait == 0 {
		cfg.UnknownKeyWait = DefaultUnknownKeyWait
	}
	if cfg.MinRefreshInterval == 0 {
		cfg.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return nil
}

// Close stops the background check loop and waits for running checks to
// end. Afterwards Verify still answers from the last key set but nothing is
// refreshed, so AWSPENDING and AWSPREVIOUS keys are refused once MaxStaleness
// has passed. Close is idempotent.
func (k *Keyring) Close() { k.w.Close() }

// Verify reports whether presented is the key of the AWSCURRENT, AWSPENDING
// or AWSPREVIOUS version (only AWSCURRENT while the keyring is stale). The
// comparison is constant-time and always runs against every known version.
// Verify never calls Secrets Manager: an unknown key starts (or joins) one
// background check, rate-limited, and waits for it at most UnknownKeyWait or
// until ctx is done.
func (k *Keyring) Verify(ctx context.Context, presented string) (Match, bool) {
	if presented == "" {
		return Match{}, false
	}
	digest := sha256.Sum256([]byte(presented))
	if m, ok := k.match(&digest); ok {
		return m, true
	}
	if !k.w.Unknown(ctx) {
		return Match{}, false
	}
	return k.match(&digest)
}

// match compares digest with every usable entry in constant time. The loop
// has no early exit: which entry (if any) matched is selected with
// subtle.ConstantTimeSelect, so timing does not reveal the matching
// version. Digests are fixed-length, so the length of the presented key
// does not leak either. While stale, only the AWSCURRENT entry is usable.
func (k *Keyring) match(digest *[sha256.Size]byte) (Match, bool) {
	entries := k.w.Usable()
	// The first matching entry wins (AWSCURRENT before AWSPENDING before
	// AWSPREVIOUS), so a key that two versions share is counted for the
	// newer label. found stays 1 after the first match.
	idx, found := -1, 0
	for i := range entries {
		eq := subtle.ConstantTimeCompare(digest[:], entries[i].Value.digest[:])
		idx = subtle.ConstantTimeSelect(eq&^found, i, idx)
		found |= eq
	}
	if idx < 0 {
		return Match{}, false
	}
	e := entries[idx]
	k.w.Used(e)
	return Match{Stage: e.Stage, VersionID: e.VersionID, Fingerprint: e.Value.fingerprint}, true
}

// Refresh runs a check now, regardless of CheckInterval and the rate limit,
// and waits for it (or for ctx). A check already running when Refresh is
// called is waited for first, so the result reflects Secrets Manager after
// the call. On error the previous key set is kept.
func (k *Keyring) Refresh(ctx context.Context) error {
	return k.w.Refresh(ctx)
}

// Stats returns a snapshot of the keyring's checks.
func (k *Keyring) Stats() Stats {
	s := k.w.Stats()
	return Stats{
		LastCheck: s.LastCheck, LastSuccess: s.LastSuccess, LastError: s.LastError, Stale: s.Stale,
		Checks: s.Checks, CheckFailures: s.CheckFailures, DescribeCalls: s.DescribeCalls, GetValueCalls: s.GetValueCalls,
		UnknownKeyChecks: s.UnknownChecks, UnknownKeyJoins: s.UnknownJoins, RateLimited: s.RateLimited,
	}
}

// Usage returns one record per version seen since the Keyring was created
// (bounded: only the most recently retired versions are kept), ordered
// AWSCURRENT, AWSPENDING, AWSPREVIOUS, then retired versions newest first.
// Versions whose value is not a usable key are left out.
func (k *Keyring) Usage() []VersionUsage {
	us := k.w.Usage()
	out := make([]VersionUsage, len(us))
	for i, u := range us {
		out[i] = VersionUsage{VersionID: u.VersionID, Stage: u.Stage, Fingerprint: u.Value.fingerprint,
			Accepted: u.Uses, LastUsed: u.LastUsed, RetiredAt: u.RetiredAt}
	}
	return out
}

// IsNotFound reports whether err is a Secrets Manager
// ResourceNotFoundException (typed, or any smithy API error with that code).
func IsNotFound(err error) bool { return secretwatch.IsNotFound(err) }

// ExtractKey returns the API key held in a SecretString: the string value of
// field if the SecretString is a JSON object, otherwise the whole string.
// Errors never contain any part of the secret.
func ExtractKey(secretString, field string) (string, error) {
	if field == "" {
		field = DefaultField
	}
	return secretwatch.Field(secretString, field, "")
}

// Fingerprint identifies a key without revealing it: "…" followed by its last
// 4 characters, never more. Keys shorter than 12 characters get just "…".
func Fingerprint(key string) string { return secretwatch.Last4(key) }

// presentedKey extracts the key from "Authorization: Bearer <key>" or, failing
// that, from "X-Api-Key".
func presentedKey(h interface{ Get(string) string }) (string, bool) {
	if auth := h.Get("Authorization"); auth != "" {
		scheme, token, ok := strings.Cut(auth, " ")
		if token = strings.TrimSpace(token); ok && strings.EqualFold(scheme, "Bearer") && token != "" {
			return token, true
		}
	}
	if v := strings.TrimSpace(h.Get("X-Api-Key")); v != "" {
		return v, true
	}
	return "", false
}
