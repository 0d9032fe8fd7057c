package awsemu

import (
	"context"
	"slices"
	"sync"
)

// invokeQueue lets one invocation at a time through to an invoke URL, first
// come first served. A Lambda Runtime Interface Emulator runs one invocation
// at a time and fails when a second arrives while one runs (100 concurrent
// RotateSecret calls through one RIE crashed it); real Lambda would run them
// in separate execution environments, so queueing them keeps each
// invocation as isolated as it would be at AWS.
type invokeQueue struct {
	mu      sync.Mutex
	busy    bool
	waiters []chan struct{}
}

// acquire waits for the queue's turn, in arrival order, or for ctx to end.
// On success the caller must call release.
func (q *invokeQueue) acquire(ctx context.Context) error {
	q.mu.Lock()
	if !q.busy {
		q.busy = true
		q.mu.Unlock()
		return nil
	}
	turn := make(chan struct{})
	q.waiters = append(q.waiters, turn)
	q.mu.Unlock()
	select {
	case <-turn:
		return nil
	case <-ctx.Done():
		q.mu.Lock()
		i := slices.Index(q.waiters, turn)
		if i >= 0 {
			q.waiters = slices.Delete(q.waiters, i, i+1)
			q.mu.Unlock()
			return ctx.Err()
		}
		q.mu.Unlock()
		// The turn was handed over just as ctx ended: pass it on.
		q.release()
		return ctx.Err()
	}
}

// release hands the turn to the longest waiter, or frees the queue.
func (q *invokeQueue) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiters) == 0 {
		q.busy = false
		return
	}
	next := q.waiters[0]
	q.waiters = slices.Delete(q.waiters, 0, 1)
	close(next)
}

// queueFor returns the queue of an invoke URL, creating it on first use.
func (s *Server) queueFor(url string) *invokeQueue {
	s.queuesMu.Lock()
	defer s.queuesMu.Unlock()
	q := s.queues[url]
	if q == nil {
		q = &invokeQueue{}
		s.queues[url] = q
	}
	return q
}
