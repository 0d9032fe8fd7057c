package awsauth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
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

// signed returns a request signed by the SDK's own SigV4 signer.
func signed(t *testing.T, id, secret, url string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager.ListSecrets")
	sum := sha256.Sum256(body)
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: id, SecretAccessKey: secret},
		req, hex.EncodeToString(sum[:]), "secretsmanager", "eu-west-1", time.Now())
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
