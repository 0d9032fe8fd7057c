// Package notify tells a rotated secret's consumers to pick up the new
// credential, the deploy step of the dual-key pattern:
//
//   - Publisher sends an Amazon EventBridge event (source "dualkey") after
//     a promotion, a deactivation, a deletion, an expiry and a rollback.
//     Its detail names the secret, the versions and their fingerprints,
//     never a value; EventBridge rules route it to whatever restarts or
//     reloads the consumers (docs/evidence-and-refresh.md).
//   - Refresher forces a new deployment of the Amazon ECS services a
//     secret's tag dualkey:refresh=ecs:CLUSTER/SERVICE[,…] names (the AWS
//     analogue of kubectl rollout restart) and reports per service.
//
// Both return errors for the caller to alert on; neither is a reason to
// undo a rotation. A nil *Publisher or *Refresher does nothing, so callers
// need no checks when the feature is switched off.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// Source is the source of every event dualkey publishes.
const Source = "dualkey"

// Detail types ("detail-type" in EventBridge rules).
const (
	// SecretRotated: AWSCURRENT moved to a new version (finishSecret).
	// Consumers should load the new credential now; the old one keeps
	// working until it is switched off.
	SecretRotated = "Secret Rotated"
	// CredentialDeactivated: the old credential was switched off
	// (reversible or label-gated), rollback still possible.
	CredentialDeactivated = "Credential Deactivated"
	// CredentialDeleted: the old credential was destroyed.
	CredentialDeleted = "Credential Deleted"
	// CredentialExpired: the vendor switched the old credential off
	// (external providers), checked by dualkey.
	CredentialExpired = "Credential Expired"
	// RollbackPerformed: the old credential was switched back on (and
	// AWSCURRENT possibly moved back to it).
	RollbackPerformed = "Rollback Performed"
)

// DetailTypes lists every detail type, in lifecycle order.
var DetailTypes = []string{SecretRotated, CredentialDeactivated, CredentialDeleted, CredentialExpired, RollbackPerformed}

// Roles of the versions an event names (keys of Versions, Fingerprints and
// UsageFingerprints).
const (
	// RoleCurrent is the version holding AWSCURRENT after the event: the
	// new version for SecretRotated; after a rollback that restored
	// AWSCURRENT, the rolled-back version.
	RoleCurrent = "current"
	// RolePrevious is the old credential the event is about: the one that
	// lost AWSCURRENT (SecretRotated), was switched off, deleted or expired,
	// or was switched back on (RollbackPerformed).
	RolePrevious = "previous"
)

// SchemaVersion is the version of Detail; it grows only with incompatible
// changes (new fields do not change it).
const SchemaVersion = 1

// Detail is the JSON detail of every dualkey event. It holds no secret:
// version ids, fingerprints (non-secret ids) and words.
type Detail struct {
	SchemaVersion int    `json:"schemaVersion"`
	SecretARN     string `json:"secretArn"`
	SecretName    string `json:"secretName"`
	Provider      string `json:"provider"`
	// Versions maps a role to a version id.
	Versions map[string]string `json:"versions"`
	// Fingerprints maps a role to the provider's fingerprint of the
	// credential (an access key id, a key SID, the last four characters).
	Fingerprints map[string]string `json:"fingerprints,omitempty"`
	// UsageFingerprints maps a role to the usage fingerprint consumers log
	// (shared/fingerprint: dkfp_…).
	UsageFingerprints map[string]string `json:"usageFingerprints,omitempty"`
	// Reason says why, in words.
	Reason string `json:"reason,omitempty"`
	// Refresh lists the consumers dualkey refreshed itself (SecretRotated).
	Refresh []RefreshEntry `json:"refresh,omitempty"`
}

// RefreshEntry is one refreshed consumer in an event.
type RefreshEntry struct {
	Target     string `json:"target"`               // "ecs:CLUSTER/SERVICE"
	Deployment string `json:"deployment,omitempty"` // the new ECS deployment id
	Error      string `json:"error,omitempty"`      // the AWS error code when it failed
}

// Event is one event to publish.
type Event struct {
	// DetailType is one of DetailTypes.
	DetailType string
	// SecretARN (required) and SecretName name the secret; the ARN is also
	// the event's resource, so rules can match on "resources".
	SecretARN, SecretName string
	// Provider is the dualkey:provider name.
	Provider string
	// Versions, Fingerprints and UsageFingerprints map RoleCurrent and
	// RolePrevious to version ids and fingerprints. Empty values are left
	// out.
	Versions, Fingerprints, UsageFingerprints map[string]string
	// Reason says why, in words (no secrets; it is passed through
	// Config.Redact anyway).
	Reason string
	// Refresh reports what the Refresher did (SecretRotated only).
	Refresh *Refresh
	// Time is when it happened (Config.Now when zero).
	Time time.Time
}

