// Package sendgridprism runs a sendgridfake.Server behind two Prism
// validating proxies, one per SendGrid OpenAPI document (API keys, scopes),
// once per test package, and hands out *http.Client values for
// https://api.sendgrid.com whose every request and response is checked
// against SendGrid's documents.
//
//	func TestMain(m *testing.M) { code := m.Run(); sendgridprism.Close(); os.Exit(code) }
//
//	func TestX(t *testing.T) {
//		env := sendgridprism.Shared(t) // skips (fails in CI) without Prism
//		_ = env.Fake.AddUser(sendgridfake.User{Username: "u1"})
//		hc := env.HTTPClient(t) // send requests to sendgridfake.BaseURL
//		...
//	}
//
// Tests isolate themselves by creating their own users on the shared fake.
// Every client checks its exchanges with its own prism.Checker and fails its
// test, at cleanup, if Prism reported anything but the unavoidable
// undeclared-error-status warning (SendGrid's documents declare no 429).
package sendgridprism

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/dualkey/dualkey/emulator/internal/prismshared"
	"github.com/dualkey/dualkey/emulator/sendgridfake"
	"github.com/dualkey/dualkey/internal/prism"
)

// Env is a running fake with Prisms in front of it.
type Env struct {
	// Fake is the fake; use its Go API to set up users and keys and to read
	// what was called.
	Fake *sendgridfake.Server
	// FakeURL is the fake's own base URL (no Prism).
	FakeURL string
	// Endpoints are the Prisms, one per document.
	Endpoints sendgridfake.Endpoints
	// Prisms are the running Prism processes (API keys, scopes).
	Prisms []*prism.Process

	group *prism.Group
}

// shared is the package's Env.
var shared prismshared.Once[Env]

// Start starts a fake (with cfg) and its two Prisms. Stop them with
// Env.Close.
func Start(cfg sendgridfake.Config) (*Env, error) { return start(&prism.Group{}, cfg) }

func start(g *prism.Group, cfg sendgridfake.Config) (*Env, error) {
	fake := sendgridfake.New(cfg)
	url, err := fake.Start("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	env := &Env{Fake: fake, FakeURL: url, group: g}
	err = g.Start(func(g *prism.Group) error {
		names := []string{sendgridfake.SpecAPIKeys, sendgridfake.SpecScopes}
		env.Prisms = make([]*prism.Process, len(names))
		errs := make([]error, len(names))
		var wg sync.WaitGroup
		for i, name := range names {
			wg.Add(1)
			go func() { // both start in parallel: each takes seconds
				defer wg.Done()
				var err error
				if env.Prisms[i], err = g.Add(sendgridfake.SpecPath(name), url); err != nil {
					errs[i] = fmt.Errorf("prism for %s: %w", name, err)
				}
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	})
	if err != nil {
		_ = fake.Close()
		return nil, err
	}
	env.Endpoints = sendgridfake.Endpoints{APIKeys: env.Prisms[0].URL, Scopes: env.Prisms[1].URL}
	return env, nil
}

// Shared returns the package's Env, starting it on first use with the
// default Config. Without Prism it fails the test in CI (CI set) and skips
// it elsewhere, naming the install command.
func Shared(t testing.TB) *Env {
	t.Helper()
	return shared.Get(t, func(g *prism.Group) (*Env, error) { return start(g, sendgridfake.Config{}) })
}

// Close stops the shared Env, if it was started. Call it from TestMain after
// m.Run.
func Close() { shared.Close((*Env).Close) }

// Close stops the Env's Prisms and fake.
func (e *Env) Close() {
	_ = e.group.Close()
	_ = e.Fake.Close()
}

// HTTPClient returns an *http.Client whose requests for api.sendgrid.com go
// through the Prisms, checked for t.
func (e *Env) HTTPClient(t testing.TB) *http.Client {
	t.Helper()
	c := &prism.Checker{}
	t.Cleanup(func() {
		for _, r := range c.Unexpected() {
			t.Errorf("prism: %s", r)
		}
	})
	return sendgridfake.NewHTTPClient(e.Endpoints, c)
}
