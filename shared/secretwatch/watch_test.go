package secretwatch_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/secretwatch"
)

// Every value the tests store starts with valuePrefix; no log line may
// contain one.
const valuePrefix = "secret-value-"

// api is the emulator's SDK client with switches a test flips: a
// DescribeSecret whose answer is held back (a slow Secrets Manager),
// and GetSecretValue failing for chosen versions (an unreadable one). Every
// answer is the real emulator's.
type api struct {
	secretwatch.SecretsAPI

	mu      sync.Mutex
	hold    chan struct{}   // non-nil: DescribeSecret answers once it is closed
	failGet map[string]bool // version id -> GetSecretValue fails
	arrived chan struct{}   // a DescribeSecret was answered by the emulator (buffered)
}

func (a *api) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, o ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	out, err := a.SecretsAPI.DescribeSecret(ctx, in, o...)
	a.mu.Lock()
	hold := a.hold
	a.mu.Unlock()
	select {
	case a.arrived <- struct{}{}:
	default:
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return out, err
}

func (a *api) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, o ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	a.mu.Lock()
	fail := a.failGet[aws.ToString(in.VersionId)]
	a.mu.Unlock()
	if fail {
		return nil, errors.New("connection reset by peer")
	}
	return a.SecretsAPI.GetSecretValue(ctx, in, o...)
}

// Hold holds DescribeSecret's answers back until release is called.
func (a *api) Hold() (release func()) {
	ch := make(chan struct{})
	a.mu.Lock()
	a.hold = ch
	a.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			a.hold = nil
			a.mu.Unlock()
			close(ch)
		})
	}
}

func (a *api) FailGet(versionID string, fail bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failGet[versionID] = fail
}

// bed is a secret in the emulator, an admin client that shapes it, and the
// switchable client a Watcher reads it with.
type bed struct {
	t     *testing.T
	admin *secretsmanager.Client
	api   *api
	arn   string
	clock *testutil.FakeClock
	logs  *testutil.SyncBuffer
	// decoded counts Decode calls.
	decoded atomic.Int64
}

// newBed creates a secret whose AWSCURRENT holds value "1" (stored as
// valuePrefix+"1").
func newBed(t *testing.T) *bed {
	t.Helper()
	emu, err := awsemu.New(awsemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	sm := secretsmanager.NewFromConfig(awsemu.ClientConfig(url))
	b := &bed{t: t, admin: sm, api: &api{SecretsAPI: sm, failGet: map[string]bool{}, arrived: make(chan struct{}, 64)},
		clock: testutil.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), logs: &testutil.SyncBuffer{}}
	out, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String("svc/watched"), SecretString: aws.String(valuePrefix + "1")})
	if err != nil {
		t.Fatal(err)
	}
	b.arn = aws.ToString(out.ARN)
	t.Cleanup(func() {
		if strings.Contains(b.logs.String(), valuePrefix) {
			t.Errorf("a value reached the log:\n%s", b.logs.String())
		}
	})
	return b
}

// config is a Watcher configuration over the bed: Decode keeps the value
// without its prefix ("bad" values are refused), Describe names it.
func (b *bed) config() secretwatch.Config[string] {
	return secretwatch.Config[string]{
		SecretID:  b.arn,
		Component: "test",
		Stages:    []string{secretwatch.StageCurrent, secretwatch.StagePending, secretwatch.StagePrevious},
		Decode: func(s string) (string, error) {
			b.decoded.Add(1)
			v, ok := strings.CutPrefix(s, valuePrefix)
			if !ok || strings.HasPrefix(v, "bad") {
				return "", errors.New("not a test value")
			}
			return v, nil
		},
		Describe:           func(v string) string { return "fp-" + v },
		CheckInterval:      time.Minute,
		MinRefreshInterval: time.Second,
		Now:                b.clock.Now,
		Logger:             slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Messages:           secretwatch.Messages{Updated: "updated", Unchanged: "unchanged", Unusable: "unusable", Failed: "failed"},
	}
}

