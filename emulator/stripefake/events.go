package stripefake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SignatureHeader is the header Stripe signs deliveries with.
const SignatureHeader = "Stripe-Signature"

// EventInput describes an event to send.
type EventInput struct {
	AccountID string
	Live      bool
	// Type is the event type, e.g. "customer.created".
	Type string
	// Object is data.object; {"id":"cus_…","object":"customer"} when nil.
	Object map[string]any
	// ID is the evt_ id; a random one when empty.
	ID string
}

// Delivery is one POST of an event to one endpoint.
type Delivery struct {
	EventID    string
	EndpointID string
	URL        string
	// StatusCode is the endpoint's HTTP status; 0 when the request failed.
	StatusCode int
	// Err is the transport error, if any.
	Err error
	// Signature is the Stripe-Signature header sent.
	Signature string
	// Payload is the body sent.
	Payload []byte
}

// OK reports whether the endpoint acknowledged the delivery with a 2xx.
func (d Delivery) OK() bool { return d.Err == nil && d.StatusCode >= 200 && d.StatusCode < 300 }

// EventResult is the outcome of SendEvent.
type EventResult struct {
	EventID    string
	Deliveries []Delivery
}

type event struct {
	EventInput
	created time.Time
}

// SendEvent creates an event and delivers it, concurrently, to every enabled
// webhook endpoint of the account in the event's mode whose enabled_events
// holds the type or "*". Each delivery is a POST of the event JSON (rendered
// with the endpoint's API version) with a Stripe-Signature header:
// t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<payload>"> per signing secret of the
// endpoint (two during a Dashboard roll's overlap), plus, in test mode, a v0
// signature that never verifies, as Stripe sends. It waits for every
// delivery and returns them; a failed delivery is not an error (Stripe
// would retry it later: call Redeliver).
func (s *Server) SendEvent(ctx context.Context, in EventInput) (EventResult, error) {
	if in.Type == "" || !eventTypeRE.MatchString(in.Type) || in.Type == "*" {
		return EventResult{}, fmt.Errorf("stripefake: event type %q is not a type like customer.created", in.Type)
	}
	if in.ID == "" {
		in.ID = newID("evt_", 24)
	} else if !strings.HasPrefix(in.ID, "evt_") {
		return EventResult{}, fmt.Errorf("stripefake: event id %q must start with evt_", in.ID)
	}
	if in.Object == nil {
		in.Object = map[string]any{"id": newID("cus_", 14), "object": "customer"}
	}
	s.mu.Lock()
	if _, ok := s.accounts[in.AccountID]; !ok {
		s.mu.Unlock()
		return EventResult{}, fmt.Errorf("stripefake: no account %s", in.AccountID)
	}
	if _, dup := s.events[in.ID]; dup {
		s.mu.Unlock()
		return EventResult{}, fmt.Errorf("stripefake: event %s already sent: use Redeliver", in.ID)
	}
	ev := &event{EventInput: in, created: s.now()}
	s.events[in.ID] = ev
	var targets []*endpoint
	for _, e := range s.endpoints {
		if e.AccountID == in.AccountID && e.Live == in.Live && !e.Disabled &&
			(slices.Contains(e.EnabledEvents, in.Type) || slices.Contains(e.EnabledEvents, "*")) {
			targets = append(targets, e)
		}
	}
	slices.SortFunc(targets, func(a, b *endpoint) int { return int(a.seq - b.seq) })
	jobs := make([]job, len(targets))
	for i, e := range targets {
		jobs[i] = s.prepareLocked(ev, e, len(targets))
	}
	s.mu.Unlock()

	res := EventResult{EventID: in.ID, Deliveries: make([]Delivery, len(jobs))}
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() { res.Deliveries[i] = s.deliver(ctx, j) })
	}
	wg.Wait()
	s.mu.Lock()
	s.deliveries = append(s.deliveries, res.Deliveries...)
	s.mu.Unlock()
	return res, nil
}

