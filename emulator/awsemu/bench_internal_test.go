package awsemu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// benchServer returns a server holding n secrets, every other one scheduled
// for deletion when deleted is true.
func benchServer(b *testing.B, n int, deleted bool) *Server {
	b.Helper()
	return benchServerWith(b, Config{}, n, deleted)
}

func benchServerWith(b *testing.B, cfg Config, n int, deleted bool) *Server {
	b.Helper()
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("bench/secret-%05d", i)
		if _, aerr := s.createSecret(ctx, &createSecretInput{Name: &name, SecretString: ptr(`{"api_key":"0123456789abcdef"}`)}); aerr != nil {
			b.Fatal(aerr)
		}
		if deleted && i%2 == 1 {
			if _, aerr := s.deleteSecret(ctx, &deleteSecretInput{SecretId: &name}); aerr != nil {
				b.Fatal(aerr)
			}
		}
	}
	if err := s.flush(); err != nil {
		b.Fatal(err)
	}
	return s
}

// signedJSON returns a signed Secrets Manager request for op with body.
func signedJSON(b *testing.B, op string, body []byte) *http.Request {
	b.Helper()
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:4566/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager."+op)
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: DefaultAccessKeyID, SecretAccessKey: DefaultSecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), serviceName, DefaultRegion, time.Now()); err != nil {
		b.Fatal(err)
	}
	return req
}

// BenchmarkServeDescribeSecret measures one DescribeSecret through the whole
// handler (SigV4 included) in process, without network noise: its cost must
// not grow with the number of secrets or of scheduled deletions. Before the
// deadline and name indexes, every request walked every secret twice.
func BenchmarkServeDescribeSecret(b *testing.B) {
	for _, n := range []int{100, 10000} {
		for _, deleted := range []bool{false, true} {
			b.Run(fmt.Sprintf("secrets=%d/half-deleted=%t", n, deleted), func(b *testing.B) {
				s := benchServer(b, n, deleted)
				body := []byte(`{"SecretId":"bench/secret-00000"}`)
				req := signedJSON(b, "DescribeSecret", body)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					r := req.Clone(context.Background())
					r.Body = io.NopCloser(bytes.NewReader(body))
					w := httptest.NewRecorder()
					s.ServeHTTP(w, r)
					if w.Code != http.StatusOK {
						b.Fatalf("status %d: %s", w.Code, w.Body)
					}
				}
			})
		}
	}
}

// BenchmarkServePutSecretValueWithState: with a state file a write re-encodes
// only the secret it changed but still writes (and fsyncs) the whole file,
// so its cost grows with the number of secrets; reads are unaffected.
func BenchmarkServePutSecretValueWithState(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			s := benchServerWith(b, Config{StateFile: filepath.Join(b.TempDir(), "state.json")}, n, false)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				body := []byte(fmt.Sprintf(`{"SecretId":"bench/secret-00000","SecretString":"v%d"}`, i))
				w := httptest.NewRecorder()
				s.ServeHTTP(w, signedJSON(b, "PutSecretValue", body))
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

// benchFleet returns a server holding n secrets tagged as the retire sweep
// finds them (dualkey:managed=true), one in ten scheduled for deletion, so
// that a listing has secrets to skip.
func benchFleet(b *testing.B, n int) *Server {
	b.Helper()
	s, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("bench/secret-%06d", i)
		tags := []tag{{Key: "dualkey:managed", Value: "true"}, {Key: "dualkey:provider", Value: "servicekey"}}
		if _, aerr := s.createSecret(ctx, &createSecretInput{Name: &name, SecretString: ptr(`{"api_key":"0123456789abcdef"}`), Tags: tags}); aerr != nil {
			b.Fatal(aerr)
		}
		if i%10 == 9 {
			if _, aerr := s.deleteSecret(ctx, &deleteSecretInput{SecretId: &name}); aerr != nil {
				b.Fatal(aerr)
			}
		}
	}
	return s
}

// BenchmarkServeListSecretsPage measures one ListSecrets page of 100
// through the whole handler (SigV4 included) with the retire sweep's
// filters (tag-key dualkey:managed, tag-value true), walking a listing
// page after page with each page's NextToken and starting over at its
// end: the amortised cost of a page of a full listing. It must not grow
// with the number of secrets. Signing the request and reading the token out
// of the answer are not timed. cpu-ns/op is the process's CPU time (user
// and system, garbage collection included) over the timed part, which
// depends less than ns/op on what else the machine runs.
func BenchmarkServeListSecretsPage(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			s := benchFleet(b, n)
			const filters = `"Filters":[{"Key":"tag-key","Values":["dualkey:managed"]},{"Key":"tag-value","Values":["true"]}]`
			var token *string
			pages, listed := 0, 0
			var cpu time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				body := []byte("{" + filters + "}")
				if token != nil {
					body = []byte(fmt.Sprintf(`{%s,"NextToken":%q}`, filters, *token))
				}
				req := signedJSON(b, "ListSecrets", body)
				w := httptest.NewRecorder()
				cpu0 := processCPU(b)
				b.StartTimer()
				s.ServeHTTP(w, req)
				b.StopTimer()
				cpu += processCPU(b) - cpu0
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
				var out struct {
					SecretList []json.RawMessage
					NextToken  *string
				}
				if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
					b.Fatal(err)
				}
				pages++
				listed += len(out.SecretList)
				token = out.NextToken
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(listed)/float64(pages), "secrets/page")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU returns the CPU time this process has used (user and system).
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
