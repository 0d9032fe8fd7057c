package lifecycle_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/providers/servicekey"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

// createManaged creates a managed servicekey secret (not rotated).
func createManaged(t *testing.T, sm *secretsmanager.Client, name, provider string, extra map[string]string) string {
	t.Helper()
	kv := map[string]string{lifecycle.TagManaged: "true", lifecycle.TagProvider: provider}
	for k, v := range extra {
		kv[k] = v
	}
	var tags []types.Tag
	for k, v := range kv {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	out, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name),
		SecretString: aws.String(`{"api_key":"` + oldKey + `"}`), Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

// sweepClient is an SDK client for the emulator or a proxy at url that
// retries only connection errors (the Go transport's "use of closed network
// connection" on a busy loopback, aws-sdk-go-v2#2737), never throttling,
// which the lifecycle's own backoff must handle.
func sweepClient(url string) *secretsmanager.Client {
	cfg := awsemu.ClientConfig(url)
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 3
			o.Retryables = []retry.IsErrorRetryable{retry.RetryableConnectionError{}}
		})
	}
	return secretsmanager.NewFromConfig(cfg)
}

// counted counts the Secrets Manager calls the lifecycle makes (each once,
// whatever the SDK's retries).
type counted struct {
	lifecycle.SecretsAPI
	mu sync.Mutex
	n  map[string]int
}

func newCounted(api lifecycle.SecretsAPI) *counted {
	return &counted{SecretsAPI: api, n: map[string]int{}}
}

func (c *counted) add(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[op]++
}

func (c *counted) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

func (c *counted) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, o ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	c.add("DescribeSecret")
	return c.SecretsAPI.DescribeSecret(ctx, in, o...)
}

func (c *counted) ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, o ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error) {
	c.add("ListSecrets")
	return c.SecretsAPI.ListSecrets(ctx, in, o...)
}

func (c *counted) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, o ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c.add("GetSecretValue")
	return c.SecretsAPI.GetSecretValue(ctx, in, o...)
}

func (c *counted) ListSecretVersionIds(ctx context.Context, in *secretsmanager.ListSecretVersionIdsInput, o ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error) {
	c.add("ListSecretVersionIds")
	return c.SecretsAPI.ListSecretVersionIds(ctx, in, o...)
}

func (c *counted) TagResource(ctx context.Context, in *secretsmanager.TagResourceInput, o ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error) {
	c.add("TagResource")
	return c.SecretsAPI.TagResource(ctx, in, o...)
}

func (c *counted) UntagResource(ctx context.Context, in *secretsmanager.UntagResourceInput, o ...func(*secretsmanager.Options)) (*secretsmanager.UntagResourceOutput, error) {
	c.add("UntagResource")
	return c.SecretsAPI.UntagResource(ctx, in, o...)
}

func (c *counted) UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, o ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	c.add("UpdateSecretVersionStage")
	return c.SecretsAPI.UpdateSecretVersionStage(ctx, in, o...)
}

// sweepLifecycle is a lifecycle over sm with the servicekey provider, the
// environment's clock and sweep configuration c.
func sweepLifecycle(t *testing.T, e *internalEnv, sm lifecycle.SecretsAPI, c lifecycle.SweepConfig, pace *lifecycle.Pace) (*lifecycle.Lifecycle, *bytes.Buffer) {
	t.Helper()
	logs := &bytes.Buffer{}
	lc, err := lifecycle.New(lifecycle.Config{SecretsManager: sm, Providers: map[string]rotation.Provider{"servicekey": servicekey.New(servicekey.DefaultSettings, nil)},
		Now: e.clock.Now, LogWriter: logs, MetricsWriter: logs, Sweep: c, Pace: pace})
	if err != nil {
		t.Fatal(err)
	}
	return lc, logs
}

func collect(reps *[]*lifecycle.Report) func(*lifecycle.Report) {
	return func(r *lifecycle.Report) { *reps = append(*reps, r) }
}

