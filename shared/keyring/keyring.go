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
// Refresh policy (all lazy, no background goroutine):
//   - when the TTL has elapsed since the last refresh attempt, the next Verify
//     refreshes first (one caller does it; concurrent callers keep using the
//     current set instead of waiting);
//   - when a presented key matches nothing, Verify refreshes at once and
//     re-checks, but at most once per MinRefreshInterval, so a flood of bad
//     keys cannot hammer Secrets Manager;
//   - a failing refresh keeps the last good key set and is logged.
package keyring

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
)

// Staging labels used by Secrets Manager rotation.
const (
	StageCurrent  = "AWSCURRENT"
	StagePending  = "AWSPENDING"
	StagePrevious = "AWSPREVIOUS"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultField              = "api_key"
	DefaultTTL                = 5 * time.Minute
	DefaultMinRefreshInterval = time.Second
)

// refreshTimeout bounds one refresh so that a hanging Secrets Manager cannot
// hold the refresh lock (and the callers queued behind it) forever.
const refreshTimeout = 10 * time.Second

// maxRetired bounds how many no-longer-staged versions Usage remembers.
const maxRetired = 8

// stages is the order in which labels are fetched and, when one version
// carries several labels, which label wins (first wins).
var stages = [...]string{StageCurrent, StagePending, StagePrevious}

