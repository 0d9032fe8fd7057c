package awsemu_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/dualkey/dualkey/emulator/awsauth"
	"github.com/dualkey/dualkey/emulator/awsemu"
)

func TestSigV4Errors(t *testing.T) {
	e := startEmu(t, awsemu.Config{})
	createSecret(t, e, "s", "v")
	tests := []struct {
		name, id, secret, code, msg string
	}{
		{"wrong secret", awsemu.DefaultAccessKeyID, "not-the-secret", "InvalidSignatureException", "The request signature we calculated does not match the signature you provided."},
		{"unknown key", "AKIAUNKNOWNKEY000000", awsemu.DefaultSecretAccessKey, "UnrecognizedClientException", "The security token included in the request is invalid."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(e.url, tt.id, tt.secret)
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
			wantCode(t, err, tt.code)
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("message = %v", err)
			}
		})
	}
	if n := e.srv.Stats()["GetSecretValue"]; n != 0 {
		t.Fatalf("unauthenticated calls were counted: %d", n)
	}

	// Unsigned request: MissingAuthenticationTokenException in JSON 1.1 form.
	req, _ := http.NewRequest(http.MethodPost, e.url+"/", strings.NewReader(`{"SecretId":"s"}`))
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 400 || body["__type"] != "MissingAuthenticationTokenException" || resp.Header.Get("X-Amzn-ErrorType") != "MissingAuthenticationTokenException" {
		t.Fatalf("unsigned: status %d body %v", resp.StatusCode, body)
	}
}

func TestCustomVerifierAndServiceRouting(t *testing.T) {
	keys := awsauth.StaticKeys{"AKIAOTHERKEY00000000": "other-secret"}
	var mu sync.Mutex
	var seen []awsauth.Principal
	stsHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := awsauth.PrincipalFrom(r.Context())
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		mu.Lock()
		seen = append(seen, p)
		mu.Unlock()
		if form.Get("Action") != "GetCallerIdentity" {
			http.Error(w, "unexpected action", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/test</Arn><UserId>%s</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`, p.AccessKeyID)
	})
	e := startEmu(t, awsemu.Config{
		Verifier: &awsauth.Verifier{Keys: keys},
		Services: map[string]http.Handler{"sts": stsHandler},
	})
	// The default key is not in this verifier's store.
	_, err := e.sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
	wantCode(t, err, "UnrecognizedClientException")
	other := newClient(e.url, "AKIAOTHERKEY00000000", "other-secret")
	must(other.ListSecrets(ctx, &secretsmanager.ListSecretsInput{})).ok(t)

	stsClient := func(id, secret string) *sts.Client {
		return sts.NewFromConfig(aws.Config{
			Region: awsemu.DefaultRegion, Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""), RetryMaxAttempts: 1,
		}, func(o *sts.Options) { o.BaseEndpoint = aws.String(e.url) })
	}
	id := must(stsClient("AKIAOTHERKEY00000000", "other-secret").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})).ok(t)
	if aws.ToString(id.UserId) != "AKIAOTHERKEY00000000" {
		t.Fatalf("UserId = %s", aws.ToString(id.UserId))
	}
	mu.Lock()
	if len(seen) != 1 || seen[0].Service != "sts" || seen[0].AccessKeyID != "AKIAOTHERKEY00000000" {
		t.Fatalf("principal seen by the sts handler = %+v", seen)
	}
	mu.Unlock()
	// Query-protocol services get query-protocol auth errors.
	_, err = stsClient("AKIAOTHERKEY00000000", "wrong").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantCode(t, err, "SignatureDoesNotMatch")
	_, err = stsClient("AKIANOBODY0000000000", "x").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantCode(t, err, "InvalidClientTokenId")
	mu.Lock()
	if len(seen) != 1 {
		t.Fatal("unverified request reached the service handler")
	}
	mu.Unlock()
}

func TestUnroutedService(t *testing.T) {
	e := startEmu(t, awsemu.Config{})
	c := sts.NewFromConfig(aws.Config{
		Region: awsemu.DefaultRegion, Credentials: credentials.NewStaticCredentialsProvider(awsemu.DefaultAccessKeyID, awsemu.DefaultSecretAccessKey, ""), RetryMaxAttempts: 1,
	}, func(o *sts.Options) { o.BaseEndpoint = aws.String(e.url) })
	_, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if errCode(err) == "" {
		t.Fatal("a service without a handler answered")
	}
}

func getJSON(t *testing.T, method, u string, v any) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: status %d", method, u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
}

func TestStatsAndAdminEndpoints(t *testing.T) {
	inv := &recordingInvoker{}
	e := startEmu(t, awsemu.Config{Invoker: inv})
	createSecret(t, e, "s", "v")
	for i := 0; i < 3; i++ {
		must(e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})).ok(t)
	}
	_, err := e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("missing")})
	wantCode(t, err, "ResourceNotFoundException") // errors count too
	must(rotate(e, "s", 5, nil)).ok(t)

	var stats map[string]int
	getJSON(t, http.MethodGet, e.url+"/_dualkey/stats", &stats)
	if stats["CreateSecret"] != 1 || stats["DescribeSecret"] != 4 || stats["RotateSecret"] != 1 {
		t.Fatalf("stats = %v", stats)
	}
	if got := e.srv.Stats(); got["DescribeSecret"] != 4 {
		t.Fatalf("Stats() = %v", got)
	}
	var ok map[string]string
	getJSON(t, http.MethodPost, e.url+"/_dualkey/stats/reset", &ok)
	stats = nil
	getJSON(t, http.MethodGet, e.url+"/_dualkey/stats", &stats)
	if len(stats) != 0 {
		t.Fatalf("stats after reset = %v", stats)
	}
	must(e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})).ok(t)
	e.srv.ResetStats()
	if len(e.srv.Stats()) != 0 {
		t.Fatal("ResetStats did not reset")
	}

	ok = nil
	getJSON(t, http.MethodGet, e.url+"/_dualkey/health", &ok)
	if ok["status"] != "ok" {
		t.Fatalf("health = %v", ok)
	}
	var recs []awsemu.RotationRecord
	getJSON(t, http.MethodGet, e.url+"/_dualkey/rotations", &recs)
	if len(recs) != 1 || recs[0].Token != token(5) || len(recs[0].Steps) != 4 {
		t.Fatalf("rotations = %+v", recs)
	}
}

func TestConcurrentRequests(t *testing.T) {
	e := startEmu(t, awsemu.Config{})
	createSecret(t, e, "s", "v")
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 20; i++ {
		wg.Add(2)
		go func(i int) {
			defer wg.Done()
			_, err := put(e, "s", 100+i, fmt.Sprint("v", i))
			errs <- err
		}(i)
		go func() {
			defer wg.Done()
			_, err := e.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := stages(t, e, "s")
	cur, prev := 0, 0
	for _, s := range st {
		for _, l := range s {
			switch l {
			case "AWSCURRENT":
				cur++
			case "AWSPREVIOUS":
				prev++
			}
		}
	}
	if cur != 1 || prev != 1 {
		t.Fatalf("after concurrent puts: %v", st)
	}
}
