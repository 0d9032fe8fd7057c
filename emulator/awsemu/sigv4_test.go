package awsemu_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/emulator/awsemu"
)

// signedRequest builds a request to the emulator at base, signed by the
// SDK's own SigV4 signer for service and region at time at. A JSON body gets
// an X-Amz-Target of secretsmanager.<op>; a query body is form-encoded.
func signedRequest(t testing.TB, base, service, region, op string, body []byte, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if service == "secretsmanager" {
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "secretsmanager."+op)
	} else {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: awsemu.DefaultAccessKeyID, SecretAccessKey: awsemu.DefaultSecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, region, at); err != nil {
		t.Fatal(err)
	}
	return req
}

type jsonErr struct {
	status  int
	code    string
	message string
}

func doJSON(t *testing.T, req *http.Request) jsonErr {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return jsonErr{resp.StatusCode, body["__type"], body["message"]}
}

func doXML(t *testing.T, req *http.Request) (int, string, string, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		XMLName xml.Name
		Code    string `xml:"Error>Code"`
		Message string `xml:"Error>Message"`
	}
	_ = xml.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.XMLName.Space, e.Code, e.Message
}

// TestSigV4TimeAndScopeOnTheWire: a signature more than 15 minutes from the
// real clock, a credential scope of another day or another region are
// refused with AWS's codes and messages, in JSON for Secrets Manager and in
// XML for STS; the emulator's own (fake, far-future) clock plays no part.
func TestSigV4TimeAndScopeOnTheWire(t *testing.T) {
	e := startEmu(t, awsemu.Config{}) // clock at 2030: signing with real time still works
	createSecret(t, e, "s", "v")
	now := time.Now().UTC()
	describe := []byte(`{"SecretId":"s"}`)
	cases := []struct {
		name   string
		region string
		at     time.Time
		mutate func(*http.Request)
		ok     bool
		msg    string
	}{
		{"now", awsemu.DefaultRegion, now, nil, true, ""},
		{"14 minutes old", awsemu.DefaultRegion, now.Add(-14 * time.Minute), nil, true, ""},
		{"16 minutes old", awsemu.DefaultRegion, now.Add(-16 * time.Minute), nil, false, "Signature expired: " + now.Add(-16*time.Minute).Format("20060102T150405Z") + " is now earlier than "},
		{"16 minutes ahead", awsemu.DefaultRegion, now.Add(16 * time.Minute), nil, false, "Signature not yet current: " + now.Add(16*time.Minute).Format("20060102T150405Z") + " is still later than "},
		{"another region", "eu-west-1", now, nil, false, "Credential should be scoped to a valid region, not 'eu-west-1'."},
		{"scope date differs", awsemu.DefaultRegion, now, func(r *http.Request) {
			r.Header.Set("X-Amz-Date", now.Add(24*time.Hour).Format("20060102T150405Z"))
		}, false, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := signedRequest(t, e.url, "secretsmanager", c.region, "DescribeSecret", describe, c.at)
			if c.mutate != nil {
				c.mutate(req)
			}
			got := doJSON(t, req)
			if c.ok {
				if got.status != http.StatusOK {
					t.Fatalf("refused: %+v", got)
				}
				return
			}
			if got.status != http.StatusBadRequest || got.code != "InvalidSignatureException" || !strings.Contains(got.message, c.msg) {
				t.Fatalf("got %+v, want 400 InvalidSignatureException %q", got, c.msg)
			}
			if !strings.HasSuffix(c.name, "region") && !strings.Contains(c.name, "date") && !strings.Contains(got.message, "15 min.)") {
				t.Fatalf("message %q lacks the 15-minute window", got.message)
			}

			// The same request to STS (query protocol) gets SignatureDoesNotMatch in XML.
			q := signedRequest(t, e.url, "sts", c.region, "", []byte("Action=GetCallerIdentity&Version=2011-06-15"), c.at)
			if c.mutate != nil {
				c.mutate(q)
			}
			status, ns, code, msg := doXML(t, q)
			if status != http.StatusForbidden || ns != "https://sts.amazonaws.com/doc/2011-06-15/" || code != "SignatureDoesNotMatch" || !strings.Contains(msg, c.msg) {
				t.Fatalf("sts: %d %s %s %q", status, ns, code, msg)
			}
		})
	}
	if n := e.srv.Stats()["DescribeSecret"]; n != 2 {
		t.Fatalf("DescribeSecret counted %d times; only the 2 accepted requests may count", n)
	}
}