func (b *bed) watch(cfg secretwatch.Config[string]) *secretwatch.Watcher[string] {
	b.t.Helper()
	w, err := secretwatch.New(context.Background(), b.api, cfg)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(w.Close)
	return w
}

// put stores valuePrefix+value as a new version with stages (none:
// AWSCURRENT, AWSPREVIOUS following) and returns its id.
func (b *bed) put(value string, stages ...string) string {
	b.t.Helper()
	out, err := b.admin.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(b.arn), SecretString: aws.String(valuePrefix + value), VersionStages: stages})
	if err != nil {
		b.t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

// label moves stage to version to ("" removes it) from whichever version
// holds it.
func (b *bed) label(stage, to string) {
	b.t.Helper()
	in := &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(b.arn), VersionStage: aws.String(stage)}
	if from := b.holder(stage); from != "" {
		in.RemoveFromVersionId = aws.String(from)
	}
	if to != "" {
		in.MoveToVersionId = aws.String(to)
	}
	if _, err := b.admin.UpdateSecretVersionStage(context.Background(), in); err != nil {
		b.t.Fatal(err)
	}
}

func (b *bed) holder(stage string) string {
	b.t.Helper()
	out, err := b.admin.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(b.arn)})
	if err != nil {
		b.t.Fatal(err)
	}
	for id, stages := range out.VersionIdsToStages {
		for _, s := range stages {
			if s == stage {
				return id
			}
		}
	}
	return ""
}

// usable renders w.Usable() as "stage=value ...".
func usable(w *secretwatch.Watcher[string]) string {
	var parts []string
	for _, e := range w.Usable() {
		parts = append(parts, e.Stage+"="+e.Value)
	}
	return strings.Join(parts, " ")
}

func calls(w *secretwatch.Watcher[string]) (describe, get uint64) {
	s := w.Stats()
	return s.DescribeCalls, s.GetValueCalls
}

// TestUnknownPolicies: right after a periodic check, an unknown credential
// gets a check of its own under FreshCheck (the new version is found) and
// none under ShareCheck (rate-limited by that check); a second one at once
// gets none under either.
func TestUnknownPolicies(t *testing.T) {
	tests := []struct {
		policy     secretwatch.UnknownPolicy
		wantFound  bool
		wantUsable string
		wantCalls  [2]uint64 // Describe, Get after the unknown credential
	}{
		{secretwatch.ShareCheck, false, "AWSCURRENT=1", [2]uint64{2, 1}},
		{secretwatch.FreshCheck, true, "AWSCURRENT=1 AWSPENDING=2", [2]uint64{3, 2}},
	}
	for _, tc := range tests {
		t.Run(map[secretwatch.UnknownPolicy]string{secretwatch.ShareCheck: "share", secretwatch.FreshCheck: "fresh"}[tc.policy], func(t *testing.T) {
			b := newBed(t)
			cfg := b.config()
			cfg.Unknown = tc.policy
			w := b.watch(cfg)
			b.clock.Advance(time.Minute)
			w.Poll(context.Background())
			if d, g := calls(w); d != 2 || g != 1 {
				t.Fatalf("after the periodic check: %d Describe, %d Get", d, g)
			}
			b.put("2", secretwatch.StagePending)
			if found := w.Unknown(context.Background()); found != tc.wantFound {
				t.Fatalf("Unknown = %v, want %v", found, tc.wantFound)
			}
			if got := usable(w); got != tc.wantUsable {
				t.Fatalf("usable %q, want %q", got, tc.wantUsable)
			}
			if d, g := calls(w); d != tc.wantCalls[0] || g != tc.wantCalls[1] {
				t.Fatalf("%d Describe, %d Get; want %v", d, g, tc.wantCalls)
			}
			if w.Unknown(context.Background()) {
				t.Fatal("a second unknown credential within MinRefreshInterval got a check")
			}
			if st := w.Stats(); st.RateLimited == 0 {
				t.Fatalf("rate-limited credentials not counted: %+v", st)
			}
		})
	}
}

