package sqlcredtest

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/shared/fingerprint"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/sqlcred"
)

// ProviderKit is an engine's provider API, for TestProviderBasics.
type ProviderKit struct {
	// Name is the provider's name.
	Name string
	// New returns a provider with the zero Config.
	New func() interface {
		rotation.Provider
		rotation.UsageFingerprinter
	}
	StrategyOf      func(string) (sqlcred.Strategy, error)
	CABundleFromEnv func(getenv func(string) string) (*x509.CertPool, error)
	FromEnv         rotation.Factory
	// CAPEM is a PEM CA certificate (the test server's).
	CAPEM []byte
}

// TestProviderBasics runs the scenarios of a provider's pure functions
// against k: fingerprints (user and last four characters; the password's
// usage fingerprint), strategies (and the fields their errors name), the
// CA bundle from the environment (absolute, relative to the task root,
// missing, not PEM) and FromEnv.
func TestProviderBasics(t *testing.T, k ProviderKit) {
	t.Run("Fingerprint", func(t *testing.T) {
		p := k.New()
		for _, tc := range []struct{ value, want string }{
			{`{"username":"app","password":"0123456789abcdefWXYZ"}`, "app …WXYZ"},
			{`{"username":"app_clone","password":"short"}`, "app_clone"},
			{`{"username":"app"}`, "app"},
			{`{"password":"0123456789abcdefWXYZ"}`, ""},
			{`{"username":42,"password":"0123456789abcdefWXYZ"}`, ""},
			{`{"username":"a\u0007b","password":"0123456789abcdefWXYZ"}`, "a?b …WXYZ"},
			{"", ""}, {"not json", ""}, {"[]", ""}, {`{"x":`, ""},
		} {
			if got := p.Fingerprint(tc.value); got != tc.want {
				t.Errorf("Fingerprint(%s) = %q, want %q", tc.value, got, tc.want)
			}
		}
	})
	// Consumers log in with the password: the usage fingerprint is its
	// fingerprint, "" without one.
	t.Run("UsageFingerprint", func(t *testing.T) {
		p := k.New()
		for _, tc := range []struct{ value, want string }{
			{`{"username":"app","password":"0123456789abcdefWXYZ"}`, fingerprint.Of("0123456789abcdefWXYZ")},
			{`{"username":"app"}`, ""},
			{`{"username":"app","password":42}`, ""},
			{"not json", ""},
		} {
			if got := p.UsageFingerprint(tc.value); got != tc.want {
				t.Errorf("UsageFingerprint(%s) = %q, want %q", tc.value, got, tc.want)
			}
		}
	})
	t.Run("StrategyOf", func(t *testing.T) {
		for _, tc := range []struct {
			value string
			want  sqlcred.Strategy
			field string
		}{
			{`{"username":"app","masterarn":"arn:aws:secretsmanager:us-east-1:123456789012:secret:m"}`, sqlcred.StrategyAlternating, ""},
			{`{"username":"app","master_secret_arn":"arn:aws:secretsmanager:us-east-1:123456789012:secret:m"}`, sqlcred.StrategyAlternating, ""},
			{`{"username":"app"}`, sqlcred.StrategySingle, ""},
			{`{"username":"app","masterarn":""}`, "", "masterarn"},
			{`{"username":"app","masterarn":"a","master_secret_arn":"b"}`, "", "master_secret_arn"},
		} {
			got, err := k.StrategyOf(tc.value)
			switch {
			case tc.field != "" && (err == nil || !strings.Contains(err.Error(), tc.field)):
				t.Errorf("StrategyOf(%s): %v, want an error naming %s", tc.value, err, tc.field)
			case tc.field == "" && (err != nil || got != tc.want):
				t.Errorf("StrategyOf(%s) = %q, %v; want %q", tc.value, got, err, tc.want)
			}
		}
	})
	t.Run("CABundleFromEnv", func(t *testing.T) { testCABundleFromEnv(t, k) })
}

func testCABundleFromEnv(t *testing.T, k ProviderKit) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bundle.pem"), k.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.pem"), []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if pool, err := k.CABundleFromEnv(env(nil)); pool != nil || err != nil {
		t.Fatalf("unset: %v, %v; want the system's roots (nil)", pool, err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // "" for success
	}{
		{"absolute", map[string]string{sqlcred.EnvCABundle: filepath.Join(dir, "bundle.pem")}, ""},
		{"relative to the task root", map[string]string{sqlcred.EnvCABundle: "bundle.pem", "LAMBDA_TASK_ROOT": dir}, ""},
		{"missing", map[string]string{sqlcred.EnvCABundle: filepath.Join(dir, "nope.pem")}, "cannot read the CA bundle"},
		{"not PEM", map[string]string{sqlcred.EnvCABundle: filepath.Join(dir, "junk.pem")}, "no PEM certificate"},
	} {
		pool, err := k.CABundleFromEnv(env(tc.env))
		if tc.want == "" {
			if err != nil || pool == nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), sqlcred.EnvCABundle) {
			t.Errorf("%s: %v, want an error naming %s and saying %q", tc.name, err, sqlcred.EnvCABundle, tc.want)
		}
	}
	// The provider built from the environment verifies the server with it.
	p, err := k.FromEnv(context.Background(), rotation.Env{Getenv: env(map[string]string{sqlcred.EnvCABundle: filepath.Join(dir, "bundle.pem")})})
	if err != nil || p.Name() != k.Name {
		t.Fatalf("FromEnv: %v", err)
	}
}
