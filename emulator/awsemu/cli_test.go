package awsemu_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/internal/emutest"
)

// TestAWSCLI drives the emulator with the real AWS CLI when it is installed.
func TestAWSCLI(t *testing.T) {
	c := emutest.NewCLI(t, awsemu.DefaultAccessKeyID, awsemu.DefaultSecretAccessKey)
	e := startEmu(t, awsemu.Config{})
	run := func(c *emutest.CLI, args ...string) (string, string, error) {
		return c.Run(append([]string{"--endpoint-url", e.url, "--output", "json", "secretsmanager"}, args...)...)
	}
	ok := func(args ...string) string {
		t.Helper()
		out, stderr, err := run(c, args...)
		if err != nil {
			t.Fatalf("aws secretsmanager %s: %v: %s", args[0], err, stderr) // stderr never holds the value
		}
		return out
	}

	var created struct{ ARN, Name, VersionId string }
	if err := json.Unmarshal([]byte(ok("create-secret", "--name", "cli/test", "--secret-string", "cli-value")), &created); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.ARN, "arn:aws:secretsmanager:us-east-1:123456789012:secret:cli/test-") || created.VersionId == "" {
		t.Fatalf("create-secret output: %+v", created)
	}
	var got struct {
		SecretString  string
		VersionStages []string
	}
	if err := json.Unmarshal([]byte(ok("get-secret-value", "--secret-id", created.ARN)), &got); err != nil {
		t.Fatal("get-secret-value output is not JSON")
	}
	valueIs(t, &got.SecretString, "cli-value", "aws get-secret-value")
	ok("put-secret-value", "--secret-id", "cli/test", "--secret-string", "next", "--version-stages", "AWSPENDING")
	var desc struct {
		VersionIdsToStages map[string][]string
		LastChangedDate    float64
	}
	if err := json.Unmarshal([]byte(ok("describe-secret", "--secret-id", "cli/test")), &desc); err != nil {
		t.Fatal(err)
	}
	if len(desc.VersionIdsToStages) != 2 {
		t.Fatalf("describe-secret stages: %v", desc.VersionIdsToStages)
	}
	if out := ok("list-secrets"); !strings.Contains(out, "cli/test") {
		t.Fatal("list-secrets does not list the secret")
	}
	if out := ok("get-random-password", "--password-length", "20", "--exclude-punctuation"); !strings.Contains(out, "RandomPassword") {
		t.Fatal("get-random-password output lacks RandomPassword")
	}

	// Errors come back with AWS's codes.
	_, stderr, err := run(c, "get-secret-value", "--secret-id", "cli/missing")
	if err == nil || !strings.Contains(stderr, "ResourceNotFoundException") {
		t.Fatalf("missing secret: err %v stderr %s", err, stderr)
	}
	bad := &emutest.CLI{Bin: c.Bin, Env: append(append([]string{}, c.Env...), "AWS_SECRET_ACCESS_KEY=wrong")}
	_, stderr, err = run(bad, "list-secrets")
	if err == nil || !strings.Contains(stderr, "InvalidSignatureException") {
		t.Fatalf("wrong secret: err %v stderr %s", err, stderr)
	}
}
