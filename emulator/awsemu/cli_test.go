package awsemu_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/emulator/awsemu"
)

// TestAWSCLI drives the emulator with the real AWS CLI when it is installed.
func TestAWSCLI(t *testing.T) {
	bin, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("aws CLI not on PATH: .ci/run installs Debian's awscli")
		}
		t.Skip("aws CLI not on PATH")
	}
	e := startEmu(t, awsemu.Config{})
	dir := t.TempDir()
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"AWS_ACCESS_KEY_ID="+awsemu.DefaultAccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+awsemu.DefaultSecretAccessKey,
		"AWS_DEFAULT_REGION="+awsemu.DefaultRegion,
		"AWS_CONFIG_FILE="+filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"),
		"AWS_PAGER=",
	)
	run := func(env []string, args ...string) (string, string, error) {
		cmd := exec.Command(bin, append([]string{"--endpoint-url", e.url, "--output", "json", "secretsmanager"}, args...)...)
		cmd.Env = env
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}
	ok := func(args ...string) string {
		t.Helper()
		out, stderr, err := run(env, args...)
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
	_, stderr, err := run(env, "get-secret-value", "--secret-id", "cli/missing")
	if err == nil || !strings.Contains(stderr, "ResourceNotFoundException") {
		t.Fatalf("missing secret: err %v stderr %s", err, stderr)
	}
	badEnv := append(append([]string{}, env...), "AWS_SECRET_ACCESS_KEY=wrong")
	_, stderr, err = run(badEnv, "list-secrets")
	if err == nil || !strings.Contains(stderr, "InvalidSignatureException") {
		t.Fatalf("wrong secret: err %v stderr %s", err, stderr)
	}
}
