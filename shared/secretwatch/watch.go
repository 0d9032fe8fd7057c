// Package secretwatch keeps what a consumer needs from the staged versions
// of one AWS Secrets Manager secret (AWSCURRENT, AWSPENDING, AWSPREVIOUS or
// a subset), with cheap change detection, while dualkey rotates it.
//
// It is the one implementation behind shared/keyring (which keeps SHA-256
// digests of API keys), shared/verifier/stripesig (webhook signing secrets)
// and shared/verifier/twiliosig (auth tokens). What is kept per version is
// the consumer's choice: Config.Decode turns a version's SecretString into
// a T once, and the SecretString is dropped; nothing else of the value is
// kept, logged or put in an error.
//
// # Checks
//
// A check calls DescribeSecret and reads its label map (VersionIdsToStages:
// no secret value); GetSecretValue is called only for a labelled version
// never read before (a version's value never changes in Secrets Manager,
// so labels moving between known versions cost no read). The new set
// replaces the old one atomically; a failed check changes nothing, so the
// last good set stays in force while Secrets Manager is unreachable. A
// labelled version without a value (RotateSecret's AWSPENDING placeholder)
// is skipped and read again at the next check; a version whose value Decode
// refuses is logged once, remembered and never read again.
//
// Checks run one at a time. They start:
//   - every CheckInterval: from a background loop (Config.Background; stop
//     it with Close), or from Poll, which a consumer without a loop calls
//     on each use;
//   - when a consumer meets a credential no version matches (Unknown), rate
//     limited by MinRefreshInterval, with a bounded wait (UnknownWait);
//   - on Refresh.
//
// With MaxStaleness set, every version but the first stage's (AWSCURRENT)
// is refused once the last successful check is older than that
// (Usable); entering and leaving that state is logged and reported to
// Config.OnStale.
package secretwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Staging labels used by Secrets Manager rotation.
const (
	StageCurrent  = "AWSCURRENT"
	StagePending  = "AWSPENDING"
	StagePrevious = "AWSPREVIOUS"
)

// DefaultCheckTimeout bounds one check when Config.CheckTimeout is 0.
const DefaultCheckTimeout = 10 * time.Second

// maxRetired bounds how many versions no longer staged are remembered (for
// Usage, and so that a rollback to one costs no read).
const maxRetired = 8

