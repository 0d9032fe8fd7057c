package keyring_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/keyring"
)

// Test keys. They are fake, but the tests still check that none of them ever
// appears in an error, a log line, a metric or a response body.
const (
	keyV1 = "sk-test-version-one-AAAA1111"
	keyV2 = "sk-test-version-two-BBBB2222"
	keyV3 = "sk-test-version-three-CCCC3333"
	keyV4 = "sk-test-version-four-DDDD4444"
	keyXX = "sk-test-not-a-real-key-XXXX9999"
)

var allKeys = []string{keyV1, keyV2, keyV3, keyV4, keyXX}

// assertNoKeys fails if any test key appears in s.
func assertNoKeys(t *testing.T, what, s string) {
	t.Helper()
	for _, k := range allKeys {
		if strings.Contains(s, k) {
			t.Fatalf("%s leaks a key value (fingerprint %s)", what, keyring.Fingerprint(k))
		}
	}
}

// fakeTime is testutil.FakeClock plus timers that fire when Advance passes
// their deadline. Timers take an absolute deadline, so a timer set while the
// clock moves cannot be missed.
type fakeTime struct {
	*testutil.FakeClock
	mu     sync.Mutex
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeTime() *fakeTime {
	return &fakeTime{FakeClock: testutil.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}
}

// Timer returns a channel that receives once the clock reaches deadline.
func (f *fakeTime) Timer(deadline time.Time) <-chan time.Time {
	ch := make(chan time.Time, 1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := f.Now(); !now.Before(deadline) {
		ch <- now
		return ch
	}
	f.timers = append(f.timers, fakeTimer{deadline, ch})
	return ch
}

// Advance moves the clock and fires every timer that is due.
func (f *fakeTime) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.FakeClock.Advance(d)
	now := f.Now()
	keep := f.timers[:0]
	for _, t := range f.timers {
		if now.Before(t.at) {
			keep = append(keep, t)
			continue
		}
		t.ch <- now
	}
	f.timers = keep
}

// waitingFor counts the timers set for exactly deadline.
func (f *fakeTime) waitingFor(deadline time.Time) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, t := range f.timers {
		if t.at.Equal(deadline) {
			n++
		}
	}
	return n
}

// waitFor polls cond until it holds; the deadline only guards against a
// hang, it is not a timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// env is a keyring on a fake clock over a secret in the real emulator.
type env struct {
	sm      *emuSecret
	clock   *fakeTime
	logs    *testutil.SyncBuffer
	metrics *testutil.SyncBuffer
	kr      *keyring.Keyring
}

// newEnv creates a secret whose AWSCURRENT holds keyV1, lets setup shape
// it, then starts a keyring with cfg (SecretID, clock, logger and metrics
// filled in) on it.
func newEnv(t *testing.T, setup func(s *emuSecret), cfg keyring.Config) *env {
	t.Helper()
	return newEnvWith(t, awsemu.Config{}, setup, cfg)
}

// newEnvWith is newEnv with an emulator configuration.
func newEnvWith(t *testing.T, emuCfg awsemu.Config, setup func(s *emuSecret), cfg keyring.Config) *env {
	t.Helper()
	e := &env{sm: startEmuSecretWith(t, emuCfg, keyV1), clock: newFakeTime(), logs: &testutil.SyncBuffer{}, metrics: &testutil.SyncBuffer{}}
	if setup != nil {
		setup(e.sm)
	}
	cfg.SecretID = e.sm.arn
	cfg.Now = e.clock.Now
	cfg.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Metrics = e.metrics
	kr, err := keyring.New(context.Background(), e.sm.api, keyring.WithTimer(cfg, e.clock.Timer))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.kr = kr
	t.Cleanup(func() {
		kr.Close()
		assertNoKeys(t, "log output", e.logs.String())
		assertNoKeys(t, "metrics output", e.metrics.String())
	})
	return e
}

// midRotation: v1 AWSPREVIOUS, v2 AWSCURRENT, v3 AWSPENDING.
func midRotation(s *emuSecret) {
	s.put(keyV2)
	s.put(keyV3, keyring.StagePending)
}

// rotated: v1 AWSPREVIOUS, v2 AWSCURRENT.
func rotated(s *emuSecret) { s.put(keyV2) }

// advanceOneCheck moves the clock by d and waits until the check loop has
// finished the check that this makes due.
func (e *env) advanceOneCheck(t *testing.T, d time.Duration) {
	t.Helper()
	before := e.kr.Stats().Checks
	e.clock.Advance(d)
	waitFor(t, "the check loop's next check", func() bool { return e.kr.Stats().Checks > before })
}

func (e *env) calls() (describe, get int) {
	return e.sm.proxy.Calls("DescribeSecret"), e.sm.proxy.Calls("GetSecretValue")
}

func (e *env) verify(t *testing.T, key string) (keyring.Match, bool) {
	t.Helper()
	return e.kr.Verify(context.Background(), key)
}

func TestVerifyStages(t *testing.T) {
	e := newEnv(t, midRotation, keyring.Config{})
	v1, v2, v3 := e.sm.versionOf(keyring.StagePrevious), e.sm.versionOf(keyring.StageCurrent), e.sm.versionOf(keyring.StagePending)
	tests := []struct {
		name      string
		key       string
		wantOK    bool
		wantStage string
		wantVID   string
	}{
		{"current", keyV2, true, keyring.StageCurrent, v2},
		{"pending", keyV3, true, keyring.StagePending, v3},
		{"previous", keyV1, true, keyring.StagePrevious, v1},
		{"unknown", keyXX, false, "", ""},
		{"empty", "", false, "", ""},
		{"prefix of a valid key", keyV2[:len(keyV2)-1], false, "", ""},
		{"valid key plus suffix", keyV2 + "x", false, "", ""},
		{"whole JSON secret string is not the key", secretJSON(keyV2), false, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := e.verify(t, tc.key)
			if ok != tc.wantOK || m.Stage != tc.wantStage || m.VersionID != tc.wantVID {
				t.Fatalf("Verify = (%+v, %v), want stage %q version %q ok %v", m, ok, tc.wantStage, tc.wantVID, tc.wantOK)
			}
			if ok && m.Fingerprint != keyring.Fingerprint(tc.key) {
				t.Fatalf("fingerprint = %q, want %q", m.Fingerprint, keyring.Fingerprint(tc.key))
			}
		})
	}
}

