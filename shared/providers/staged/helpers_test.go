package staged_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/providers/staged"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
	"github.com/dualkey/dualkey/shared/vendorkey/vendorkeytest"
)

// vendor is an in-process fake of a payment API whose keys are rolled in
// its dashboard only, answering like Braintree's GraphQL API: POST /graphql
// with HTTP basic auth (public key, private key) and a Braintree-Version
// header; 401 for an unknown or revoked key; query { ping } and
// query { viewer { merchant { id } } }. It also serves GET /v1/me with a
// bearer token, for header-authenticated probes. No such server exists to
// run, so the fake enforces auth as the real API does.
type vendor struct {
	srv *httptest.Server
	mu  sync.Mutex
	// keys maps a public key (or a bearer token) to its key.
	keys map[string]*vendorKey
	// seen counts requests that carried a credential in the URL.
	leakyURLs int
}

type vendorKey struct {
	public, private string
	merchant        string
	revoked         bool
}

func newVendor(t testing.TB) *vendor {
	v := &vendor{keys: map[string]*vendorKey{}}
	v.srv = httptest.NewServer(http.HandlerFunc(v.serve))
	t.Cleanup(v.srv.Close)
	return v
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newKey issues a key pair (or a token, as public) for a merchant.
func (v *vendor) newKey(merchant string) *vendorKey {
	k := &vendorKey{public: "pk" + randomHex(8), private: "sk" + randomHex(16), merchant: merchant}
	v.mu.Lock()
	v.keys[k.public] = k
	v.keys["tok_"+k.private] = k
	v.mu.Unlock()
	return k
}

func (v *vendor) revoke(k *vendorKey) {
	v.mu.Lock()
	k.revoked = true
	v.mu.Unlock()
}

func (v *vendor) serve(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if r.URL.User != nil || strings.Contains(r.URL.RawQuery, "sk") {
		v.leakyURLs++
	}
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/graphql":
		if r.Method != http.MethodPost || r.Header.Get("Braintree-Version") == "" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"errors":[{"message":"bad request"}]}`)
			return
		}
		pub, priv, ok := r.BasicAuth()
		k := v.keys[pub]
		if !ok || k == nil || k.private != priv || k.revoked {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"message":"Authentication credentials are invalid"}}`)
			return
		}
		var q struct{ Query string }
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &q)
		switch {
		case strings.Contains(q.Query, "viewer"):
			fmt.Fprintf(w, `{"data":{"viewer":{"merchant":{"id":%q}}},"extensions":{"requestId":"r"}}`, k.merchant)
		case strings.Contains(q.Query, "ping"):
			_, _ = io.WriteString(w, `{"data":{"ping":"pong"},"extensions":{"requestId":"r"}}`)
		default:
			_, _ = io.WriteString(w, `{"data":null,"errors":[{"message":"unknown query"}]}`)
		}
	case "/v1/me":
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		k := v.keys["tok_"+tok]
		if !ok || k == nil || k.revoked {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid token"}`)
			return
		}
		fmt.Fprintf(w, `{"account":{"id":%q}}`, k.merchant)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// Probe declarations the tests use.
func braintreeProbe(url string, identity bool) map[string]any {
	p := map[string]any{
		"method":        "POST",
		"url":           url + "/graphql",
		"auth":          map[string]any{"basic": map[string]any{"username_field": "public_key", "password_field": "private_key"}},
		"headers":       map[string]any{"Braintree-Version": "2019-01-01", "Content-Type": "application/json"},
		"body":          `{"query": "query { ping }"}`,
		"expect_status": 200,
	}
	if identity {
		p["body"] = `{"query": "query { viewer { merchant { id } } }"}`
		p["identity"] = map[string]any{"pointer": "/data/viewer/merchant/id"}
	}
	return p
}

func bearerProbe(url string) map[string]any {
	return map[string]any{
		"url":      url + "/v1/me",
		"auth":     map[string]any{"header": "Authorization", "prefix": "Bearer ", "field": "token"},
		"identity": map[string]any{"pointer": "/account/id"},
	}
}

// kind is how a bed's secret holds its credential.
type kind int

const (
	basicKind  kind = iota // public_key + private_key, Braintree-like, with identity
	pingKind               // public_key + private_key, ping only (no identity)
	bearerKind             // token in a bearer header, with identity
)