// SecretsAPI is the subset of *secretsmanager.Client the keyring uses.
//
// Only GetSecretValue is needed: the keyring asks for each staging label
// directly and treats ResourceNotFoundException as "label not attached".
// DescribeSecret would not save calls (after the first rotation AWSCURRENT and
// AWSPREVIOUS both exist, so Describe+2 Gets equals 3 Gets), would add a race
// window between describing and fetching, and would need one more IAM
// permission (secretsmanager:DescribeSecret).
type SecretsAPI interface {
	// GetSecretValue returns the secret version selected by in.VersionStage
	// (or in.VersionId). It must return an error whose code is
	// ResourceNotFoundException (for example *types.ResourceNotFoundException)
	// when the secret has no version with that label. It must be safe for
	// concurrent use.
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Config configures a Keyring. Zero fields take the documented defaults.
type Config struct {
	// SecretID is the name or ARN of the secret. Required.
	SecretID string
	// Field is the JSON field of the SecretString holding the key; default
	// "api_key". If the SecretString is not a JSON object it is used whole.
	Field string
	// TTL is the periodic refresh interval; default 5m.
	TTL time.Duration
	// MinRefreshInterval rate-limits refresh-on-unknown-key; default 1s.
	MinRefreshInterval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives refresh events (never key values); default slog.Default().
	Logger *slog.Logger
}

// Match describes which version a presented key matched.
type Match struct {
	// Stage is the staging label the version had at the last refresh:
	// AWSCURRENT, AWSPENDING or AWSPREVIOUS.
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
	Stage       string // label at the last refresh; "" once the version carries none of the three labels
	Fingerprint string
	Accepted    uint64    // keys accepted for this version since the Keyring was created
	LastUsed    time.Time // zero if never accepted
	RetiredAt   time.Time // when the version was first seen without a label; zero while staged
}

// usageRec is shared between all key sets that contain the same version.
type usageRec struct {
	versionID   string
	fingerprint string
	stage       string    // guarded by Keyring.mu
	retiredAt   time.Time // guarded by Keyring.mu
	accepted    atomic.Uint64
	lastUsed    atomic.Int64 // unix nanoseconds; 0 = never
}

// entry is one accepted key. Entries are immutable once installed.
type entry struct {
	stage       string
	versionID   string
	fingerprint string
	digest      [sha256.Size]byte
	rec         *usageRec
}

// Keyring verifies presented API keys against the staged versions of a
// secret. It is safe for concurrent use.
type Keyring struct {
	api SecretsAPI
	cfg Config
	log *slog.Logger

	refreshMu sync.Mutex // serialises fetches from Secrets Manager

	mu          sync.RWMutex // guards the fields below
	entries     []entry
	usage       map[string]*usageRec
	lastAttempt time.Time
	lastSuccess time.Time
}

// New creates a Keyring and loads the key set once. It fails if AWSCURRENT
// cannot be loaded; a missing AWSPENDING or AWSPREVIOUS is normal.
func New(ctx context.Context, api SecretsAPI, cfg Config) (*Keyring, error) {
	if api == nil {
		return nil, errors.New("keyring: nil SecretsAPI")
	}
	if cfg.SecretID == "" {
		return nil, errors.New("keyring: empty SecretID")
	}
	if cfg.TTL < 0 || cfg.MinRefreshInterval < 0 {
		return nil, fmt.Errorf("keyring: negative TTL (%v) or MinRefreshInterval (%v)", cfg.TTL, cfg.MinRefreshInterval)
	}
	if cfg.Field == "" {
		cfg.Field = DefaultField
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
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
	k := &Keyring{
		api:   api,
		cfg:   cfg,
		log:   cfg.Logger.With("component", "keyring", "secret", cfg.SecretID),
		usage: make(map[string]*usageRec),
	}
	if err := k.Refresh(ctx); err != nil {
		return nil, fmt.Errorf("keyring: load %s of secret %q (field %q): %w", StageCurrent, cfg.SecretID, cfg.Field, err)
	}
	return k, nil
}

// Verify reports whether presented is the key of the AWSCURRENT, AWSPENDING
// or AWSPREVIOUS version. The comparison is constant-time and always runs
// against every known version. If the TTL has elapsed it refreshes first; if
// the key matches nothing it refreshes (rate-limited) and checks again.
func (k *Keyring) Verify(ctx context.Context, presented string) (Match, bool) {
	if presented == "" {
		return Match{}, false
	}
	digest := sha256.Sum256([]byte(presented))
	k.maybeRefreshTTL(ctx)
	if m, ok := k.match(&digest); ok {
		return m, true
	}
	k.refreshForUnknown(ctx)
	return k.match(&digest)
}

// match compares digest with every entry in constant time. The loop has no
// early exit: which entry (if any) matched is selected with
// subtle.ConstantTimeSelect, so timing does not reveal the matching version.
// Digests are fixed-length, so the length of the presented key does not leak
// either.
func (k *Keyring) match(digest *[sha256.Size]byte) (Match, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	idx := -1
	for i := range k.entries {
		eq := subtle.ConstantTimeCompare(digest[:], k.entries[i].digest[:])
		idx = subtle.ConstantTimeSelect(eq, i, idx)
	}
	if idx < 0 {
		return Match{}, false
	}
	e := &k.entries[idx]
	e.rec.accepted.Add(1)
	now := k.cfg.Now().UnixNano()
	for {
		old := e.rec.lastUsed.Load()
		if now <= old || e.rec.lastUsed.CompareAndSwap(old, now) {
			break
		}
	}
	return Match{Stage: e.stage, VersionID: e.versionID, Fingerprint: e.fingerprint}, true
}

// maybeRefreshTTL refreshes if the TTL has elapsed since the last attempt.
// If another goroutine is already refreshing, it returns immediately and the
// caller uses the current set.
func (k *Keyring) maybeRefreshTTL(ctx context.Context) {
	if !k.due(k.cfg.TTL) {
		return
	}
	if !k.refreshMu.TryLock() {
		return
	}
	defer k.refreshMu.Unlock()
	if k.due(k.cfg.TTL) {
		k.refreshAndLog(ctx, "ttl")
	}
}

// refreshForUnknown refreshes after an unknown key, at most once per
// MinRefreshInterval. It waits for an in-flight refresh, so the caller's
// re-check sees its result.
func (k *Keyring) refreshForUnknown(ctx context.Context) {
	k.refreshMu.Lock()
	defer k.refreshMu.Unlock()
	if k.due(k.cfg.MinRefreshInterval) {
		k.refreshAndLog(ctx, "unknown key")
	}
}

// due reports whether at least d has passed since the last refresh attempt.
func (k *Keyring) due(d time.Duration) bool {
	now := k.cfg.Now()
	k.mu.RLock()
	defer k.mu.RUnlock()
	return now.Sub(k.lastAttempt) >= d
}

func (k *Keyring) refreshAndLog(ctx context.Context, reason string) {
	if err := k.refreshLocked(ctx); err != nil {
		k.mu.RLock()
		lastSuccess := k.lastSuccess
		k.mu.RUnlock()
		k.log.Warn("keyring refresh failed; keeping last good key set",
			"reason", reason, "err", err, "last_success", lastSuccess)
	}
}

// Refresh re-reads the AWSCURRENT, AWSPENDING and AWSPREVIOUS versions now,
// regardless of TTL and rate limit. On error the previous key set is kept.
func (k *Keyring) Refresh(ctx context.Context) error {
	k.refreshMu.Lock()
	defer k.refreshMu.Unlock()
	return k.refreshLocked(ctx)
}

// refreshLocked does one refresh; the caller holds refreshMu.
func (k *Keyring) refreshLocked(ctx context.Context) error {
	now := k.cfg.Now()
	k.mu.Lock()
	k.lastAttempt = now
	k.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	entries, err := k.fetchAll(ctx)
	if err != nil {
		return err
	}
	k.install(entries, now)
	return nil
}

type fetchResult struct {
	e     entry
	found bool
	err   error
}

// fetchAll fetches the three labels concurrently and returns the deduplicated
// entries (one per version, highest-priority label wins). Any error other
// than "label not attached" fails the whole refresh so that a transient error
// cannot drop a valid key; an unparsable AWSPENDING/AWSPREVIOUS is skipped.
func (k *Keyring) fetchAll(ctx context.Context) ([]entry, error) {
	var (
		wg      sync.WaitGroup
		results [len(stages)]fetchResult
	)
	for i, stage := range stages {
		wg.Go(func() { results[i] = k.fetchStage(ctx, stage) })
	}
	wg.Wait()

	if !results[0].found && results[0].err == nil {
		return nil, fmt.Errorf("secret %q has no %s version", k.cfg.SecretID, StageCurrent)
	}
	var errs []error
	for i, r := range results {
		if r.err == nil {
			continue
		}
		var skip *skipError
		if i > 0 && errors.As(r.err, &skip) {
			k.log.Warn("ignoring unusable secret version", "stage", stages[i], "err", r.err)
			results[i].found = false
			continue
		}
		errs = append(errs, r.err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	entries := make([]entry, 0, len(stages))
	seen := make(map[string]bool, len(stages))
	for _, r := range results {
		if !r.found || seen[r.e.versionID] {
			continue
		}
		seen[r.e.versionID] = true
		entries = append(entries, r.e)
	}
	return entries, nil
}

// skipError marks a version whose content cannot be used as a key (as opposed
// to an API failure).
type skipError struct{ err error }

func (e *skipError) Error() string { return e.err.Error() }
func (e *skipError) Unwrap() error { return e.err }

func (k *Keyring) fetchStage(ctx context.Context, stage string) fetchResult {
	out, err := k.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     aws.String(k.cfg.SecretID),
		VersionStage: aws.String(stage),
	})
	if err != nil {
		if IsNotFound(err) {
			return fetchResult{}
		}
		return fetchResult{err: fmt.Errorf("get %s of secret %q: %w", stage, k.cfg.SecretID, err)}
	}
	if out == nil || aws.ToString(out.VersionId) == "" {
		return fetchResult{err: fmt.Errorf("get %s of secret %q: response has no version id", stage, k.cfg.SecretID)}
	}
	vid := aws.ToString(out.VersionId)
	if out.SecretString == nil {
		return fetchResult{err: &skipError{fmt.Errorf("%s version %s of secret %q has no SecretString (binary secrets are not supported)", stage, vid, k.cfg.SecretID)}}
	}
	key, err := ExtractKey(*out.SecretString, k.cfg.Field)
	if err != nil {
		return fetchResult{err: &skipError{fmt.Errorf("%s version %s of secret %q: %w", stage, vid, k.cfg.SecretID, err)}}
	}
	return fetchResult{found: true, e: entry{
		stage:       stage,
		versionID:   vid,
		fingerprint: Fingerprint(key),
		digest:      sha256.Sum256([]byte(key)),
	}}
}

// install replaces the key set and updates the usage records.
func (k *Keyring) install(entries []entry, now time.Time) {
	k.mu.Lock()
	changed := !sameSet(k.entries, entries)
	current := make(map[string]bool, len(entries))
	for i := range entries {
		e := &entries[i]
		rec := k.usage[e.versionID]
		if rec == nil {
			rec = &usageRec{versionID: e.versionID, fingerprint: e.fingerprint}
			k.usage[e.versionID] = rec
		}
		rec.stage = e.stage
		rec.retiredAt = time.Time{}
		e.rec = rec
		current[e.versionID] = true
	}
	var retired []*usageRec
	for id, rec := range k.usage {
		if current[id] {
			continue
		}
		if rec.stage != "" {
			rec.stage = ""
			rec.retiredAt = now
		}
		retired = append(retired, rec)
	}
	if len(retired) > maxRetired {
		sort.Slice(retired, func(i, j int) bool { return retired[i].retiredAt.After(retired[j].retiredAt) })
		for _, rec := range retired[maxRetired:] {
			delete(k.usage, rec.versionID)
		}
	}
	k.entries = entries
	k.lastSuccess = now
	k.mu.Unlock()

	attrs := make([]any, 0, len(entries))
	for _, e := range entries {
		attrs = append(attrs, slog.String(e.stage, shortID(e.versionID)+" "+e.fingerprint))
	}
	if changed {
		k.log.Info("keyring key set updated", attrs...)
	} else {
		k.log.Debug("keyring refreshed; key set unchanged", attrs...)
	}
}

func sameSet(a, b []entry) bool {
	if len(a) != len(b) {
		return false
	}
	m := make(map[string]string, len(a))
	for _, e := range a {
		m[e.versionID] = e.stage
	}
	for _, e := range b {
		if s, ok := m[e.versionID]; !ok || s != e.stage {
			return false
		}
	}
	return true
}

// Usage returns one record per version seen since the Keyring was created
// (bounded: only the most recently retired versions are kept), ordered
// AWSCURRENT, AWSPENDING, AWSPREVIOUS, then retired versions newest first.
func (k *Keyring) Usage() []VersionUsage {
	k.mu.RLock()
	out := make([]VersionUsage, 0, len(k.usage))
	for _, rec := range k.usage {
		u := VersionUsage{
			VersionID:   rec.versionID,
			Stage:       rec.stage,
			Fingerprint: rec.fingerprint,
			Accepted:    rec.accepted.Load(),
			RetiredAt:   rec.retiredAt,
		}
		if ns := rec.lastUsed.Load(); ns != 0 {
			u.LastUsed = time.Unix(0, ns)
		}
		out = append(out, u)
	}
	k.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		ri, rj := stageRank(out[i].Stage), stageRank(out[j].Stage)
		if ri != rj {
			return ri < rj
		}
		if !out[i].RetiredAt.Equal(out[j].RetiredAt) {
			return out[i].RetiredAt.After(out[j].RetiredAt)
		}
		return out[i].VersionID < out[j].VersionID
	})
	return out
}

