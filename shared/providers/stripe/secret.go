package stripe

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/dualkey/dualkey/shared/rotation"
)

// Fields of the secret value.
const (
	FieldAPIKey    = "api_key"
	FieldAccountID = "account_id"
	FieldProbes    = "probes"
	// FieldPreviousKeyExpiresAt is when Stripe expires the key that the
	// version holding it replaced (RFC 3339), as the operator chose when
	// rolling the key; dualkey stage writes it into the staged version and
	// createSecret carries it into the pending one.
	FieldPreviousKeyExpiresAt = "previous_key_expires_at"
)

// MaxProbes bounds the probe reads one secret may declare.
const MaxProbes = 10

// Secret is the decoded secret value. Its String and GoString methods hide
// the key.
type Secret struct {
	APIKey    string   `json:"api_key"`
	AccountID string   `json:"account_id,omitempty"`
	Probes    []string `json:"probes,omitempty"`
	// PreviousKeyExpiresAt is the raw previous_key_expires_at.
	PreviousKeyExpiresAt string `json:"previous_key_expires_at,omitempty"`

	kind    Kind
	expires time.Time
	probes  []probe
}

// String implements fmt.Stringer without the key.
func (s Secret) String() string {
	return fmt.Sprintf("{APIKey:%s AccountID:%s Probes:%d}", Fingerprint(s.APIKey), s.AccountID, len(s.Probes))
}

// GoString implements fmt.GoStringer without the key.
func (s Secret) GoString() string { return "stripe.Secret" + s.String() }

// Kind returns the key's kind and mode.
func (s *Secret) Kind() Kind { return s.kind }

// ExpiresAt returns previous_key_expires_at (zero when absent).
func (s *Secret) ExpiresAt() time.Time { return s.expires }

// Kind is the kind and mode of a Stripe key, as its prefix says: sk_
// (secret, every permission) or rk_ (restricted), live or test.
type Kind struct {
	Restricted bool
	Live       bool
}

// Prefix is the key prefix of the kind ("sk_live_", "rk_test_", ...).
func (k Kind) Prefix() string {
	p := "sk_"
	if k.Restricted {
		p = "rk_"
	}
	if k.Live {
		return p + "live_"
	}
	return p + "test_"
}

// String describes the kind in words.
func (k Kind) String() string {
	kind, mode := "secret", "test"
	if k.Restricted {
		kind = "restricted"
	}
	if k.Live {
		mode = "live"
	}
	return fmt.Sprintf("%s %s key (%s)", kind, mode, k.Prefix())
}

var (
	keyPattern     = regexp.MustCompile(`^(sk|rk)_(live|test)_[A-Za-z0-9_]{8,240}$`)
	accountPattern = regexp.MustCompile(`^acct_[A-Za-z0-9]{1,64}$`)
	probePattern   = regexp.MustCompile(`^/v1/[A-Za-z0-9_./-]+(\?[A-Za-z0-9_.=&%\[\]-]*)?$`)
)

const secretShape = `store the key as {"api_key": "sk_live_..."}`

// KindOf returns the kind of a Stripe secret or restricted key. The error
// says what the value looks like instead (a publishable key, a webhook
// signing secret, ...) and never contains it.
func KindOf(key string) (Kind, error) {
	if m := keyPattern.FindStringSubmatch(key); m != nil {
		return Kind{Restricted: m[1] == "rk", Live: m[2] == "live"}, nil
	}
	switch {
	case key == "":
		return Kind{}, fmt.Errorf("is empty")
	case strings.TrimSpace(key) != key || strings.ContainsAny(key, " \t\r\n"):
		return Kind{}, fmt.Errorf("contains white space (a key is one word)")
	case strings.HasPrefix(key, "pk_"):
		return Kind{}, fmt.Errorf("is a publishable key (pk_), not a secret (sk_) or restricted (rk_) key")
	case strings.HasPrefix(key, "whsec_"):
		return Kind{}, fmt.Errorf("is a webhook signing secret (whsec_), not an API key")
	case strings.HasPrefix(key, "sk_") || strings.HasPrefix(key, "rk_"):
		return Kind{}, fmt.Errorf("does not look like a Stripe key (sk_ or rk_, then live_ or test_, then letters and digits)")
	}
	return Kind{}, fmt.Errorf("is not a Stripe secret or restricted key (sk_live_, sk_test_, rk_live_ or rk_test_)")
}

