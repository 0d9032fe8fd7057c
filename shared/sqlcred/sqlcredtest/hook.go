package sqlcredtest

import (
	"errors"
	"sync"
	"testing"

	"github.com/dualkey/dualkey/shared/sqlcred"
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

// TestHookCountsLoginAndStatements proves that login (a Login of a working
// credential through the hook it is given) sends each of its requests,
// named in calls in order (the login, then each statement), through the
// hook, and fails when the hook fails any one of them.
func TestHookCountsLoginAndStatements(t *testing.T, login func(sqlcred.CallHook) error, calls []string) {
	h := &countingHook{}
	if err := login(h.hook); err != nil {
		t.Fatalf("login through the hook: %v", err)
	}
	if h.calls != len(calls) {
		t.Fatalf("login (%q) made %d hook calls, want %d", calls, h.calls, len(calls))
	}
	for i, name := range calls {
		h := &countingHook{failAt: i + 1}
		if err := login(h.hook); err == nil {
			t.Fatalf("%s: a failed call %d did not fail the login", name, i+1)
		}
	}
}