// bed is one test world: the kit's emulator and engine and a vendor.
type bed struct {
	t      testing.TB
	env    *rotationtest.Env
	vendor *vendor
	kind   kind
	first  *vendorKey
}

func (b *bed) credFields(k *vendorKey) map[string]any {
	if b.kind == bearerKind {
		return map[string]any{"token": k.private}
	}
	return map[string]any{"public_key": k.public, "private_key": k.private}
}

func (b *bed) initial() string {
	m := b.credFields(b.first)
	switch b.kind {
	case basicKind:
		m["probe"] = braintreeProbe(b.vendor.srv.URL, true)
	case pingKind:
		m["probe"] = braintreeProbe(b.vendor.srv.URL, false)
	case bearerKind:
		m["probe"] = bearerProbe(b.vendor.srv.URL)
	}
	m["environment"] = "sandbox"
	out, _ := json.Marshal(m)
	return string(out)
}

func subject(k kind, stageEachRotation bool, out **bed) rotationtest.Subject {
	return rotationtest.Subject{
		OldStaysValid: true,
		Setup: func(t testing.TB, env *rotationtest.Env) *rotationtest.Fixture {
			b := &bed{t: t, env: env, vendor: newVendor(t), kind: k}
			b.first = b.vendor.newKey("merchant-orders")
			if out != nil {
				*out = b
			}
			f := &rotationtest.Fixture{
				Initial: b.initial(),
				NewProvider: func(c *http.Client) rotation.Provider {
					return staged.New(staged.Config{HTTPClient: c})
				},
				Works: b.works,
			}
			if stageEachRotation {
				f.BeforeRotation = func(ctx context.Context, _ *rotationtest.Env, arn string) {
					b.stage(ctx, arn, b.credFields(b.vendor.newKey("merchant-orders")))
				}
			}
			return f
		},
	}
}

// works asks the vendor whether the value's credential works.
func (b *bed) works(ctx context.Context, value string) error {
	var m map[string]any
	if err := json.Unmarshal([]byte(value), &m); err != nil {
		return err
	}
	var req *http.Request
	if b.kind == bearerKind {
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, b.vendor.srv.URL+"/v1/me", nil)
		req.Header.Set("Authorization", fmt.Sprintf("Bearer %v", m["token"]))
	} else {
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, b.vendor.srv.URL+"/graphql", strings.NewReader(`{"query":"query { ping }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Braintree-Version", "2019-01-01")
		req.SetBasicAuth(fmt.Sprint(m["public_key"]), fmt.Sprint(m["private_key"]))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the vendor answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// stage does what dualkey stage does: the current value with the new
// credential fields (and the old one's expiry only when given), labelled
// DUALKEY_INCOMING.
func (b *bed) stage(ctx context.Context, arn string, fields map[string]any) {
	b.t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(b.env.Value(ctx, arn, rotation.StageCurrent)), &m); err != nil {
		b.t.Fatal(err)
	}
	delete(m, staged.FieldPreviousKeyExpiresAt)
	for k, v := range fields {
		m[k] = v
	}
	out, err := json.Marshal(m)
	if err != nil {
		b.t.Fatal(err)
	}
	value := string(out)
	if _, err := b.env.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(arn), SecretString: aws.String(value), VersionStages: []string{rotation.StageIncoming},
	}); err != nil {
		b.t.Fatal(err)
	}
}

func newBed(t *testing.T, k kind) (*bed, string) {
	t.Helper()
	var b *bed
	env := rotationtest.NewEnv(t, subject(k, false, &b))
	return b, env.CreateSecret(context.Background())
}

func (b *bed) rotate(ctx context.Context, arn string) (string, error) {
	b.t.Helper()
	return vendorkeytest.Rotate(ctx, b.t, b.env, arn)
}

// versions is a rotation.VersionReader over fixed versions.
type versions = vendorkeytest.Versions

func noSecret(t testing.TB, what, text string, secrets ...string) {
	t.Helper()
	vendorkeytest.NoSecret(t, what, "a secret", text, secrets...)
}

// putValue stores a value with the given labels (nil: AWSCURRENT).
func (b *bed) putValue(ctx context.Context, arn, value string, stages []string) {
	b.t.Helper()
	if _, err := b.env.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(arn), SecretString: aws.String(value), VersionStages: stages,
	}); err != nil {
		b.t.Fatal(err)
	}
}