// Redeliver sends an event again to one endpoint, as Stripe's retries (or
// "Resend" in the Dashboard) do: same event id, fresh timestamp and
// signature. The endpoint must still exist; Stripe does not deliver to a
// disabled endpoint, so neither does Redeliver.
func (s *Server) Redeliver(ctx context.Context, eventID, endpointID string) (Delivery, error) {
	s.mu.Lock()
	ev, ok := s.events[eventID]
	if !ok {
		s.mu.Unlock()
		return Delivery{}, fmt.Errorf("stripefake: no event %s", eventID)
	}
	e, ok := s.endpoints[endpointID]
	if !ok || e.AccountID != ev.AccountID || e.Live != ev.Live {
		s.mu.Unlock()
		return Delivery{}, fmt.Errorf("stripefake: no webhook endpoint %s for event %s", endpointID, eventID)
	}
	if e.Disabled {
		s.mu.Unlock()
		return Delivery{}, fmt.Errorf("stripefake: webhook endpoint %s is disabled", endpointID)
	}
	j := s.prepareLocked(ev, e, 1)
	s.mu.Unlock()
	d := s.deliver(ctx, j)
	s.mu.Lock()
	s.deliveries = append(s.deliveries, d)
	s.mu.Unlock()
	return d, nil
}

// Deliveries returns every delivery so far, oldest first.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}

// job is a prepared delivery.
type job struct {
	d Delivery
}

// prepareLocked renders and signs ev for e.
func (s *Server) prepareLocked(ev *event, e *endpoint, pending int) job {
	version := e.APIVersion
	if version == "" {
		version = DefaultAPIVersion
	}
	payload, _ := json.Marshal(map[string]any{
		"id":               ev.ID,
		"object":           "event",
		"api_version":      version,
		"created":          ev.created.Unix(),
		"data":             map[string]any{"object": ev.Object},
		"livemode":         ev.Live,
		"pending_webhooks": pending,
		"request":          map[string]any{"id": nil, "idempotency_key": nil},
		"type":             ev.Type,
	})
	now := s.now()
	parts := []string{"t=" + strconv.FormatInt(now.Unix(), 10)}
	for _, secret := range e.signingSecrets(now) {
		parts = append(parts, "v1="+Sign(now, payload, secret))
	}
	if !ev.Live {
		parts = append(parts, "v0="+Sign(now, payload, s.dummyV0))
	}
	return job{d: Delivery{EventID: ev.ID, EndpointID: e.ID, URL: e.URL, Signature: strings.Join(parts, ","), Payload: payload}}
}

// maxAck bounds how much of an endpoint's answer is read.
const maxAck = 64 << 10

func (s *Server) deliver(ctx context.Context, j job) Delivery {
	d := j.d
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Payload))
	if err != nil {
		d.Err = err
		return d
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set(SignatureHeader, d.Signature)
	resp, err := s.http.Do(req)
	if err != nil {
		d.Err = err
		return d
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAck))
	d.StatusCode = resp.StatusCode
	return d
}

// Sign returns the hex v1 signature Stripe computes: HMAC-SHA256 keyed with
// the whole signing secret (whsec_ included) over "<unix t>.<payload>".
func Sign(t time.Time, payload []byte, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(t.Unix(), 10)))
	mac.Write([]byte("."))
	mac.Write(payload)
	return hex.EncodeToString(mac.Sum(nil))
}

// SignatureFor builds a Stripe-Signature header for payload signed at t with
// each of secrets, for tests that craft deliveries by hand.
func SignatureFor(t time.Time, payload []byte, secrets ...string) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("stripefake: SignatureFor needs at least one secret")
	}
	parts := []string{"t=" + strconv.FormatInt(t.Unix(), 10)}
	for _, s := range secrets {
		parts = append(parts, "v1="+Sign(t, payload, s))
	}
	return strings.Join(parts, ","), nil
}
