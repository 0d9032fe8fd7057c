package secretwatch

import (
	"context"
	"time"
)

// loop is the background check loop: a check every CheckInterval (counted
// from the start of the previous one, whoever started it), and a wake-up
// at the moment the set would turn stale so that the transition is logged
// when it happens.
func (w *Watcher[T]) loop() {
	defer close(w.loopDone)
	for {
		w.announce()
		now := w.cfg.Now()
		w.mu.Lock()
		if w.closed {
			w.mu.Unlock()
			return
		}
		next := w.lastAttempt.Add(w.cfg.CheckInterval)
		f := w.running
		if f == nil && !now.Before(next) {
			f = w.startLocked(now, "interval")
		}
		wake := next
		if w.cfg.MaxStaleness > 0 && !w.announced {
			if staleAt := w.lastSuccess.Add(w.cfg.MaxStaleness + time.Nanosecond); staleAt.Before(wake) {
				wake = staleAt
			}
		}
		w.mu.Unlock()

		if f != nil {
			select {
			case <-f.done:
			case <-w.ctx.Done():
				return
			}
			continue
		}
		timer, stop := w.after(wake)
		select {
		case <-timer:
			stop()
		case <-w.ctx.Done():
			stop()
			return
		}
	}
}

// after returns a channel that receives once the clock reaches deadline,
// and a function that releases the timer.
func (w *Watcher[T]) after(deadline time.Time) (<-chan time.Time, func()) {
	if w.cfg.Timer != nil {
		return w.cfg.Timer(deadline), func() {}
	}
	t := time.NewTimer(max(0, deadline.Sub(w.cfg.Now())))
	return t.C, func() { t.Stop() }
}

// Poll runs the periodic check when CheckInterval has passed since the
// last one started and waits for it (or for ctx); it returns at once when
// a check is running (the caller goes on with the current set), when none
// is due, and with Config.Background (the loop checks).
func (w *Watcher[T]) Poll(ctx context.Context) {
	if w.cfg.Background {
		return
	}
	now := w.cfg.Now()
	w.mu.Lock()
	if w.closed || w.running != nil || now.Sub(w.lastAttempt) < w.cfg.CheckInterval {
		w.mu.Unlock()
		return
	}
	f := w.startLocked(now, "interval")
	w.mu.Unlock()
	w.await(ctx, f, nil)
}

// Unknown is called when a presented credential matched no usable
// version: it gets a check as Config.Unknown says and waits for it as
// Config.UnknownWait says (and at most until ctx is done). It reports
// whether a check ended while it waited, so that matching again may
// succeed.
func (w *Watcher[T]) Unknown(ctx context.Context) bool {
	var wake <-chan time.Time
	stop := func() {}
	defer func() { stop() }()
	wait := func(f *flight) bool {
		if w.cfg.UnknownWait < 0 {
			return false
		}
		if w.cfg.UnknownWait > 0 && wake == nil {
			wake, stop = w.after(w.cfg.Now().Add(w.cfg.UnknownWait))
		}
		return w.await(ctx, f, wake)
	}
	if w.cfg.Unknown == ShareCheck {
		f := w.shareCheck()
		return f != nil && wait(f)
	}
	for {
		f, mine := w.freshCheck()
		switch {
		case f == nil:
			return false
		case mine:
			return wait(f)
		case !wait(f):
			return false
		}
	}
}

// shareCheck returns the check an unknown credential shares: the running
// one, or a new one unless the last started less than MinRefreshInterval
// ago (then nil).
func (w *Watcher[T]) shareCheck() *flight {
	now := w.cfg.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	if w.running != nil {
		w.stats.UnknownJoins++
		return w.running
	}
	if now.Sub(w.lastAttempt) < w.cfg.MinRefreshInterval {
		w.stats.RateLimited++
		return nil
	}
	w.stats.UnknownChecks++
	return w.startLocked(now, w.cfg.Messages.UnknownReason)
}

// freshCheck returns the running check (mine = false: wait for it and ask
// again), or a new one (mine = true) unless the last check FreshCheck
// started began less than MinRefreshInterval ago (then nil).
func (w *Watcher[T]) freshCheck() (f *flight, mine bool) {
	now := w.cfg.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.closed:
		return nil, false
	case w.running != nil:
		return w.running, false
	case !w.lastUnknown.IsZero() && now.Sub(w.lastUnknown) < w.cfg.MinRefreshInterval:
		w.stats.RateLimited++
		return nil, false
	}
	w.lastUnknown = now
	w.stats.UnknownChecks++
	return w.startLocked(now, w.cfg.Messages.UnknownReason), true
}

// await waits for f, wake or ctx, and reports whether f ended.
func (w *Watcher[T]) await(ctx context.Context, f *flight, wake <-chan time.Time) bool {
	select {
	case <-f.done:
		return true
	case <-wake:
	case <-ctx.Done():
	}
	return false
}

