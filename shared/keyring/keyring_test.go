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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/keyring"
)

// Test keys. They are fake, but the tests still check that none of them ever
// appears in an error, a log line or a response body.
const (
	keyV1 = "sk-test-version-one-AAAA1111"
	keyV2 = "sk-test-version-two-BBBB2222"
	keyV3 = "sk-test-version-three-CCCC3333"
	keyV4 = "sk-test-version-four-DDDD4444"
	keyXX = "sk-test-not-a-real-key-XXXX9999"
)

var allKeys = []string{keyV1, keyV2, keyV3, keyV4, keyXX}

// fakeVersion is one secret version held by fakeSM.
type fakeVersion struct{ id, key string }

// fakeSM is a minimal keyring.SecretsAPI: a map stage -> version and a call
// counter.
type fakeSM struct {
	mu     sync.Mutex
	stages map[string]fakeVersion
	raw    map[string]string // stage -> SecretString override (for parsing tests)
	err    error             // if set, every call fails with it
	stErr  map[string]error  // per-stage failures
	calls  int
}

func newFake(stages map[string]fakeVersion) *fakeSM {
	return &fakeSM{stages: stages, raw: map[string]string{}, stErr: map[string]error{}}
}

func (f *fakeSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	stage := aws.ToString(in.VersionStage)
	if stage == "" {
		stage = keyring.StageCurrent
	}
	if err := f.stErr[stage]; err != nil {
		return nil, err
	}
	v, ok := f.stages[stage]
	if !ok {
		return nil, &types.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret value for staging label: " + stage)}
	}
	s, ok := f.raw[stage]
	if !ok {
		b, _ := json.Marshal(map[string]string{"api_key": v.key, "username": "svc"})
		s = string(b)
	}
	return &secretsmanager.GetSecretValueOutput{
		Name:          in.SecretId,
		VersionId:     aws.String(v.id),
		SecretString:  aws.String(s),
		VersionStages: []string{stage},
	}, nil
}

func (f *fakeSM) set(stage string, v fakeVersion) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stages[stage] = v
}

func (f *fakeSM) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeSM) setStageErr(stage string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stErr[stage] = err
}

// finishRotation moves AWSCURRENT to AWSPREVIOUS and AWSPENDING to AWSCURRENT.
func (f *fakeSM) finishRotation() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stages[keyring.StagePrevious] = f.stages[keyring.StageCurrent]
	f.stages[keyring.StageCurrent] = f.stages[keyring.StagePending]
	delete(f.stages, keyring.StagePending)
}