// EventsAPI is the subset of *eventbridge.Client the Publisher uses.
type EventsAPI interface {
	// PutEvents sends 1 to 10 entries. Entries fail one by one
	// (FailedEntryCount, each result's ErrorCode) while the others are
	// accepted; InternalFailure and ThrottlingException may be retried.
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

var _ EventsAPI = (*eventbridge.Client)(nil)

// Limits of the Publisher.
const (
	// MaxEntries is EventBridge's limit of entries per PutEvents call.
	MaxEntries = 10
	// DefaultAttempts is how often an entry that failed with a retryable
	// code is sent (in total).
	DefaultAttempts = 3
	// maxReason bounds an event's reason.
	maxReason = 1024
	// maxField bounds a version id or a fingerprint.
	maxField = 128
)

// Errors (wrapped).
var (
	// ErrInvalidEvent: an event cannot be published as given; nothing was
	// sent.
	ErrInvalidEvent = errors.New("invalid event")
	// ErrPublish: EventBridge did not accept an event.
	ErrPublish = errors.New("event not published")
)

// Config configures a Publisher.
type Config struct {
	// Events is the EventBridge client (required).
	Events EventsAPI
	// EventBus is the bus name or ARN ("" or "default": the account's
	// default bus). EventBridge accepts and silently drops events sent to a
	// bus that does not exist.
	EventBus string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Redact removes known secrets from text (rotation.Redactor.Redact); it
	// is applied to every string of the detail. Nil: unchanged.
	Redact func(string) string
	// Attempts bounds the sends of an entry that fails with a retryable
	// code (DefaultAttempts when zero).
	Attempts int
	// Sleep waits between attempts (a context-aware time.Sleep when nil).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Publisher sends dualkey's events to EventBridge. It is safe for
// concurrent use; a nil *Publisher publishes nothing.
type Publisher struct {
	eb       EventsAPI
	bus      string
	now      func() time.Time
	redact   func(string) string
	attempts int
	sleep    func(ctx context.Context, d time.Duration) error
}

var busPattern = regexp.MustCompile(`^(arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:event-bus/)?[.\-_A-Za-z0-9]{1,256}$`)

// NewPublisher returns a Publisher.
func NewPublisher(cfg Config) (*Publisher, error) {
	if cfg.Events == nil {
		return nil, errors.New("notify: config has no EventBridge client")
	}
	if cfg.EventBus != "" && !busPattern.MatchString(cfg.EventBus) {
		return nil, fmt.Errorf("notify: event bus %q is neither an event bus name (letters, digits and . - _) nor an event bus ARN", cfg.EventBus)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Redact == nil {
		cfg.Redact = func(s string) string { return s }
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	return &Publisher{eb: cfg.Events, bus: cfg.EventBus, now: cfg.Now, redact: cfg.Redact, attempts: cfg.Attempts, sleep: cfg.Sleep}, nil
}

// Settings are the environment's choices for the functions.
type Settings struct {
	// Publish is false when events are switched off (DUALKEY_EVENTS=false).
	Publish bool
	// EventBus is DUALKEY_EVENT_BUS ("" : the default bus).
	EventBus string
}

// SettingsFromEnv reads DUALKEY_EVENTS (true or false, default true) and
// DUALKEY_EVENT_BUS (an event bus name or ARN, default the account's
// default bus). Errors name the variable and the fix.
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	s := Settings{Publish: true, EventBus: strings.TrimSpace(getenv("DUALKEY_EVENT_BUS"))}
	if v := strings.TrimSpace(getenv("DUALKEY_EVENTS")); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("environment variable DUALKEY_EVENTS=%q: want true or false", v)
		}
		s.Publish = b
	}
	if s.EventBus != "" && !busPattern.MatchString(s.EventBus) {
		return s, fmt.Errorf("environment variable DUALKEY_EVENT_BUS=%q: want an event bus name (letters, digits and . - _) or an event bus ARN", s.EventBus)
	}
	return s, nil
}

// PublisherFromEnv reads the settings (SettingsFromEnv) and returns a
// publisher that sends to events on the configured bus with redact applied,
// or nil when events are switched off (DUALKEY_EVENTS=false): what a
// function or the CLI does at start-up.
func PublisherFromEnv(getenv func(string) string, events EventsAPI, redact func(string) string) (*Publisher, error) {
	ns, err := SettingsFromEnv(getenv)
	if err != nil || !ns.Publish {
		return nil, err
	}
	return NewPublisher(Config{Events: events, EventBus: ns.EventBus, Redact: redact})
}

// EntryError is one event EventBridge refused.
type EntryError struct {
	DetailType, SecretName string
	Code, Message          string
	Attempts               int
}

// PublishError reports the events that were not published.
type PublishError struct {
	Bus    string
	Failed []EntryError
	Total  int
}

func (e *PublishError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: %d of %d events to EventBridge bus %s failed:", ErrPublish, len(e.Failed), e.Total, e.Bus)
	denied := false
	for i, f := range e.Failed {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " %q for secret %s: %s: %s (after %d attempts)", f.DetailType, f.SecretName, f.Code, f.Message, f.Attempts)
		denied = denied || strings.HasPrefix(f.Code, "AccessDenied") || strings.HasPrefix(f.Code, "NotAuthorized")
	}
	if denied {
		fmt.Fprintf(&b, "; grant events:PutEvents on arn:aws:events:REGION:ACCOUNT:event-bus/%s to the function's role", busName(e.Bus))
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrPublish) true.
func (e *PublishError) Unwrap() error { return ErrPublish }

func busName(bus string) string {
	if i := strings.LastIndex(bus, "/"); i >= 0 {
		return bus[i+1:]
	}
	return bus
}

// Publish sends the events (in batches of MaxEntries) and returns their
// EventBridge ids, "" for an event that was not published. Entries that
// fail with InternalFailure or ThrottlingException are sent again, up to
// Config.Attempts in all; other failures are final. The error (a
// *PublishError, or the call's error) names each event that was not
// published; the caller alerts on it and goes on. An invalid event fails
// the whole call before anything is sent (ErrInvalidEvent).
func (p *Publisher) Publish(ctx context.Context, events ...Event) ([]string, error) {
	if p == nil || len(events) == 0 {
		return nil, nil
	}
	entries := make([]types.PutEventsRequestEntry, len(events))
	for i, ev := range events {
		e, err := p.entry(ev)
		if err != nil {
			return nil, err
		}
		entries[i] = e
	}
	ids := make([]string, len(events))
	perr := &PublishError{Bus: p.busLabel(), Total: len(events)}
	var callErr error
	for start := 0; start < len(entries); start += MaxEntries {
		end := min(start+MaxEntries, len(entries))
		if err := p.send(ctx, events, entries, start, end, ids, perr); err != nil {
			callErr = errors.Join(callErr, err)
		}
	}
	if callErr != nil {
		return ids, errors.Join(callErr, failedOrNil(perr))
	}
	return ids, failedOrNil(perr)
}

func failedOrNil(e *PublishError) error {
	if len(e.Failed) == 0 {
		return nil
	}
	return e
}

func (p *Publisher) busLabel() string {
	if p.bus == "" {
		return "default"
	}
	return p.bus
}

// send publishes entries[start:end], retrying the retryable failures.
func (p *Publisher) send(ctx context.Context, events []Event, entries []types.PutEventsRequestEntry, start, end int, ids []string, perr *PublishError) error {
	pending := make([]int, 0, end-start)
	for i := start; i < end; i++ {
		pending = append(pending, i)
	}
	last := map[int]types.PutEventsResultEntry{}
	for attempt := 1; len(pending) > 0; attempt++ {
		batch := make([]types.PutEventsRequestEntry, len(pending))
		for j, i := range pending {
			batch[j] = entries[i]
		}
		out, err := p.eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: batch})
		if err != nil {
			var names []string
			for _, i := range pending {
				names = append(names, fmt.Sprintf("%q for secret %s", events[i].DetailType, events[i].SecretName))
			}
			hint := ""
			if strings.Contains(err.Error(), "AccessDenied") {
				hint = fmt.Sprintf("; grant events:PutEvents on arn:aws:events:REGION:ACCOUNT:event-bus/%s to the function's role", busName(p.busLabel()))
			}
			return fmt.Errorf("%w: %s to EventBridge bus %s: %w%s", ErrPublish, strings.Join(names, ", "), p.busLabel(), err, hint)
		}
		var retry []int
		for j, i := range pending {
			if j >= len(out.Entries) {
				// EventBridge answers every entry; a short answer is retried.
				retry = append(retry, i)
				last[i] = types.PutEventsResultEntry{ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("no result for the entry")}
				continue
			}
			r := out.Entries[j]
			if r.ErrorCode == nil && r.EventId != nil {
				ids[i] = *r.EventId
				continue
			}
			last[i] = r
			if retryable(aws.ToString(r.ErrorCode)) {
				retry = append(retry, i)
				continue
			}
			perr.Failed = append(perr.Failed, entryError(events[i], r, attempt))
		}
		if len(retry) > 0 && attempt >= p.attempts {
			for _, i := range retry {
				perr.Failed = append(perr.Failed, entryError(events[i], last[i], attempt))
			}
			return nil
		}
		pending = retry
		if len(pending) > 0 {
			if err := p.sleep(ctx, backoff(attempt)); err != nil {
				for _, i := range pending {
					perr.Failed = append(perr.Failed, entryError(events[i], last[i], attempt))
				}
				return nil
			}
		}
	}
	return nil
}