// Parse decodes and validates a secret value. Errors name the field and
// never contain a key.
func Parse(value string) (*Secret, error) {
	var s Secret
	if err := rotation.DecodeSecret(value, &s); err != nil {
		return nil, err
	}
	if s.APIKey == "" {
		return nil, rotation.SecretFieldError(FieldAPIKey, "is missing or empty", secretShape)
	}
	k, err := KindOf(s.APIKey)
	if err != nil {
		return nil, rotation.SecretFieldError(FieldAPIKey, err.Error(), "store the secret or restricted key from Developers → API keys")
	}
	s.kind = k
	if s.AccountID != "" && !accountPattern.MatchString(s.AccountID) {
		return nil, rotation.SecretFieldError(FieldAccountID, "is not a Stripe account id (acct_...)", "set it to the id shown under Settings → Account details, or remove it")
	}
	if len(s.Probes) > MaxProbes {
		return nil, rotation.SecretFieldError(FieldProbes, fmt.Sprintf("has %d entries, at most %d", len(s.Probes), MaxProbes), "keep the reads that matter")
	}
	for i, raw := range s.Probes {
		p, err := parseProbe(raw)
		if err != nil {
			return nil, rotation.SecretFieldError(fmt.Sprintf("%s[%d]", FieldProbes, i), err.Error(), `write reads as "GET /v1/charges?limit=1"`)
		}
		s.probes = append(s.probes, p)
	}
	if s.PreviousKeyExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, s.PreviousKeyExpiresAt)
		if err != nil {
			return nil, rotation.SecretFieldError(FieldPreviousKeyExpiresAt, "is not an RFC 3339 time such as 2025-01-31T12:00:00Z", "stage the key again with dualkey stage --old-key-expires-at")
		}
		s.expires = t
	}
	return &s, nil
}

// probe is one read testSecret makes with the new key.
type probe struct {
	path string // path and query, e.g. /v1/charges?limit=1
}

func (p probe) String() string { return "GET " + p.path }

// parseProbe reads "GET /v1/…" (or just "/v1/…"): reads only, so a probe can
// never change anything at Stripe.
func parseProbe(raw string) (probe, error) {
	s := strings.TrimSpace(raw)
	if method, rest, ok := strings.Cut(s, " "); ok {
		if method != "GET" {
			return probe{}, fmt.Errorf("uses method %q; probes are reads: GET only", printable(method))
		}
		s = strings.TrimSpace(rest)
	}
	if len(s) > 200 || !probePattern.MatchString(s) || strings.Contains(s, "..") || strings.Contains(s, "//") {
		return probe{}, fmt.Errorf("is not a Stripe API path (/v1/..., letters, digits, _ . - / and a simple query)")
	}
	return probe{path: s}, nil
}

// Fingerprint shows a key without revealing it: its kind and mode prefix and
// its last four characters ("sk_live_…abcd"), or "" when it is not a key.
func Fingerprint(key string) string {
	k, err := KindOf(key)
	if err != nil {
		return ""
	}
	return k.Prefix() + rotation.LastFour(key)
}

// apiKeyOf returns the api_key field of a value, or "" when it has none.
func apiKeyOf(value string) string {
	var s struct {
		APIKey string `json:"api_key"`
	}
	if json.Unmarshal([]byte(value), &s) != nil {
		return ""
	}
	return s.APIKey
}

// printable cuts s to 40 characters and replaces control characters, for
// echoing input in errors.
func printable(s string) string {
	r := []rune(s)
	if len(r) > 40 {
		r = append(r[:40], '…')
	}
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f {
			return '?'
		}
		return c
	}, string(r))
}
