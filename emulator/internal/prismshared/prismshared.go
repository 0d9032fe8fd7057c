// Package prismshared holds a test package's one environment of a fake
// behind Prism (twilioprism, sendgridprism): started on first use, stopped
// from TestMain, and a test without Prism failed in CI and skipped
// elsewhere with the install command (internal/prism).
package prismshared

import (
	"strings"
	"sync"
	"testing"

	"github.com/dualkey/dualkey/internal/prism"
)

// Once is the shared environment E of a test package. The zero value is
// ready; it is safe for concurrent use.
type Once[E any] struct {
	mu    sync.Mutex
	group prism.Group
	env   *E
}

// Get returns the environment, starting it on first use with start, which
// runs its Prisms in the package's group. An error that names Prism's
// install command fails the test in CI and skips it elsewhere
// (prism.Unavailable); another fails it.
func (o *Once[E]) Get(t testing.TB, start func(g *prism.Group) (*E, error)) *E {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.env == nil {
		env, err := start(&o.group)
		if err != nil {
			if strings.Contains(err.Error(), prism.InstallCommand) {
				prism.Unavailable(t, err)
			}
			t.Fatal(err)
		}
		o.env = env
	}
	return o.env
}

// Close stops the environment with stop, if it was started. Call it from
// TestMain after m.Run.
func (o *Once[E]) Close(stop func(*E)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.env != nil {
		stop(o.env)
		o.env = nil
	}
}