func entryError(ev Event, r types.PutEventsResultEntry, attempts int) EntryError {
	return EntryError{DetailType: ev.DetailType, SecretName: nameOf(ev), Code: aws.ToString(r.ErrorCode), Message: aws.ToString(r.ErrorMessage), Attempts: attempts}
}

func retryable(code string) bool { return code == "InternalFailure" || code == "ThrottlingException" }

// backoff is the wait after the attempt-th send: 100 ms, 200 ms, 400 ms, …
// up to 2 s.
func backoff(attempt int) time.Duration {
	return min(100*time.Millisecond<<(attempt-1), 2*time.Second)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func nameOf(ev Event) string {
	if ev.SecretName != "" {
		return ev.SecretName
	}
	return ev.SecretARN
}

// entry validates ev and builds its PutEvents entry.
func (p *Publisher) entry(ev Event) (types.PutEventsRequestEntry, error) {
	bad := func(format string, args ...any) (types.PutEventsRequestEntry, error) {
		return types.PutEventsRequestEntry{}, fmt.Errorf("%w: %s", ErrInvalidEvent, fmt.Sprintf(format, args...))
	}
	known := false
	for _, t := range DetailTypes {
		known = known || ev.DetailType == t
	}
	if !known {
		return bad("detail type %q is not one of %s", ev.DetailType, strings.Join(DetailTypes, ", "))
	}
	if !strings.HasPrefix(ev.SecretARN, "arn:") || len(ev.SecretARN) > 2048 {
		return bad("%s event has no secret ARN", ev.DetailType)
	}
	d := Detail{
		SchemaVersion: SchemaVersion,
		SecretARN:     ev.SecretARN,
		SecretName:    p.redact(ev.SecretName),
		Provider:      p.redact(ev.Provider),
		Reason:        p.redact(ev.Reason),
	}
	var err error
	if d.Versions, err = p.roles("versions", ev.Versions); err != nil {
		return bad("%s event for secret %s: %v", ev.DetailType, nameOf(ev), err)
	}
	if len(d.Versions) == 0 {
		return bad("%s event for secret %s names no version", ev.DetailType, nameOf(ev))
	}
	if d.Fingerprints, err = p.roles("fingerprints", ev.Fingerprints); err != nil {
		return bad("%s event for secret %s: %v", ev.DetailType, nameOf(ev), err)
	}
	if d.UsageFingerprints, err = p.roles("usageFingerprints", ev.UsageFingerprints); err != nil {
		return bad("%s event for secret %s: %v", ev.DetailType, nameOf(ev), err)
	}
	if len(d.Reason) > maxReason {
		d.Reason = d.Reason[:maxReason]
	}
	if ev.Refresh != nil {
		for _, r := range ev.Refresh.Results {
			e := RefreshEntry{Target: r.Target.String(), Deployment: r.Deployment}
			if r.Err != nil {
				e.Error = r.Code()
			}
			d.Refresh = append(d.Refresh, e)
		}
	}
	body, err := json.Marshal(d)
	if err != nil {
		return bad("encode detail: %v", err)
	}
	at := ev.Time
	if at.IsZero() {
		at = p.now()
	}
	e := types.PutEventsRequestEntry{
		Source:     aws.String(Source),
		DetailType: aws.String(ev.DetailType),
		Detail:     aws.String(string(body)),
		Resources:  []string{ev.SecretARN},
		Time:       aws.Time(at.UTC()),
	}
	if p.bus != "" {
		e.EventBusName = aws.String(p.bus)
	}
	return e, nil
}

// roles copies a role map, leaving out empty values and refusing unknown
// roles and oversized or unprintable values.
func (p *Publisher) roles(field string, m map[string]string) (map[string]string, error) {
	var out map[string]string
	for role, v := range m {
		if role != RoleCurrent && role != RolePrevious {
			return nil, fmt.Errorf("%s has role %q; want %s or %s", field, role, RoleCurrent, RolePrevious)
		}
		if v == "" {
			continue
		}
		v = p.redact(v)
		if len(v) > maxField || !printable(v) {
			return nil, fmt.Errorf("%s[%s] is not a short printable id", field, role)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[role] = v
	}
	return out, nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
