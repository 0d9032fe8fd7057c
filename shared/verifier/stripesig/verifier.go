package stripesig

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dualkey/dualkey/shared/secretwatch"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultField              = "webhook_secret"
	DefaultEndpointField      = "endpoint_id"
	DefaultTolerance          = 5 * time.Minute
	DefaultCheckInterval      = 30 * time.Second
	DefaultMinRefreshInterval = time.Second
	// DefaultDedupeTTL covers Stripe's retry horizon (live mode retries for
	// up to three days).
	DefaultDedupeTTL      = 72 * time.Hour
	DefaultDedupeCapacity = 100_000
	DefaultClaimTimeout   = 5 * time.Minute
)

// Config configures a Verifier. Zero fields take the documented defaults.
type Config struct {
	// SecretID is the name or ARN of the secret holding the endpoint's
	// signing secret. Required.
	SecretID string
	// Field is the JSON field with the whsec_ signing secret; default
	// "webhook_secret". A SecretString that is not a JSON object is used
	// whole.
	Field string
	// EndpointField is the JSON field with the we_ endpoint id (optional,
	// reported in Match); default "endpoint_id".
	EndpointField string
	// Tolerance is how far the signed timestamp may be from now, either way;
	// default 5m (Stripe's libraries use 300s).
	Tolerance time.Duration
	// CheckInterval is how often DescribeSecret is called to notice a
	// rotation; default 30s. Values are fetched only when a label moved to a
	// version not loaded yet.
	CheckInterval time.Duration
	// MinRefreshInterval rate-limits the refresh that a signature from an
	// unknown secret triggers; default 1s.
	MinRefreshInterval time.Duration
	// Dedupe remembers processed event ids; default NewMemoryStore with
	// DedupeCapacity, DedupeTTL and DefaultClaimTimeout.
	Dedupe DedupeStore
	// DedupeTTL and DedupeCapacity size the default store; defaults 72h and
	// 100000 ids.
	DedupeTTL      time.Duration
	DedupeCapacity int
	// MaxBodyBytes bounds a request body in Middleware; default 1 MiB.
	MaxBodyBytes int64
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives refreshes and rejections (never a secret or a
	// signature); default slog.Default().
	Logger *slog.Logger
}

// DefaultMaxBodyBytes is Middleware's default body limit.
const DefaultMaxBodyBytes = 1 << 20

// Verifier checks Stripe webhook deliveries against the signing secrets of
// the staged versions of a Secrets Manager secret (AWSCURRENT, AWSPENDING,
// AWSPREVIOUS) and tells duplicate deliveries apart by event id. It is safe
// for concurrent use.
type Verifier struct {
	cfg    Config
	w      *secretwatch.Watcher[signingSecret]
	dedupe DedupeStore
	log    *slog.Logger

	rejected [numReasons]atomic.Uint64
	dups     atomic.Uint64
}

// Match tells which secret version verified a delivery.
type Match struct {
	// Stage is the version's label at the last refresh.
	Stage string
	// VersionID is the Secrets Manager version id.
	VersionID string
	// EndpointID is the we_ id stored next to the secret ("" if none).
	EndpointID string
	// Fingerprint identifies the secret (Fingerprint).
	Fingerprint string
}

// Event is the part of a Stripe event the verifier reads. Raw is the
// verified payload; decode it for the rest (for example with stripe-go's
// stripe.Event).
type Event struct {
	ID         string
	Type       string
	APIVersion string
	Livemode   bool
	Created    time.Time
	Raw        []byte
}

// Delivery is a verified delivery. When Duplicate is false the caller owns
// the event and must call exactly one of Done (processed) or Failed (not
// processed: a later delivery of the same event will be processed).
type Delivery struct {
	Event Event
	Match Match
	// Duplicate is true when the event id is being processed or was
	// processed already (typically the same event sent by the other
	// endpoint while two endpoints are live, or a Stripe retry). Acknowledge
	// it with a 2xx and do not process it again.
	Duplicate bool

	v    *Verifier
	once sync.Once
}

// Done records that the event was processed. It is a no-op for duplicates
// and after the first Done or Failed.
func (d *Delivery) Done(ctx context.Context) error {
	var err error
	if d.Duplicate {
		return nil
	}
	d.once.Do(func() { err = d.v.dedupe.Complete(ctx, d.Event.ID) })
	return err
}

// Failed gives the event back: the next delivery of its id is processed.
func (d *Delivery) Failed(ctx context.Context) error {
	var err error
	if d.Duplicate {
		return nil
	}
	d.once.Do(func() { err = d.v.dedupe.Release(ctx, d.Event.ID) })
	return err
}

// New creates a Verifier and loads the secret's staged versions once. It
// fails if AWSCURRENT cannot be loaded.
func New(ctx context.Context, api SecretsAPI, cfg Config) (*Verifier, error) {
	if api == nil {
		return nil, errors.New("stripesig: nil SecretsAPI")
	}
	if cfg.SecretID == "" {
		return nil, errors.New("stripesig: Config.SecretID is empty: set it to the name or ARN of the secret holding the webhook signing secret")
	}
	for name, d := range map[string]time.Duration{"Tolerance": cfg.Tolerance, "CheckInterval": cfg.CheckInterval, "MinRefreshInterval": cfg.MinRefreshInterval, "DedupeTTL": cfg.DedupeTTL} {
		if d < 0 {
			return nil, fmt.Errorf("stripesig: Config.%s is negative (%v): use a positive duration or 0 for the default", name, d)
		}
	}
	if cfg.Field == "" {
		cfg.Field = DefaultField
	}
	if cfg.EndpointField == "" {
		cfg.EndpointField = DefaultEndpointField
	}
	if cfg.Tolerance == 0 {
		cfg.Tolerance = DefaultTolerance
	}
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = DefaultCheckInterval
	}
	if cfg.MinRefreshInterval == 0 {
		cfg.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Dedupe == nil {
		cfg.Dedupe = NewMemoryStore(cfg.DedupeCapacity, cfg.DedupeTTL, DefaultClaimTimeout, cfg.Now)
	}
	log := cfg.Logger.With("component", "stripesig", "secret", cfg.SecretID)
	w, err := watch(ctx, api, cfg, log)
	if err != nil {
		return nil, fmt.Errorf("stripesig: load %s of secret %q (field %q): %w", StageCurrent, cfg.SecretID, cfg.Field, err)
	}
	return &Verifier{cfg: cfg, dedupe: cfg.Dedupe, log: log, w: w}, nil
}

// Refresh re-reads the label map now (and any new version), regardless of
// CheckInterval. On error the previous secrets are kept.
func (v *Verifier) Refresh(ctx context.Context) error { return v.w.Refresh(ctx) }

// Verify checks a delivery: the Stripe-Signature header must carry a
// timestamp within Tolerance and a v1 signature of "<t>.<payload>" by the
// signing secret of the AWSCURRENT, AWSPENDING or AWSPREVIOUS version; the
// payload must be an event with an evt_ id. A signature by an unknown
// secret triggers one rate-limited refresh before it is refused (a new
// endpoint may already be sending). Then the event id is claimed in the
// dedupe store: Duplicate reports a second delivery of the same event.
//
// Errors wrap ErrNotSigned, ErrInvalidHeader, ErrTimestamp, ErrNoMatch,
// ErrInvalidPayload (answer 400) or ErrDedupe (answer 5xx so Stripe
// retries). They never contain a secret or a signature.
func (v *Verifier) Verify(ctx context.Context, payload []byte, header string) (*Delivery, error) {
	sh, err := ParseSignatureHeader(header)
	if err != nil {
		return nil, v.reject(reasonOf(err), err)
	}
	now := v.cfg.Now()
	if d := now.Sub(sh.Timestamp); d > v.cfg.Tolerance || d < -v.cfg.Tolerance {
		return nil, v.reject(reasonTimestamp, fmt.Errorf("%w: signed at %s, now %s, tolerance %v", ErrTimestamp, sh.Timestamp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), v.cfg.Tolerance))
	}
	// CheckInterval passed: one refresh (a caller that finds another one
	// running goes on with the current set).
	v.w.Poll(ctx)
	signed := func(s signingSecret) bool { return anyMatch(ComputeSignature(sh.Timestamp, payload, s.key), sh.V1) }
	ver, ok := v.w.Find(signed)
	if !ok {
		// An unknown secret (a new endpoint may already be sending): one
		// refresh, at most one per MinRefreshInterval, after any running
		// one.
		v.w.Unknown(ctx)
		ver, ok = v.w.Find(signed)
	}
	if !ok {
		return nil, v.reject(reasonNoMatch, ErrNoMatch)
	}
	ev, err := parseEvent(payload)
	if err != nil {
		return nil, v.reject(reasonPayload, err)
	}
	v.w.Used(ver)
	d := &Delivery{Event: ev, Match: Match{Stage: ver.Stage, VersionID: ver.VersionID, EndpointID: ver.Value.endpointID, Fingerprint: ver.Value.fingerprint}, v: v}
	owned, err := v.dedupe.Claim(ctx, ev.ID)
	if err != nil {
		return nil, v.reject(reasonDedupe, fmt.Errorf("%w: claim %s: %v", ErrDedupe, ev.ID, err))
	}
	if !owned {
		d.Duplicate = true
		v.dups.Add(1)
	}
	return d, nil
}

