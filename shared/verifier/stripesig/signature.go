package stripesig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// HeaderName is the header Stripe signs deliveries with.
const HeaderName = "Stripe-Signature"

// Limits on a Stripe-Signature header. A real header holds a timestamp and
// one v1 signature per live signing secret (two during a Dashboard roll),
// plus a v0 in test mode: far below both.
const (
	MaxHeaderLen  = 4096
	MaxSignatures = 16
)

// Sentinel errors. Verify wraps them; test with errors.Is.
var (
	// ErrNotSigned: the request has no Stripe-Signature header.
	ErrNotSigned = errors.New("no Stripe-Signature header")
	// ErrInvalidHeader: the header is malformed (no timestamp, a part
	// without "=", too long, too many signatures, no v1 signature).
	ErrInvalidHeader = errors.New("malformed Stripe-Signature header")
	// ErrTimestamp: the signed timestamp is outside the tolerance (a replay
	// or a badly wrong clock).
	ErrTimestamp = errors.New("Stripe-Signature timestamp outside the tolerance")
	// ErrNoMatch: no v1 signature matches any known signing secret (wrong
	// secret, or the payload was changed).
	ErrNoMatch = errors.New("no Stripe-Signature v1 signature matches a known signing secret")
	// ErrInvalidPayload: the signed payload is not a Stripe event with an
	// evt_ id.
	ErrInvalidPayload = errors.New("payload is not a Stripe event")
	// ErrDedupe: the dedupe store failed; answer 5xx so Stripe retries.
	ErrDedupe = errors.New("dedupe store failed")
)

// SignatureHeader is a parsed Stripe-Signature header.
type SignatureHeader struct {
	// Timestamp is the signed "t" value.
	Timestamp time.Time
	// V1 holds the decoded v1 signatures (32 bytes each), in header order.
	// Other schemes (v0, which Stripe adds in test mode) are ignored, as
	// Stripe asks, to prevent downgrade attacks.
	V1 [][]byte
}

// ParseSignatureHeader parses "t=<unix>,v1=<hex>[,v1=<hex>...][,v0=...]".
// It is strict where ambiguity could be abused: exactly one positive decimal
// t, every part of the form key=value, at most MaxSignatures v1 values and
// MaxHeaderLen bytes. A v1 value that is not 64 hex digits is skipped (it
// cannot match), as Stripe's libraries do; at least one valid v1 must
// remain.
func ParseSignatureHeader(header string) (SignatureHeader, error) {
	var sh SignatureHeader
	if header == "" {
		return sh, ErrNotSigned
	}
	if len(header) > MaxHeaderLen {
		return sh, ErrInvalidHeader
	}
	seenT := false
	v1Count := 0
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" {
			return SignatureHeader{}, ErrInvalidHeader
		}
		switch k {
		case "t":
			if seenT || v == "" || len(v) > 19 || strings.TrimLeft(v, "0123456789") != "" {
				return SignatureHeader{}, ErrInvalidHeader
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return SignatureHeader{}, ErrInvalidHeader
			}
			seenT = true
			sh.Timestamp = time.Unix(n, 0)
		case "v1":
			v1Count++
			if v1Count > MaxSignatures {
				return SignatureHeader{}, ErrInvalidHeader
			}
			if len(v) != 2*sha256.Size {
				continue
			}
			sig, err := hex.DecodeString(v)
			if err != nil {
				continue
			}
			sh.V1 = append(sh.V1, sig)
		}
	}
	if !seenT || len(sh.V1) == 0 {
		return SignatureHeader{}, ErrInvalidHeader
	}
	return sh, nil
}

// String formats the header back ("t=…,v1=…"), for tests and tools.
func (sh SignatureHeader) String() string {
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(strconv.FormatInt(sh.Timestamp.Unix(), 10))
	for _, s := range sh.V1 {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(s))
	}
	return b.String()
}

// ComputeSignature returns Stripe's v1 signature of payload signed at t with
// secret: HMAC-SHA256 keyed with the whole secret (whsec_ included) over
// "<unix t>.<payload>".
func ComputeSignature(t time.Time, payload []byte, secret []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(t.Unix(), 10)))
	mac.Write([]byte("."))
	mac.Write(payload)
	return mac.Sum(nil)
}

// anyMatch reports, in constant time per comparison and without an early
// exit, whether expected equals one of sigs.
func anyMatch(expected []byte, sigs [][]byte) bool {
	found := 0
	for _, s := range sigs {
		if hmac.Equal(expected, s) {
			found = 1
		}
	}
	return found == 1
}
