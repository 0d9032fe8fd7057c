package twiliosig

// The loader below knows nothing about Twilio: it keeps the raw values of
// the staged versions of one secret (a verifier needs the key itself, to
// compute an HMAC) with cheap change detection. shared/verifier/stripesig
// has its own copy (unexported) and shared/keyring keeps only digests, so
// neither could be reused as it is; see docs/providers-twilio-sendgrid.md
// for the shared package this should become.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Staging labels.
const (
	StageCurrent  = "AWSCURRENT"
	StagePending  = "AWSPENDING"
	StagePrevious = "AWSPREVIOUS"
)

// SecretsAPI is the subset of *secretsmanager.Client the verifier uses
// (IAM: secretsmanager:DescribeSecret and secretsmanager:GetSecretValue on
// the secret, and kms:Decrypt on its key when it is customer managed).
type SecretsAPI interface {
	// DescribeSecret returns the secret's metadata; only VersionIdsToStages
	// is read, to notice a rotation without fetching a value. It must be
	// safe for concurrent use.
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	// GetSecretValue returns the version in.VersionId names; it is called
	// only for a version not loaded yet. It must be safe for concurrent use.
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretsAPI = (*secretsmanager.Client)(nil)

// version is one loaded version. key never leaves this struct.
type version struct {
	id          string
	stage       string
	fingerprint string
	key         string
	used        *counter
}

type counter struct {
	mu   sync.Mutex
	n    uint64
	last time.Time
}

func (c *counter) add(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if now.After(c.last) {
		c.last = now
	}
}

// Calls counts Secrets Manager calls.
type Calls struct {
	Describe int
	Get      int
}

// maxRetired bounds how many versions no longer staged Usage remembers.
const maxRetired = 8

// refreshTimeout bounds one refresh.
const refreshTimeout = 10 * time.Second

// loader keeps the values of the staged versions (in the stages given,
// first label wins) of one secret.
type loader struct {
	api      SecretsAPI
	secretID string
	field    string
	stages   []string
	now      func() time.Time
	log      *slog.Logger

	refreshMu sync.Mutex // serialises refreshes

	mu          sync.RWMutex
	versions    []*version
	byID        map[string]*version
	history     []*version // every version loaded, oldest first (bounded)
	lastAttempt time.Time
	lastUnknown time.Time
	calls       Calls
}

// refreshLocked re-reads the label map and loads new versions; on error the
// previous set is kept. The caller holds refreshMu.
func (l *loader) refreshLocked(ctx context.Context) error {
	l.mu.Lock()
	l.lastAttempt = l.now()
	l.calls.Describe++
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	out, err := l.api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(l.secretID)})
	if err != nil {
		return fmt.Errorf("describe secret %q: %w", l.secretID, err)
	}
	holder := map[string]string{}
	for vid, labels := range out.VersionIdsToStages {
		for _, lab := range labels {
			holder[lab] = vid
		}
	}
	if holder[StageCurrent] == "" {
		return fmt.Errorf("secret %q has no %s version", l.secretID, StageCurrent)
	}
	l.mu.RLock()
	old := l.byID
	l.mu.RUnlock()
	next := make([]*version, 0, len(l.stages))
	seen := map[string]bool{}
	for _, stage := range l.stages {
		vid := holder[stage]
		if vid == "" || seen[vid] {
			continue
		}
		seen[vid] = true
		if v, ok := old[vid]; ok {
			cp := *v
			cp.stage = stage
			next = append(next, &cp)
			continue
		}
		v, err := l.load(ctx, vid, stage)
		if err != nil {
			if stage == StageCurrent {
				return err
			}
			// A broken AWSPENDING or AWSPREVIOUS must not stop the service.
			l.log.Warn("twilio signature verifier: ignoring an unusable secret version", "stage", stage, "version", shortID(vid), "err", err.Error())
			continue
		}
		next = append(next, v)
	}
	l.install(next)
	return nil
}