// rawRequest writes an HTTP/1.1 POST with the given headers and a declared
// Content-Length of declared bytes, then only the first sent bytes of the
// body, and returns the response the server sends without waiting for the
// rest. A server that read the whole body before answering would never
// answer (the connection deadline turns that into a failure, not a hang).
func rawRequest(t testing.TB, base string, header http.Header, declared, sent int) (*http.Response, error) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", u.Host, declared)
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return nil, err
	}
	if _, err := conn.Write(bytes.Repeat([]byte("x"), sent)); err != nil {
		return nil, err
	}
	return http.ReadResponse(bufio.NewReader(conn), nil)
}

// TestUnauthenticatedBodyIsNeverRead: a request with a bad or missing
// Authorization header and a declared 10 MB body is refused after only its
// headers; a signed request declaring more than MaxBodyBytes is refused with
// 413 before its body is read, and one sent without a declared length is
// cut off at the cap.
func TestUnauthenticatedBodyIsNeverRead(t *testing.T) {
	e := startEmu(t, awsemu.Config{})
	const tenMB = 10 << 20
	cases := []struct {
		name   string
		header http.Header
		code   string
	}{
		{"no authorization", http.Header{"X-Amz-Target": {"secretsmanager.PutSecretValue"}}, "MissingAuthenticationTokenException"},
		{"unknown key", http.Header{
			"X-Amz-Target":  {"secretsmanager.PutSecretValue"},
			"X-Amz-Date":    {time.Now().UTC().Format("20060102T150405Z")},
			"Authorization": {"AWS4-HMAC-SHA256 Credential=AKIANOBODY0000000000/" + time.Now().UTC().Format("20060102") + "/us-east-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"},
		}, "UnrecognizedClientException"},
		{"expired", http.Header{
			"X-Amz-Target":  {"secretsmanager.PutSecretValue"},
			"X-Amz-Date":    {"20200101T000000Z"},
			"Authorization": {"AWS4-HMAC-SHA256 Credential=" + awsemu.DefaultAccessKeyID + "/20200101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"},
		}, "InvalidSignatureException"},
		{"signed but declared too large", signedRequest(t, e.url, "secretsmanager", awsemu.DefaultRegion, "PutSecretValue", nil, time.Now()).Header, "RequestEntityTooLargeException"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := rawRequest(t, e.url, c.header, tenMB, 64<<10)
			if err != nil {
				t.Fatalf("no answer before the body was sent: %v", err)
			}
			defer resp.Body.Close()
			var body map[string]string
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if body["__type"] != c.code {
				t.Fatalf("status %d body %v, want %s", resp.StatusCode, body, c.code)
			}
		})
	}

	// A signed request whose length is not declared is read only up to the cap.
	small := startEmu(t, awsemu.Config{MaxBodyBytes: 1024})
	body := []byte(`{"SecretId":"s","SecretString":"` + strings.Repeat("a", 2000) + `"}`)
	req := signedRequest(t, small.url, "secretsmanager", awsemu.DefaultRegion, "PutSecretValue", body, time.Now())
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = -1 // chunked
	got := doJSON(t, req)
	if got.status != http.StatusRequestEntityTooLarge || got.code != "RequestEntityTooLargeException" || !strings.Contains(got.message, "Request must be smaller than 1024 bytes for the PutSecretValue operation") {
		t.Fatalf("chunked over the cap: %+v", got)
	}
	// Through the SDK (declared length) the same.
	_, err := small.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String(strings.Repeat("a", 2000))})
	wantCode(t, err, "RequestEntityTooLargeException")
	if n := small.srv.Stats()["PutSecretValue"]; n != 0 {
		t.Fatalf("an oversized request reached the operation %d times", n)
	}
	// The default cap fits Secrets Manager's largest value.
	createSecret(t, e, "big", "v")
	must(e.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("big"), SecretBinary: bytes.Repeat([]byte{0xff}, 65536)})).ok(t)
}

// BenchmarkUnauthenticatedLargeBodies sends 32 concurrent requests that each
// declare a 10 MB body without valid credentials (and send it all, as a
// hostile client would) and reports how much the emulator's heap grew and
// allocated per round. Before the headers were checked first, one round
// took the process from 50 to 322 MB.
func BenchmarkUnauthenticatedLargeBodies(b *testing.B) {
	srv, err := awsemu.New(awsemu.Config{})
	if err != nil {
		b.Fatal(err)
	}
	base, err := srv.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	payload := bytes.Repeat([]byte("x"), 10<<20)
	client := &http.Client{}
	round := func() {
		var wg sync.WaitGroup
		for i := 0; i < 32; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, base+"/", bytes.NewReader(payload))
				req.Header.Set("X-Amz-Target", "secretsmanager.PutSecretValue")
				req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
				req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIANOBODY0000000000/"+time.Now().UTC().Format("20060102")+"/us-east-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
		}
		wg.Wait()
	}
	round() // warm up connections and buffers
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		round()
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "MiB-alloc/round")
	b.ReportMetric(float64(after.HeapSys)/(1<<20), "MiB-heap-sys")
}
