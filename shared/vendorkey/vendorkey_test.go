package vendorkey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/rotation"
)

// stages is a rotation.VersionReader over versions held in memory (the
// providers' tests run these checks against the Secrets Manager emulator).
type stages map[string]*rotation.Version

var _ rotation.VersionReader = stages(nil)

func (s stages) Stage(_ context.Context, st string) (*rotation.Version, error) {
	if v, ok := s[st]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("stage %s: %w", st, rotation.ErrNoVersion)
}
func (s stages) Created(context.Context, string) (time.Time, error) { return time.Time{}, nil }
func (s stages) Admin(context.Context) (*rotation.Admin, error)     { return nil, nil }

func idOf(value string) string { return strings.TrimPrefix(value, "id=") }

func TestRefuseLive(t *testing.T) {
	cur := &rotation.Version{ID: "v-cur", Stages: []string{rotation.StageCurrent}, Value: "id=K1"}
	pend := &rotation.Version{ID: "v-pend", Stages: []string{rotation.StagePending}, Value: "id=K3"}
	prev := &rotation.Version{ID: "v-prev", Stages: []string{rotation.StagePrevious}, Value: "id=K2"}
	tests := []struct {
		name    string
		version *rotation.Version
		want    string // "" = allowed
	}{
		{"previous", prev, ""},
		{"current", cur, "refusing to delete key K1: its version v-cur is AWSCURRENT"},
		{"pending", pend, "refusing to delete key K3: its version v-pend is AWSPENDING"},
		{"old version naming the current key", &rotation.Version{ID: "v-old", Value: "id=K1"}, "refusing to delete key K1: the AWSCURRENT version v-cur names it too"},
		{"old version naming the pending key", &rotation.Version{ID: "v-old", Value: "id=K3"}, "refusing to delete key K3: the AWSPENDING version v-pend names it too"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := &rotation.CredentialRequest{SecretID: "s", Version: tc.version,
				Versions: stages{rotation.StageCurrent: cur, rotation.StagePending: pend, rotation.StagePrevious: prev}}
			err := RefuseLive(context.Background(), req, "delete", "key", idOf(tc.version.Value), idOf)
			if got := fmt.Sprint(err); (tc.want == "" && err != nil) || (tc.want != "" && got != tc.want) {
				t.Fatalf("RefuseLive = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	parse := func(v string) (string, error) {
		if v == "" {
			return "", errors.New("field id is missing")
		}
		return idOf(v), nil
	}
	tests := []struct {
		name string
		req  *rotation.CredentialRequest
		want string
		err  string
	}{
		{"nil request", nil, "", "prov: the request names no version"},
		{"no version", &rotation.CredentialRequest{}, "", "prov: the request names no version"},
		{"bad value", &rotation.CredentialRequest{Version: &rotation.Version{ID: "v1"}}, "", "version v1: field id is missing"},
		{"good", &rotation.CredentialRequest{Version: &rotation.Version{ID: "v1", Value: "id=K"}}, "K", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Version(tc.req, "prov", parse)
			if fmt.Sprint(err) != tc.err && !(tc.err == "" && err == nil) {
				t.Fatalf("error = %v, want %q", err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("Version = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDurations(t *testing.T) {
	tests := []struct {
		name            string
		env             map[string]string
		timeout, budget time.Duration
		err             string
	}{
		{"unset", nil, 0, 0, ""},
		{"set", map[string]string{"T": "10s", "B": "15m"}, 10 * time.Second, 15 * time.Minute, ""},
		{"timeout too long", map[string]string{"T": "6m"}, 0, 0, `environment variable T="6m": must be a duration from 1s to 5m0s, such as 30s`},
		{"budget too long", map[string]string{"B": "16m"}, 0, 0, `environment variable B="16m": must be a duration from 1s to 15m0s, such as 30s`},
		{"not a duration", map[string]string{"B": "soon"}, 0, 0, `environment variable B="soon": must be a duration from 1s to 15m0s, such as 30s`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			to, b, err := Durations(func(k string) string { return tc.env[k] }, "T", "B", "30s")
			if (err == nil) != (tc.err == "") || (err != nil && err.Error() != tc.err) {
				t.Fatalf("error = %v, want %q", err, tc.err)
			}
			if to != tc.timeout || b != tc.budget {
				t.Fatalf("Durations = %s, %s, want %s, %s", to, b, tc.timeout, tc.budget)
			}
		})
	}
}

func TestPropagate(t *testing.T) {
	refused := errors.New("401")
	tests := []struct {
		name      string
		budget    time.Duration
		refusals  int // try refuses this many times, then succeeds
		wantErr   string
		wantTries int
		wantWaits []time.Duration
	}{
		{"accepted at once", 30 * time.Second, 0, "", 1, nil},
		{"accepted after backoff", 30 * time.Second, 5, "", 6, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}},
		{"budget spent", 10 * time.Second, 100, "gave up: 401", 4, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := testutil.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			var waits []time.Duration
			b := New(Settings{Name: "p", PropagationBudget: tc.budget, Now: clock.Now, Sleep: func(_ context.Context, d time.Duration) error {
				waits = append(waits, d)
				clock.Advance(d)
				return nil
			}})
			tries := 0
			err := b.Propagate(context.Background(), func() (bool, error) {
				tries++
				if tries <= tc.refusals {
					return true, refused
				}
				return false, nil
			}, func(last error) error { return fmt.Errorf("gave up: %w", last) })
			if (err == nil) != (tc.wantErr == "") || (err != nil && err.Error() != tc.wantErr) {
				t.Fatalf("error = %v, want %q", err, tc.wantErr)
			}
			if tc.wantErr != "" && !errors.Is(err, refused) {
				t.Fatalf("error %v does not wrap the last refusal", err)
			}
			if tries != tc.wantTries || fmt.Sprint(waits) != fmt.Sprint(tc.wantWaits) {
				t.Fatalf("tries %d waits %v, want %d %v", tries, waits, tc.wantTries, tc.wantWaits)
			}
		})
	}
}

func TestPropagateStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := New(Settings{Name: "p", DefaultPropagationBudget: time.Minute})
	err := b.Propagate(ctx, func() (bool, error) { return true, errors.New("401") }, func(last error) error { return last })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Propagate = %v, want context.Canceled", err)
	}
}

func TestNewDefaults(t *testing.T) {
	b := New(Settings{Name: "p", DefaultTimeout: 20 * time.Second, DefaultPropagationBudget: 90 * time.Second})
	if b.Budget != 90*time.Second || b.HTTP.Timeout != 20*time.Second || b.Now == nil || b.Sleep == nil || b.Log == nil ||
		b.HTTP.RateLimit.Now == nil || b.HTTP.RateLimit.Sleep == nil {
		t.Fatalf("defaults not applied: %+v", b)
	}
	b = New(Settings{Name: "p", Timeout: time.Second, DefaultTimeout: 20 * time.Second, PropagationBudget: 5 * time.Second, DefaultPropagationBudget: 90 * time.Second})
	if b.Budget != 5*time.Second || b.HTTP.Timeout != time.Second {
		t.Fatalf("settings not kept: budget %s timeout %s", b.Budget, b.HTTP.Timeout)
	}
}

func TestKeepDiscarded(t *testing.T) {
	cur := &rotation.Version{ID: "v-cur", Stages: []string{rotation.StageCurrent}, Value: "id=K1"}
	pend := &rotation.Version{ID: "tok", Stages: []string{rotation.StagePending}, Value: "id=K2"}
	tests := []struct {
		name    string
		destroy bool
		id      string
		keep    bool
		log     string
	}{
		{"not destroy", false, "K2", true, `"msg":"the new key may have been stored after all, and Vendor cannot disable a key: it is left as it is; if it was not stored, the next createSecret of this version deletes it","provider":"p","secret":"s","token":"tok","key_id":"K2"`},
		{"destroy, named by AWSCURRENT", true, "K1", true, `"msg":"not deleting the key: a stored version names it","provider":"p","secret":"s","key_id":"K1","stage":"AWSCURRENT"`},
		{"destroy, named only by its own version", true, "K2", false, ""},
		{"destroy, named by none", true, "K9", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs testutil.SyncBuffer
			b := New(Settings{Name: "p", Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			req := &rotation.DiscardRequest{SecretID: "s", Token: "tok", Destroy: tc.destroy, Value: "id=" + tc.id,
				Versions: stages{rotation.StageCurrent: cur, rotation.StagePending: pend}}
			if got := b.KeepDiscarded(context.Background(), req, "Vendor", "key_id", tc.id, idOf); got != tc.keep {
				t.Fatalf("KeepDiscarded = %v, want %v", got, tc.keep)
			}
			if (tc.log == "") != (logs.String() == "") || !strings.Contains(logs.String(), tc.log) {
				t.Fatalf("logs %q, want %q", logs.String(), tc.log)
			}
		})
	}
}

func TestTestValues(t *testing.T) {
	parse := func(v string) (string, error) {
		if !strings.HasPrefix(v, "id=") {
			return "", errors.New("field id is missing")
		}
		return idOf(v), nil
	}
	cur := &rotation.Version{ID: "v-cur", Value: "id=K1"}
	tests := []struct {
		name      string
		pending   string
		versions  stages
		p, c, err string
	}{
		{"good", "id=K2", stages{rotation.StageCurrent: cur}, "K2", "K1", ""},
		{"bad pending", "x", stages{rotation.StageCurrent: cur}, "", "", "pending version: field id is missing"},
		{"no current", "id=K2", stages{}, "K2", "", "read AWSCURRENT: stage AWSCURRENT: "},
		{"bad current", "id=K2", stages{rotation.StageCurrent: {ID: "v-cur", Value: "x"}}, "K2", "", "current version: field id is missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := &rotation.TestRequest{Pending: &rotation.Version{ID: "v-pend", Value: tc.pending}, Versions: tc.versions}
			p, c, err := TestValues(context.Background(), req, parse, parse)
			if (err == nil) != (tc.err == "") || (err != nil && !strings.HasPrefix(err.Error(), tc.err)) || (err == nil && (p != tc.p || c != tc.c)) {
				t.Fatalf("TestValues = %q, %q, %v; want %q, %q, %q", p, c, err, tc.p, tc.c, tc.err)
			}
		})
	}
}
