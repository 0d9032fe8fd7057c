package stripesig

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

// Staging labels, in the order a version's label is chosen when it carries
// several (first wins).
const (
	StageCurrent  = "AWSCURRENT"
	StagePending  = "AWSPENDING"
	StagePrevious = "AWSPREVIOUS"
)

var stages = [...]string{StageCurrent, StagePending, StagePrevious}

// SecretsAPI is the subset of *secretsmanager.Client the verifier uses
// (IAM: secretsmanager:DescribeSecret and secretsmanager:GetSecretValue on
// the secret).
type SecretsAPI interface {
	// DescribeSecret returns the secret's metadata; the verifier reads only
	// VersionIdsToStages, the label map, to notice a rotation without
	// fetching any value. It must be safe for concurrent use.
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	// GetSecretValue returns the version selected by in.VersionId. The
	// verifier calls it only for versions it has not loaded yet. It must be
	// safe for concurrent use.
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretsAPI = (*secretsmanager.Client)(nil)

// version is one loaded secret version. secret is the HMAC key: it has to be
// held to verify signatures, and never leaves this struct.
type version struct {
	id          string
	stage       string
	endpointID  string
	fingerprint string
	secret      []byte
	verified    *counter
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

// loader keeps the staged versions of one secret, refreshing with cheap
// change detection: DescribeSecret every CheckInterval, GetSecretValue only
// for a version id not loaded yet.
type loader struct {
	api           SecretsAPI
	secretID      string
	field         string
	endpointField string
	now           func() time.Time
	log           *slog.Logger

	refreshMu sync.Mutex // serialises refreshes

	mu          sync.RWMutex
	versions    []*version // staged versions, CURRENT, PENDING, PREVIOUS order
	byID        map[string]*version
	history     []*version // every version loaded, oldest first (bounded)
	lastAttempt time.Time
	lastUnknown time.Time // last refresh triggered by an unknown signature
	calls       Calls
}

// Calls counts Secrets Manager calls, to make the cost visible.
type Calls struct {
	Describe int
	Get      int
}

// maxRetired bounds how many no-longer-staged versions Usage remembers.
const maxRetired = 8

// refreshTimeout bounds one refresh.
const refreshTimeout = 10 * time.Second

// refresh re-reads the label map and loads new versions. On error the
// previous set is kept. The caller holds refreshMu.
func (l *loader) refreshLocked(ctx context.Context) error {
	now := l.now()
	l.mu.Lock()
	l.lastAttempt = now
	l.calls.Describe++
	l.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	out, err := l.api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(l.secretID)})
	if err != nil {
		return fmt.Errorf("describe secret %q: %w", l.secretID, err)
	}
	// Label → version id, by label, never by map order.
	want := map[string]string{}
	for vid, labels := range out.VersionIdsToStages {
		for _, lab := range labels {
			want[lab] = vid
		}
	}
	if want[StageCurrent] == "" {
		return fmt.Errorf("secret %q has no %s version", l.secretID, StageCurrent)
	}

	l.mu.RLock()
	old := l.byID
	l.mu.RUnlock()

	next := make([]*version, 0, len(stages))
	seen := map[string]bool{}
	var errs []error
	for _, stage := range stages {
		vid := want[stage]
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
				errs = append(errs, err)
				continue
			}
			// A broken AWSPENDING/AWSPREVIOUS must not stop the service:
			// skip it and keep verifying with the others.
			l.log.Warn("stripe webhook verifier: ignoring unusable secret version", "stage", stage, "version", shortID(vid), "err", err)
			continue
		}
		next = append(next, v)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	l.install(next)
	return nil
}

// load fetches one version by id and extracts the signing secret.
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
	secret, endpointID, err := extract(*out.SecretString, l.field, l.endpointField)
	if err != nil {
		return nil, fmt.Errorf("%s version %s of secret %q: %w", stage, shortID(vid), l.secretID, err)
	}
	return &version{id: vid, stage: stage, endpointID: endpointID, fingerprint: Fingerprint(secret), secret: []byte(secret), verified: &counter{}}, nil
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
	// Keep the staged versions and the maxRetired most recent others.
	retired := 0
	for i := len(l.history) - 1; i >= 0; i-- {
		if byID[l.history[i].id] != nil {
			continue
		}
		retired++
		if retired > maxRetired {
			l.history = append(l.history[:i], l.history[i+1:]...)
		}
	}
	l.versions, l.byID = next, byID
	l.mu.Unlock()
	if changed {
		attrs := make([]any, 0, len(next))
		for _, v := range next {
			attrs = append(attrs, slog.String(v.stage, shortID(v.id)+" "+v.endpointID+" "+v.fingerprint))
		}
		l.log.Info("stripe webhook verifier: signing secrets updated", attrs...)
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

// extract reads the signing secret and endpoint id from a SecretString: a
// JSON object with the secret in field (and the endpoint id, optional, in
// endpointField), or a bare whsec_ string. Errors never quote the secret.
func extract(s, field, endpointField string) (secret, endpointID string, err error) {
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(s), &obj) != nil || obj == nil {
		if s == "" {
			return "", "", errors.New("secret string is empty")
		}
		return s, "", nil
	}
	raw, ok := obj[field]
	if !ok {
		return "", "", fmt.Errorf("JSON field %q not found: store the endpoint's whsec_ signing secret there (or set Config.Field)", field)
	}
	if json.Unmarshal(raw, &secret) != nil || secret == "" {
		return "", "", fmt.Errorf("JSON field %q is not a non-empty string", field)
	}
	if raw, ok := obj[endpointField]; ok {
		if json.Unmarshal(raw, &endpointID) != nil {
			return "", "", fmt.Errorf("JSON field %q is not a string", endpointField)
		}
	}
	return secret, endpointID, nil
}

// Fingerprint identifies a secret without revealing it: "…" and its last 4
// characters; "…" alone for secrets shorter than 12 characters.
func Fingerprint(secret string) string {
	r := []rune(secret)
	if len(r) < 12 {
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

// sortedStages orders usage records CURRENT, PENDING, PREVIOUS, then retired.
func sortedStages(us []VersionUsage) {
	rank := func(s string) int {
		for i, st := range stages {
			if st == s {
				return i
			}
		}
		return len(stages)
	}
	sort.SliceStable(us, func(i, j int) bool { return rank(us[i].Stage) < rank(us[j].Stage) })
}
