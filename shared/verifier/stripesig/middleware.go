package stripesig

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

type deliveryKey struct{}

// DeliveryFromContext returns the verified Delivery that Middleware put in
// the request's context.
func DeliveryFromContext(ctx context.Context) (*Delivery, bool) {
	d, ok := ctx.Value(deliveryKey{}).(*Delivery)
	return d, ok
}

// Middleware verifies a Stripe webhook request before next sees it:
//   - not POST: 405; body over MaxBodyBytes: 413;
//   - bad or missing signature, stale timestamp, not an event: 400 (Stripe
//     retries, then alerts the account owner);
//   - dedupe store down: 503 (Stripe retries);
//   - a duplicate (the other endpoint's copy, or a retry of an event already
//     processed): 200 {"received":true,"duplicate":true} without calling
//     next;
//   - otherwise next runs with the body restored and the Delivery in the
//     context (DeliveryFromContext). A 2xx from next (or no status written)
//     marks the event processed; any other status, or a panic, gives it back
//     so Stripe's retry is processed.
//
// Error answers say what failed in general terms and never echo the
// request.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			reply(w, http.StatusMethodNotAllowed, map[string]any{"error": "method not allowed"})
			return
		}
		payload, err := io.ReadAll(http.MaxBytesReader(w, r.Body, v.cfg.MaxBodyBytes))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				reply(w, http.StatusRequestEntityTooLarge, map[string]any{"error": "payload too large"})
				return
			}
			reply(w, http.StatusBadRequest, map[string]any{"error": "could not read the body"})
			return
		}
		d, err := v.Verify(r.Context(), payload, r.Header.Get(HeaderName))
		if err != nil {
			if errors.Is(err, ErrDedupe) {
				reply(w, http.StatusServiceUnavailable, map[string]any{"error": "temporarily unavailable"})
				return
			}
			reply(w, http.StatusBadRequest, map[string]any{"error": publicReason(err)})
			return
		}
		if d.Duplicate {
			reply(w, http.StatusOK, map[string]any{"received": true, "duplicate": true})
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		ok := false
		defer func() {
			// Detach from the request: the outcome must be recorded even if
			// the client went away.
			ctx := context.WithoutCancel(r.Context())
			if ok && (rec.status == 0 || rec.status/100 == 2) {
				_ = d.Done(ctx)
			} else {
				_ = d.Failed(ctx)
			}
		}()
		r2 := r.WithContext(context.WithValue(r.Context(), deliveryKey{}, d))
		r2.Body = io.NopCloser(bytes.NewReader(payload))
		r2.ContentLength = int64(len(payload))
		next.ServeHTTP(rec, r2)
		ok = true
	})
}

// HandlerFunc processes one verified, non-duplicate event. Returning an
// error answers 500, so Stripe delivers the event again later.
type HandlerFunc func(ctx context.Context, d *Delivery) error

// Handler is Middleware around fn: 200 {"received":true} when fn returns
// nil, 500 otherwise (without fn's error text, which stays in the service's
// own logs).
func (v *Verifier) Handler(fn HandlerFunc) http.Handler {
	return v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := DeliveryFromContext(r.Context())
		if err := fn(r.Context(), d); err != nil {
			v.log.Warn("stripe webhook handler failed; Stripe will retry", "event", d.Event.ID, "type", d.Event.Type, "err", err)
			reply(w, http.StatusInternalServerError, map[string]any{"error": "processing failed"})
			return
		}
		reply(w, http.StatusOK, map[string]any{"received": true})
	}))
}

func publicReason(err error) string {
	for _, e := range []error{ErrNotSigned, ErrInvalidHeader, ErrTimestamp, ErrNoMatch, ErrInvalidPayload} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "invalid request"
}

func reply(w http.ResponseWriter, status int, body map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// Encoding a map of constants cannot fail; a write error means the
	// client is gone.
	_ = json.NewEncoder(w).Encode(body)
}

// statusRecorder remembers the status the handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
