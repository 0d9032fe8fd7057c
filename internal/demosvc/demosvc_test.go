package demosvc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/internal/demosvc"
	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/keyring"
)

const secretID = "demo/api-key"

// testKey returns the fake key of version n. Keys differ in their last four
// characters so that fingerprints are distinct.
func testKey(n int) string { return fmt.Sprintf("sk-demo-%02d-not-a-real-secret-%04d", n, 1000+n) }

func testVersion(n int) string { return fmt.Sprintf("%08d-aaaa-bbbb-cccc-000000000000", n) }

// fakeSM is an in-memory, versioned Secrets Manager: versions with values and
// labels. It implements demosvc.LabelsAPI and keyring.SecretsAPI.
type fakeSM struct {
	mu       sync.Mutex
	values   map[string]string    // version id -> key
	created  map[string]time.Time // version id -> creation time
	labels   map[string]string    // stage -> version id
	failGet  map[string]bool      // version ids whose GetSecretValue fails
	pageSize int
	gets     int
}

func newFakeSM(first int) *fakeSM {
	f := &fakeSM{
		values:   map[string]string{},
		created:  map[string]time.Time{},
		labels:   map[string]string{},
		failGet:  map[string]bool{},
		pageSize: 2,
	}
	f.add(first)
	f.labels[keyring.StageCurrent] = testVersion(first)
	return f
}

func (f *fakeSM) add(n int) {
	id := testVersion(n)
	f.values[id] = testKey(n)
	f.created[id] = time.Date(2026, 1, 1, 0, 0, n, 0, time.UTC)
}

func (f *fakeSM) stagesOf(id string) []string {
	var s []string
	for _, stage := range []string{keyring.StageCurrent, keyring.StagePending, keyring.StagePrevious} {
		if f.labels[stage] == id {
			s = append(s, stage)
		}
	}
	return s
}

func (f *fakeSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	id := aws.ToString(in.VersionId)
	if id == "" {
		stage := aws.ToString(in.VersionStage)
		if stage == "" {
			stage = keyring.StageCurrent
		}
		var ok bool
		if id, ok = f.labels[stage]; !ok {
			return nil, &types.ResourceNotFoundException{Message: aws.String("no version with staging label " + stage)}
		}
	}
	key, ok := f.values[id]
	if !ok {
		return nil, &types.ResourceNotFoundException{Message: aws.String("no version " + id)}
	}
	if f.failGet[id] {
		return nil, errors.New("internal service error")
	}
	b, _ := json.Marshal(map[string]string{"api_key": key})
	return &secretsmanager.GetSecretValueOutput{
		Name:          aws.String(secretID),
		VersionId:     aws.String(id),
		SecretString:  aws.String(string(b)),
		VersionStages: f.stagesOf(id),
	}, nil
}

func (f *fakeSM) DescribeSecret(_ context.Context, in *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string][]string{}
	for id := range f.values {
		if st := f.stagesOf(id); len(st) > 0 {
			m[id] = st
		}
	}
	return &secretsmanager.DescribeSecretOutput{Name: aws.String(secretID), VersionIdsToStages: m}, nil
}