func bySecret(reps []*lifecycle.Report) map[string]*lifecycle.Report {
	m := map[string]*lifecycle.Report{}
	for _, r := range reps {
		m[r.Secret] = r
	}
	return m
}

// A secret whose next step lies in the future is decided from its
// ListSecrets entry: a sweep of idle secrets costs one ListSecrets call per
// 100 and nothing else.
func TestSweepDecidesIdleSecretsFromTheList(t *testing.T) {
	ctx := context.Background()
	e := newInternalEnv(t, map[string]string{lifecycle.TagDrain: "1h"}) // rotated: AWSPREVIOUS, no state yet
	for i := 0; i < 230; i++ {
		createManaged(t, e.SM, fmt.Sprintf("idle/%03d", i), "servicekey", nil)
	}
	// Matched by ListSecrets' prefix filters, but not managed.
	createManaged(t, e.SM, "not-managed", "servicekey", map[string]string{lifecycle.TagManaged: "truex"})
	createManaged(t, e.SM, "bad/provider", "nosuch", nil)
	calls := newCounted(sweepClient(e.URL))
	lc, _ := sweepLifecycle(t, e, calls, lifecycle.SweepConfig{}, nil)

	cases := []struct {
		name                    string
		advance                 time.Duration
		idle, worked, describes int
		secretOps               string // the rotated secret's ops
	}{
		// The rotated secret enters draining (a tag write): work.
		{"first run", 0, 230, 2, 2, "wait"},
		// It is draining and the drain is not over: decided from the list.
		{"while draining", 30 * time.Minute, 231, 1, 1, "wait"},
		// The drain is over: work again.
		{"drain over", time.Hour, 230, 2, 2, "deactivate"},
		// Deactivated, grace period running: from the list.
		{"grace period", time.Hour, 231, 1, 1, "wait"},
	}
	for _, c := range cases {
		e.clock.Advance(c.advance)
		calls.reset()
		var reps []*lifecycle.Report
		res, err := lc.Sweep(ctx, lifecycle.Options{}, collect(&reps))
		if err == nil || !strings.Contains(err.Error(), "bad/provider") || !strings.Contains(err.Error(), lifecycle.TagProvider) {
			t.Fatalf("%s: the secret with an unknown provider is not reported: %v", c.name, err)
		}
		stats := calls.reset()
		if res.Listed != 232 || res.Idle != c.idle || res.Worked != c.worked || res.Failed != 1 || res.ListCalls != 3 || res.Left != 0 || len(reps) != 232 {
			t.Fatalf("%s: %+v, %d reports", c.name, res, len(reps))
		}
		if stats["ListSecrets"] != 3 || stats["DescribeSecret"] != c.describes {
			t.Fatalf("%s: calls %v, want 3 ListSecrets and %d DescribeSecret", c.name, stats, c.describes)
		}
		m := bySecret(reps)
		if got := ops(m[rotationtest.SecretName]); got != c.secretOps {
			t.Fatalf("%s: rotated secret ops %q, want %q: %v", c.name, got, c.secretOps, m[rotationtest.SecretName])
		}
		if r := m["idle/007"]; r == nil || r.Path == "" || len(r.Actions) != 1 || !strings.Contains(r.Actions[0].Reason, "nothing to retire") {
			t.Fatalf("%s: idle report %v", c.name, r)
		}
		if _, ok := m["not-managed"]; ok {
			t.Fatalf("%s: a secret tagged %s=truex was swept", c.name, lifecycle.TagManaged)
		}
	}
}