// TestUnknownDuringARunningCheck: a check is running (held at Secrets
// Manager) when a new version appears. ShareCheck joins it and does not see
// the version; FreshCheck waits for it and then checks again, and does.
func TestUnknownDuringARunningCheck(t *testing.T) {
	tests := []struct {
		name       string
		policy     secretwatch.UnknownPolicy
		wantUsable string
	}{
		{"share", secretwatch.ShareCheck, "AWSCURRENT=1"},
		{"fresh", secretwatch.FreshCheck, "AWSCURRENT=1 AWSPENDING=2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBed(t)
			cfg := b.config()
			cfg.Unknown = tc.policy
			w := b.watch(cfg)
			b.clock.Advance(time.Minute)
			<-b.api.arrived // New's
			release := b.api.Hold()
			defer release()
			polled := make(chan struct{})
			go func() { w.Poll(context.Background()); close(polled) }()
			<-b.api.arrived
			b.put("2", secretwatch.StagePending) // after the running check's DescribeSecret
			found := make(chan bool, 1)
			go func() { found <- w.Unknown(context.Background()) }()
			// The unknown credential waits for the running check.
			select {
			case <-found:
				t.Fatal("Unknown returned while the check it waits for was held")
			case <-time.After(50 * time.Millisecond):
			}
			release()
			<-polled
			if !<-found {
				t.Fatal("Unknown did not report the check that ended")
			}
			if got := usable(w); got != tc.wantUsable {
				t.Fatalf("usable %q, want %q", got, tc.wantUsable)
			}
		})
	}
}

// TestUnreadableVersion: labels change (AWSPREVIOUS removed) while a new
// AWSPENDING cannot be read. With SkipUnreadable the rest is installed and
// the version is read again at the next check; without, the whole check
// fails and the set stays. An unreadable new AWSCURRENT fails the check
// either way.
func TestUnreadableVersion(t *testing.T) {
	tests := []struct {
		name       string
		skip       bool
		current    bool // the unreadable version is the new AWSCURRENT
		wantErr    bool
		wantUsable string
	}{
		{"skip pending", true, false, false, "AWSCURRENT=2"},
		{"fail pending", false, false, true, "AWSCURRENT=2 AWSPREVIOUS=1"},
		{"skip current", true, true, true, "AWSCURRENT=2 AWSPREVIOUS=1"},
		{"fail current", false, true, true, "AWSCURRENT=2 AWSPREVIOUS=1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBed(t)
			b.put("2")
			cfg := b.config()
			cfg.SkipUnreadable = tc.skip
			w := b.watch(cfg)
			var id string
			if tc.current {
				id = b.put("3")
			} else {
				id = b.put("3", secretwatch.StagePending)
				b.label(secretwatch.StagePrevious, "")
			}
			b.api.FailGet(id, true)
			err := w.Refresh(context.Background())
			if (err != nil) != tc.wantErr {
				t.Fatalf("Refresh = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "get version "+id) {
				t.Fatalf("error %q does not name the read", err)
			}
			if got := usable(w); got != tc.wantUsable {
				t.Fatalf("usable %q, want %q", got, tc.wantUsable)
			}
			if tc.skip && !tc.current && !strings.Contains(b.logs.String(), "msg=unusable stage=AWSPENDING version="+id[:8]) {
				t.Fatalf("the skipped version is not logged:\n%s", b.logs.String())
			}
			b.api.FailGet(id, false)
			if err := w.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			want := map[bool]string{false: "AWSCURRENT=2 AWSPENDING=3", true: "AWSCURRENT=3 AWSPREVIOUS=2"}[tc.current]
			if got := usable(w); got != want {
				t.Fatalf("after recovery: usable %q, want %q", got, want)
			}
		})
	}
}

