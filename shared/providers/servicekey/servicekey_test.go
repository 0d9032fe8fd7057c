package servicekey_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dualkey/dualkey/internal/demosvc"
	"github.com/dualkey/dualkey/shared/fingerprint"
	"github.com/dualkey/dualkey/shared/keyring"
	"github.com/dualkey/dualkey/shared/providers/servicekey"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

const initialKey = "svc_initial0123456789abcdefghijklmnopqrstuvwxyzAB"

// service is a demo API protected by a keyring over the kit's secret, as a
// real consumer of internal keys would run it.
type service struct {
	env  *rotationtest.Env
	srv  *httptest.Server
	mu   sync.Mutex
	kr   *keyring.Keyring
	hits int
}

func newService(t testing.TB, env *rotationtest.Env) *service {
	s := &service{env: env}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	t.Cleanup(func() { // before the server closes (cleanups run last first)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.kr != nil {
			s.kr.Close()
		}
	})
	return s
}

func (s *service) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits++
	if s.kr == nil {
		kr, err := keyring.New(r.Context(), s.env.SM, keyring.Config{SecretID: rotationtest.SecretName, MinRefreshInterval: time.Nanosecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			s.mu.Unlock()
			http.Error(w, "keyring: "+err.Error(), http.StatusInternalServerError)
			return
		}
		s.kr = kr
	}
	kr := s.kr
	s.mu.Unlock()
	demosvc.NewService(kr).ServeHTTP(w, r)
}

// works asks the service with the key in value.
func (s *service) works(ctx context.Context, value string) error {
	sec, err := servicekey.Parse(value)
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.srv.URL+"/hello", nil)
	req.Header.Set("Authorization", "Bearer "+sec.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("service answered HTTP %d for key %s: %s", resp.StatusCode, rotation.LastFour(sec.APIKey), strings.TrimSpace(string(b)))
	}
	return nil
}

func subject(extra string) rotationtest.Subject {
	return rotationtest.Subject{
		OldStaysValid: true,
		Setup: func(t testing.TB, env *rotationtest.Env) *rotationtest.Fixture {
			svc := newService(t, env)
			return &rotationtest.Fixture{
				Initial: `{"api_key":"` + initialKey + `","verify_url":"` + svc.srv.URL + `/hello","key_prefix":"svc_"` + extra + `}`,
				NewProvider: func(c *http.Client) rotation.Provider {
					return servicekey.New(servicekey.DefaultSettings, c)
				},
				Works: svc.works,
			}
		},
	}
}

func TestConformance(t *testing.T) {
	rotationtest.Run(t, subject(""))
}

func TestKeyShape(t *testing.T) {
	ctx := context.Background()
	env := rotationtest.NewEnv(t, subject(`,"key_length":20,"exclude_characters":"abcdefABCDEF","team":"payments"`))
	arn := env.CreateSecret(ctx)
	if _, err := env.Rotate(ctx, arn); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(env.Value(ctx, arn, rotation.StageCurrent)), &got); err != nil {
		t.Fatal(err)
	}
	key, _ := got["api_key"].(string)
	if !strings.HasPrefix(key, "svc_") || len(key) != 4+20 || strings.ContainsAny(key[4:], "abcdefABCDEF") {
		t.Fatalf("new key %s has the wrong shape (want svc_ + 20 chars without a-f/A-F)", rotation.LastFour(key))
	}
	if got["team"] != "payments" || got["key_length"] != float64(20) {
		t.Fatalf("fields were not carried over: %v", got["team"])
	}
	if key == initialKey {
		t.Fatal("key did not change")
	}
}

func TestVerifyURLRefusal(t *testing.T) {
	cases := []struct {
		name     string
		status   int
		attempts int
	}{
		{"unauthorized is retried", http.StatusUnauthorized, 4},
		{"server error is retried", http.StatusBadGateway, 4},
		{"not found is final", http.StatusNotFound, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				calls++
				mu.Unlock()
				w.WriteHeader(c.status)
			}))
			defer srv.Close()
			p := servicekey.New(servicekey.DefaultSettings, nil)
			slept := 0
			p.Sleep = func(context.Context, time.Duration) error { slept++; return nil }
			pending := `{"api_key":"` + initialKey + `","verify_url":"` + srv.URL + `"}`
			err := p.Test(context.Background(), &rotation.TestRequest{
				SecretID: "arn:test", Pending: &rotation.Version{Value: pending}, Versions: noVersions{},
			})
			if err == nil || !strings.Contains(err.Error(), fmt.Sprint(c.status)) {
				t.Fatalf("got %v, want a refusal naming HTTP %d", err, c.status)
			}
			if strings.Contains(err.Error(), initialKey) {
				t.Fatal("error contains the key")
			}
			if calls != c.attempts || slept != c.attempts-1 {
				t.Fatalf("%d calls and %d waits, want %d calls", calls, slept, c.attempts)
			}
		})
	}
}

