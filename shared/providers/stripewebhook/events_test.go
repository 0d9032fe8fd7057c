package stripewebhook_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dualkey/dualkey/emulator/stripefake"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
	"github.com/dualkey/dualkey/shared/verifier/stripesig"
)

// consumer is a service that verifies deliveries with stripesig and
// counts what it processed.
type consumer struct {
	mu        sync.Mutex
	h         http.Handler
	processed map[string]int
}

func (c *consumer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	h := c.h
	c.mu.Unlock()
	if h == nil {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	h.ServeHTTP(w, r)
}

// While events stream in, the secret is rotated and the old endpoint
// disabled: the consumer rejects no delivery, processes every event once,
// and reports the second copy of each event sent while both endpoints were
// live as a duplicate.
func TestEventsDuringRotation(t *testing.T) {
	ctx := context.Background()
	c := &consumer{processed: map[string]int{}}
	b, arn := newBed(t, opts{handler: c})
	v, err := stripesig.New(ctx, b.env.SM, stripesig.Config{SecretID: rotationtest.SecretName, Now: b.env.Clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.h = v.Handler(func(_ context.Context, d *stripesig.Delivery) error {
		c.mu.Lock()
		c.processed[d.Event.ID]++
		c.mu.Unlock()
		return nil
	})
	c.mu.Unlock()

	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		resMu   sync.Mutex
		results []stripefake.EventResult
	)
	sent := make(chan struct{}, 1<<16)
	for range 3 {
		wg.Go(func() {
			for !stop.Load() {
				res, err := b.fake.SendEvent(ctx, stripefake.EventInput{AccountID: b.acct.ID, Type: "customer.created"})
				if err != nil {
					t.Error(err)
					return
				}
				resMu.Lock()
				results = append(results, res)
				resMu.Unlock()
				sent <- struct{}{}
			}
		})
	}
	wait := func(n int) {
		for range n {
			<-sent
		}
	}
	wait(30)
	if _, err := b.rotate(ctx, arn); err != nil {
		t.Fatal(err)
	}
	wait(30)
	if err := b.provider().Deactivate(ctx, b.request(ctx, arn, rotation.StagePrevious)); err != nil {
		t.Fatal(err)
	}
	wait(30)
	stop.Store(true)
	wg.Wait()

	doubles := 0
	for _, r := range results {
		if len(r.Deliveries) == 2 {
			doubles++
		}
		for _, d := range r.Deliveries {
			if !d.OK() {
				t.Fatalf("delivery of %s by %s answered %d (%v); rejections %v", r.EventID, d.EndpointID, d.StatusCode, d.Err, v.Stats().Rejected)
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range results {
		if n := c.processed[r.EventID]; n != 1 {
			t.Errorf("event %s processed %d times", r.EventID, n)
		}
	}
	st := v.Stats()
	if len(st.Rejected) != 0 || doubles == 0 || st.Duplicates != uint64(doubles) {
		t.Fatalf("rejected %v, duplicates %d; want none rejected and %d duplicates (events sent while both endpoints were live)", st.Rejected, st.Duplicates, doubles)
	}
	t.Logf("%d events, %d delivered twice, 0 rejected", len(results), doubles)
}
