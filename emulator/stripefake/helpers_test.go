package stripefake_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/dualkey/dualkey/emulator/stripefake"
	"github.com/dualkey/dualkey/internal/testutil"
)

// start runs a fake on loopback with a fake clock and returns it, its URL
// and the clock.
func start(t *testing.T) (*stripefake.Server, string, *testutil.FakeClock) {
	t.Helper()
	clock := testutil.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s := stripefake.New(stripefake.Config{Now: clock.Now})
	url, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, url, clock
}

// newClient is the real stripe-go/v76 client pointed at base, with logging
// off (stripe-go logs error bodies by default) and the given retries.
func newClient(base, key string, retries int64) *client.API {
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:               stripe.String(base),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
		MaxNetworkRetries: stripe.Int64(retries),
	})
	sc := &client.API{}
	sc.Init(key, &stripe.Backends{API: backend, Connect: backend, Uploads: backend})
	return sc
}

// mustAccount creates an account with one secret test key.
func mustAccount(t *testing.T, s *stripefake.Server, name string) (stripefake.Account, stripefake.Key) {
	t.Helper()
	a, err := s.CreateAccount(stripefake.AccountOptions{BusinessName: name, Email: name + "@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.CreateKey(a.ID, stripefake.KeySpec{Name: name + " default"})
	if err != nil {
		t.Fatal(err)
	}
	return a, k
}

// stripeErr extracts the *stripe.Error from err.
func stripeErr(t *testing.T, err error) *stripe.Error {
	t.Helper()
	if err == nil {
		t.Fatal("call succeeded, want a Stripe error")
	}
	se, ok := err.(*stripe.Error)
	if !ok {
		t.Fatalf("error %T %v is not a *stripe.Error", err, err)
	}
	return se
}

// shapeDiff compares the JSON shapes of got (the fake) and want
// (stripe-mock): object key sets, recursively, and value types; values may
// differ. null matches any type (both Stripe and stripe-mock return null for
// unset fields). Arrays compare element shapes when both are non-empty.
// freeForm paths (like metadata) are maps whose keys are data, so only their
// values' types are compared. extra lists "path.key" entries allowed in got
// only.
func shapeDiff(path string, got, want any, freeForm map[string]bool, extra map[string]bool) []string {
	if got == nil || want == nil {
		return nil
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: fake has %T, stripe-mock an object", path, got)}
		}
		if freeForm[leaf(path)] {
			var out []string
			for k, gv := range g {
				if _, isStr := gv.(string); !isStr {
					out = append(out, fmt.Sprintf("%s.%s: free-form value is %T, want string", path, k, gv))
				}
			}
			return out
		}
		var out []string
		for k := range w {
			if _, ok := g[k]; !ok {
				out = append(out, fmt.Sprintf("%s.%s: missing in the fake", path, k))
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok && !extra[path+"."+k] {
				out = append(out, fmt.Sprintf("%s.%s: only in the fake", path, k))
			}
		}
		for k, wv := range w {
			if gv, ok := g[k]; ok {
				out = append(out, shapeDiff(path+"."+k, gv, wv, freeForm, extra)...)
			}
		}
		sort.Strings(out)
		return out
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: fake has %T, stripe-mock an array", path, got)}
		}
		if len(g) == 0 || len(w) == 0 {
			return nil
		}
		var out []string
		for i, gv := range g {
			out = append(out, shapeDiff(fmt.Sprintf("%s[%d]", path, i), gv, w[0], freeForm, extra)...)
		}
		return out
	default:
		if fmt.Sprintf("%T", got) != fmt.Sprintf("%T", want) {
			return []string{fmt.Sprintf("%s: fake has %T, stripe-mock %T", path, got, want)}
		}
		return nil
	}
}

func leaf(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

func decode(t *testing.T, raw []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("response is not JSON: %v", err)
	}
	return v
}
