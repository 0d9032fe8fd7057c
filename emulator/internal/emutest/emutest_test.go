package emutest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/smithy-go"
)

// TestCLIEnv: the CLI sees none of the caller's AWS settings, only the key
// it is given, files in its own directory, and no retries.
func TestCLIEnv(t *testing.T) {
	t.Setenv("AWS_PROFILE", "production")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "caller-secret")
	t.Setenv("AWS_ENDPOINT_URL", "https://example.com")
	t.Setenv("DUALKEY_EMUTEST_KEEP", "kept")
	env := CLIEnv("/tmp/x", "AKIATEST", "test-secret")
	for _, kv := range env {
		if kv == "AWS_PROFILE=production" || strings.Contains(kv, "caller-secret") || strings.HasPrefix(kv, "AWS_ENDPOINT_URL=") {
			t.Fatalf("caller's %q leaked into the CLI's environment", kv)
		}
	}
	for _, want := range []string{
		"DUALKEY_EMUTEST_KEEP=kept", "AWS_ACCESS_KEY_ID=AKIATEST", "AWS_SECRET_ACCESS_KEY=test-secret",
		"AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/tmp/x/config",
		"AWS_SHARED_CREDENTIALS_FILE=/tmp/x/credentials", "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true",
	} {
		if !slices.Contains(env, want) {
			t.Errorf("environment lacks %q", want)
		}
	}
}

func TestAPIError(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		code, msg string
	}{
		{"nil", nil, "", ""},
		{"plain", errors.New("dial tcp: refused"), "non-API error", "dial tcp: refused"},
		{"API", &smithy.GenericAPIError{Code: "ValidationException", Message: "bad"}, "ValidationException", "bad"},
		{"wrapped API", fmt.Errorf("op: %w", &smithy.GenericAPIError{Code: "X", Message: "y"}), "X", "y"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := APIError(tc.err)
			if code != tc.code || msg != tc.msg {
				t.Fatalf("APIError = %q %q, want %q %q", code, msg, tc.code, tc.msg)
			}
		})
	}
}
