package postgres_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/dualkey/dualkey/shared/providers/postgres"
)

// countingHook counts calls and fails call failAt (after sending it) when
// failAt > 0.
type countingHook struct {
	mu     sync.Mutex
	calls  int
	failAt int
}

var errInjected = errors.New("injected")

func (h *countingHook) hook(send func() error) error {
	h.mu.Lock()
	h.calls++
	n := h.calls
	h.mu.Unlock()
	if err := send(); err != nil {
		return err
	}
	if n == h.failAt {
		return errInjected
	}
	return nil
}

func TestHookCountsLoginAndStatements(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := &countingHook{}
	cfg := f.cfg(f.app, f.appPW)
	cfg.Hook = h.hook
	if err := postgres.Login(ctx(t), cfg); err != nil {
		t.Fatalf("login through the hook: %v", err)
	}
	if h.calls != 2 {
		t.Fatalf("login + SELECT 1 made %d hook calls, want 2", h.calls)
	}
	for _, tc := range []struct {
		name   string
		failAt int
	}{{"login", 1}, {"statement", 2}} {
		h := &countingHook{failAt: tc.failAt}
		cfg.Hook = h.hook
		if err := postgres.Login(ctx(t), cfg); err == nil {
			t.Fatalf("%s: a failed call did not fail the login", tc.name)
		}
	}
}
