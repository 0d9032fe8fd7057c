// Package twilioprism runs a twiliofake.Server behind three Prism validating
// proxies, one per Twilio OpenAPI document (api, iam and accounts.twilio.com),
// once per test package, and hands out real twilio-go clients whose every
// request and response is checked against Twilio's documents.
//
// Prism takes seconds to start, so a test package shares one Env:
//
//	func TestMain(m *testing.M) { code := m.Run(); twilioprism.Close(); os.Exit(code) }
//
//	func TestX(t *testing.T) {
//		env := twilioprism.Shared(t) // skips (fails in CI) without Prism
//		acct := env.Fake.CreateAccount("")
//		c := env.Client(t, acct.Sid, acct.AuthToken, acct.Sid)
//		...
//	}
//
// Tests isolate themselves by creating their own accounts on the shared fake.
// Every client from Env checks its exchanges with its own prism.Checker and
// fails its test, at cleanup, if Prism reported anything but the unavoidable
// undeclared-error-status warning.
package twilioprism

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"

	"github.com/twilio/twilio-go"

	"github.com/dualkey/dualkey/emulator/internal/prismshared"
	"github.com/dualkey/dualkey/emulator/twiliofake"
	"github.com/dualkey/dualkey/internal/prism"
)

// Env is a running fake with Prisms in front of it.
type Env struct {
	// Fake is the fake; use its Go API to set up accounts and keys and to
	// read what was called.
	Fake *twiliofake.Server
	// FakeURL is the fake's own base URL (no Prism).
	FakeURL string
	// Endpoints are the Prisms, one per Twilio host.
	Endpoints twiliofake.Endpoints
	// Prisms are the running Prism processes (api, iam, accounts).
	Prisms []*prism.Process

	group *prism.Group
	tmp   string
}

// shared is the package's Env.
var shared prismshared.Once[Env]

// Start starts a fake (with cfg) and its three Prisms. Close them with
// Env.Close.
func Start(cfg twiliofake.Config) (*Env, error) {
	return start(&prism.Group{}, cfg)
}

func start(g *prism.Group, cfg twiliofake.Config) (*Env, error) {
	tmp, err := os.MkdirTemp("", "twilioprism-")
	if err != nil {
		return nil, fmt.Errorf("twilioprism: %w", err)
	}
	fake := twiliofake.New(cfg)
	url, err := fake.Start("127.0.0.1:0")
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, err
	}
	env := &Env{Fake: fake, FakeURL: url, tmp: tmp}
	err = g.Start(func(g *prism.Group) error {
		names := []string{twiliofake.SpecAPI, twiliofake.SpecIAM, twiliofake.SpecAccounts}
		env.Prisms = make([]*prism.Process, len(names))
		errs := make([]error, len(names))
		var wg sync.WaitGroup
		for i, name := range names {
			wg.Add(1)
			go func() { // the three start in parallel: each takes seconds
				defer wg.Done()
				spec, err := Errata(twiliofake.SpecPath(name), tmp)
				if err == nil {
					env.Prisms[i], err = g.Add(spec, url)
				}
				if err != nil {
					errs[i] = fmt.Errorf("prism for %s: %w", name, err)
				}
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	})
	if err != nil {
		_ = fake.Close()
		_ = os.RemoveAll(tmp)
		return nil, err
	}
	env.Endpoints = twiliofake.Endpoints{API: env.Prisms[0].URL, IAM: env.Prisms[1].URL, Accounts: env.Prisms[2].URL}
	env.group = g
	return env, nil
}

func (e *Env) close() {
	if e.group != nil {
		_ = e.group.Close()
	}
	_ = e.Fake.Close()
	_ = os.RemoveAll(e.tmp)
}

// Shared returns the package's Env, starting it on first use with the
// default Config. Without Prism it fails the test in CI (CI set) and skips it
// elsewhere, naming the install command.
func Shared(t testing.TB) *Env {
	t.Helper()
	return shared.Get(t, func(g *prism.Group) (*Env, error) { return start(g, twiliofake.Config{}) })
}

// Close stops the shared Env, if it was started. Call it from TestMain after
// m.Run.
func Close() { shared.Close((*Env).close) }

// Close stops an Env made by Start.
func (e *Env) Close() { e.close() }

// checker returns a Checker that fails t at cleanup if Prism reported
// anything unexpected.
func checker(t testing.TB) *prism.Checker {
	t.Helper()
	c := &prism.Checker{}
	t.Cleanup(func() {
		for _, r := range c.Unexpected() {
			t.Errorf("prism: %s", r)
		}
	})
	return c
}

// HTTPClient returns an *http.Client whose requests for *.twilio.com go
// through the Prisms, checked for t.
func (e *Env) HTTPClient(t testing.TB) *http.Client {
	t.Helper()
	return twiliofake.NewHTTPClient(e.Endpoints, checker(t))
}

// Client returns the real twilio-go client for username/password (account
// SID and auth token, or key SID and secret) acting for accountSid, talking
// through the Prisms, checked for t.
func (e *Env) Client(t testing.TB, username, password, accountSid string) *twilio.RestClient {
	t.Helper()
	return twiliofake.NewRestClient(e.Endpoints, checker(t), username, password, accountSid)
}