func (f *fakeSM) ListSecretVersionIds(_ context.Context, in *secretsmanager.ListSecretVersionIdsInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id := range f.values {
		if len(f.stagesOf(id)) > 0 {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	start := 0
	if tok := aws.ToString(in.NextToken); tok != "" {
		start, _ = strconv.Atoi(tok)
	}
	end := min(start+f.pageSize, len(ids))
	out := &secretsmanager.ListSecretVersionIdsOutput{Name: aws.String(secretID)}
	for _, id := range ids[start:end] {
		out.Versions = append(out.Versions, types.SecretVersionsListEntry{
			VersionId:     aws.String(id),
			VersionStages: f.stagesOf(id),
			CreatedDate:   aws.Time(f.created[id]),
		})
	}
	if end < len(ids) {
		out.NextToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

// putPending creates version n labelled AWSPENDING (rotation createSecret).
func (f *fakeSM) putPending(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.add(n)
	f.labels[keyring.StagePending] = testVersion(n)
}

// finish moves AWSCURRENT to AWSPREVIOUS and AWSPENDING to AWSCURRENT
// (rotation finishSecret); the old AWSPREVIOUS loses its label.
func (f *fakeSM) finish() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.labels[keyring.StagePrevious] = f.labels[keyring.StageCurrent]
	f.labels[keyring.StageCurrent] = f.labels[keyring.StagePending]
	delete(f.labels, keyring.StagePending)
}

// replaceCurrent is a single-key rotation: version n becomes AWSCURRENT and
// no other version keeps a label, so the old key is invalid at once.
func (f *fakeSM) replaceCurrent(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.add(n)
	f.labels = map[string]string{keyring.StageCurrent: testVersion(n)}
}

func assertNoKeys(t *testing.T, what, s string) {
	t.Helper()
	for n := range 10 {
		if strings.Contains(s, testKey(n)) {
			t.Fatalf("%s leaks key %s", what, keyring.Fingerprint(testKey(n)))
		}
	}
}

// waitFor polls cond until it holds or a generous deadline passes.
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

type stack struct {
	fake  *fakeSM
	clock *testutil.FakeClock
	kr    *keyring.Keyring
	srv   *httptest.Server
}

func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{fake: newFakeSM(0), clock: testutil.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	kr, err := keyring.New(context.Background(), s.fake, keyring.Config{
		SecretID: secretID,
		Now:      s.clock.Now,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kr.Close)
	s.kr = kr
	s.srv = httptest.NewServer(demosvc.NewService(kr))
	t.Cleanup(s.srv.Close)
	return s
}

// startClient runs c until the returned stop function is called; stop returns
// Run's result.
func startClient(t *testing.T, c *demosvc.Client) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cancel()
			<-done
		}
	})
	return func() error {
		stopped = true
		cancel()
		return <-done
	}
}

type hello struct {
	OK          bool   `json:"ok"`
	Stage       string `json:"stage"`
	VersionID   string `json:"version_id"`
	Fingerprint string `json:"fingerprint"`
}

func get(t *testing.T, url, key string) (int, hello, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	var h hello
	_ = json.Unmarshal(buf.Bytes(), &h)
	return resp.StatusCode, h, buf.String()
}

func okWith(c *demosvc.Client, n int) func() bool {
	fp := keyring.Fingerprint(testKey(n))
	return func() bool { return c.Stats().ByKey[fp].OK >= int64(n+1)*10 }
}

// TestDualKeyRotationHasNoFailures rotates three times while the client
// streams requests. Each rotation is done as the rotation engine does it:
// createSecret (AWSPENDING), testSecret (a call with the pending key, which
// makes the service's keyring learn it), finishSecret (move labels). The
// client only ever sees AWSCURRENT and switches on its own schedule.
func TestDualKeyRotationHasNoFailures(t *testing.T) {
	s := newStack(t)
	c := demosvc.NewClient(demosvc.ClientConfig{
		API: s.fake, SecretID: secretID, URL: s.srv.URL + "/hello",
		Interval: time.Millisecond, RefreshEvery: 10 * time.Millisecond, Workers: 4,
	})
	stop := startClient(t, c)
	waitFor(t, "requests with the first key", okWith(c, 0))

	for n := 1; n <= 3; n++ {
		s.fake.putPending(n)
		s.clock.Advance(2 * keyring.DefaultMinRefreshInterval) // allow refresh-on-unknown-key
		code, h, body := get(t, s.srv.URL+"/hello", testKey(n))
		if code != http.StatusOK || h.Stage != keyring.StagePending || h.VersionID != testVersion(n) {
			t.Fatalf("rotation %d: pending key got %d %s", n, code, body)
		}
		assertNoKeys(t, "response", body)
		s.fake.finish()
		waitFor(t, fmt.Sprintf("client to switch to key %d", n), okWith(c, n))
	}

	if err := stop(); err != nil {
		t.Fatalf("Run returned %v after cancel, want nil", err)
	}
	st := c.Stats()
	if st.Failed != 0 || st.Unauthorized != 0 || st.Sent != st.OK || st.OK == 0 {
		t.Fatalf("stats %+v: want no failures while both keys are valid", st)
	}
	for n := range 4 {
		if st.ByKey[keyring.Fingerprint(testKey(n))].OK == 0 {
			t.Errorf("key %d never used; by key: %v", n, st.ByKey)
		}
	}
	if len(st.ByKey) != 4 {
		t.Errorf("client used %d distinct keys, want 4: %v", len(st.ByKey), st.ByKey)
	}
	if st.KeyReads < 4 {
		t.Errorf("client read AWSCURRENT %d times, want >= 4", st.KeyReads)
	}
	var accepted uint64
	for _, u := range s.kr.Usage() {
		accepted += u.Accepted
	}
	// +3 testSecret calls; requests cut off by the cancel may add a few.
	if want := uint64(st.OK) + 3; accepted < want {
		t.Errorf("keyring accepted %d keys, want >= %d", accepted, want)
	}
}

