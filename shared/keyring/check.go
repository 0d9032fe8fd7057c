package keyring

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/rotation"
)

// errClosed is returned by Refresh after Close.
var errClosed = errors.New("keyring: closed")

// loop is the background check loop: a check every CheckInterval (counted
// from the start of the previous one, whoever started it), and a wake-up at
// the moment the keyring would turn stale so that the transition is logged
// when it happens.
func (c *core) loop() {
	defer close(c.loopDone)
	for {
		c.announce()
		now := c.cfg.Now()
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return
		}
		next := c.lastAttempt.Add(c.cfg.CheckInterval)
		f := c.running
		if f == nil && !now.Before(next) {
			f = c.startLocked(now, "interval")
		}
		wake := next
		if !c.announced {
			if staleAt := c.lastSuccess.Add(c.cfg.MaxStaleness + time.Nanosecond); staleAt.Before(wake) {
				wake = staleAt
			}
		}
		c.mu.Unlock()

		if f != nil {
			select {
			case <-f.done:
			case <-c.ctx.Done():
				return
			}
			continue
		}
		timer, stop := c.after(wake)
		select {
		case <-timer:
			stop()
		case <-c.ctx.Done():
			stop()
			return
		}
	}
}

// after returns a channel that receives once the clock reaches deadline, and
// a function that releases the timer.
func (c *core) after(deadline time.Time) (<-chan time.Time, func()) {
	if c.cfg.timer != nil {
		return c.cfg.timer(deadline), func() {}
	}
	t := time.NewTimer(max(0, deadline.Sub(c.cfg.Now())))
	return t.C, func() { t.Stop() }
}

// checkForUnknownKey returns the check an unknown key should wait for: the
// running one, or a new one unless the last started less than
// MinRefreshInterval ago (then nil).
func (c *core) checkForUnknownKey() *flight {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	if c.running != nil {
		c.stats.UnknownKeyJoins++
		return c.running
	}
	if now.Sub(c.lastAttempt) < c.cfg.MinRefreshInterval {
		c.stats.RateLimited++
		return nil
	}
	c.stats.UnknownKeyChecks++
	return c.startLocked(now, "unknown key")
}

// startLocked starts a check in the background. The caller holds c.mu, has
// checked that none is running and that the keyring is not closed.
func (c *core) startLocked(now time.Time, reason string) *flight {
	f := &flight{done: make(chan struct{})}
	c.running = f
	c.lastAttempt = now
	c.checks.Add(1)
	go func() {
		defer c.checks.Done()
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.CheckTimeout)
		err := c.check(ctx, now)
		cancel()
		c.finish(f, err, reason)
	}()
	return f
}

// refresh runs a check that starts after the call and waits for it. A
// check already running may have described the secret before the caller's
// change, so it is waited for and followed by one more.
func (c *core) refresh(ctx context.Context) error {
	f, mine, err := c.runningOrStart()
	if err != nil {
		return err
	}
	if err := c.wait(ctx, f); err != nil {
		return err
	}
	if mine {
		return f.err
	}
	if f, _, err = c.runningOrStart(); err != nil {
		return err
	}
	if err := c.wait(ctx, f); err != nil {
		return err
	}
	return f.err
}

// runningOrStart returns the running check, or starts one (mine = true).
func (c *core) runningOrStart() (f *flight, mine bool, err error) {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, false, errClosed
	}
	if c.running != nil {
		return c.running, false, nil
	}
	return c.startLocked(now, "explicit"), true, nil
}

func (c *core) wait(ctx context.Context, f *flight) error {
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("keyring: refresh of secret %q: %w", c.cfg.SecretID, ctx.Err())
	}
}

// finish records a check's result, logs a failure, announces a change of
// the stale state and only then releases the waiters, so that whoever waited
// for f sees everything the check changed.
func (c *core) finish(f *flight, err error, reason string) {
	c.mu.Lock()
	c.running = nil
	c.mu.Unlock()
	c.recordResult(err, reason)
	if stale, changed := c.announce(); err != nil && stale && !changed {
		c.emitStale(1) // keep the metric (and any alarm on it) up while stale
	}
	c.mu.Lock()
	c.stats.Checks++
	c.mu.Unlock()
	f.err = err
	close(f.done)
}

