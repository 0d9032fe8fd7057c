package rotationtest

import (
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Fault is what the kit's Transport does to one external call.
type Fault int

// Faults the kit injects.
const (
	// NoFault lets every call through.
	NoFault Fault = iota
	// Crash lets call N reach the server, then loses its reply and fails
	// every later call without sending it: the process died.
	Crash
	// LoseReply lets call N reach the server and loses only its reply (a
	// connection reset); the process lives on.
	LoseReply
	// Refuse fails call N before it is sent (a throttled or unreachable
	// endpoint); the process lives on.
	Refuse
)

func (f Fault) String() string {
	switch f {
	case Crash:
		return "crash"
	case LoseReply:
		return "lost reply"
	case Refuse:
		return "refused"
	}
	return "none"
}

// errCrash is what the kit's transport returns for a call it faults.
type errCrash struct{ fault Fault }

func (e errCrash) Error() string {
	switch e.fault {
	case LoseReply:
		return "injected fault: the reply was lost after the call completed"
	case Refuse:
		return "injected fault: the call was refused before it was sent"
	}
	return "injected crash after the call completed"
}

// RetryableError tells the AWS SDK not to retry: the kit decides what
// happens next.
func (errCrash) RetryableError() bool { return false }

// Transport counts external calls (Secrets Manager and provider alike) and
// injects one fault at call N. HTTP calls go through RoundTrip; calls over
// other protocols (SQL) through Call.
type Transport struct {
	Base  http.RoundTripper
	mu    sync.Mutex
	calls int
	fault Fault
	at    int
	fired bool
	dead  bool
	ops   map[string]int
}

// RoundTrip implements http.RoundTripper.
func (c *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := c.Base
	if base == nil {
		base = http.DefaultTransport
	}
	c.mu.Lock()
	if c.dead {
		// The process crashed: nothing after the crash reaches anyone.
		c.mu.Unlock()
		drainRequest(r)
		return nil, errCrash{Crash}
	}
	c.calls++
	n, fault, at := c.calls, c.fault, c.at
	hit := fault != NoFault && n == at
	if hit {
		c.fired = true
		if fault == Crash {
			c.dead = true
		}
	}
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		if c.ops == nil {
			c.ops = map[string]int{}
		}
		c.ops[strings.TrimPrefix(t, "secretsmanager.")]++
	}
	c.mu.Unlock()
	if hit && fault == Refuse {
		drainRequest(r)
		return nil, errCrash{Refuse}
	}
	resp, err := base.RoundTrip(r)
	if hit && err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, errCrash{fault}
	}
	return resp, err
}

// Call counts one external call that does not go over HTTP (a database
// login or SQL statement, which providers route through a hook of their
// own) and injects the armed fault into it exactly as RoundTrip does for an
// HTTP call. send makes the call: it reaches the server and its reply is
// read. Refuse fails the call without calling send; Crash and LoseReply call
// send and then fail as if its reply was lost, and after a Crash every later
// call (HTTP or not) fails without being sent. A nil *Transport calls send.
func (c *Transport) Call(send func() error) error {
	if c == nil {
		return send()
	}
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return errCrash{Crash}
	}
	c.calls++
	hit := c.fault != NoFault && c.calls == c.at
	fault := c.fault
	if hit {
		c.fired = true
		if fault == Crash {
			c.dead = true
		}
	}
	c.mu.Unlock()
	if hit && fault == Refuse {
		return errCrash{Refuse}
	}
	err := send()
	if hit && err == nil {
		return errCrash{fault}
	}
	return err
}

func drainRequest(r *http.Request) {
	if r.Body != nil {
		r.Body.Close()
	}
}

// Arm resets the counters and injects fault at call at (NoFault or at <= 0:
// none).
func (c *Transport) Arm(fault Fault, at int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at <= 0 {
		fault = NoFault
	}
	c.calls, c.fault, c.at, c.fired, c.dead, c.ops = 0, fault, at, false, false, map[string]int{}
}

// Fired reports whether the armed fault happened.
func (c *Transport) Fired() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fired
}

// Count returns the calls made since Arm and the Secrets Manager calls by
// operation.
func (c *Transport) Count() (int, map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ops := map[string]int{}
	for k, v := range c.ops {
		ops[k] = v
	}
	return c.calls, ops
}

// jitter delays every call of one Lambda instance by a random fraction of a
// few milliseconds, so two instances delivering the same step interleave
// their calls differently from trial to trial.
type jitter struct{ base http.RoundTripper }

func (j jitter) RoundTrip(r *http.Request) (*http.Response, error) {
	time.Sleep(time.Duration(rand.Int64N(int64(3 * time.Millisecond))))
	base := j.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}