// load fetches one version by id and extracts the token.
func (l *loader) load(ctx context.Context, vid, stage string) (*version, error) {
	l.mu.Lock()
	l.calls.Get++
	l.mu.Unlock()
	out, err := l.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(l.secretID), VersionId: aws.String(vid)})
	if err != nil {
		return nil, fmt.Errorf("get %s version %s of secret %q: %w", stage, shortID(vid), l.secretID, err)
	}
	if out.SecretString == nil {
		return nil, fmt.Errorf("%s version %s of secret %q has no SecretString", stage, shortID(vid), l.secretID)
	}
	key, err := extract(*out.SecretString, l.field)
	if err != nil {
		return nil, fmt.Errorf("%s version %s of secret %q: %w", stage, shortID(vid), l.secretID, err)
	}
	return &version{id: vid, stage: stage, fingerprint: Fingerprint(key), key: key, used: &counter{}}, nil
}

// install replaces the version set and logs a change.
func (l *loader) install(next []*version) {
	byID := make(map[string]*version, len(next))
	for _, v := range next {
		byID[v.id] = v
	}
	l.mu.Lock()
	changed := len(next) != len(l.versions)
	for i := 0; !changed && i < len(next); i++ {
		changed = next[i].id != l.versions[i].id || next[i].stage != l.versions[i].stage
	}
	known := map[string]bool{}
	for _, h := range l.history {
		known[h.id] = true
	}
	for _, v := range next {
		if !known[v.id] {
			l.history = append(l.history, v)
		}
	}
	retired := 0
	for i := len(l.history) - 1; i >= 0; i-- {
		if byID[l.history[i].id] != nil {
			continue
		}
		if retired++; retired > maxRetired {
			l.history = append(l.history[:i], l.history[i+1:]...)
		}
	}
	l.versions, l.byID = next, byID
	l.mu.Unlock()
	if changed {
		attrs := make([]any, 0, len(next))
		for _, v := range next {
			attrs = append(attrs, slog.String(v.stage, shortID(v.id)+" "+v.fingerprint))
		}
		l.log.Info("twilio signature verifier: auth tokens updated", attrs...)
	}
}

func (l *loader) snapshot() []*version {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.versions
}

func (l *loader) due(d time.Duration) bool {
	now := l.now()
	l.mu.RLock()
	defer l.mu.RUnlock()
	return now.Sub(l.lastAttempt) >= d
}

// extract reads the token from a SecretString: a JSON object with it in
// field, or a bare string. Errors never quote the value.
func extract(s, field string) (string, error) {
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(s), &obj) != nil || obj == nil {
		if s == "" {
			return "", errors.New("secret string is empty")
		}
		return s, nil
	}
	raw, ok := obj[field]
	if !ok {
		return "", fmt.Errorf("JSON field %q not found: store the auth token there (or set Config.Field)", field)
	}
	var key string
	if json.Unmarshal(raw, &key) != nil || key == "" {
		return "", fmt.Errorf("JSON field %q is not a non-empty string", field)
	}
	return key, nil
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// VersionUsage is per-version evidence of use: how many requests each
// token verified. After the promotion the old token's count stops growing.
type VersionUsage struct {
	VersionID   string
	Stage       string // label at the last refresh; "" once no longer staged
	Fingerprint string
	Verified    uint64
	LastUsed    time.Time // zero if never
}

// usage returns one record per version loaded (retired ones bounded),
// staged versions first in stage order.
func (l *loader) usage() []VersionUsage {
	l.mu.RLock()
	out := make([]VersionUsage, 0, len(l.history))
	for _, h := range l.history {
		u := VersionUsage{VersionID: h.id, Fingerprint: h.fingerprint}
		if cur := l.byID[h.id]; cur != nil {
			u.Stage = cur.stage
		}
		h.used.mu.Lock()
		u.Verified, u.LastUsed = h.used.n, h.used.last
		h.used.mu.Unlock()
		out = append(out, u)
	}
	l.mu.RUnlock()
	rank := func(s string) int {
		for i, st := range l.stages {
			if st == s {
				return i
			}
		}
		return len(l.stages)
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i].Stage) < rank(out[j].Stage) })
	return out
}