// TestStages: only the configured labels are read; a version carrying
// several is kept once, under the first in Stages' order.
func TestStages(t *testing.T) {
	tests := []struct {
		name       string
		stages     []string
		wantUsable string
		wantGets   uint64
	}{
		{"without pending", []string{secretwatch.StageCurrent, secretwatch.StagePrevious}, "AWSCURRENT=2 AWSPREVIOUS=1", 2},
		{"pending last", []string{secretwatch.StageCurrent, secretwatch.StagePrevious, secretwatch.StagePending}, "AWSCURRENT=2 AWSPREVIOUS=1 AWSPENDING=3", 3},
		{"previous first", []string{secretwatch.StagePrevious, secretwatch.StageCurrent}, "AWSPREVIOUS=1 AWSCURRENT=2", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBed(t)
			b.put("2")
			b.put("3", secretwatch.StagePending)
			cfg := b.config()
			cfg.Stages = tc.stages
			w := b.watch(cfg)
			if got := usable(w); got != tc.wantUsable {
				t.Fatalf("usable %q, want %q", got, tc.wantUsable)
			}
			if _, g := calls(w); g != tc.wantGets {
				t.Fatalf("%d GetSecretValue calls, want %d", g, tc.wantGets)
			}
		})
	}

	b := newBed(t)
	id := b.put("2", secretwatch.StageCurrent, secretwatch.StagePending)
	w := b.watch(b.config())
	if got := usable(w); got != "AWSCURRENT=2 AWSPREVIOUS=1" {
		t.Fatalf("a version labelled AWSCURRENT and AWSPENDING: usable %q", got)
	}
	if us := w.Usage(); len(us) != 2 || us[0].VersionID != id || us[0].Stage != secretwatch.StageCurrent || us[1].Stage != secretwatch.StagePrevious {
		t.Fatalf("usage %+v", us)
	}
}

// TestUnusableValues: a value Decode refuses is read and decoded once,
// logged once, never usable and left out of Usage; on the first stage it
// fails New with an error naming stage, version and secret, without the
// value.
func TestUnusableValues(t *testing.T) {
	b := newBed(t)
	w := b.watch(b.config())
	bad := b.put("bad-pending", secretwatch.StagePending)
	for range 3 {
		b.clock.Advance(time.Minute)
		w.Poll(context.Background())
	}
	if d, g := calls(w); d != 4 || g != 2 {
		t.Fatalf("%d Describe, %d Get; want 4 and 2", d, g)
	}
	if n := b.decoded.Load(); n != 2 {
		t.Fatalf("Decode ran %d times, want 2", n)
	}
	if n := strings.Count(b.logs.String(), "msg=unusable"); n != 1 {
		t.Fatalf("unusable version logged %d times, want once", n)
	}
	if got := usable(w); got != "AWSCURRENT=1" {
		t.Fatalf("usable %q", got)
	}
	for _, u := range w.Usage() {
		if u.VersionID == bad {
			t.Fatalf("unusable version in Usage: %+v", u)
		}
	}

	b = newBed(t)
	id := b.put("bad-current")
	_, err := secretwatch.New(context.Background(), b.api, b.config())
	testutil.ErrorContains(t, err, "AWSCURRENT version "+id, b.arn, "not a test value")
	if strings.Contains(err.Error(), valuePrefix) {
		t.Fatalf("error %q contains the value", err)
	}
}

