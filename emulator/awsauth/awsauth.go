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
	"slices"
	"sort"
	"strings"
	"time"
)

// Sentinel errors returned (wrapped) by Verifier.Verify and
// Verifier.Authenticate. Protocol front ends map them to the service's own
// error codes (for example InvalidClientTokenId for IAM,
// UnrecognizedClientException for Secrets Manager).
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
	// ErrRequestTime means X-Amz-Date is more than MaxSkew away from the
	// verifier's wall clock ("Signature expired" / "Signature not yet
	// current"). The wrapping error's text is AWS's message.
	ErrRequestTime = errors.New("request time outside the signature's validity window")
	// ErrCredentialScope means the credential scope does not fit the request:
	// its date is not X-Amz-Date's day, or its region is not one the verifier
	// serves. The wrapping error's text is AWS's message.
	ErrCredentialScope = errors.New("invalid credential scope")
)

// DefaultMaxSkew is how far X-Amz-Date may be from the verifier's wall clock,
// as at AWS: 15 minutes either way.
const DefaultMaxSkew = 15 * time.Minute

// amzDateLayout is the ISO 8601 basic format of X-Amz-Date.
const amzDateLayout = "20060102T150405Z"

// awsError is an error whose text is the message AWS answers with; Unwrap
// gives the sentinel that classifies it.
type awsError struct {
	kind error
	msg  string
}

func (e *awsError) Error() string { return e.msg }
func (e *awsError) Unwrap() error { return e.kind }

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
	// Now returns the time used for RecordUse; time.Now when nil. It may be a
	// test's fake clock.
	Now func() time.Time
	// WallClock is the real time X-Amz-Date is compared with; time.Now when
	// nil. It is separate from Now because tests move the emulator's clock
	// hours ahead while SDKs sign with the real time.
	WallClock func() time.Time
	// MaxSkew is how far X-Amz-Date may be from WallClock; DefaultMaxSkew
	// when zero.
	MaxSkew time.Duration
	// Regions lists the credential-scope regions accepted; any region when
	// empty. A request scoped to another region gets ErrCredentialScope.
	Regions []string
}

// Authorization is a parsed SigV4 Authorization header.
type Authorization struct {
	Principal
	// Date is the credential scope's YYYYMMDD.
	Date string
	// SignedHeaders are the lower-case names of the signed headers, in order.
	SignedHeaders []string
	// Signature is the hex signature.
	Signature string
}

// ParseAuthorization parses a SigV4 Authorization header without verifying
// it. Errors wrap ErrMissingAuth or ErrMalformedAuth.
func ParseAuthorization(header string) (Authorization, error) {
	const prefix = "AWS4-HMAC-SHA256 "
	if header == "" {
		return Authorization{}, ErrMissingAuth
	}
	if !strings.HasPrefix(header, prefix) {
		return Authorization{}, fmt.Errorf("%w: unsupported algorithm", ErrMalformedAuth)
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
		return Authorization{}, fmt.Errorf("%w: need Credential, SignedHeaders and Signature", ErrMalformedAuth)
	}
	if scope[0] == "" || len(scope[1]) != 8 || scope[2] == "" || scope[3] == "" {
		return Authorization{}, fmt.Errorf("%w: credential must be ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request", ErrMalformedAuth)
	}
	return Authorization{
		Principal:     Principal{AccessKeyID: scope[0], Region: scope[2], Service: scope[3]},
		Date:          scope[1],
		SignedHeaders: strings.Split(signed, ";"),
		Signature:     sig,
	}, nil
}

// Pending is a request whose Authorization header, key, date and credential
// scope passed Verifier.Authenticate; its signature is checked by Verify once
// the body has been read.
type Pending struct {
	v             *Verifier
	r             *http.Request
	p             Principal
	signedHeaders []string
	sig           string
	secret        string
	amzDate       string
}

// Principal returns the signer the request claims to be (not yet verified).
func (pr *Pending) Principal() Principal { return pr.p }

// Verify checks the signature over body (the request's complete body) and
// records the use of the key on success.
func (pr *Pending) Verify(body []byte) (Principal, error) {
	want := Sign(pr.secret, pr.amzDate, pr.p, canonicalRequest(pr.r, body, pr.signedHeaders))
	if !hmac.Equal([]byte(want), []byte(pr.sig)) {
		return pr.p, ErrSignatureMismatch
	}
	now := time.Now
	if pr.v.Now != nil {
		now = pr.v.Now
	}
	pr.v.Keys.RecordUse(pr.p, now())
	return pr.p, nil
}

// Authenticate checks everything about r that does not need its body: the
// Authorization header parses, the key exists and is usable, X-Amz-Date is
// well formed and within MaxSkew of the wall clock, and the credential
// scope's date and region fit. A front end calls it before reading a body,
// so that an unauthenticated client cannot make the server buffer one. It
// records nothing. On error the returned Principal holds whatever the header
// revealed (possibly nothing).
func (v *Verifier) Authenticate(r *http.Request) (*Pending, Principal, error) {
	auth, err := ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return nil, Principal{}, err
	}
	p := auth.Principal
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return nil, p, fmt.Errorf("%w: missing X-Amz-Date", ErrMalformedAuth)
	}
	signedAt, err := time.Parse(amzDateLayout, amzDate)
	if err != nil {
		return nil, p, fmt.Errorf("%w: X-Amz-Date %q is not in ISO 8601 basic format (YYYYMMDDTHHMMSSZ)", ErrMalformedAuth, amzDate)
	}
	secret, err := v.Keys.SecretFor(p.AccessKeyID)
	if err != nil {
		return nil, p, err
	}
	if err := v.checkScope(auth, amzDate); err != nil {
		return nil, p, err
	}
	if err := v.checkTime(signedAt); err != nil {
		return nil, p, err
	}
	return &Pending{v: v, r: r, p: p, signedHeaders: auth.SignedHeaders, sig: auth.Signature, secret: secret, amzDate: amzDate}, p, nil
}

// checkScope compares the credential scope with X-Amz-Date and the served
// regions, with AWS's messages.
func (v *Verifier) checkScope(auth Authorization, amzDate string) error {
	if auth.Date != amzDate[:8] {
		return &awsError{ErrCredentialScope, fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", auth.Date, amzDate[:8], amzDate)}
	}
	if len(v.Regions) > 0 && !slices.Contains(v.Regions, auth.Region) {
		return &awsError{ErrCredentialScope, fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. ", auth.Region)}
	}
	return nil
}

// checkTime refuses a signature made more than MaxSkew from the wall clock.
func (v *Verifier) checkTime(signedAt time.Time) error {
	wall := time.Now
	if v.WallClock != nil {
		wall = v.WallClock
	}
	skew := v.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	now := wall().UTC()
	mins := int(skew / time.Minute)
	switch {
	case signedAt.Before(now.Add(-skew)):
		return &awsError{ErrRequestTime, fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %d min.)",
			signedAt.Format(amzDateLayout), now.Add(-skew).Format(amzDateLayout), now.Format(amzDateLayout), mins)}
	case signedAt.After(now.Add(skew)):
		return &awsError{ErrRequestTime, fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %d min.)",
			signedAt.Format(amzDateLayout), now.Add(skew).Format(amzDateLayout), now.Format(amzDateLayout), mins)}
	}
	return nil
}

// Verify checks r, whose body has already been read into body: Authenticate,
// then the signature. It records the use of the key on success.
func (v *Verifier) Verify(r *http.Request, body []byte) (Principal, error) {
	pending, p, err := v.Authenticate(r)
	if err != nil {
		return p, err
	}
	return pending.Verify(body)
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