// TestSwitchedOffKeyRefusedWithinCheckInterval is the first
// complaint: a version whose label was removed stayed valid for the 5-minute
// TTL. Now it is accepted until the next check and refused from it on, and
// the next check is at most CheckInterval away.
func TestSwitchedOffKeyRefusedWithinCheckInterval(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(s *emuSecret)
		switchOff func(s *emuSecret)
		gone      string // key that must be refused after the check
		still     []string
	}{
		{
			name:      "retire removes AWSPREVIOUS",
			setup:     rotated,
			switchOff: func(s *emuSecret) { s.removeLabel(keyring.StagePrevious) },
			gone:      keyV1, still: []string{keyV2},
		},
		{
			name:  "emergency rotation: new AWSCURRENT, old key loses AWSPREVIOUS at once",
			setup: nil,
			switchOff: func(s *emuSecret) {
				s.put(keyV2)
				s.removeLabel(keyring.StagePrevious)
			},
			gone: keyV1, still: []string{keyV2},
		},
		{
			name:      "cancelled rotation removes AWSPENDING",
			setup:     midRotation,
			switchOff: func(s *emuSecret) { s.removeLabel(keyring.StagePending) },
			gone:      keyV3, still: []string{keyV1, keyV2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.setup, keyring.Config{})
			if _, ok := e.verify(t, tc.gone); !ok {
				t.Fatal("key refused before it was switched off")
			}
			tc.switchOff(e.sm)

			// Just before the check is due the old key still works: this is
			// the documented delay, not a bug.
			e.clock.Advance(keyring.DefaultCheckInterval - time.Nanosecond)
			if _, ok := e.verify(t, tc.gone); !ok {
				t.Fatal("switched-off key refused before the check ran: the test no longer measures the delay")
			}
			checks := e.kr.Stats().Checks
			e.advanceOneCheck(t, time.Nanosecond)
			if got := e.kr.Stats().Checks; got != checks+1 {
				t.Fatalf("%d checks ran, want exactly the one due at CheckInterval", got-checks)
			}
			if m, ok := e.verify(t, tc.gone); ok {
				t.Fatalf("switched-off key still accepted after CheckInterval: %+v", m)
			}
			for _, k := range tc.still {
				if _, ok := e.verify(t, k); !ok {
					t.Fatalf("key %s refused", keyring.Fingerprint(k))
				}
			}
			if u := usageOf(e.kr, keyring.Fingerprint(tc.gone)); u.Stage != "" || u.RetiredAt.IsZero() {
				t.Fatalf("usage of the switched-off version: %+v, want no stage and a retire time", u)
			}
		})
	}
}

func usageOf(kr *keyring.Keyring, fingerprint string) keyring.VersionUsage {
	for _, u := range kr.Usage() {
		if u.Fingerprint == fingerprint {
			return u
		}
	}
	return keyring.VersionUsage{}
}

// TestValuesReadOnlyWhenLabelsChange counts the calls that reach Secrets
// Manager: a check is one DescribeSecret; GetSecretValue is called only for
// a labelled version the keyring has not read yet.
func TestValuesReadOnlyWhenLabelsChange(t *testing.T) {
	e := newEnv(t, rotated, keyring.Config{})
	if d, g := e.calls(); d != 1 || g != 2 {
		t.Fatalf("New made %d DescribeSecret and %d GetSecretValue calls, want 1 and 2", d, g)
	}
	rollback := func(s *emuSecret) {
		// Move AWSCURRENT back to the version that held it before
		// (AWSPREVIOUS follows to the version it leaves).
		if _, err := s.admin.UpdateSecretVersionStage(context.Background(), &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(s.arn), VersionStage: aws.String(keyring.StageCurrent),
			MoveToVersionId: aws.String(s.versionOf(keyring.StagePrevious)), RemoveFromVersionId: aws.String(s.versionOf(keyring.StageCurrent)),
		}); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name     string
		change   func(s *emuSecret)
		wantGets int
		accepted map[string]string // key -> stage
		refused  []string
	}{
		{"nothing changed", nil, 0, map[string]string{keyV1: keyring.StagePrevious, keyV2: keyring.StageCurrent}, nil},
		{"nothing changed again", nil, 0, nil, nil},
		{"createSecret adds AWSPENDING", func(s *emuSecret) { s.put(keyV3, keyring.StagePending) }, 1,
			map[string]string{keyV3: keyring.StagePending}, nil},
		{"finishSecret moves labels between known versions", (*emuSecret).promotePending, 0,
			map[string]string{keyV3: keyring.StageCurrent, keyV2: keyring.StagePrevious}, []string{keyV1}},
		{"rollback to a known version", rollback, 0,
			map[string]string{keyV2: keyring.StageCurrent, keyV3: keyring.StagePrevious}, []string{keyV1}},
		{"retire removes AWSPREVIOUS", func(s *emuSecret) { s.removeLabel(keyring.StagePrevious) }, 0,
			map[string]string{keyV2: keyring.StageCurrent}, []string{keyV1, keyV3}},
		{"unusable AWSPENDING is read once", func(s *emuSecret) { s.putRaw(`{"other":"field"}`, keyring.StagePending) }, 1,
			map[string]string{keyV2: keyring.StageCurrent}, nil},
		{"and not read again", nil, 0, nil, nil},
	}
	for _, st := range steps {
		if st.change != nil {
			st.change(e.sm)
		}
		d0, g0 := e.calls()
		e.advanceOneCheck(t, keyring.DefaultCheckInterval)
		d1, g1 := e.calls()
		if d1-d0 != 1 || g1-g0 != st.wantGets {
			t.Fatalf("%s: %d DescribeSecret and %d GetSecretValue calls, want 1 and %d", st.name, d1-d0, g1-g0, st.wantGets)
		}
		for k, stage := range st.accepted {
			if m, ok := e.verify(t, k); !ok || m.Stage != stage {
				t.Fatalf("%s: key %s = (%+v, %v), want %s", st.name, keyring.Fingerprint(k), m, ok, stage)
			}
		}
		for _, k := range st.refused {
			if _, ok := e.verify(t, k); ok {
				t.Fatalf("%s: key %s accepted", st.name, keyring.Fingerprint(k))
			}
		}
	}
	if n := strings.Count(e.logs.String(), "ignoring unusable secret version"); n != 1 {
		t.Fatalf("unusable version logged %d times, want once", n)
	}
	if s := e.kr.Stats(); s.GetValueCalls != uint64(e.sm.proxy.Calls("GetSecretValue")) || s.DescribeCalls != uint64(e.sm.proxy.Calls("DescribeSecret")) {
		t.Fatalf("Stats counts %d/%d calls, the emulator saw %d/%d", s.DescribeCalls, s.GetValueCalls, e.sm.proxy.Calls("DescribeSecret"), e.sm.proxy.Calls("GetSecretValue"))
	}
}