// recordResult updates the failure counters after a check and logs a
// failure.
func (c *core) recordResult(err error, reason string) {
	c.mu.Lock()
	if err == nil {
		c.failures = 0
		c.lastErr = ""
		c.mu.Unlock()
		return
	}
	c.stats.CheckFailures++
	c.failures++
	c.lastErr = err.Error()
	lastSuccess, failures := c.lastSuccess, c.failures
	c.mu.Unlock()
	if c.ctx.Err() != nil {
		return // Close cancelled the check: not worth a warning
	}
	c.log.Warn("keyring check failed; keeping the last key set",
		"reason", reason, "err", err, "last_success", lastSuccess, "consecutive_failures", failures)
}

// announce logs and emits the stale state when it changed since the last
// announcement, and reports the state and whether it changed.
func (c *core) announce() (stale, changed bool) {
	now := c.cfg.Now()
	c.mu.Lock()
	stale = c.staleLocked(now)
	changed = stale != c.announced
	c.announced = stale
	lastSuccess, failures, lastErr := c.lastSuccess, c.failures, c.lastErr
	current := ""
	for _, e := range c.entries {
		if e.current == 1 {
			current = shortID(e.v.id) + " " + e.v.fingerprint
		}
	}
	c.mu.Unlock()
	if !changed {
		return stale, false
	}
	if stale {
		c.log.Warn("keyring stale: no successful Secrets Manager check within max_staleness; accepting only the AWSCURRENT key until a check succeeds",
			"last_success", lastSuccess, "max_staleness", c.cfg.MaxStaleness, "consecutive_failures", failures,
			"last_error", lastErr, StageCurrent, current)
		c.emitStale(1)
		return true, true
	}
	c.log.Info("keyring fresh again: Secrets Manager check succeeded; AWSPENDING and AWSPREVIOUS keys are accepted again",
		"last_success", lastSuccess)
	c.emitStale(0)
	return false, true
}

func (c *core) emitStale(v float64) {
	if c.metrics == nil {
		return
	}
	c.mu.RLock()
	name := c.secretName
	c.mu.RUnlock()
	if name == "" {
		name = c.cfg.SecretID
	}
	c.metrics.Emit(map[string]string{"SecretName": name}, [][]string{{"SecretName"}},
		rotation.MetricDatum{Name: "KeyringStale", Unit: "Count", Value: v})
}

// check describes the secret, reads the labelled versions it has not read
// before, and installs the new key set. started is when the check began; it
// becomes lastSuccess on success. On error nothing changes.
func (c *core) check(ctx context.Context, started time.Time) error {
	c.mu.Lock()
	c.stats.DescribeCalls++
	c.mu.Unlock()
	out, err := c.api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(c.cfg.SecretID)})
	if err != nil {
		return fmt.Errorf("describe secret %q: %w", c.cfg.SecretID, err)
	}
	if out == nil {
		return fmt.Errorf("describe secret %q: empty response", c.cfg.SecretID)
	}
	if out.DeletedDate != nil {
		return fmt.Errorf("secret %q is scheduled for deletion (since %s): restore it with RestoreSecret or point Config.SecretID at a live secret",
			c.cfg.SecretID, out.DeletedDate.UTC().Format(time.RFC3339))
	}
	labels, err := labelMap(out.VersionIdsToStages)
	if err != nil {
		return fmt.Errorf("secret %q: %w", c.cfg.SecretID, err)
	}
	if labels[0] == "" {
		return fmt.Errorf("secret %q has no %s version", c.cfg.SecretID, StageCurrent)
	}

	var missing []string
	c.mu.RLock()
	for _, id := range labels {
		if id != "" && c.versions[id] == nil && !contains(missing, id) {
			missing = append(missing, id)
		}
	}
	c.mu.RUnlock()
	read, err := c.readVersions(ctx, missing)
	if err != nil {
		return err
	}
	c.mu.RLock()
	cur := read[labels[0]]
	if cur == nil {
		cur = c.versions[labels[0]]
	}
	c.mu.RUnlock()
	if cur == nil {
		return fmt.Errorf("%s version %s of secret %q has no value (it moved during the check?); retrying at the next check", StageCurrent, labels[0], c.cfg.SecretID)
	}
	if cur.problem != "" {
		return fmt.Errorf("%s version %s of secret %q: %s", StageCurrent, labels[0], c.cfg.SecretID, cur.problem)
	}
	c.install(labels, read, aws.ToString(out.Name), started)
	return nil
}