// The overdue alert derives from the list entry too: an idle secret still
// raises it, with no further call. AWSPENDING in a list entry is looked at
// again with DescribeSecret (ListSecrets may lag behind a rotation that
// just finished) before RotationIncomplete is raised.
func TestSweepAlertsFromTheList(t *testing.T) {
	ctx := context.Background()
	e := newInternalEnv(t, map[string]string{lifecycle.TagDrain: "2400h"})
	pending := createManaged(t, e.SM, "incomplete", "servicekey", nil)
	if _, err := e.SM.PutSecretValue(ctx, putPending(pending, "0a6c3c40-3f4e-4bd3-9e0b-5d7c8a3c0001", `{"api_key":"pending-key-0123456789abcdefghijklmnop"}`)); err != nil {
		t.Fatal(err)
	}
	calls := newCounted(sweepClient(e.URL))
	lc, logs := sweepLifecycle(t, e, calls, lifecycle.SweepConfig{}, nil)
	if _, err := lc.Sweep(ctx, lifecycle.Options{}, nil); err != nil { // records draining
		t.Fatal(err)
	}
	e.clock.Advance(32 * 24 * time.Hour) // rotation every 30 days: overdue by more than a day
	logs.Reset()
	calls.reset()
	var reps []*lifecycle.Report
	res, err := lc.Sweep(ctx, lifecycle.Options{}, collect(&reps))
	if err != nil || res.Idle != 1 || res.Worked != 1 {
		t.Fatalf("sweep: %v %+v", err, res)
	}
	if st := calls.reset(); st["DescribeSecret"] != 1 || st["ListSecrets"] != 1 {
		t.Fatalf("calls %v", st)
	}
	m := bySecret(reps)
	if got := ops(m[rotationtest.SecretName]); got != "alert,wait" || !strings.Contains(m[rotationtest.SecretName].Actions[0].Reason, "rotation overdue") {
		t.Fatalf("overdue: %v", m[rotationtest.SecretName])
	}
	if got := ops(m["incomplete"]); got != "alert" || !strings.Contains(m["incomplete"].Actions[0].Reason, "dualkey cancel incomplete") {
		t.Fatalf("incomplete: %v", m["incomplete"])
	}
	for _, want := range []string{`"RotationOverdue":1`, `"RotationIncomplete":1`, `"msg":"lifecycle"`, `"op":"alert"`, `"SweepBacklog":0`, `"msg":"sweep"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}

// rotatedSecrets creates n managed servicekey secrets sweep/NN with the
// tags and rotates each once.
func rotatedSecrets(t *testing.T, e *internalEnv, n int, tags map[string]string) []string {
	t.Helper()
	var names []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("sweep/%02d", i)
		e.MustRotate(context.Background(), createManaged(t, e.SM, name, "servicekey", tags))
		names = append(names, name)
	}
	return names
}

// deactivated returns the names whose report deactivated the credential.
func deactivated(reps []*lifecycle.Report) []string {
	var out []string
	for _, r := range reps {
		if strings.Contains(ops(r), "deactivate") {
			out = append(out, r.Secret)
		}
	}
	slices.Sort(out)
	return out
}

// A sweep that may retire only some of the secrets with work records where
// it stopped; the next one starts there and clears the cursor once it
// reaches the end.
func TestSweepResumesAtTheCursor(t *testing.T) {
	ctx := context.Background()
	e := newInternalEnv(t, map[string]string{lifecycle.TagDrain: "1h"})
	if _, err := e.SM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("dualkey/retire-cursor")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.lc.Retire(ctx, e.arn, lifecycle.Options{}); err != nil { // draining for an hour: idle
		t.Fatal(err)
	}
	names := rotatedSecrets(t, e, 5, map[string]string{lifecycle.TagDrain: "0s"})
	lc, _ := sweepLifecycle(t, e, sweepClient(e.URL), lifecycle.SweepConfig{MaxWork: 2, CursorSecret: "dualkey/retire-cursor"}, nil)
	cursorTag := func() string { return tagsOf(t, e.SM, "dualkey/retire-cursor")[lifecycle.TagSweepCursor] }
	steps := []struct {
		retired []string
		left    int
		cursor  string
	}{
		{names[0:2], 3, names[2]},
		{names[2:4], 1, names[4]},
		{names[4:5], 0, ""},
	}
	for i, st := range steps {
		var reps []*lifecycle.Report
		res, err := lc.Sweep(ctx, lifecycle.Options{}, collect(&reps))
		if err != nil {
			t.Fatal(err)
		}
		if got := deactivated(reps); strings.Join(got, ",") != strings.Join(st.retired, ",") || res.Left != st.left || res.Cursor != st.cursor || cursorTag() != st.cursor {
			t.Fatalf("sweep %d: retired %v, left %d, cursor %q (tag %q); want %v, %d, %q", i+1, got, res.Left, res.Cursor, cursorTag(), st.retired, st.left, st.cursor)
		}
	}
}

// Close to the deadline no secret is started: the sweep records the first
// one as the cursor and reports the backlog.
func TestSweepStopsBeforeTheDeadline(t *testing.T) {
	e := newInternalEnv(t, map[string]string{lifecycle.TagDrain: "0s"})
	names := rotatedSecrets(t, e, 3, map[string]string{lifecycle.TagDrain: "0s"})
	lc, logs := sweepLifecycle(t, e, sweepClient(e.URL), lifecycle.SweepConfig{Margin: time.Hour}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := lc.Sweep(ctx, lifecycle.Options{}, nil)
	if err != nil || res.Worked != 0 || res.Left != 4 || res.Cursor != rotationtest.SecretName {
		t.Fatalf("sweep: %v %+v", err, res)
	}
	for _, n := range names {
		if rotation.Holder(labelsOf(t, e.SM, n), rotation.StageDeactivated) != "" {
			t.Fatalf("%s was retired after the deadline", n)
		}
	}
	if !strings.Contains(logs.String(), `"SweepBacklog":4`) || !strings.Contains(logs.String(), "sweep stopped before the end") {
		t.Fatalf("logs:\n%s", logs)
	}
}

func labelsOf(t *testing.T, sm *secretsmanager.Client, id string) map[string][]string {
	t.Helper()
	d, err := sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	return d.VersionIdsToStages
}

// proxy is a loopback reverse proxy in front of the emulator that can hold
// DescribeSecret requests and enforce a request quota on the write calls,
// answering Secrets Manager's ThrottlingException past it.
type proxy struct {
	url string
	// gather holds each DescribeSecret until this many are in flight, or
	// for at most 300ms, so that concurrent requests overlap however
	// slow the machine.
	gather   int32
	inFlight atomic.Int32
	maxIn    atomic.Int32

	mu        sync.Mutex
	perSecond float64 // write quota; 0: none
	tokens    float64
	last      time.Time
	throttled int
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := r.Header.Get("X-Amz-Target")
		switch {
		case strings.HasSuffix(op, ".DescribeSecret"):
			n := p.inFlight.Add(1)
			defer p.inFlight.Add(-1)
			for {
				m := p.maxIn.Load()
				if n <= m || p.maxIn.CompareAndSwap(m, n) {
					break
				}
			}
			for deadline := time.Now().Add(300 * time.Millisecond); p.gather > 0 && p.inFlight.Load() < p.gather && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
		case strings.HasSuffix(op, ".TagResource"), strings.HasSuffix(op, ".UntagResource"), strings.HasSuffix(op, ".UpdateSecretVersionStage"):
			if !p.allow() {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"__type":"ThrottlingException","message":"Rate exceeded"}`)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// allow applies the write quota (a token bucket with a burst of 2).
func (p *proxy) allow() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.perSecond == 0 {
		return true
	}
	now := time.Now()
	if !p.last.IsZero() {
		p.tokens = min(2, p.tokens+now.Sub(p.last).Seconds()*p.perSecond)
	} else {
		p.tokens = 2
	}
	p.last = now
	if p.tokens < 1 {
		p.throttled++
		return false
	}
	p.tokens--
	return true
}

