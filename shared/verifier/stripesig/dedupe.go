package stripesig

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// DedupeStore remembers which event ids are being or have been processed.
// The default is an in-memory LRU with a TTL (NewMemoryStore); a service
// that must dedupe across restarts or replicas plugs in a durable one (for
// example a table with a unique key on the event id).
type DedupeStore interface {
	// Claim marks id as being processed and returns true if the caller now
	// owns it and must process it. It returns false if id is being processed
	// by someone else or was processed already (a duplicate). It must be
	// atomic: of two concurrent Claims of one id, at most one returns true.
	Claim(ctx context.Context, id string) (bool, error)
	// Complete records that processing of a claimed id succeeded; later
	// Claims of id return false until the store forgets it.
	Complete(ctx context.Context, id string) error
	// Release gives up a claim after processing failed, so that a later
	// delivery of id (Stripe's retry) is processed. Releasing an id that is
	// not claimed is not an error.
	Release(ctx context.Context, id string) error
}

// MemoryStore is an in-memory DedupeStore: an LRU of at most Capacity ids,
// each forgotten TTL after it was completed. A claim that is neither
// completed nor released within ClaimTimeout is considered abandoned (its
// handler hung or the goroutine died) and may be claimed again.
type MemoryStore struct {
	capacity     int
	ttl          time.Duration
	claimTimeout time.Duration
	now          func() time.Time

	mu  sync.Mutex
	ids map[string]*list.Element
	lru *list.List // front = most recently touched
}

type memEntry struct {
	id   string
	done bool
	at   time.Time // claim time, or completion time once done
}

// NewMemoryStore returns a MemoryStore. Non-positive values take the
// defaults DefaultDedupeCapacity, DefaultDedupeTTL and DefaultClaimTimeout;
// now nil means time.Now.
func NewMemoryStore(capacity int, ttl, claimTimeout time.Duration, now func() time.Time) *MemoryStore {
	if capacity <= 0 {
		capacity = DefaultDedupeCapacity
	}
	if ttl <= 0 {
		ttl = DefaultDedupeTTL
	}
	if claimTimeout <= 0 {
		claimTimeout = DefaultClaimTimeout
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{capacity: capacity, ttl: ttl, claimTimeout: claimTimeout, now: now, ids: map[string]*list.Element{}, lru: list.New()}
}

var _ DedupeStore = (*MemoryStore)(nil)

// live reports whether e still blocks a new claim at now.
func (m *MemoryStore) live(e *memEntry, now time.Time) bool {
	if e.done {
		return now.Sub(e.at) < m.ttl
	}
	return now.Sub(e.at) < m.claimTimeout
}

// Claim implements DedupeStore.
func (m *MemoryStore) Claim(_ context.Context, id string) (bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.ids[id]; ok {
		e := el.Value.(*memEntry)
		if m.live(e, now) {
			m.lru.MoveToFront(el)
			return false, nil
		}
		e.done, e.at = false, now
		m.lru.MoveToFront(el)
		return true, nil
	}
	m.ids[id] = m.lru.PushFront(&memEntry{id: id, at: now})
	for m.lru.Len() > m.capacity {
		el := m.lru.Back()
		m.lru.Remove(el)
		delete(m.ids, el.Value.(*memEntry).id)
	}
	return true, nil
}

// Complete implements DedupeStore.
func (m *MemoryStore) Complete(_ context.Context, id string) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.ids[id]; ok {
		e := el.Value.(*memEntry)
		e.done, e.at = true, now
		m.lru.MoveToFront(el)
		return nil
	}
	m.ids[id] = m.lru.PushFront(&memEntry{id: id, done: true, at: now})
	return nil
}

// Release implements DedupeStore.
func (m *MemoryStore) Release(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.ids[id]; ok && !el.Value.(*memEntry).done {
		m.lru.Remove(el)
		delete(m.ids, id)
	}
	return nil
}

// Len returns how many ids the store holds (live or not yet evicted).
func (m *MemoryStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Len()
}
