package mysql_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/dualkey/dualkey/shared/providers/mysql"
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
	if err := mysql.Login(ctx(t), cfg); err != nil {
		t.Fatalf("login through the hook: %v", err)
	}
	// The login, SELECT VERSION() and SELECT 1.
	if h.calls != 3 {
		t.Fatalf("login made %d hook calls, want 3", h.calls)
	}
	for n := 1; n <= 3; n++ {
		h := &countingHook{failAt: n}
		cfg.Hook = h.hook
		if err := mysql.Login(ctx(t), cfg); err == nil {
			t.Fatalf("a failed call %d did not fail the login", n)
		}
	}
}