// TestRejectingOldKeyIsCounted proves the failure counter works: a
// single-key rotation (old key invalid at once) makes the client fail until
// its 401-triggered re-read. Each worker fails at most once, because the
// request after a 401 uses a freshly read key.
func TestRejectingOldKeyIsCounted(t *testing.T) {
	const workers = 3
	s := newStack(t)
	c := demosvc.NewClient(demosvc.ClientConfig{
		API: s.fake, SecretID: secretID, URL: s.srv.URL + "/hello",
		Interval: time.Millisecond, RefreshEvery: time.Hour, Workers: workers,
	})
	stop := startClient(t, c)
	waitFor(t, "requests with the first key", okWith(c, 0))

	s.fake.replaceCurrent(1)
	if err := s.kr.Refresh(context.Background()); err != nil { // the service drops the old key now
		t.Fatal(err)
	}
	waitFor(t, "client to recover with the new key", okWith(c, 1))
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	st := c.Stats()
	old := st.ByKey[keyring.Fingerprint(testKey(0))]
	if st.Failed < 1 || st.Failed > workers {
		t.Fatalf("Failed = %d, want 1..%d (one 401 per worker at most); stats %+v", st.Failed, workers, st)
	}
	if st.Unauthorized != st.Failed || old.Failed != st.Failed || st.Sent != st.OK+st.Failed {
		t.Fatalf("inconsistent stats %+v", st)
	}
	if st.KeyReads != 2 {
		t.Fatalf("KeyReads = %d, want 2 (initial + one re-read after 401)", st.KeyReads)
	}
}

// TestFailuresAreNotMasked checks that every failed attempt counts: there
// is no retry, and non-401 errors do not trigger a re-read.
func TestFailuresAreNotMasked(t *testing.T) {
	t.Run("5xx", func(t *testing.T) {
		var hits atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if hits.Add(1) <= 5 {
				http.Error(w, "unavailable", http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}))
		defer srv.Close()
		c := demosvc.NewClient(demosvc.ClientConfig{
			API: newFakeSM(0), SecretID: secretID, URL: srv.URL,
			Interval: time.Millisecond, RefreshEvery: time.Hour, Workers: 1,
		})
		stop := startClient(t, c)
		waitFor(t, "successes after the failures", func() bool { return c.Stats().OK >= 5 })
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		st := c.Stats()
		if st.Failed != 5 || st.Unauthorized != 0 || st.KeyReads != 1 {
			t.Fatalf("stats %+v: want exactly 5 failed, 0 unauthorized, 1 key read", st)
		}
	})
	t.Run("transport error", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		c := demosvc.NewClient(demosvc.ClientConfig{
			API: newFakeSM(0), SecretID: secretID, URL: url,
			Interval: time.Millisecond, Workers: 2,
		})
		stop := startClient(t, c)
		waitFor(t, "failed requests", func() bool { return c.Stats().Failed >= 3 })
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if st := c.Stats(); st.OK != 0 || st.Sent != st.Failed {
			t.Fatalf("stats %+v: want only failures", st)
		}
	})
}

