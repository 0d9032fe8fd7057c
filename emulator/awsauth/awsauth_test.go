package awsauth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/dualkey/dualkey/emulator/awsauth"
)

type recorder struct {
	awsauth.StaticKeys
	used []awsauth.Principal
}

func (r *recorder) RecordUse(p awsauth.Principal, _ time.Time) { r.used = append(r.used, p) }

// signed returns a request signed now by the SDK's own SigV4 signer.
func signed(t *testing.T, id, secret, url string, body []byte) *http.Request {
	t.Helper()
	return signedAt(t, id, secret, url, "eu-west-1", time.Now(), body)
}

// signedAt returns a request signed by the SDK's signer for region at time at.
func signedAt(t *testing.T, id, secret, url, region string, at time.Time, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager.ListSecrets")
	sum := sha256.Sum256(body)
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: id, SecretAccessKey: secret},
		req, hex.EncodeToString(sum[:]), "secretsmanager", region, at)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestVerifyAgainstSDKSigner(t *testing.T) {
	body := []byte(`{"MaxResults":5}`)
	keys := &recorder{StaticKeys: awsauth.StaticKeys{"AKIATEST": "right-secret"}}
	v := &awsauth.Verifier{Keys: keys}
	cases := []struct {
		name string
		req  func() *http.Request
		want error
	}{
		{"valid", func() *http.Request { return signed(t, "AKIATEST", "right-secret", "http://127.0.0.1:4566/", body) }, nil},
		{"query string", func() *http.Request {
			return signed(t, "AKIATEST", "right-secret", "http://127.0.0.1:4566/?b=2&a=1&c=x~y%20z", body)
		}, nil},
		{"wrong secret", func() *http.Request { return signed(t, "AKIATEST", "wrong-secret", "http://127.0.0.1:4566/", body) }, awsauth.ErrSignatureMismatch},
		{"unknown key", func() *http.Request { return signed(t, "AKIAOTHER", "right-secret", "http://127.0.0.1:4566/", body) }, awsauth.ErrUnknownKey},
		{"no auth", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:4566/", bytes.NewReader(body))
			return r
		}, awsauth.ErrMissingAuth},
		{"garbage header", func() *http.Request {
			r := signed(t, "AKIATEST", "right-secret", "http://127.0.0.1:4566/", body)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 nonsense")
			return r
		}, awsauth.ErrMalformedAuth},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys.used = nil
			p, err := v.Verify(c.req(), body)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if c.want == nil && (p.AccessKeyID != "AKIATEST" || p.Service != "secretsmanager" || p.Region != "eu-west-1" || len(keys.used) != 1) {
				t.Fatalf("principal %+v, uses %v", p, keys.used)
			}
			if c.want != nil && len(keys.used) != 0 {
				t.Fatal("a refused request was recorded as a use")
			}
		})
	}
	t.Run("tampered body", func(t *testing.T) {
		req := signed(t, "AKIATEST", "right-secret", "http://127.0.0.1:4566/", body)
		if _, err := v.Verify(req, []byte(`{"MaxResults":6}`)); !errors.Is(err, awsauth.ErrSignatureMismatch) {
			t.Fatalf("got %v", err)
		}
	})
}