// TestUnknownKeysShareOneCheckUnderSlowSecretsManager is the second
// complaint: 10 unknown keys under a slow Secrets Manager queued 10
// refreshes and each request waited for them. Now they share one check and
// none waits longer than UnknownKeyWait: all ten return while the check's
// DescribeSecret is still held at the server.
func TestUnknownKeysShareOneCheckUnderSlowSecretsManager(t *testing.T) {
	e := newEnv(t, nil, keyring.Config{})
	e.clock.Advance(keyring.DefaultMinRefreshInterval)
	release := e.sm.proxy.Hold()
	defer release()
	d0, g0 := e.calls()
	for len(e.sm.proxy.arrived) > 0 {
		<-e.sm.proxy.arrived
	}

	const n = 10
	results := make(chan bool, n)
	for i := range n {
		go func() {
			_, ok := e.kr.Verify(context.Background(), fmt.Sprintf("%s-%02d", keyXX, i))
			results <- ok
		}()
	}
	if op := <-e.sm.proxy.arrived; op != "DescribeSecret" {
		t.Fatalf("first call %s, want DescribeSecret", op)
	}
	waitUntil := e.clock.Now().Add(keyring.DefaultUnknownKeyWait)
	waitFor(t, "all requests to wait for the shared check", func() bool { return e.clock.waitingFor(waitUntil) == n })

	e.clock.Advance(keyring.DefaultUnknownKeyWait)
	for range n {
		select {
		case ok := <-results:
			if ok {
				t.Fatal("unknown key accepted")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a request waited for Secrets Manager longer than UnknownKeyWait")
		}
	}
	if d, g := e.calls(); d-d0 != 1 || g-g0 != 0 {
		t.Fatalf("10 unknown keys made %d DescribeSecret and %d GetSecretValue calls, want 1 and 0", d-d0, g-g0)
	}
	st := e.kr.Stats()
	if st.UnknownKeyChecks != 1 || st.UnknownKeyJoins != n-1 {
		t.Fatalf("stats %+v: want 1 check started by an unknown key and %d joins", st, n-1)
	}

	checks := st.Checks
	release()
	waitFor(t, "the shared check to finish", func() bool { return e.kr.Stats().Checks > checks })
	if d, _ := e.calls(); d-d0 != 1 {
		t.Fatalf("%d DescribeSecret calls after release, want still 1", d-d0)
	}
}

// TestNewKeyAcceptedOnFirstUse: testSecret presents the new AWSPENDING key
// before the keyring has seen it; the request waits for the check it
// triggers and is accepted, even while Secrets Manager is slow (the wait
// ends when the check does, not at UnknownKeyWait).
func TestNewKeyAcceptedOnFirstUse(t *testing.T) {
	e := newEnv(t, nil, keyring.Config{})
	pending := e.sm.put(keyV2, keyring.StagePending)
	e.clock.Advance(keyring.DefaultMinRefreshInterval)
	release := e.sm.proxy.Hold()
	defer release()
	d0, g0 := e.calls()

	type result struct {
		m  keyring.Match
		ok bool
	}
	done := make(chan result, 1)
	go func() {
		m, ok := e.kr.Verify(context.Background(), keyV2)
		done <- result{m, ok}
	}()
	<-e.sm.proxy.arrived
	release()
	r := <-done
	if !r.ok || r.m.Stage != keyring.StagePending || r.m.VersionID != pending {
		t.Fatalf("new key on first use: (%+v, %v), want AWSPENDING %s", r.m, r.ok, pending)
	}
	if d, g := e.calls(); d-d0 != 1 || g-g0 != 1 {
		t.Fatalf("first use made %d DescribeSecret and %d GetSecretValue calls, want 1 and 1", d-d0, g-g0)
	}
	// Known keys never reach Secrets Manager.
	for range 10 {
		if _, ok := e.verify(t, keyV2); !ok {
			t.Fatal("new key refused the second time")
		}
	}
	if d, g := e.calls(); d-d0 != 1 || g-g0 != 1 {
		t.Fatalf("known keys caused calls: %d DescribeSecret, %d GetSecretValue", d-d0-1, g-g0-1)
	}
}

func TestNoWaitStillTriggersCheck(t *testing.T) {
	e := newEnv(t, nil, keyring.Config{UnknownKeyWait: keyring.NoWait})
	e.sm.put(keyV2, keyring.StagePending)
	e.clock.Advance(keyring.DefaultMinRefreshInterval)
	checks := e.kr.Stats().Checks
	if _, ok := e.verify(t, keyV2); ok {
		t.Fatal("NoWait: the first request with an unseen key was accepted, so it waited")
	}
	waitFor(t, "the triggered check", func() bool { return e.kr.Stats().Checks > checks })
	if m, ok := e.verify(t, keyV2); !ok || m.Stage != keyring.StagePending {
		t.Fatalf("after the triggered check: (%+v, %v)", m, ok)
	}
}

func TestUnknownKeyChecksAreRateLimited(t *testing.T) {
	tests := []struct {
		name       string
		advance    time.Duration // clock advance before the burst
		wantChecks int
	}{
		{"right after load", 0, 0},
		{"just under interval", keyring.DefaultMinRefreshInterval - time.Nanosecond, 0},
		{"at interval", keyring.DefaultMinRefreshInterval, 1},
		{"long after", 20 * time.Second, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, keyring.Config{})
			e.clock.Advance(tc.advance)
			d0, g0 := e.calls()
			var wg sync.WaitGroup
			for range 200 {
				wg.Go(func() {
					if _, ok := e.kr.Verify(context.Background(), keyXX); ok {
						t.Error("unknown key accepted")
					}
				})
			}
			wg.Wait()
			waitFor(t, "no check running", func() bool { return e.kr.Stats().Checks == uint64(1+tc.wantChecks) })
			if d, g := e.calls(); d-d0 != tc.wantChecks || g-g0 != 0 {
				t.Fatalf("200 unknown keys caused %d DescribeSecret and %d GetSecretValue calls, want %d and 0", d-d0, g-g0, tc.wantChecks)
			}
			// Still limited until the interval passes again.
			e.clock.Advance(keyring.DefaultMinRefreshInterval / 2)
			d0, _ = e.calls()
			e.verify(t, keyXX)
			if tc.wantChecks > 0 {
				if d, _ := e.calls(); d != d0 {
					t.Fatal("second check within MinRefreshInterval")
				}
			}
		})
	}
}

