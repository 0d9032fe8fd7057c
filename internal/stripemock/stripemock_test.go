package stripemock

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/dualkey/dualkey/internal/testutil"
)

// TestStartServesStripeAPI starts the pinned stripe-mock and calls it through
// the real stripe-go client: GET /v1/account answers an account object.
func TestStartServesStripeAPI(t *testing.T) {
	url := StartT(t)
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("URL = %q, want a loopback HTTP URL", url)
	}
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:           stripe.String(url),
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	sc := &client.API{}
	sc.Init("sk_test_123", &stripe.Backends{API: backend, Connect: backend, Uploads: backend})
	acct, err := sc.Accounts.Get()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(acct.ID, "acct_") || acct.Object != "account" {
		t.Fatalf("account = %q/%q, want acct_… / account", acct.ID, acct.Object)
	}
}

// TestFindRejects covers the two ways Find refuses: nothing there, and a
// binary that is not the pinned stripe-mock. Both name the install command.
func TestFindRejects(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		candidates []string
		want       string
	}{
		{"missing", []string{filepath.Join(t.TempDir(), "stripe-mock")}, "not found in"},
		{"not stripe-mock", []string{self}, "not " + Module},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := find(tc.candidates)
			testutil.ErrorContains(t, err, tc.want, InstallCommand)
		})
	}
}

// TestCloseStopsProcess proves Close waits for the process to end and is
// safe to call twice.
func TestCloseStopsProcess(t *testing.T) {
	p, err := Start(t.Context(), testutil.Need(t, Find))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if p.proc.ProcessState() == nil {
		t.Fatal("process state unknown after Close")
	}
	if err := p.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}