func (f *fakeSM) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func newClock() *testutil.FakeClock {
	return testutil.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

// assertNoKeys fails if any test key appears in s.
func assertNoKeys(t *testing.T, what, s string) {
	t.Helper()
	for _, k := range allKeys {
		if strings.Contains(s, k) {
			t.Fatalf("%s leaks a key value (fingerprint %s)", what, keyring.Fingerprint(k))
		}
	}
}

type env struct {
	fake  *fakeSM
	clock *testutil.FakeClock
	logs  *testutil.SyncBuffer
	kr    *keyring.Keyring
}

const (
	ttl     = 5 * time.Minute
	minRefr = time.Second
)

// threeStages is a secret in the middle of a rotation.
func threeStages() map[string]fakeVersion {
	return map[string]fakeVersion{
		keyring.StageCurrent:  {"v2-0000-current", keyV2},
		keyring.StagePending:  {"v3-0000-pending", keyV3},
		keyring.StagePrevious: {"v1-0000-previous", keyV1},
	}
}

func onlyCurrent() map[string]fakeVersion {
	return map[string]fakeVersion{keyring.StageCurrent: {"v1-0000-current", keyV1}}
}

func newEnv(t *testing.T, stages map[string]fakeVersion) *env {
	t.Helper()
	e := &env{fake: newFake(stages), clock: newClock(), logs: &testutil.SyncBuffer{}}
	kr, err := keyring.New(context.Background(), e.fake, keyring.Config{
		SecretID:           "svc/api-key",
		TTL:                ttl,
		MinRefreshInterval: minRefr,
		Now:                e.clock.Now,
		Logger:             slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.kr = kr
	t.Cleanup(func() { assertNoKeys(t, "log output", e.logs.String()) })
	return e
}

func TestVerifyStages(t *testing.T) {
	e := newEnv(t, threeStages())
	tests := []struct {
		name      string
		key       string
		wantOK    bool
		wantStage string
		wantVID   string
	}{
		{"current", keyV2, true, keyring.StageCurrent, "v2-0000-current"},
		{"pending", keyV3, true, keyring.StagePending, "v3-0000-pending"},
		{"previous", keyV1, true, keyring.StagePrevious, "v1-0000-previous"},
		{"unknown", keyXX, false, "", ""},
		{"empty", "", false, "", ""},
		{"prefix of a valid key", keyV2[:len(keyV2)-1], false, "", ""},
		{"valid key plus suffix", keyV2 + "x", false, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := e.kr.Verify(context.Background(), tc.key)
			if ok != tc.wantOK || m.Stage != tc.wantStage || m.VersionID != tc.wantVID {
				t.Fatalf("Verify = (%+v, %v), want stage %q version %q ok %v", m, ok, tc.wantStage, tc.wantVID, tc.wantOK)
			}
			if ok && m.Fingerprint != keyring.Fingerprint(tc.key) {
				t.Fatalf("fingerprint = %q, want %q", m.Fingerprint, keyring.Fingerprint(tc.key))
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name     string
		stages   map[string]fakeVersion
		raw      map[string]string
		field    string
		apiErr   error
		secretID string
		wantErr  []string // substrings the error must contain
		verify   string   // key that must verify if New succeeds
	}{
		{name: "only current is fine", stages: onlyCurrent(), verify: keyV1},
		{name: "current missing", stages: map[string]fakeVersion{keyring.StagePrevious: {"v1", keyV1}},
			wantErr: []string{"svc/api-key", `"api_key"`, "AWSCURRENT"}},
		{name: "api error", stages: onlyCurrent(), apiErr: errors.New("throttled"),
			wantErr: []string{"svc/api-key", "throttled"}},
		{name: "json field missing", stages: onlyCurrent(), field: "token",
			wantErr: []string{"svc/api-key", `"token"`}},
		{name: "custom field", stages: onlyCurrent(), raw: map[string]string{keyring.StageCurrent: `{"token":"` + keyV4 + `"}`},
			field: "token", verify: keyV4},
		{name: "non-JSON secret used whole", stages: onlyCurrent(), raw: map[string]string{keyring.StageCurrent: keyV4}, verify: keyV4},
		{name: "field not a string", stages: onlyCurrent(), raw: map[string]string{keyring.StageCurrent: `{"api_key":42}`},
			wantErr: []string{"not a string"}},
		{name: "malformed json-ish value", stages: onlyCurrent(), raw: map[string]string{keyring.StageCurrent: `{"api_key":"` + keyV4},
			verify: `{"api_key":"` + keyV4},
		{name: "empty secret id", stages: onlyCurrent(), secretID: "-", wantErr: []string{"SecretID"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(tc.stages)
			for k, v := range tc.raw {
				f.raw[k] = v
			}
			f.err = tc.apiErr
			id := "svc/api-key"
			if tc.secretID == "-" {
				id = ""
			}
			kr, err := keyring.New(context.Background(), f, keyring.Config{SecretID: id, Field: tc.field, Logger: slog.New(slog.DiscardHandler)})
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatal("New succeeded, want error")
				}
				assertNoKeys(t, "error", err.Error())
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if _, ok := kr.Verify(context.Background(), tc.verify); !ok {
				t.Fatal("expected key rejected")
			}
		})
	}
}

func TestRefreshOnUnknownKeyPicksUpNewVersion(t *testing.T) {
	e := newEnv(t, onlyCurrent())
	ctx := context.Background()
	e.clock.Advance(2 * minRefr)
	e.fake.set(keyring.StagePending, fakeVersion{"v2-new", keyV2})

	before := e.fake.Calls()
	m, ok := e.kr.Verify(ctx, keyV2)
	if !ok || m.Stage != keyring.StagePending || m.VersionID != "v2-new" {
		t.Fatalf("Verify(new key) = (%+v, %v), want AWSPENDING v2-new", m, ok)
	}
	if got := e.fake.Calls() - before; got != 3 {
		t.Fatalf("refresh made %d GetSecretValue calls, want 3 (one per label)", got)
	}
	// A known key must not cause any call.
	before = e.fake.Calls()
	for range 10 {
		if _, ok := e.kr.Verify(ctx, keyV1); !ok {
			t.Fatal("current key rejected")
		}
	}
	if got := e.fake.Calls() - before; got != 0 {
		t.Fatalf("known keys caused %d calls, want 0", got)
	}
}

func TestRefreshOnUnknownKeyIsRateLimited(t *testing.T) {
	tests := []struct {
		name      string
		advance   time.Duration // clock advance before the burst
		wantCalls int
	}{
		{"right after load", 0, 0},
		{"just under interval", minRefr - time.Nanosecond, 0},
		{"at interval", minRefr, 3},
		{"long after", time.Minute, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, onlyCurrent())
			e.clock.Advance(tc.advance)
			before := e.fake.Calls()
			var wg sync.WaitGroup
			for range 200 {
				wg.Go(func() {
					if _, ok := e.kr.Verify(context.Background(), keyXX); ok {
						t.Error("unknown key accepted")
					}
				})
			}
			wg.Wait()
			if got := e.fake.Calls() - before; got != tc.wantCalls {
				t.Fatalf("200 unknown keys caused %d calls, want %d", got, tc.wantCalls)
			}
			// Still limited until the interval passes again.
			e.clock.Advance(minRefr / 2)
			before = e.fake.Calls()
			e.kr.Verify(context.Background(), keyXX)
			if tc.wantCalls > 0 && e.fake.Calls() != before {
				t.Fatal("second refresh within MinRefreshInterval")
			}
		})
	}
}

func TestTTLRefresh(t *testing.T) {
	e := newEnv(t, map[string]fakeVersion{
		keyring.StageCurrent: {"v1", keyV1},
		keyring.StagePending: {"v2", keyV2},
	})
	ctx := context.Background()
	e.fake.finishRotation() // v2 current, v1 previous

	e.clock.Advance(ttl - time.Second)
	before := e.fake.Calls()
	if m, _ := e.kr.Verify(ctx, keyV1); m.Stage != keyring.StageCurrent {
		t.Fatalf("before TTL: stage %q, want stale AWSCURRENT", m.Stage)
	}
	if e.fake.Calls() != before {
		t.Fatal("refreshed before TTL")
	}

	e.clock.Advance(time.Second)
	if m, _ := e.kr.Verify(ctx, keyV1); m.Stage != keyring.StagePrevious {
		t.Fatalf("after TTL: stage %q, want AWSPREVIOUS", m.Stage)
	}
	if m, _ := e.kr.Verify(ctx, keyV2); m.Stage != keyring.StageCurrent {
		t.Fatalf("after TTL: new key stage %q, want AWSCURRENT", m.Stage)
	}
	if got := e.fake.Calls() - before; got != 3 {
		t.Fatalf("TTL refresh made %d calls, want 3", got)
	}
}

func TestFailingRefreshKeepsLastGoodKeys(t *testing.T) {
	e := newEnv(t, threeStages())
	ctx := context.Background()
	e.fake.setErr(errors.New("service unavailable"))

	// Explicit refresh reports the error, without key material.
	err := e.kr.Refresh(ctx)
	if err == nil {
		t.Fatal("Refresh succeeded against a failing API")
	}
	assertNoKeys(t, "refresh error", err.Error())

	// Lazy TTL refresh fails, logs, and the old set keeps working.
	e.clock.Advance(ttl)
	for _, k := range []string{keyV1, keyV2, keyV3} {
		if _, ok := e.kr.Verify(ctx, k); !ok {
			t.Fatalf("key %s rejected after failed refresh", keyring.Fingerprint(k))
		}
	}
	if _, ok := e.kr.Verify(ctx, keyXX); ok {
		t.Fatal("unknown key accepted")
	}
	if !strings.Contains(e.logs.String(), "keeping last good key set") {
		t.Fatalf("failed refresh not logged; logs:\n%s", e.logs.String())
	}

	// A failing AWSPREVIOUS fetch alone must not drop the previous key
	// either: the whole refresh fails and the last good set stays.
	e.fake.setErr(nil)
	e.fake.finishRotation() // would retire v1 if the refresh went through
	e.fake.setStageErr(keyring.StagePrevious, errors.New("throttling"))
	if err := e.kr.Refresh(ctx); err == nil || !strings.Contains(err.Error(), "AWSPREVIOUS") {
		t.Fatalf("Refresh with failing AWSPREVIOUS = %v, want error naming the stage", err)
	}
	if m, ok := e.kr.Verify(ctx, keyV1); !ok || m.Stage != keyring.StagePrevious {
		t.Fatalf("previous key after partial failure: (%+v, %v)", m, ok)
	}

	// Recovery installs the new set.
	e.fake.setStageErr(keyring.StagePrevious, nil)
	if err := e.kr.Refresh(ctx); err != nil {
		t.Fatalf("Refresh after recovery: %v", err)
	}
	if m, ok := e.kr.Verify(ctx, keyV3); !ok || m.Stage != keyring.StageCurrent {
		t.Fatalf("new current after recovery: (%+v, %v)", m, ok)
	}
	if _, ok := e.kr.Verify(ctx, keyV1); ok {
		t.Fatal("retired key still accepted after recovery")
	}
}

func TestUsage(t *testing.T) {
	e := newEnv(t, threeStages())
	ctx := context.Background()
	for range 3 {
		e.kr.Verify(ctx, keyV2)
	}
	e.clock.Advance(time.Minute)
	e.kr.Verify(ctx, keyV1)
	t1 := e.clock.Now()

	want := map[string]struct {
		stage    string
		accepted uint64
		lastUsed time.Time
	}{
		"v2-0000-current":  {keyring.StageCurrent, 3, t1.Add(-time.Minute)},
		"v3-0000-pending":  {keyring.StagePending, 0, time.Time{}},
		"v1-0000-previous": {keyring.StagePrevious, 1, t1},
	}
	check := func(t *testing.T) {
		t.Helper()
		for _, u := range e.kr.Usage() {
			w, ok := want[u.VersionID]
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
	e.fake.finishRotation()
	if err := e.kr.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	want["v1-0000-previous"] = struct {
		stage    string
		accepted uint64
		lastUsed time.Time
	}{"", 1, t1}
	want["v3-0000-pending"] = struct {
		stage    string
		accepted uint64
		lastUsed time.Time
	}{keyring.StageCurrent, 0, time.Time{}}
	want["v2-0000-current"] = struct {
		stage    string
		accepted uint64
		lastUsed time.Time
	}{keyring.StagePrevious, 3, t1.Add(-time.Minute)}
	check(t)
	if _, ok := e.kr.Verify(ctx, keyV1); ok {
		t.Fatal("key of a retired version still accepted")
	}
}

func TestMiddleware(t *testing.T) {
	e := newEnv(t, threeStages())
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
	e := newEnv(t, map[string]fakeVersion{
		keyring.StageCurrent: {"v1", keyV1},
		keyring.StagePending: {"v2", keyV2},
	})
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
		e.fake.finishRotation()
		for range 20 {
			e.clock.Advance(minRefr)
			if err := e.kr.Refresh(ctx); err != nil {
				t.Error(err)
			}
			_ = e.kr.Usage()
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
// subtle.ConstantTimeSelect, and has no early exit (break/return/goto)
// inside the loop, so every version is always compared.
func TestCompareIsConstantTimeByStructure(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "keyring.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range f.Imports {
		if imp.Path.Value == `"bytes"` {
			t.Error("keyring.go imports bytes: keys must not be compared with bytes.Equal")
		}
	}
	var loops int
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
			case *ast.IfStmt:
				t.Errorf("%v: branch inside the compare loop", fset.Position(s.Pos()))
			}
			return true
		})
		return true
	})
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