func stageRank(stage string) int {
	for i, s := range stages {
		if s == stage {
			return i
		}
	}
	return len(stages)
}

// IsNotFound reports whether err is a Secrets Manager
// ResourceNotFoundException (typed, or any smithy API error with that code).
func IsNotFound(err error) bool {
	var rnf *types.ResourceNotFoundException
	if errors.As(err, &rnf) {
		return true
	}
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "ResourceNotFoundException"
}

// ExtractKey returns the API key held in a SecretString: the string value of
// field if the SecretString is a JSON object, otherwise the whole string.
// Errors never contain any part of the secret.
func ExtractKey(secretString, field string) (string, error) {
	if field == "" {
		field = DefaultField
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(secretString), &obj); err != nil || obj == nil {
		// Not a JSON object: the whole SecretString is the key. The JSON
		// error is deliberately dropped: it may quote secret characters.
		if secretString == "" {
			return "", errors.New("secret string is empty")
		}
		return secretString, nil
	}
	raw, ok := obj[field]
	if !ok {
		return "", fmt.Errorf("JSON field %q not found in secret", field)
	}
	var key string
	if err := json.Unmarshal(raw, &key); err != nil {
		return "", fmt.Errorf("JSON field %q is not a string", field)
	}
	if key == "" {
		return "", fmt.Errorf("JSON field %q is empty", field)
	}
	return key, nil
}

// minFingerprintRunes is the shortest key whose last 4 characters are shown;
// for shorter keys 4 characters would give away too much of the key.
const minFingerprintRunes = 12

// Fingerprint identifies a key without revealing it: "…" followed by its last
// 4 characters, never more. Keys shorter than 12 characters get just "…".
func Fingerprint(key string) string {
	r := []rune(key)
	if len(r) < minFingerprintRunes {
		return "…"
	}
	return "…" + string(r[len(r)-4:])
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

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