// SecretsAPI is the subset of *secretsmanager.Client a Watcher uses. Its
// IAM policy needs secretsmanager:DescribeSecret and
// secretsmanager:GetSecretValue on the secret, and kms:Decrypt on its key
// when that is a customer managed key.
type SecretsAPI interface {
	// DescribeSecret returns the secret's metadata; a Watcher reads
	// VersionIdsToStages, Name and DeletedDate, never a value. It must be
	// safe for concurrent use.
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	// GetSecretValue returns the version in.VersionId names; it is called
	// only for a version never read before. It must return an error whose
	// code is ResourceNotFoundException when the version has no value. It
	// must be safe for concurrent use.
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretsAPI = (*secretsmanager.Client)(nil)

// UnknownPolicy says which check a credential that matches no version gets.
type UnknownPolicy int

const (
	// ShareCheck: the credential joins the running check, or starts one
	// unless any check started less than MinRefreshInterval ago (then it
	// gets none). A flood of unknown credentials never adds a check to the
	// interval's.
	ShareCheck UnknownPolicy = iota
	// FreshCheck: the credential waits for a running check and then starts
	// one of its own (a running check may have described the secret before
	// a new label appeared), unless a check started this way began less than
	// MinRefreshInterval ago. Periodic checks do not count against the
	// limit: one a moment ago must not stop a new credential from loading.
	FreshCheck
)

// Messages are the log lines of a Watcher; each consumer keeps its own
// wording. An empty message is not logged.
type Messages struct {
	// Updated (Info): a check found other labels; one attribute per kept
	// stage, the short version id and Config.Describe of its value.
	Updated string
	// Unchanged (Debug): a check found the same labels.
	Unchanged string
	// Unusable (Warn): a version whose value Decode refused (once per
	// version), or that SkipUnreadable left out (per check).
	Unusable string
	// Failed (Warn): a check failed and the last good set stays.
	Failed string
	// Stale (Warn) and Fresh (Info): entering and leaving the stale state.
	Stale, Fresh string
	// UnknownReason is the reason attribute of a check an unknown
	// credential started; default "unknown".
	UnknownReason string
}

// Config configures a Watcher.
type Config[T any] struct {
	// SecretID is the name or ARN of the secret. Required.
	SecretID string
	// Component prefixes the errors Refresh returns ("keyring: closed").
	Component string
	// Stages are the labels kept, in priority order: a version carrying
	// several is kept under the first. Stages[0] (AWSCURRENT) must be on
	// a usable version or the check fails. Required.
	Stages []string
	// Decode turns a version's SecretString into what the consumer keeps.
	// It runs once per version. Its error must not contain the value: it is
	// logged and, for Stages[0], returned. Required.
	Decode func(secretString string) (T, error)
	// Describe names a kept value in log lines (a fingerprint; never the
	// secret). Default: nothing.
	Describe func(T) string
	// CheckInterval is the time between the starts of periodic checks.
	// Required (positive).
	CheckInterval time.Duration
	// CheckTimeout bounds one check (DescribeSecret and the reads, SDK
	// retries included); default DefaultCheckTimeout.
	CheckTimeout time.Duration
	// MinRefreshInterval rate-limits the checks unknown credentials start
	// (see Unknown).
	MinRefreshInterval time.Duration
	// MaxStaleness, when positive, is how long after the last successful
	// check the versions after Stages[0] are still usable.
	MaxStaleness time.Duration
	// Background runs periodic checks (and the stale announcement) from a
	// goroutine until Close; otherwise Poll runs them.
	Background bool
	// Unknown is the policy of Unknown.
	Unknown UnknownPolicy
	// UnknownWait bounds how long Unknown waits: positive, at most that; 0,
	// until the check ends (CheckTimeout bounds it); negative, not at all
	// (the check still runs).
	UnknownWait time.Duration
	// SkipUnreadable leaves out a new version after Stages[0] whose read
	// fails (other than not found), logging it, and installs the rest;
	// otherwise such a failure fails the whole check, so a transient error
	// cannot change the set.
	SkipUnreadable bool
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Timer, if set, replaces real timers (tests drive it with a fake
	// clock): the channel must receive once Now() reaches deadline.
	Timer func(deadline time.Time) <-chan time.Time
	// Logger receives the Messages; default slog.Default().
	Logger *slog.Logger
	// Messages are the log lines.
	Messages Messages
	// OnStale, if set, is called on entering (true) and leaving (false)
	// the stale state, and again with true after every failed check while
	// stale. secretName is the secret's Name (SecretID until known).
	OnStale func(stale bool, secretName string)
}

// Entry is a usable version. Entries are read-only: they are shared with
// every caller of Usable.
type Entry[T any] struct {
	// VersionID is the Secrets Manager version id.
	VersionID string
	// Stage is the version's label at the last successful check.
	Stage string
	// Value is what Decode made of the version's value.
	Value T

	v *version[T]
}

// Usage is the record of one version, for evidence that an old credential
// is (no longer) used.
type Usage[T any] struct {
	VersionID string
	// Stage is the label at the last successful check; "" once the version
	// carries none of Config.Stages.
	Stage string
	Value T
	// Uses counts Used calls since the Watcher was created.
	Uses uint64
	// LastUsed is the last Used call; zero if never.
	LastUsed time.Time
	// RetiredAt is when a check first found the version without a label;
	// zero while staged.
	RetiredAt time.Time
}

// Stats is a snapshot of a Watcher's checks. It never contains a value.
type Stats struct {
	// LastCheck is when the last check started; LastSuccess when the last
	// successful one started (what MaxStaleness is measured from).
	LastCheck, LastSuccess time.Time
	// LastError is the last check's error, "" if it succeeded.
	LastError string
	// Stale is true while only Stages[0] is usable (MaxStaleness passed).
	Stale bool
	// Checks and CheckFailures count checks since New (New's included).
	Checks, CheckFailures uint64
	// DescribeCalls and GetValueCalls count Secrets Manager calls.
	DescribeCalls, GetValueCalls uint64
	// UnknownChecks counts checks started by Unknown; UnknownJoins the
	// Unknown calls that joined a running check (ShareCheck); RateLimited
	// those that started none because of MinRefreshInterval.
	UnknownChecks, UnknownJoins, RateLimited uint64
}

// version is one version read. Its value never changes in Secrets Manager,
// so it is read once and kept while staged (and a while after).
type version[T any] struct {
	id       string
	value    T
	describe string // Config.Describe(value), for log lines
	problem  string // non-empty: Decode refused the value (never retried)

	stage     string    // guarded by Watcher.mu
	retiredAt time.Time // guarded by Watcher.mu
	uses      atomic.Uint64
	lastUsed  atomic.Int64 // unix nanoseconds; 0 = never
}

// flight is one running check; whoever wants its result waits on done.
type flight struct {
	done chan struct{}
	err  error // set before done is closed
}

// Watcher keeps the staged versions of one secret. It is safe for
// concurrent use.
type Watcher[T any] struct {
	api SecretsAPI
	cfg Config[T]
	log *slog.Logger

	ctx      context.Context // cancelled by Close; parent of every check
	cancel   context.CancelFunc
	loopDone chan struct{}
	checks   sync.WaitGroup // running flights

	mu          sync.RWMutex // guards the fields below
	entries     []Entry[T]   // usable versions, in stage order; replaced, never changed
	versions    map[string]*version[T]
	labels      []string // version id per stage at the last success
	secretName  string   // Name from DescribeSecret
	lastAttempt time.Time
	lastSuccess time.Time
	lastUnknown time.Time // last check FreshCheck started
	lastErr     string
	failures    int  // consecutive failed checks
	announced   bool // stale state last announced
	closed      bool
	running     *flight
	stats       Stats
}

// New creates a Watcher, runs the first check and, with
// Config.Background, starts the check loop. It fails if that check fails
// (Stages[0] could not be loaded). ctx bounds only the first check; later
// checks keep its values but not its cancellation.
func New[T any](ctx context.Context, api SecretsAPI, cfg Config[T]) (*Watcher[T], error) {
	switch {
	case api == nil:
		return nil, errors.New("secretwatch: nil SecretsAPI")
	case cfg.SecretID == "":
		return nil, errors.New("secretwatch: empty Config.SecretID")
	case len(cfg.Stages) == 0:
		return nil, errors.New("secretwatch: no Config.Stages")
	case cfg.Decode == nil:
		return nil, errors.New("secretwatch: nil Config.Decode")
	case cfg.CheckInterval <= 0 || cfg.CheckTimeout < 0 || cfg.MinRefreshInterval < 0 || cfg.MaxStaleness < 0:
		return nil, errors.New("secretwatch: Config.CheckInterval must be positive, CheckTimeout, MinRefreshInterval and MaxStaleness not negative")
	}
	if cfg.Component == "" {
		cfg.Component = "secretwatch"
	}
	if cfg.CheckTimeout == 0 {
		cfg.CheckTimeout = DefaultCheckTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Messages.UnknownReason == "" {
		cfg.Messages.UnknownReason = "unknown"
	}
	w := &Watcher[T]{
		api:      api,
		cfg:      cfg,
		log:      cfg.Logger,
		versions: make(map[string]*version[T]),
		labels:   make([]string, len(cfg.Stages)),
		loopDone: make(chan struct{}),
	}
	// Checks keep the first context's values (tracing, for example) but
	// not its cancellation: New's ctx is often a request's.
	w.ctx, w.cancel = context.WithCancel(context.WithoutCancel(ctx))

	started := cfg.Now()
	w.mu.Lock()
	w.lastAttempt = started
	w.mu.Unlock()
	loadCtx, cancel := context.WithTimeout(ctx, cfg.CheckTimeout)
	err := w.check(loadCtx, started)
	cancel()
	w.mu.Lock()
	w.stats.Checks++
	if err != nil {
		w.stats.CheckFailures++
	}
	w.mu.Unlock()
	if err != nil {
		w.cancel()
		close(w.loopDone)
		return nil, err
	}
	if cfg.Background {
		go w.loop()
	} else {
		close(w.loopDone)
	}
	return w, nil
}

// Close stops the check loop and waits for running checks to end. Usable
// still answers from the last set, but nothing is refreshed (so with
// MaxStaleness, only Stages[0] is usable once it has passed). Close is
// idempotent.
func (w *Watcher[T]) Close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.cancel()
	<-w.loopDone
	w.checks.Wait()
}

// LoopDone returns a channel closed once the check loop has ended (at once
// without Config.Background).
func (w *Watcher[T]) LoopDone() <-chan struct{} { return w.loopDone }

// Usable returns the usable versions in stage order: every kept one, or
// only Stages[0]'s while stale. The slice is shared: do not modify it.
func (w *Watcher[T]) Usable() []Entry[T] {
	now := w.cfg.Now()
	w.mu.RLock()
	es, stale := w.entries, w.staleLocked(now)
	w.mu.RUnlock()
	if stale {
		for i := range es {
			if es[i].Stage == w.cfg.Stages[0] {
				return es[i : i+1]
			}
		}
		return nil
	}
	return es
}

// Find returns the first usable version whose value ok accepts. ok is
// called for every usable version, even after a match, so the time taken
// does not tell which one matched. Find does not count a use (Used).
func (w *Watcher[T]) Find(ok func(T) bool) (Entry[T], bool) {
	es := w.Usable()
	found := -1
	for i := range es {
		if ok(es[i].Value) && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return Entry[T]{}, false
	}
	return es[found], true
}

// Used counts one use of e's version now (Usage).
func (w *Watcher[T]) Used(e Entry[T]) {
	if e.v == nil {
		return
	}
	e.v.uses.Add(1)
	ns := w.cfg.Now().UnixNano()
	for {
		old := e.v.lastUsed.Load()
		if ns <= old || e.v.lastUsed.CompareAndSwap(old, ns) {
			return
		}
	}
}

// Stats returns a snapshot of the checks.
func (w *Watcher[T]) Stats() Stats {
	now := w.cfg.Now()
	w.mu.RLock()
	defer w.mu.RUnlock()
	s := w.stats
	s.LastCheck, s.LastSuccess, s.LastError = w.lastAttempt, w.lastSuccess, w.lastErr
	s.Stale = w.staleLocked(now)
	return s
}

// Usage returns one record per version read since New (the most recently
// retired maxRetired only) whose value Decode accepted, ordered by stage,
// then retired versions newest first.
func (w *Watcher[T]) Usage() []Usage[T] {
	w.mu.RLock()
	out := make([]Usage[T], 0, len(w.versions))
	for _, v := range w.versions {
		if v.problem != "" {
			continue
		}
		u := Usage[T]{VersionID: v.id, Stage: v.stage, Value: v.value, Uses: v.uses.Load(), RetiredAt: v.retiredAt}
		if ns := v.lastUsed.Load(); ns != 0 {
			u.LastUsed = time.Unix(0, ns)
		}
		out = append(out, u)
	}
	w.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		ri, rj := w.stageRank(out[i].Stage), w.stageRank(out[j].Stage)
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

func (w *Watcher[T]) stageRank(stage string) int {
	for i, s := range w.cfg.Stages {
		if s == stage {
			return i
		}
	}
	return len(w.cfg.Stages)
}

// staleLocked reports whether no check has succeeded for longer than
// MaxStaleness at t. The caller holds w.mu.
func (w *Watcher[T]) staleLocked(t time.Time) bool {
	return w.cfg.MaxStaleness > 0 && t.Sub(w.lastSuccess) > w.cfg.MaxStaleness
}

// errorf prefixes an error with the component.
func (w *Watcher[T]) errorf(format string, args ...any) error {
	return fmt.Errorf(w.cfg.Component+": "+format, args...)
}
