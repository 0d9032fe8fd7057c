package twiliosig

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"

	"github.com/dualkey/dualkey/shared/fingerprint"
)

// HeaderName is the header Twilio puts the signature in.
const HeaderName = "X-Twilio-Signature"

// Signature computes Twilio's signature of a request to rawURL (the full
// URL Twilio requested, query string included) with the POST parameters
// params (nil for a GET or a JSON body): base64 of the HMAC-SHA1, keyed
// with the auth token, of the URL followed by every parameter name and
// value, sorted by name (a name with several values once per value, the
// values sorted).
func Signature(token, rawURL string, params url.Values) string {
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(rawURL))
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		vals := append([]string(nil), params[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			mac.Write([]byte(k))
			mac.Write([]byte(v))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// urlVariants returns rawURL as given and with the scheme's default port
// added or removed: Twilio's own validators accept both, because the URL
// Twilio signs does not always say the port the same way.
func urlVariants(rawURL string) []string {
	out := []string{rawURL}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return out
	}
	def := map[string]string{"https": "443", "http": "80"}[strings.ToLower(u.Scheme)]
	if def == "" {
		return out
	}
	v := *u
	switch u.Port() {
	case "":
		v.Host = u.Host + ":" + def
	case def:
		v.Host = u.Hostname()
		if strings.Contains(v.Host, ":") {
			v.Host = "[" + v.Host + "]"
		}
	default:
		return out
	}
	return append(out, v.String())
}

// equal compares two signatures in constant time.
func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// bodyHash is the hex SHA-256 of a body, as bodySHA256 carries it.
func bodyHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// Fingerprint identifies a token without revealing it: its usage
// fingerprint (shared/fingerprint: "dkfp_" and 16 hex digits of its
// SHA-256), as dualkey's twiliotoken provider and the token's consumers
// log it. "" for "".
func Fingerprint(token string) string { return fingerprint.Of(token) }