// labelMap turns DescribeSecret's VersionIdsToStages into the version id per
// rotation stage ("" where no version carries the label).
func labelMap(m map[string][]string) ([len(stages)]string, error) {
	var labels [len(stages)]string
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, st := range m[id] {
			for i, want := range stages {
				if st != want {
					continue
				}
				if labels[i] != "" && labels[i] != id {
					return labels, fmt.Errorf("label %s is on two versions (%s and %s)", st, shortID(labels[i]), shortID(id))
				}
				labels[i] = id
			}
		}
	}
	return labels, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// readVersions reads the given versions concurrently. A version whose value
// is not a usable key is returned with its problem set (and never read
// again); a version without a value is left out (and read again next time);
// any other API error fails the whole check, so a transient error cannot
// drop a valid key.
func (c *core) readVersions(ctx context.Context, ids []string) (map[string]*version, error) {
	read := make(map[string]*version, len(ids))
	if len(ids) == 0 {
		return read, nil
	}
	c.mu.Lock()
	c.stats.GetValueCalls += uint64(len(ids))
	c.mu.Unlock()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, id := range ids {
		wg.Go(func() {
			v, err := c.readVersion(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err)
			case v != nil:
				read[id] = v
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return read, nil
}

// readVersion reads one version; (nil, nil) means it has no value.
func (c *core) readVersion(ctx context.Context, id string) (*version, error) {
	out, err := c.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:  aws.String(c.cfg.SecretID),
		VersionId: aws.String(id),
	})
	if err != nil {
		if IsNotFound(err) {
			// RotateSecret's placeholder: labelled AWSPENDING before
			// createSecret stores a value (or left behind by a failed
			// createSecret). Also a version deleted since DescribeSecret.
			// Either way it holds no key now; it is read again next check.
			return nil, nil
		}
		return nil, fmt.Errorf("get version %s of secret %q: %w", id, c.cfg.SecretID, err)
	}
	if out == nil || aws.ToString(out.VersionId) != id {
		return nil, fmt.Errorf("get version %s of secret %q: response is for version %q", id, c.cfg.SecretID, aws.ToString(out.VersionId))
	}
	v := &version{id: id}
	switch {
	case out.SecretString == nil:
		v.problem = "no SecretString (binary secrets are not supported)"
	default:
		key, err := ExtractKey(*out.SecretString, c.cfg.Field)
		if err != nil {
			v.problem = err.Error()
			break
		}
		v.fingerprint = Fingerprint(key)
		v.digest = sha256.Sum256([]byte(key))
	}
	if v.problem != "" {
		c.log.Warn("ignoring unusable secret version", "version", shortID(id), "problem", v.problem)
	}
	return v, nil
}

// install makes labels (with the newly read versions) the key set.
func (c *core) install(labels [len(stages)]string, read map[string]*version, name string, now time.Time) {
	c.mu.Lock()
	for id, v := range read {
		c.versions[id] = v
	}
	stageOf := make(map[string]string, len(stages))
	entries := make([]entry, 0, len(stages))
	for i, id := range labels {
		v := c.versions[id]
		if id == "" || v == nil || stageOf[id] != "" {
			continue
		}
		stageOf[id] = stages[i]
		if v.problem != "" {
			continue
		}
		e := entry{stage: stages[i], digest: v.digest, v: v}
		if i == 0 {
			e.current = 1
		}
		entries = append(entries, e)
	}
	var retired []*version
	for id, v := range c.versions {
		if st := stageOf[id]; st != "" {
			v.stage, v.retiredAt = st, time.Time{}
			continue
		}
		if v.stage != "" || v.retiredAt.IsZero() {
			v.stage, v.retiredAt = "", now
		}
		retired = append(retired, v)
	}
	if len(retired) > maxRetired {
		sort.Slice(retired, func(i, j int) bool { return retired[i].retiredAt.After(retired[j].retiredAt) })
		for _, v := range retired[maxRetired:] {
			delete(c.versions, v.id)
		}
	}
	changed := labels != c.labels
	c.labels = labels
	c.entries = entries
	c.lastSuccess = now
	if name != "" {
		c.secretName = name
	}
	c.mu.Unlock()

	attrs := make([]any, 0, len(entries))
	for _, e := range entries {
		attrs = append(attrs, slog.String(e.stage, shortID(e.v.id)+" "+e.v.fingerprint))
	}
	if changed {
		c.log.Info("keyring key set updated", attrs...)
	} else {
		c.log.Debug("keyring checked; labels unchanged", attrs...)
	}
}
