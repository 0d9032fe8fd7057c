package awsemu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/dualkey/dualkey/emulator/internal/awsjson"
)

// The fuzz targets feed the emulator's request handling with arbitrary input
// and check that it always answers like AWS: a JSON error with __type (or an
// XML ErrorResponse for query-protocol requests) or a success, never a panic,
// a hang, a 5xx or a stored secret value in an error message. `go test` runs
// the seed corpus in testdata/fuzz; `go test -fuzz FuzzX` explores further.

// fuzzSecretValue is stored in the fuzz server's secrets; no error message
// may ever contain it.
const fuzzSecretValue = "fuzz-stored-SECRET-value-7f3a"

// fuzzHangLimit turns a hang into a failure. It is far above the time any
// request takes; it is not a performance assertion.
const fuzzHangLimit = 30 * time.Second

// fuzzServer returns a server holding a secret "fuzz" with a current, a
// previous and a pending version, and one scheduled for deletion, so that
// fuzzed requests reach the operations' deeper paths. Rotation Lambdas
// succeed at once.
func fuzzServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Config{Invoker: InvokerFunc(func(context.Context, string, []byte) error { return nil })})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	name, gone := "fuzz", "fuzz-deleted"
	tok := func(n byte) *string {
		return ptr("00000000-0000-4000-8000-0000000000" + string([]byte{'0' + n/10, '0' + n%10}))
	}
	steps := []func() *awsjson.Error{
		func() *awsjson.Error {
			_, a := s.createSecret(ctx, &createSecretInput{Name: &name, SecretString: ptr(fuzzSecretValue + "-1"), ClientRequestToken: tok(1), Tags: []tag{{Key: "dualkey:managed", Value: "true"}}})
			return a
		},
		func() *awsjson.Error {
			_, a := s.putSecretValue(ctx, &putSecretValueInput{SecretId: &name, SecretString: ptr(fuzzSecretValue + "-2"), ClientRequestToken: tok(2)})
			return a
		},
		func() *awsjson.Error {
			_, a := s.putSecretValue(ctx, &putSecretValueInput{SecretId: &name, SecretString: ptr(fuzzSecretValue + "-3"), ClientRequestToken: tok(3), VersionStages: []string{stagePending}})
			return a
		},
		func() *awsjson.Error {
			_, a := s.createSecret(ctx, &createSecretInput{Name: &gone, SecretBinary: []byte(fuzzSecretValue)})
			return a
		},
		func() *awsjson.Error {
			_, a := s.deleteSecret(ctx, &deleteSecretInput{SecretId: &gone})
			return a
		},
	}
	for _, step := range steps {
		if aerr := step(); aerr != nil {
			t.Fatal(aerr)
		}
	}
	return s
}

// serveWithin runs one request through s and fails on a hang.
func serveWithin(t *testing.T, s *Server, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.ServeHTTP(w, r)
	}()
	select {
	case <-done:
	case <-time.After(fuzzHangLimit):
		t.Fatalf("request did not finish within %s", fuzzHangLimit)
	}
	return w
}

// checkAWSShaped fails unless w is a success or an AWS-shaped error.
func checkAWSShaped(t *testing.T, w *httptest.ResponseRecorder, jsonProtocol bool) {
	t.Helper()
	body := w.Body.Bytes()
	if w.Code >= 500 {
		t.Fatalf("status %d: %s", w.Code, body)
	}
	if bytes.Contains(body, []byte(fuzzSecretValue)) && w.Code != http.StatusOK {
		t.Fatalf("an error response contains a stored secret value")
	}
	if !jsonProtocol {
		if w.Code == http.StatusOK {
			return
		}
		var e struct {
			XMLName xml.Name `xml:"ErrorResponse"`
			Code    string   `xml:"Error>Code"`
		}
		if err := xml.Unmarshal(body, &e); err != nil || e.Code == "" {
			t.Fatalf("status %d with a body that is not an AWS query error: %q", w.Code, body)
		}
		return
	}
	if w.Code == http.StatusOK {
		if !json.Valid(body) {
			t.Fatalf("200 with a body that is not JSON: %q", body)
		}
		return
	}
	var e map[string]any
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("status %d with a body that is not JSON: %q", w.Code, body)
	}
	code, _ := e["__type"].(string)
	if _, ok := e["message"].(string); code == "" || !ok || w.Header().Get("X-Amzn-ErrorType") != code {
		t.Fatalf("status %d with an error that is not AWS-shaped: %q", w.Code, body)
	}
}

// FuzzSecretsManagerRequest sends an arbitrary X-Amz-Target and body, signed
// with the bootstrap key so that the request reaches the operations.
func FuzzSecretsManagerRequest(f *testing.F) {
	creds := aws.Credentials{AccessKeyID: DefaultAccessKeyID, SecretAccessKey: DefaultSecretAccessKey}
	signer := v4.NewSigner()
	f.Fuzz(func(t *testing.T, target string, body []byte) {
		if strings.ContainsAny(target, "\r\n\x00") {
			return // not representable in an HTTP header
		}
		s := fuzzServer(t)
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:4566/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		r.Header.Set("X-Amz-Target", target)
		sum := sha256.Sum256(body)
		if err := signer.SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), serviceName, DefaultRegion, time.Now()); err != nil {
			t.Fatal(err)
		}
		w := serveWithin(t, s, r)
		checkAWSShaped(t, w, true) // signed for secretsmanager: always JSON 1.1
		if w.Code == http.StatusOK && !strings.HasPrefix(target, serviceName+".") {
			t.Fatalf("target %q answered 200", target)
		}
	})
}

// FuzzSigV4Header sends arbitrary Authorization and X-Amz-Date headers (and
// body): no such request may ever be accepted, since nothing can forge an
// HMAC, and every refusal is AWS-shaped.
func FuzzSigV4Header(f *testing.F) {
	f.Fuzz(func(t *testing.T, authorization, amzDate, target string, body []byte) {
		for _, h := range []string{authorization, amzDate, target} {
			if strings.ContainsAny(h, "\r\n\x00") {
				return // not representable in an HTTP header
			}
		}
		s := fuzzServer(t)
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:4566/", bytes.NewReader(body))
		r.Header.Set("Authorization", authorization)
		r.Header.Set("X-Amz-Date", amzDate)
		if target != "" {
			r.Header.Set("X-Amz-Target", target)
			r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		} else {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		w := serveWithin(t, s, r)
		if w.Code == http.StatusOK {
			t.Fatalf("a request with a made-up signature was accepted: Authorization %q", authorization)
		}
		checkAWSShaped(t, w, target != "")
		if n := len(s.Stats()); n != 0 {
			t.Fatalf("an unauthenticated request reached an operation: %v", s.Stats())
		}
	})
}
