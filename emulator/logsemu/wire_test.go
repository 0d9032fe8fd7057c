package logsemu_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/internal/emutest"
	"github.com/dualkey/dualkey/emulator/logsemu"
)

// TestSignaturesAreVerified: behind the emulator's front end, a request
// signed with the wrong secret never reaches the service.
func TestSignaturesAreVerified(t *testing.T) {
	e := start(t)
	cfg := awsemu.ClientConfig(e.url)
	cfg.RetryMaxAttempts = 1
	cfg.Credentials = credentials.NewStaticCredentialsProvider(awsemu.DefaultAccessKeyID, "wrong-secret", "")
	bad := cloudwatchlogs.NewFromConfig(cfg)
	_, err := bad.CreateLogGroup(ctx(t), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("g")})
	emutest.WantError(t, err, "InvalidSignatureException", "")
	if calls := e.svc.Calls(); len(calls) != 0 {
		t.Fatalf("a refused request reached the service: %v", calls)
	}
}

func TestWireErrors(t *testing.T) {
	svc := logsemu.New(logsemu.Config{})
	cases := []struct {
		name, method, target, body string
		code                       string
	}{
		{"GET", http.MethodGet, "Logs_20140328.DescribeLogGroups", "{}", "UnknownOperationException"},
		{"unknown operation", http.MethodPost, "Logs_20140328.StartQuery", "{}", "UnknownOperationException"},
		{"other service's target", http.MethodPost, "secretsmanager.ListSecrets", "{}", "UnknownOperationException"},
		{"malformed JSON", http.MethodPost, "Logs_20140328.DescribeLogGroups", "{", "SerializationException"},
		{"wrong type", http.MethodPost, "Logs_20140328.DescribeLogGroups", `{"limit":"ten"}`, "SerializationException"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(c.method, "/", strings.NewReader(c.body))
			req.Header.Set("X-Amz-Target", c.target)
			rec := httptest.NewRecorder()
			svc.ServeHTTP(rec, req)
			if rec.Code != http.StatusBadRequest || rec.Header().Get("X-Amzn-ErrorType") != c.code || !strings.Contains(rec.Body.String(), `"__type":"`+c.code+`"`) {
				t.Fatalf("%d %q %s", rec.Code, rec.Header().Get("X-Amzn-ErrorType"), rec.Body)
			}
		})
	}
}