// TestStaleCutOff is the third point: while Secrets Manager is
// unreachable the last AWSCURRENT stays valid, AWSPENDING and AWSPREVIOUS
// stop being accepted after MaxStaleness, with a log line and a metric, and
// everything comes back with the first successful check.
func TestStaleCutOff(t *testing.T) {
	e := newEnv(t, midRotation, keyring.Config{})
	nonCurrent := []string{keyV1, keyV3}
	e.sm.proxy.SetDown(true)

	for elapsed := time.Duration(0); elapsed < keyring.DefaultMaxStaleness; {
		e.advanceOneCheck(t, keyring.DefaultCheckInterval)
		elapsed += keyring.DefaultCheckInterval
		for _, k := range append(nonCurrent, keyV2) {
			if _, ok := e.verify(t, k); !ok {
				t.Fatalf("%v without Secrets Manager: key %s refused before MaxStaleness", elapsed, keyring.Fingerprint(k))
			}
		}
	}
	if st := e.kr.Stats(); st.Stale || st.CheckFailures != 10 || st.LastError == "" {
		t.Fatalf("at MaxStaleness: stats %+v, want not stale, 10 failed checks and the last error", st)
	}
	if strings.Contains(e.logs.String(), "keyring stale") || strings.Contains(e.metrics.String(), "KeyringStale") {
		t.Fatal("stale announced before MaxStaleness")
	}
	if !strings.Contains(e.logs.String(), "keyring check failed; keeping the last key set") {
		t.Fatalf("failed checks not logged:\n%s", e.logs.String())
	}

	// One nanosecond later the loop wakes by itself and announces it.
	e.clock.Advance(time.Nanosecond)
	waitFor(t, "the stale log line", func() bool { return strings.Contains(e.logs.String(), "keyring stale") })
	waitFor(t, "the stale metric", func() bool { return len(staleMetrics(t, e.metrics.String())) == 1 })
	if m := staleMetrics(t, e.metrics.String())[0]; m.value != 1 || m.secretName != "svc/api-key" {
		t.Fatalf("stale metric %+v, want KeyringStale=1 for svc/api-key", m)
	}
	if !e.kr.Stats().Stale {
		t.Fatal("Stats().Stale = false")
	}
	if m, ok := e.verify(t, keyV2); !ok || m.Stage != keyring.StageCurrent {
		t.Fatalf("stale: AWSCURRENT key = (%+v, %v), want accepted", m, ok)
	}
	for _, k := range nonCurrent {
		if m, ok := e.verify(t, k); ok {
			t.Fatalf("stale: key %s accepted as %s", keyring.Fingerprint(k), m.Stage)
		}
	}
	// Failed checks while stale keep the metric up (for an alarm).
	e.advanceOneCheck(t, keyring.DefaultCheckInterval)
	if ms := staleMetrics(t, e.metrics.String()); len(ms) < 2 || ms[len(ms)-1].value != 1 {
		t.Fatalf("metrics while stale: %+v", ms)
	}

	// Secrets Manager is back: the next check ends the stale state.
	e.sm.proxy.SetDown(false)
	e.advanceOneCheck(t, keyring.DefaultCheckInterval)
	for _, k := range append(nonCurrent, keyV2) {
		if _, ok := e.verify(t, k); !ok {
			t.Fatalf("after recovery: key %s refused", keyring.Fingerprint(k))
		}
	}
	if !strings.Contains(e.logs.String(), "keyring fresh again") {
		t.Fatalf("recovery not logged:\n%s", e.logs.String())
	}
	if ms := staleMetrics(t, e.metrics.String()); ms[len(ms)-1].value != 0 {
		t.Fatalf("last metric %+v, want KeyringStale=0 after recovery", ms[len(ms)-1])
	}
	if st := e.kr.Stats(); st.Stale || st.LastError != "" {
		t.Fatalf("after recovery: %+v", st)
	}
}