// TestRetiredVersions: Usage keeps the staged versions and the 8 most
// recently retired, newest first; moving a label back to a remembered
// version costs no read.
func TestRetiredVersions(t *testing.T) {
	b := newBed(t)
	w := b.watch(b.config())
	ids := []string{b.holder(secretwatch.StageCurrent)}
	for i := 2; i <= 12; i++ {
		ids = append(ids, b.put(string(rune('a'+i))))
		b.clock.Advance(time.Second)
		if err := w.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	us := w.Usage()
	if len(us) != 2+8 {
		t.Fatalf("%d usage records, want 10", len(us))
	}
	if us[0].VersionID != ids[11] || us[1].VersionID != ids[10] || us[1].Stage != secretwatch.StagePrevious {
		t.Fatalf("staged records %+v", us[:2])
	}
	for i, u := range us[2:] {
		if want := ids[9-i]; u.VersionID != want || u.Stage != "" || u.RetiredAt.IsZero() {
			t.Fatalf("retired record %d: %+v, want version %s retired", i, u, want)
		}
	}
	_, g0 := calls(w)
	b.label(secretwatch.StageCurrent, ids[5])
	if err := w.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, g := calls(w); g != g0 {
		t.Fatalf("rollback to a remembered version read %d values", g-g0)
	}
	if e := w.Usable()[0]; e.VersionID != ids[5] || e.Stage != secretwatch.StageCurrent {
		t.Fatalf("after the rollback: %+v", e)
	}
}

// TestPoll: without a loop, Poll checks once CheckInterval has passed;
// callers that find a check running go on at once; with a loop, Poll does
// nothing.
func TestPoll(t *testing.T) {
	b := newBed(t)
	w := b.watch(b.config())
	<-b.api.arrived
	w.Poll(context.Background())
	if d, _ := calls(w); d != 1 {
		t.Fatalf("Poll within CheckInterval: %d Describe", d)
	}
	b.clock.Advance(time.Minute)
	release := b.api.Hold()
	defer release()
	first := make(chan struct{})
	go func() { w.Poll(context.Background()); close(first) }()
	<-b.api.arrived
	for range 10 {
		w.Poll(context.Background()) // returns while the check is held
	}
	release()
	<-first
	if d, _ := calls(w); d != 2 {
		t.Fatalf("11 Polls after CheckInterval: %d Describe, want 2", d)
	}

	cfg := b.config()
	cfg.Background = true
	cfg.CheckInterval = time.Hour
	bg := b.watch(cfg)
	b.clock.Advance(2 * time.Hour)
	bg.Poll(context.Background())
	if d, _ := calls(bg); d != 1 {
		t.Fatalf("Poll with a loop: %d Describe", d)
	}
}

// TestClose: after Close, Refresh fails naming the component, Unknown
// starts nothing, and the last set is still usable.
func TestClose(t *testing.T) {
	b := newBed(t)
	w := b.watch(b.config())
	w.Close()
	w.Close()
	<-w.LoopDone()
	b.clock.Advance(time.Hour)
	testutil.ErrorContains(t, w.Refresh(context.Background()), "test: closed")
	if w.Unknown(context.Background()) {
		t.Fatal("Unknown after Close")
	}
	if d, _ := calls(w); d != 1 {
		t.Fatalf("%d Describe calls, want New's only", d)
	}
	if got := usable(w); got != "AWSCURRENT=1" {
		t.Fatalf("usable after Close: %q", got)
	}
}

// TestFind: every usable value is tried (no early exit), the first match
// wins, and only Used counts.
func TestFind(t *testing.T) {
	b := newBed(t)
	b.put("same", secretwatch.StagePending)
	b.put("same")
	w := b.watch(b.config())
	var tried []string
	e, ok := w.Find(func(v string) bool { tried = append(tried, v); return v == "same" })
	if !ok || e.Stage != secretwatch.StageCurrent || strings.Join(tried, ",") != "same,same,1" {
		t.Fatalf("Find = %+v %v, tried %v", e, ok, tried)
	}
	for _, u := range w.Usage() {
		if u.Uses != 0 {
			t.Fatalf("Find counted a use: %+v", u)
		}
	}
	w.Used(e)
	if u := w.Usage()[0]; u.VersionID != e.VersionID || u.Uses != 1 || !u.LastUsed.Equal(b.clock.Now()) {
		t.Fatalf("usage after Used: %+v", u)
	}
	if _, ok := w.Find(func(string) bool { return false }); ok {
		t.Fatal("Find matched nothing but reported a match")
	}
}