func parseEvent(payload []byte) (Event, error) {
	var e struct {
		ID         string `json:"id"`
		Object     string `json:"object"`
		Type       string `json:"type"`
		APIVersion string `json:"api_version"`
		Livemode   bool   `json:"livemode"`
		Created    int64  `json:"created"`
	}
	if err := json.Unmarshal(payload, &e); err != nil {
		return Event{}, fmt.Errorf("%w: not a JSON object", ErrInvalidPayload)
	}
	if !strings.HasPrefix(e.ID, "evt_") || len(e.ID) > 255 || e.Object != "event" {
		return Event{}, fmt.Errorf("%w: no evt_ id or object is not \"event\"", ErrInvalidPayload)
	}
	return Event{ID: e.ID, Type: e.Type, APIVersion: e.APIVersion, Livemode: e.Livemode, Created: time.Unix(e.Created, 0), Raw: payload}, nil
}

// Rejection reasons, for Stats.
type reason int

const (
	reasonNotSigned reason = iota
	reasonHeader
	reasonTimestamp
	reasonNoMatch
	reasonPayload
	reasonDedupe
	numReasons
)

var reasonNames = [numReasons]string{"not_signed", "invalid_header", "timestamp", "no_match", "invalid_payload", "dedupe"}

func reasonOf(err error) reason {
	if errors.Is(err, ErrNotSigned) {
		return reasonNotSigned
	}
	return reasonHeader
}