type staleMetric struct {
	value      float64
	secretName string
}

// staleMetrics parses the EMF lines and returns the KeyringStale values.
func staleMetrics(t *testing.T, out string) []staleMetric {
	t.Helper()
	var ms []staleMetric
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var v struct {
			KeyringStale *float64
			SecretName   string
			Service      string
			AWS          struct {
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name, Unit string }
				}
			} `json:"_aws"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("metrics line is not JSON: %v", err)
		}
		if v.KeyringStale == nil {
			continue
		}
		cw := v.AWS.CloudWatchMetrics
		if len(cw) != 1 || cw[0].Namespace != "dualkey" || v.Service != "dualkey" || cw[0].Metrics[0].Name != "KeyringStale" {
			t.Fatalf("EMF line is not a dualkey KeyringStale metric: %s", line)
		}
		hasSecret := false
		for _, d := range cw[0].Dimensions {
			if len(d) == 1 && d[0] == "SecretName" {
				hasSecret = true
			}
		}
		if !hasSecret {
			t.Fatalf("EMF line lacks the SecretName dimension: %s", line)
		}
		ms = append(ms, staleMetric{*v.KeyringStale, v.SecretName})
	}
	return ms
}

func TestFailedCheckKeepsLastKeySet(t *testing.T) {
	e := newEnv(t, midRotation, keyring.Config{})
	ctx := context.Background()

	// Describe works, but reading the new version fails: the labels moved
	// (v1 would be retired) but the whole check fails and nothing changes.
	e.sm.promotePending()
	e.sm.put(keyV4, keyring.StagePending)
	e.sm.proxy.SetDown(true, "GetSecretValue")
	err := e.kr.Refresh(ctx)
	if err == nil || !strings.Contains(err.Error(), "get version") {
		t.Fatalf("Refresh with failing GetSecretValue = %v, want an error naming the read", err)
	}
	assertNoKeys(t, "refresh error", err.Error())
	if m, ok := e.verify(t, keyV1); !ok || m.Stage != keyring.StagePrevious {
		t.Fatalf("previous key after a failed check: (%+v, %v)", m, ok)
	}

	// Describe fails too.
	e.sm.proxy.SetDown(true)
	if err := e.kr.Refresh(ctx); err == nil || !strings.Contains(err.Error(), "describe secret") {
		t.Fatalf("Refresh against an unreachable Secrets Manager = %v", err)
	}
	if _, ok := e.verify(t, keyXX); ok {
		t.Fatal("unknown key accepted")
	}

	// Recovery installs the new set.
	e.sm.proxy.SetDown(false)
	e.sm.proxy.SetDown(false, "GetSecretValue")
	if err := e.kr.Refresh(ctx); err != nil {
		t.Fatalf("Refresh after recovery: %v", err)
	}
	if m, ok := e.verify(t, keyV3); !ok || m.Stage != keyring.StageCurrent {
		t.Fatalf("new current after recovery: (%+v, %v)", m, ok)
	}
	if m, ok := e.verify(t, keyV4); !ok || m.Stage != keyring.StagePending {
		t.Fatalf("new pending after recovery: (%+v, %v)", m, ok)
	}
	if _, ok := e.verify(t, keyV1); ok {
		t.Fatal("retired key still accepted after recovery")
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, s *emuSecret) // shapes the secret (AWSCURRENT holds keyV1 at first)
		field   string
		down    bool
		wantErr []string // substrings the error must contain ("ARN" is replaced by the secret's ARN)
		verify  string   // key that must verify if New succeeds
	}{
		{name: "only current is fine", verify: keyV1},
		{name: "json field missing", field: "token", wantErr: []string{"ARN", `"token"`, "AWSCURRENT"}},
		{name: "custom field", field: "token", setup: func(t *testing.T, s *emuSecret) { s.putRaw(`{"token":"` + keyV4 + `"}`) }, verify: keyV4},
		{name: "non-JSON secret used whole", setup: func(t *testing.T, s *emuSecret) { s.putRaw(keyV4) }, verify: keyV4},
		{name: "field not a string", setup: func(t *testing.T, s *emuSecret) { s.putRaw(`{"api_key":42}`) }, wantErr: []string{"not a string"}},
		{name: "malformed json-ish value used whole", setup: func(t *testing.T, s *emuSecret) { s.putRaw(`{"api_key":"` + keyV4) }, verify: `{"api_key":"` + keyV4},
		{name: "unusable pending is skipped", setup: func(t *testing.T, s *emuSecret) { s.putRaw(`{"api_key":""}`, keyring.StagePending) }, verify: keyV1},
		{name: "binary current", setup: func(t *testing.T, s *emuSecret) {
			if _, err := s.admin.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(s.arn), SecretBinary: []byte(keyV4)}); err != nil {
				t.Fatal(err)
			}
		}, wantErr: []string{"ARN", "binary"}},
		{name: "unreachable", down: true, wantErr: []string{"ARN", "describe secret"}},
		{name: "scheduled for deletion", setup: func(t *testing.T, s *emuSecret) {
			if _, err := s.admin.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(s.arn), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
				t.Fatal(err)
			}
		}, wantErr: []string{"ARN", "scheduled for deletion", "RestoreSecret"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startEmuSecret(t, keyV1)
			if tc.setup != nil {
				tc.setup(t, s)
			}
			s.proxy.SetDown(tc.down)
			logs := &testutil.SyncBuffer{}
			kr, err := keyring.New(context.Background(), s.api, keyring.Config{SecretID: s.arn, Field: tc.field, Logger: slog.New(slog.NewTextHandler(logs, nil))})
			assertNoKeys(t, "logs", logs.String())
			if len(tc.wantErr) > 0 {
				if err == nil {
					kr.Close()
					t.Fatal("New succeeded, want error")
				}
				assertNoKeys(t, "error", err.Error())
				for _, w := range tc.wantErr {
					if w == "ARN" {
						w = s.arn
					}
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer kr.Close()
			if _, ok := kr.Verify(context.Background(), tc.verify); !ok {
				t.Fatal("expected key rejected")
			}
		})
	}
}

func TestNewSecretWithoutCurrent(t *testing.T) {
	s := startEmuSecret(t, keyV1)
	out, err := s.admin.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String("svc/empty")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = keyring.New(context.Background(), s.api, keyring.Config{SecretID: aws.ToString(out.ARN), Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "no AWSCURRENT version") || !strings.Contains(err.Error(), "svc/empty") {
		t.Fatalf("New on a secret without a value = %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	s := startEmuSecret(t, keyV1)
	tests := []struct {
		name    string
		api     keyring.SecretsAPI
		cfg     keyring.Config
		wantErr string // "" = valid
	}{
		{"defaults", s.api, keyring.Config{SecretID: s.arn}, ""},
		{"nil api", nil, keyring.Config{SecretID: s.arn}, "nil SecretsAPI"},
		{"empty secret id", s.api, keyring.Config{}, "Config.SecretID"},
		{"negative check interval", s.api, keyring.Config{SecretID: s.arn, CheckInterval: -time.Second}, "negative Config.CheckInterval"},
		{"negative max staleness", s.api, keyring.Config{SecretID: s.arn, MaxStaleness: -time.Second}, "negative Config.MaxStaleness"},
		{"negative min refresh interval", s.api, keyring.Config{SecretID: s.arn, MinRefreshInterval: -time.Second}, "negative Config.MinRefreshInterval"},
		{"max staleness too short", s.api, keyring.Config{SecretID: s.arn, MaxStaleness: 40 * time.Second}, "MaxStaleness (40s) must be longer than CheckInterval + CheckTimeout (40s)"},
		{"long check interval raises the default staleness", s.api, keyring.Config{SecretID: s.arn, CheckInterval: 10 * time.Minute}, ""},
		{"NoWait", s.api, keyring.Config{SecretID: s.arn, UnknownKeyWait: keyring.NoWait}, ""},
		{"deprecated TTL is accepted", s.api, keyring.Config{SecretID: s.arn, TTL: time.Hour}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Logger = slog.New(slog.DiscardHandler)
			kr, err := keyring.New(context.Background(), tc.api, tc.cfg)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				kr.Close()
				return
			}
			if err == nil {
				kr.Close()
				t.Fatalf("New succeeded, want error %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestCloseStopsChecks(t *testing.T) {
	e := newEnv(t, rotated, keyring.Config{})
	done := keyring.LoopDone(e.kr)
	e.kr.Close()
	select {
	case <-done:
	default:
		t.Fatal("Close returned before the check loop ended")
	}
	e.kr.Close() // idempotent
	d0, _ := e.calls()
	e.clock.Advance(keyring.DefaultMaxStaleness + time.Second)
	if _, ok := e.verify(t, keyXX); ok {
		t.Fatal("unknown key accepted after Close")
	}
	if m, ok := e.verify(t, keyV2); !ok || m.Stage != keyring.StageCurrent {
		t.Fatalf("current key after Close: (%+v, %v)", m, ok)
	}
	if _, ok := e.verify(t, keyV1); ok {
		t.Fatal("previous key accepted long after Close: a closed keyring must go stale like one that cannot reach Secrets Manager")
	}
	if d, _ := e.calls(); d != d0 {
		t.Fatalf("%d calls after Close", d-d0)
	}
	if err := e.kr.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh after Close succeeded")
	}
}

// TestAbandonedKeyringStopsItsLoop: a Keyring nobody closes stops its loop
// once it is garbage-collected (tests and handlers that build one per call
// would otherwise leak a goroutine that polls Secrets Manager forever).
func TestAbandonedKeyringStopsItsLoop(t *testing.T) {
	s := startEmuSecret(t, keyV1)
	done := func() <-chan struct{} {
		kr, err := keyring.New(context.Background(), s.api, keyring.Config{SecretID: s.arn, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return keyring.LoopDone(kr)
	}()
	waitFor(t, "the abandoned keyring's loop to stop", func() bool {
		runtime.GC()
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
}

func TestRefreshSeesChangesMadeBeforeTheCall(t *testing.T) {
	e := newEnv(t, rotated, keyring.Config{})
	e.clock.Advance(keyring.DefaultMinRefreshInterval)
	// A check is running (held at the server) when the label is removed.
	release := e.sm.proxy.Hold()
	go e.kr.Verify(context.Background(), keyXX)
	<-e.sm.proxy.arrived
	e.sm.removeLabel(keyring.StagePrevious) // after the running check's Describe arrived
	errc := make(chan error, 1)
	go func() { errc <- e.kr.Refresh(context.Background()) }()
	release()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if _, ok := e.verify(t, keyV1); ok {
		t.Fatal("Refresh returned the result of a check that started before the change")
	}
}

func TestUsage(t *testing.T) {
	e := newEnv(t, midRotation, keyring.Config{})
	v1, v2, v3 := e.sm.versionOf(keyring.StagePrevious), e.sm.versionOf(keyring.StageCurrent), e.sm.versionOf(keyring.StagePending)
	for range 3 {
		e.verify(t, keyV2)
	}
	e.clock.Advance(time.Second)
	e.verify(t, keyV1)
	t1 := e.clock.Now()

	type want struct {
		stage    string
		accepted uint64
		lastUsed time.Time
	}
	wants := map[string]want{
		v2: {keyring.StageCurrent, 3, t1.Add(-time.Second)},
		v3: {keyring.StagePending, 0, time.Time{}},
		v1: {keyring.StagePrevious, 1, t1},
	}
	check := func(t *testing.T) {
		t.Helper()
		us := e.kr.Usage()
		if len(us) != len(wants) {
			t.Fatalf("Usage has %d records, want %d", len(us), len(wants))
		}
		for _, u := range us {
			w, ok := wants[u.VersionID]
			if !ok {
				t.Fatalf("unexpected version %q", u.VersionID)
			}
			if u.Stage != w.stage || u.Accepted != w.accepted || !u.LastUsed.Equal(w.lastUsed) {
				t.Errorf("%s: got stage %q accepted %d last %v, want %q %d %v", u.VersionID, u.Stage, u.Accepted, u.LastUsed, w.stage, w.accepted, w.lastUsed)
			}
			if strings.Contains(u.Fingerprint, "sk-") || len([]rune(u.Fingerprint)) != 5 {
				t.Errorf("fingerprint %q is not …+4 chars", u.Fingerprint)
			}
		}
	}
	check(t)
	if got := e.kr.Usage()[0].Stage; got != keyring.StageCurrent {
		t.Fatalf("Usage not ordered: first stage %q", got)
	}

	// Rotation finishes: v1 loses its label but its history is kept.
	e.sm.promotePending()
	e.advanceOneCheck(t, keyring.DefaultCheckInterval)
	wants[v1] = want{"", 1, t1}
	wants[v3] = want{keyring.StageCurrent, 0, time.Time{}}
	wants[v2] = want{keyring.StagePrevious, 3, t1.Add(-time.Second)}
	check(t)
	if u := e.kr.Usage()[2]; u.VersionID != v1 || !u.RetiredAt.Equal(e.clock.Now()) {
		t.Fatalf("retired record %+v, want v1 retired at the check", u)
	}
	if _, ok := e.verify(t, keyV1); ok {
		t.Fatal("key of a retired version still accepted")
	}
}

func TestMiddleware(t *testing.T) {
	e := newEnv(t, midRotation, keyring.Config{})
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, ok := keyring.MatchFromContext(r.Context())
		if !ok {
			t.Error("no Match in context")
		}
		fmt.Fprint(w, m.Stage)
	})
	h := e.kr.Middleware(next)
	tests := []struct {
		name     string
		header   map[string]string
		wantCode int
		wantBody string
	}{
		{"bearer current", map[string]string{"Authorization": "Bearer " + keyV2}, 200, keyring.StageCurrent},
		{"bearer lower-case scheme", map[string]string{"Authorization": "bearer " + keyV3}, 200, keyring.StagePending},
		{"x-api-key previous", map[string]string{"X-Api-Key": keyV1}, 200, keyring.StagePrevious},
		{"basic auth falls back to x-api-key", map[string]string{"Authorization": "Basic Zm9vOmJhcg==", "X-Api-Key": keyV2}, 200, keyring.StageCurrent},
		{"missing", nil, 401, `"missing API key"`},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}, 401, `"missing API key"`},
		{"bad bearer", map[string]string{"Authorization": "Bearer " + keyXX}, 401, `"invalid API key"`},
		{"bad x-api-key", map[string]string{"X-Api-Key": keyXX}, 401, `"invalid API key"`},
		{"basic only", map[string]string{"Authorization": "Basic " + keyV2}, 401, `"missing API key"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/hello", nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tc.wantCode || !strings.Contains(string(body), tc.wantBody) {
				t.Fatalf("got %d %s, want %d containing %s", rec.Code, body, tc.wantCode, tc.wantBody)
			}
			assertNoKeys(t, "response body", string(body))
			if rec.Code == 401 {
				if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
				var v map[string]string
				if err := json.Unmarshal(body, &v); err != nil || v["error"] != "unauthorized" {
					t.Errorf("401 body is not the JSON error: %s", body)
				}
			}
		})
	}
}