// startLocked starts a check in the background. The caller holds w.mu,
// has checked that none is running and that the Watcher is not closed.
func (w *Watcher[T]) startLocked(now time.Time, reason string) *flight {
	f := &flight{done: make(chan struct{})}
	w.running = f
	w.lastAttempt = now
	w.checks.Add(1)
	go func() {
		defer w.checks.Done()
		ctx, cancel := context.WithTimeout(w.ctx, w.cfg.CheckTimeout)
		err := w.check(ctx, now)
		cancel()
		w.finish(f, err, reason)
	}()
	return f
}

// Refresh runs a check that starts after the call, regardless of
// CheckInterval and the rate limit, and waits for it (or for ctx). A check
// already running may have described the secret before the caller's
// change, so it is waited for and followed by one more. On error the last
// good set is kept.
func (w *Watcher[T]) Refresh(ctx context.Context) error {
	f, mine, err := w.runningOrStart()
	if err != nil {
		return err
	}
	if err := w.wait(ctx, f); err != nil {
		return err
	}
	if mine {
		return f.err
	}
	if f, _, err = w.runningOrStart(); err != nil {
		return err
	}
	if err := w.wait(ctx, f); err != nil {
		return err
	}
	return f.err
}

// runningOrStart returns the running check, or starts one (mine = true).
func (w *Watcher[T]) runningOrStart() (f *flight, mine bool, err error) {
	now := w.cfg.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, false, w.errorf("closed")
	}
	if w.running != nil {
		return w.running, false, nil
	}
	return w.startLocked(now, "explicit"), true, nil
}

func (w *Watcher[T]) wait(ctx context.Context, f *flight) error {
	if w.await(ctx, f, nil) {
		return nil
	}
	return w.errorf("refresh of secret %q: %w", w.cfg.SecretID, ctx.Err())
}

// finish records a check's result, logs a failure, announces a change of
// the stale state and only then releases the waiters, so that whoever
// waited for f sees everything the check changed.
func (w *Watcher[T]) finish(f *flight, err error, reason string) {
	w.mu.Lock()
	w.running = nil
	w.mu.Unlock()
	w.recordResult(err, reason)
	if stale, changed := w.announce(); err != nil && stale && !changed {
		w.onStale(true) // keep the metric (and any alarm on it) up while stale
	}
	w.mu.Lock()
	w.stats.Checks++
	w.mu.Unlock()
	f.err = err
	close(f.done)
}

// recordResult updates the failure counters after a check and logs a
// failure.
func (w *Watcher[T]) recordResult(err error, reason string) {
	w.mu.Lock()
	if err == nil {
		w.failures = 0
		w.lastErr = ""
		w.mu.Unlock()
		return
	}
	w.stats.CheckFailures++
	w.failures++
	w.lastErr = err.Error()
	lastSuccess, failures := w.lastSuccess, w.failures
	w.mu.Unlock()
	if w.ctx.Err() != nil || w.cfg.Messages.Failed == "" {
		return // Close cancelled the check: not worth a warning
	}
	w.log.Warn(w.cfg.Messages.Failed,
		"reason", reason, "err", err, "last_success", lastSuccess, "consecutive_failures", failures)
}

// announce logs and reports the stale state when it changed since the
// last announcement, and reports the state and whether it changed.
func (w *Watcher[T]) announce() (stale, changed bool) {
	if w.cfg.MaxStaleness <= 0 {
		return false, false
	}
	now := w.cfg.Now()
	w.mu.Lock()
	stale = w.staleLocked(now)
	changed = stale != w.announced
	w.announced = stale
	lastSuccess, failures, lastErr := w.lastSuccess, w.failures, w.lastErr
	first := ""
	for _, e := range w.entries {
		if e.Stage == w.cfg.Stages[0] {
			first = shortID(e.VersionID) + " " + e.v.describe
		}
	}
	w.mu.Unlock()
	if !changed {
		return stale, false
	}
	if stale {
		if w.cfg.Messages.Stale != "" {
			w.log.Warn(w.cfg.Messages.Stale,
				"last_success", lastSuccess, "max_staleness", w.cfg.MaxStaleness, "consecutive_failures", failures,
				"last_error", lastErr, w.cfg.Stages[0], first)
		}
		w.onStale(true)
		return true, true
	}
	if w.cfg.Messages.Fresh != "" {
		w.log.Info(w.cfg.Messages.Fresh, "last_success", lastSuccess)
	}
	w.onStale(false)
	return false, true
}

func (w *Watcher[T]) onStale(stale bool) {
	if w.cfg.OnStale == nil {
		return
	}
	w.mu.RLock()
	name := w.secretName
	w.mu.RUnlock()
	if name == "" {
		name = w.cfg.SecretID
	}
	w.cfg.OnStale(stale, name)
}