// At most SweepConfig.Concurrency secrets are retired at once.
func TestSweepBoundsConcurrency(t *testing.T) {
	e := newInternalEnv(t, map[string]string{lifecycle.TagDrain: "0s"})
	rotatedSecrets(t, e, 11, map[string]string{lifecycle.TagDrain: "0s"})
	p := newProxy(t, e.URL)
	p.gather = 4 // one more than the bound: a pool that kept to it never gets there
	lc, _ := sweepLifecycle(t, e, sweepClient(p.url), lifecycle.SweepConfig{Concurrency: 3}, nil)
	res, err := lc.Sweep(context.Background(), lifecycle.Options{}, nil)
	if err != nil || res.Worked != 12 {
		t.Fatalf("sweep: %v %+v", err, res)
	}
	if m := p.maxIn.Load(); m != 3 {
		t.Fatalf("%d DescribeSecret requests in flight at once, want 3 (concurrency 3)", m)
	}
}

// Throttled writes are retried with backoff until they pass: every secret
// is retired and none fails, with the SDK's own retries off.
func TestSweepBacksOffWhenThrottled(t *testing.T) {
	e := newInternalEnv(t, map[string]string{lifecycle.TagDrain: "0s"})
	names := rotatedSecrets(t, e, 7, map[string]string{lifecycle.TagDrain: "0s"})
	p := newProxy(t, e.URL)
	p.perSecond = 20
	pace := lifecycle.Unpaced
	pace.Backoff = 20 * time.Millisecond
	lc, logs := sweepLifecycle(t, e, sweepClient(p.url), lifecycle.SweepConfig{Concurrency: 8}, &pace)
	res, err := lc.Sweep(context.Background(), lifecycle.Options{}, nil)
	if err != nil || res.Worked != 8 || res.Failed != 0 {
		t.Fatalf("sweep: %v %+v\n%s", err, res, logs)
	}
	for _, n := range names {
		if rotation.Holder(labelsOf(t, e.SM, n), rotation.StageDeactivated) == "" {
			t.Fatalf("%s was not retired", n)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.throttled == 0 {
		t.Fatal("the quota never throttled: the test proves nothing")
	}
}

func TestSweepConfigFromEnv(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want lifecycle.SweepConfig
		err  string
	}{
		{nil, lifecycle.SweepConfig{}, ""},
		{map[string]string{"DUALKEY_SWEEP_CONCURRENCY": "16", "DUALKEY_SWEEP_CURSOR_SECRET": " dualkey/retire-cursor ", "DUALKEY_SWEEP_MAX_WORK": "500"},
			lifecycle.SweepConfig{Concurrency: 16, CursorSecret: "dualkey/retire-cursor", MaxWork: 500}, ""},
		{map[string]string{"DUALKEY_SWEEP_CONCURRENCY": "0"}, lifecycle.SweepConfig{}, "DUALKEY_SWEEP_CONCURRENCY"},
		{map[string]string{"DUALKEY_SWEEP_CONCURRENCY": "65"}, lifecycle.SweepConfig{}, "from 1 to 64"},
		{map[string]string{"DUALKEY_SWEEP_MAX_WORK": "-1"}, lifecycle.SweepConfig{}, "DUALKEY_SWEEP_MAX_WORK"},
	}
	for _, c := range cases {
		got, err := lifecycle.SweepConfigFromEnv(func(k string) string { return c.env[k] })
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: error %v, want %q", c.env, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%v: %+v %v, want %+v", c.env, got, err, c.want)
		}
	}
}

// A cursor secret that is missing or managed is reported, and the sweep
// still runs from the beginning.
func TestSweepCursorSecretErrors(t *testing.T) {
	ctx := context.Background()
	e := newInternalEnv(t, map[string]string{lifecycle.TagDrain: "0s"})
	createManaged(t, e.SM, "managed-cursor", "servicekey", nil)
	for _, c := range []struct{ secret, want string }{
		{"no/such/cursor", "aws secretsmanager create-secret --name no/such/cursor"},
		{"managed-cursor", "aws secretsmanager untag-resource --secret-id managed-cursor --tag-keys dualkey:managed"},
	} {
		lc, _ := sweepLifecycle(t, e, sweepClient(e.URL), lifecycle.SweepConfig{CursorSecret: c.secret}, nil)
		res, err := lc.Sweep(ctx, lifecycle.Options{DryRun: false}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "DUALKEY_SWEEP_CURSOR_SECRET") || res.Listed != 2 {
			t.Fatalf("%s: %v %+v", c.secret, err, res)
		}
	}
}