func TestConcurrentVerifyDuringRotation(t *testing.T) {
	e := newEnv(t, func(s *emuSecret) { s.put(keyV2, keyring.StagePending) }, keyring.Config{})
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 200 {
				// Both keys stay valid throughout: v1 current->previous, v2 pending->current.
				if _, ok := e.kr.Verify(ctx, keyV1); !ok {
					t.Error("old key rejected during rotation")
					return
				}
				if _, ok := e.kr.Verify(ctx, keyV2); !ok {
					t.Error("new key rejected during rotation")
					return
				}
				e.kr.Verify(ctx, keyXX)
			}
		})
	}
	wg.Go(func() {
		e.sm.promotePending()
		for range 10 {
			e.clock.Advance(keyring.DefaultMinRefreshInterval)
			if err := e.kr.Refresh(ctx); err != nil {
				t.Error(err)
			}
			_ = e.kr.Usage()
			_ = e.kr.Stats()
		}
	})
	wg.Wait()
	var total uint64
	for _, u := range e.kr.Usage() {
		total += u.Accepted
	}
	if total != 16*200*2 {
		t.Fatalf("accepted total %d, want %d", total, 16*200*2)
	}
}

func TestFingerprint(t *testing.T) {
	tests := []struct{ key, want string }{
		{"sk-abcdefghij-WXYZ", "…WXYZ"},
		{"short", "…"},
		{"elevenchars", "…"},
		{"twelve-chars", "…hars"},
		{"ключ-юникод-ключ", "…ключ"},
	}
	for _, tc := range tests {
		if got := keyring.Fingerprint(tc.key); got != tc.want {
			t.Errorf("Fingerprint(len %d) = %q, want %q", len(tc.key), got, tc.want)
		}
	}
}