type noVersions struct{}

func (noVersions) Stage(context.Context, string) (*rotation.Version, error) {
	return nil, rotation.ErrNoVersion
}

func (noVersions) Created(context.Context, string) (time.Time, error) {
	return time.Time{}, rotation.ErrNoVersion
}

func (noVersions) Admin(context.Context) (*rotation.Admin, error) { return nil, nil }

func TestSettingsFromEnv(t *testing.T) {
	cases := []struct {
		env     map[string]string
		want    servicekey.Settings
		wantErr string
	}{
		{env: nil, want: servicekey.DefaultSettings},
		{env: map[string]string{"DUALKEY_KEY_LENGTH": "64", "DUALKEY_KEY_EXCLUDE_PUNCTUATION": "false", "DUALKEY_KEY_EXCLUDE_CHARACTERS": "O0"},
			want: servicekey.Settings{KeyLength: 64, ExcludeCharacters: "O0"}},
		{env: map[string]string{"DUALKEY_KEY_LENGTH": "8"}, wantErr: "DUALKEY_KEY_LENGTH"},
		{env: map[string]string{"DUALKEY_KEY_LENGTH": "x"}, wantErr: "DUALKEY_KEY_LENGTH"},
		{env: map[string]string{"DUALKEY_KEY_EXCLUDE_PUNCTUATION": "maybe"}, wantErr: "DUALKEY_KEY_EXCLUDE_PUNCTUATION"},
	}
	for _, c := range cases {
		got, err := servicekey.SettingsFromEnv(func(k string) string { return c.env[k] })
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%v: got %v, want error naming %s", c.env, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%v: got %+v, %v; want %+v", c.env, got, err, c.want)
		}
	}
}

func TestFingerprint(t *testing.T) {
	p := servicekey.New(servicekey.DefaultSettings, nil)
	for _, c := range []struct{ value, want string }{
		{`{"api_key":"` + initialKey + `"}`, "…" + initialKey[len(initialKey)-4:]},
		{`{"api_key":"short"}`, ""},
		{`not json`, ""},
	} {
		if got := p.Fingerprint(c.value); got != c.want {
			t.Errorf("Fingerprint: got %q, want %q", got, c.want)
		}
	}
	if !errors.Is(rotation.SecretFieldError("x", "y", ""), rotation.ErrInvalidSecret) {
		t.Fatal("field errors must match ErrInvalidSecret")
	}
}

// The usage fingerprint is the one consumers log for the key they send:
// fingerprint.FromRequest on the request testSecret sends to verify_url
// (a bearer token, or the bare key in verify_header) equals it.
func TestUsageFingerprint(t *testing.T) {
	for _, header := range []string{"", "X-Api-Key"} {
		var seen string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen = fingerprint.FromRequest(r, header)
		}))
		value := `{"api_key":"` + initialKey + `","verify_url":"` + srv.URL + `","verify_header":"` + header + `"}`
		p := servicekey.New(servicekey.DefaultSettings, nil)
		err := p.Test(context.Background(), &rotation.TestRequest{SecretID: "arn:test", Pending: &rotation.Version{Value: value}, Versions: noVersions{}})
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := p.UsageFingerprint(value); got != fingerprint.Of(initialKey) || got != seen {
			t.Errorf("verify_header %q: UsageFingerprint %q, the request's %q, want %q", header, got, seen, fingerprint.Of(initialKey))
		}
	}
	p := servicekey.New(servicekey.DefaultSettings, nil)
	for _, v := range []string{`{}`, `{"api_key":42}`, `not json`} {
		if got := p.UsageFingerprint(v); got != "" {
			t.Errorf("UsageFingerprint(%s) = %q, want \"\"", v, got)
		}
	}
}