func TestRunErrors(t *testing.T) {
	empty := newFakeSM(0)
	empty.labels = map[string]string{}
	tests := []struct {
		name    string
		cfg     demosvc.ClientConfig
		wantErr string
	}{
		{"no api", demosvc.ClientConfig{SecretID: secretID, URL: "http://x"}, "API"},
		{"no secret", demosvc.ClientConfig{API: empty, URL: "http://x"}, "SecretID"},
		{"bad url", demosvc.ClientConfig{API: empty, SecretID: secretID, URL: "/hello"}, "absolute URL"},
		{"no AWSCURRENT", demosvc.ClientConfig{API: empty, SecretID: secretID, URL: "http://x"}, secretID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := demosvc.NewClient(tc.cfg).Run(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Run = %v, want error mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestServiceEndpoints(t *testing.T) {
	s := newStack(t)
	tests := []struct {
		name, path, key string
		wantCode        int
		wantBody        string
	}{
		{"healthz needs no key", "/healthz", "", 200, `"ok":true`},
		{"hello without key", "/hello", "", 401, "missing API key"},
		{"hello with wrong key", "/hello", testKey(9), 401, "invalid API key"},
		{"hello", "/hello", testKey(0), 200, `"stage":"AWSCURRENT"`},
		{"usage", "/usage", testKey(0), 200, `"Fingerprint":"` + keyring.Fingerprint(testKey(0)) + `"`},
		{"unknown path", "/nope", testKey(0), 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := get(t, s.srv.URL+tc.path, tc.key)
			if code != tc.wantCode || !strings.Contains(body, tc.wantBody) {
				t.Fatalf("GET %s = %d %s, want %d containing %s", tc.path, code, body, tc.wantCode, tc.wantBody)
			}
			assertNoKeys(t, "response", body)
		})
	}

	t.Run("nil keyring", func(t *testing.T) {
		rec := httptest.NewRecorder()
		demosvc.NewService(nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/hello", nil))
		if rec.Code != http.StatusInternalServerError {
			t.Fatalf("code %d", rec.Code)
		}
	})
}

func TestTimeline(t *testing.T) {
	clock := testutil.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	tl := demosvc.NewTimeline(clock.Now)
	tl.Add("emulator started", "endpoint", "http://127.0.0.1:4566")
	clock.Advance(1500 * time.Millisecond)
	tl.Add("rotation 1 finished", "version", "1a2b3c4d", "key", "…wxyz", "note", "two words")
	clock.Advance(250 * time.Millisecond)
	tl.Add("odd", "dangling")
	tl.Add("done")

	var b bytes.Buffer
	tl.Print(&b)
	want := "" +
		"   +0.000s  emulator started     endpoint=http://127.0.0.1:4566\n" +
		"   +1.500s  rotation 1 finished  version=1a2b3c4d  key=…wxyz  note=\"two words\"\n" +
		"   +1.750s  odd                  !BADKEY=dangling\n" +
		"   +1.750s  done\n"
	if b.String() != want {
		t.Fatalf("Print:\n%s\nwant:\n%s", b.String(), want)
	}
	if ev := tl.Events(); len(ev) != 4 || ev[1].At != 1500*time.Millisecond {
		t.Fatalf("Events = %+v", ev)
	}

	var zero demosvc.Timeline // zero value works
	zero.Add("first")
	if ev := zero.Events(); len(ev) != 1 || ev[0].At != 0 {
		t.Fatalf("zero Timeline events %+v", ev)
	}
}

func TestPrintLabels(t *testing.T) {
	f := newFakeSM(0)
	f.putPending(1)
	f.finish() // 1 current, 0 previous
	f.putPending(2)
	f.finish() // 2 current, 1 previous, 0 unlabelled
	f.putPending(3)

	tests := []struct {
		name      string
		failGet   int // version whose read fails, -1 for none
		want      []string
		notWant   []string
		wantError bool
	}{
		{
			name:    "mid rotation",
			failGet: -1,
			want: []string{
				`secret "demo/api-key": 3 labelled version(s)`,
				"00000002  AWSCURRENT   " + keyring.Fingerprint(testKey(2)),
				"00000003  AWSPENDING   " + keyring.Fingerprint(testKey(3)),
				"00000001  AWSPREVIOUS  " + keyring.Fingerprint(testKey(1)),
			},
			notWant: []string{"00000000"},
		},
		{
			name:      "unreadable version",
			failGet:   3,
			want:      []string{"00000003  AWSPENDING   ?"},
			wantError: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.mu.Lock()
			f.failGet = map[string]bool{}
			if tc.failGet >= 0 {
				f.failGet[testVersion(tc.failGet)] = true
			}
			f.mu.Unlock()
			var b bytes.Buffer
			err := demosvc.PrintLabels(context.Background(), f, secretID, &b)
			if (err != nil) != tc.wantError {
				t.Fatalf("PrintLabels error = %v, want error %v", err, tc.wantError)
			}
			out := b.String()
			assertNoKeys(t, "labels output", out)
			if err != nil {
				assertNoKeys(t, "labels error", err.Error())
			}
			lines := strings.Split(out, "\n")
			for i, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
				if i > 0 && tc.failGet < 0 && !strings.Contains(lines[i+1], w) {
					t.Errorf("line %d = %q, want %q (order CURRENT, PENDING, PREVIOUS)", i+1, lines[i+1], w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output contains %q:\n%s", w, out)
				}
			}
		})
	}
}