// TestCompareIsConstantTimeByStructure cannot measure timing; it checks the
// structure of the comparison instead: the digest loop uses
// subtle.ConstantTimeCompare, selects the match with
// subtle.ConstantTimeSelect, and has no early exit (break/return/goto) or
// branch inside the loop, so every version is always compared.
func TestCompareIsConstantTimeByStructure(t *testing.T) {
	fset := token.NewFileSet()
	var loops int
	for _, file := range []string{"keyring.go", "check.go", "middleware.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if imp.Path.Value == `"bytes"` {
				t.Errorf("%s imports bytes: keys must not be compared with bytes.Equal", file)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			loop, ok := n.(*ast.RangeStmt)
			if !ok || !callsSel(loop.Body, "subtle", "ConstantTimeCompare") {
				return true
			}
			loops++
			if !callsSel(loop.Body, "subtle", "ConstantTimeSelect") {
				t.Errorf("%v: compare loop does not select with subtle.ConstantTimeSelect", fset.Position(loop.Pos()))
			}
			ast.Inspect(loop.Body, func(n ast.Node) bool {
				switch s := n.(type) {
				case *ast.BranchStmt:
					t.Errorf("%v: %s inside the compare loop", fset.Position(s.Pos()), s.Tok)
				case *ast.ReturnStmt:
					t.Errorf("%v: return inside the compare loop", fset.Position(s.Pos()))
				case *ast.IfStmt, *ast.SwitchStmt, *ast.SelectStmt:
					t.Errorf("%v: branch inside the compare loop", fset.Position(s.Pos()))
				}
				return true
			})
			return true
		})
	}
	if loops != 1 {
		t.Fatalf("found %d loops calling subtle.ConstantTimeCompare, want 1", loops)
	}
}