func (v *Verifier) reject(r reason, err error) error {
	v.rejected[r].Add(1)
	v.log.Warn("stripe webhook delivery rejected", "reason", reasonNames[r])
	return err
}

// Stats are counters since the Verifier was created.
type Stats struct {
	// Rejected counts refused deliveries by reason: not_signed,
	// invalid_header, timestamp, no_match, invalid_payload, dedupe.
	Rejected map[string]uint64
	// Duplicates counts deliveries reported as duplicates.
	Duplicates uint64
	// Calls counts Secrets Manager calls.
	Calls Calls
}

// Stats returns the counters.
func (v *Verifier) Stats() Stats {
	s := Stats{Rejected: map[string]uint64{}, Duplicates: v.dups.Load()}
	for i := range v.rejected {
		if n := v.rejected[i].Load(); n > 0 {
			s.Rejected[reasonNames[i]] = n
		}
	}
	st := v.w.Stats()
	s.Calls = Calls{Describe: int(st.DescribeCalls), Get: int(st.GetValueCalls)}
	return s
}

// VersionUsage is per-version evidence of use: how many deliveries each
// signing secret verified. During a rotation the old endpoint's count stops
// growing once it is disabled; that is the evidence the lifecycle needs.
type VersionUsage struct {
	VersionID   string
	Stage       string // label at the last refresh; "" once no longer staged
	EndpointID  string
	Fingerprint string
	Verified    uint64
	LastUsed    time.Time // zero if never
}

// Usage returns one record per version loaded since the Verifier was
// created (retired ones bounded), staged versions first.
func (v *Verifier) Usage() []VersionUsage {
	us := v.w.Usage()
	out := make([]VersionUsage, len(us))
	for i, u := range us {
		out[i] = VersionUsage{VersionID: u.VersionID, Stage: u.Stage, EndpointID: u.Value.endpointID,
			Fingerprint: u.Value.fingerprint, Verified: u.Uses, LastUsed: u.LastUsed}
	}
	return out
}
