// Package awsauth verifies AWS Signature Version 4 on requests that reach the
// local AWS emulator, so that a request signed with the wrong secret is refused
// exactly as AWS refuses it. It knows nothing about where keys come from: a
// KeyStore answers that.
package awsauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Sentinel errors returned (wrapped) by Verifier.Verify. Protocol front ends map
// them to the service's own error codes (for example InvalidClientTokenId for
// IAM, UnrecognizedClientException for Secrets Manager).
var (
	// ErrMissingAuth means the request carries no SigV4 Authorization header.
	ErrMissingAuth = errors.New("missing authentication token")
	// ErrMalformedAuth means the Authorization header cannot be parsed.
	ErrMalformedAuth = errors.New("malformed authorization header")
	// ErrUnknownKey means no key with that access key id exists (or it was deleted).
	ErrUnknownKey = errors.New("the security token included in the request is invalid")
	// ErrInactiveKey means the key exists but is not usable (Inactive, or not yet propagated).
	ErrInactiveKey = errors.New("the security token included in the request is invalid")
	// ErrSignatureMismatch means the signature was not made with the key's secret.
	ErrSignatureMismatch = errors.New("the request signature we calculated does not match the signature you provided")
)

// Principal is who signed a request.
type Principal struct {
	AccessKeyID string
	Service     string // credential-scope service, e.g. "secretsmanager", "iam", "sts"
	Region      string // credential-scope region
}

// KeyStore resolves access key ids to their secrets.
type KeyStore interface {
	// SecretFor returns the secret access key for accessKeyID. It must return an
	// error wrapping ErrUnknownKey when the key does not exist and ErrInactiveKey
	// when it exists but must not authenticate requests. It must not record usage:
	// a failed signature is not a use.
	SecretFor(accessKeyID string) (string, error)
	// RecordUse is called after a request signed by accessKeyID passed
	// verification. It must be safe for concurrent use.
	RecordUse(p Principal, at time.Time)
}

// StaticKeys is a KeyStore over a fixed map of access key id to secret. It is
// used for the emulator's bootstrap key and in tests.
type StaticKeys map[string]string

// SecretFor implements KeyStore.
func (s StaticKeys) SecretFor(id string) (string, error) {
	secret, ok := s[id]
	if !ok {
		return "", fmt.Errorf("access key %s: %w", id, ErrUnknownKey)
	}
	return secret, nil
}

// RecordUse implements KeyStore; static keys keep no usage.
func (StaticKeys) RecordUse(Principal, time.Time) {}

// Verifier checks SigV4 signatures against a KeyStore.
type Verifier struct {
	Keys KeyStore
	// Now returns the time used for RecordUse; time.Now when nil.
	Now func() time.Time
}

// ParseAuthorization extracts the principal from a SigV4 Authorization header
// without verifying it.
func ParseAuthorization(header string) (Principal, []string, string, error) {
	const prefix = "AWS4-HMAC-SHA256 "
	if header == "" {
		return Principal{}, nil, "", ErrMissingAuth
	}
	if !strings.HasPrefix(header, prefix) {
		return Principal{}, nil, "", fmt.Errorf("%w: unsupported algorithm", ErrMalformedAuth)
	}
	var cred, signed, sig string
	for _, part := range strings.Split(header[len(prefix):], ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			sig = v
		}
	}
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" || signed == "" || sig == "" {
		return Principal{}, nil, "", fmt.Errorf("%w: need Credential, SignedHeaders and Signature", ErrMalformedAuth)
	}
	return Principal{AccessKeyID: scope[0], Region: scope[2], Service: scope[3]}, strings.Split(signed, ";"), sig, nil
}

// Verify checks the signature of r, whose body has already been read into body,
// and records the use of the key on success.
func (v *Verifier) Verify(r *http.Request, body []byte) (Principal, error) {
	p, signedHeaders, sig, err := ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return Principal{}, err
	}
	secret, err := v.Keys.SecretFor(p.AccessKeyID)
	if err != nil {
		return p, err
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return p, fmt.Errorf("%w: missing X-Amz-Date", ErrMalformedAuth)
	}
	want := Sign(secret, amzDate, p, canonicalRequest(r, body, signedHeaders))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return p, ErrSignatureMismatch
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	v.Keys.RecordUse(p, now())
	return p, nil
}

// Sign returns the hex SigV4 signature of a canonical request.
func Sign(secret, amzDate string, p Principal, canonical string) string {
	if len(amzDate) < 8 {
		return ""
	}
	day := amzDate[:8]
	scope := strings.Join([]string{day, p.Region, p.Service, "aws4_request"}, "/")
	sum := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	k := hmacSHA256([]byte("AWS4"+secret), day)
	k = hmacSHA256(k, p.Region)
	k = hmacSHA256(k, p.Service)
	k = hmacSHA256(k, "aws4_request")
	return hex.EncodeToString(hmacSHA256(k, toSign))
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func canonicalRequest(r *http.Request, body []byte, signedHeaders []string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(path)
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.Query()))
	b.WriteByte('\n')
	for _, h := range signedHeaders {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(headerValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" || payload != "UNSIGNED-PAYLOAD" {
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
	}
	b.WriteString(payload)
	return b.String()
}

func headerValue(r *http.Request, name string) string {
	if name == "host" {
		return r.Host
	}
	if name == "content-length" {
		return fmt.Sprint(r.ContentLength)
	}
	vals := r.Header.Values(name)
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, escape(k)+"="+escape(v))
		}
	}
	return strings.Join(parts, "&")
}

func escape(s string) string {
	return strings.NewReplacer("+", "%20", "%7E", "~").Replace(url.QueryEscape(s))
}

type principalKey struct{}

// WithPrincipal returns a context that carries the verified signer of a request.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the verified signer stored by WithPrincipal.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