func callsSel(n ast.Node, pkg, name string) bool {
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == name {
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == pkg {
				found = true
			}
		}
		return !found
	})
	return found
}

// TestSameKeyInTwoVersionsCountsForCurrent: PutSecretValue with an unchanged
// value creates a new version, so AWSCURRENT and AWSPREVIOUS can hold the
// same key. The match (and the usage evidence retire relies on) must go to
// AWSCURRENT, not to the old version. Found by FuzzVerify.
func TestSameKeyInTwoVersionsCountsForCurrent(t *testing.T) {
	e := newEnv(t, func(s *emuSecret) { s.put(keyV1) }, keyring.Config{})
	cur := e.sm.versionOf(keyring.StageCurrent)
	m, ok := e.verify(t, keyV1)
	if !ok || m.Stage != keyring.StageCurrent || m.VersionID != cur {
		t.Fatalf("Verify = (%+v, %v), want AWSCURRENT %s", m, ok, cur)
	}
	for _, u := range e.kr.Usage() {
		if want := map[bool]uint64{true: 1, false: 0}[u.VersionID == cur]; u.Accepted != want {
			t.Fatalf("version %s (%s) accepted %d, want %d", u.VersionID, u.Stage, u.Accepted, want)
		}
	}
}

// TestRotationPlaceholderIsNotAFailure: RotateSecret first labels an empty
// placeholder version AWSPENDING and only then runs createSecret. A check
// that meets the placeholder (a rotation in progress, or one whose
// createSecret failed and left it behind) must succeed without it: failing
// would make the keyring go stale and refuse AWSPREVIOUS keys.
func TestRotationPlaceholderIsNotAFailure(t *testing.T) {
	failCreate := awsemu.InvokerFunc(func(context.Context, string, []byte) error {
		return errors.New("rotation Lambda crashed in createSecret")
	})
	e := newEnvWith(t, awsemu.Config{Invoker: failCreate}, rotated, keyring.Config{})
	if _, err := e.sm.admin.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(e.sm.arn),
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:" + awsemu.DefaultAccountID + ":function:rotate"),
	}); err != nil {
		t.Fatal(err)
	}
	if e.sm.versionOf(keyring.StagePending) == "" {
		t.Fatal("no AWSPENDING placeholder after the failed rotation")
	}
	for range 12 { // past MaxStaleness
		e.advanceOneCheck(t, keyring.DefaultCheckInterval)
		if st := e.kr.Stats(); st.LastError != "" || st.Stale {
			t.Fatalf("check with a placeholder AWSPENDING: %+v", st)
		}
	}
	for _, k := range []string{keyV1, keyV2} {
		if _, ok := e.verify(t, k); !ok {
			t.Fatalf("key %s refused while a placeholder AWSPENDING exists", keyring.Fingerprint(k))
		}
	}

	// createSecret retried and succeeded: the value is there now.
	pending := e.sm.versionOf(keyring.StagePending)
	if _, err := e.sm.admin.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(e.sm.arn), ClientRequestToken: aws.String(pending),
		SecretString: aws.String(secretJSON(keyV3)), VersionStages: []string{keyring.StagePending},
	}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(keyring.DefaultMinRefreshInterval)
	if m, ok := e.verify(t, keyV3); !ok || m.Stage != keyring.StagePending || m.VersionID != pending {
		t.Fatalf("pending key once the placeholder has its value: (%+v, %v)", m, ok)
	}
}