// TestRequestTimeAndScope: a signature more than 15 minutes from the real
// clock, a scope date other than X-Amz-Date's day, a region the verifier does
// not serve and a malformed X-Amz-Date are refused before the signature is
// even computed, with AWS's messages; the emulator's own clock (Now) plays no
// part.
func TestRequestTimeAndScope(t *testing.T) {
	body := []byte(`{}`)
	wall := time.Date(2031, 5, 6, 12, 0, 0, 0, time.UTC)
	keys := &recorder{StaticKeys: awsauth.StaticKeys{"AKIATEST": "right-secret"}}
	v := &awsauth.Verifier{
		Keys:      keys,
		Now:       func() time.Time { return wall.Add(72 * time.Hour) }, // a test clock far ahead does not matter
		WallClock: func() time.Time { return wall },
		Regions:   []string{"eu-west-1"},
	}
	const url = "http://127.0.0.1:4566/"
	cases := []struct {
		name string
		req  func() *http.Request
		want error
		msg  string
	}{
		{"14 minutes old", func() *http.Request {
			return signedAt(t, "AKIATEST", "right-secret", url, "eu-west-1", wall.Add(-14*time.Minute), body)
		}, nil, ""},
		{"14 minutes ahead", func() *http.Request {
			return signedAt(t, "AKIATEST", "right-secret", url, "eu-west-1", wall.Add(14*time.Minute), body)
		}, nil, ""},
		{"16 minutes old", func() *http.Request {
			return signedAt(t, "AKIATEST", "right-secret", url, "eu-west-1", wall.Add(-16*time.Minute), body)
		}, awsauth.ErrRequestTime, "Signature expired: 20310506T114400Z is now earlier than 20310506T114500Z (20310506T120000Z - 15 min.)"},
		{"16 minutes ahead", func() *http.Request {
			return signedAt(t, "AKIATEST", "right-secret", url, "eu-west-1", wall.Add(16*time.Minute), body)
		}, awsauth.ErrRequestTime, "Signature not yet current: 20310506T121600Z is still later than 20310506T121500Z (20310506T120000Z + 15 min.)"},
		{"other region", func() *http.Request {
			return signedAt(t, "AKIATEST", "right-secret", url, "us-west-2", wall, body)
		}, awsauth.ErrCredentialScope, "Credential should be scoped to a valid region, not 'us-west-2'."},
		{"scope date differs", func() *http.Request {
			r := signedAt(t, "AKIATEST", "right-secret", url, "eu-west-1", wall, body)
			r.Header.Set("X-Amz-Date", "20310507T000100Z")
			return r
		}, awsauth.ErrCredentialScope, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20310506' != '20310507', from '20310507T000100Z'."},
		{"malformed date", func() *http.Request {
			r := signedAt(t, "AKIATEST", "right-secret", url, "eu-west-1", wall, body)
			r.Header.Set("X-Amz-Date", "yesterday")
			return r
		}, awsauth.ErrMalformedAuth, "ISO 8601"},
		{"missing date", func() *http.Request {
			r := signedAt(t, "AKIATEST", "right-secret", url, "eu-west-1", wall, body)
			r.Header.Del("X-Amz-Date")
			return r
		}, awsauth.ErrMalformedAuth, "X-Amz-Date"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys.used = nil
			_, err := v.Verify(c.req(), body)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if c.want != nil && !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("message %q, want it to contain %q", err.Error(), c.msg)
			}
			if (c.want == nil) != (len(keys.used) == 1) {
				t.Fatalf("uses recorded: %d", len(keys.used))
			}
		})
	}
}

// TestAuthenticateNeedsNoBody: Authenticate decides on the headers alone
// (the body reader is never touched), and the signature is checked by the
// Pending's Verify.
func TestAuthenticateNeedsNoBody(t *testing.T) {
	body := []byte(`{"SecretId":"x"}`)
	v := &awsauth.Verifier{Keys: awsauth.StaticKeys{"AKIATEST": "right-secret"}}
	cases := []struct {
		name    string
		id      string
		secret  string
		authErr error
		sigErr  error
	}{
		{"valid", "AKIATEST", "right-secret", nil, nil},
		{"unknown key", "AKIANOBODY", "right-secret", awsauth.ErrUnknownKey, nil},
		{"wrong secret", "AKIATEST", "wrong", nil, awsauth.ErrSignatureMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := signed(t, c.id, c.secret, "http://127.0.0.1:4566/", body)
			r.Body = panicReader{}
			pending, p, err := v.Authenticate(r)
			if !errors.Is(err, c.authErr) {
				t.Fatalf("Authenticate: %v, want %v", err, c.authErr)
			}
			if p.AccessKeyID != c.id {
				t.Fatalf("principal %+v", p)
			}
			if err != nil {
				return
			}
			if _, err := pending.Verify(body); !errors.Is(err, c.sigErr) {
				t.Fatalf("Verify: %v, want %v", err, c.sigErr)
			}
		})
	}
}

type panicReader struct{}

func (panicReader) Read([]byte) (int, error) { panic("the body was read") }
func (panicReader) Close() error             { return nil }

func TestParseAuthorization(t *testing.T) {
	cases := []struct {
		header string
		want   error
	}{
		{"", awsauth.ErrMissingAuth},
		{"AWS4-HMAC-SHA256 Credential=AKIA/20310506/us-east-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab", nil},
		{"AWS4-HMAC-SHA1 Credential=AKIA/20310506/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=ab", awsauth.ErrMalformedAuth},
		{"AWS4-HMAC-SHA256 Credential=AKIA/2031/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=ab", awsauth.ErrMalformedAuth},
		{"AWS4-HMAC-SHA256 Credential=/20310506/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=ab", awsauth.ErrMalformedAuth},
		{"AWS4-HMAC-SHA256 Credential=AKIA/20310506//secretsmanager/aws4_request, SignedHeaders=host, Signature=ab", awsauth.ErrMalformedAuth},
		{"AWS4-HMAC-SHA256 Credential=AKIA/20310506/us-east-1/secretsmanager/aws4_request, Signature=ab", awsauth.ErrMalformedAuth},
	}
	for _, c := range cases {
		a, err := awsauth.ParseAuthorization(c.header)
		if !errors.Is(err, c.want) {
			t.Errorf("%q: got %v, want %v", c.header, err, c.want)
			continue
		}
		if err == nil && (a.AccessKeyID != "AKIA" || a.Date != "20310506" || a.Region != "us-east-1" || a.Service != "secretsmanager" || len(a.SignedHeaders) != 2 || a.Signature != "ab") {
			t.Errorf("%q: parsed %+v", c.header, a)
		}
	}
}
