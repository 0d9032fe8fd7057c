// Package emutest is the harness of the emulator packages' own tests: it
// mounts a service in the SigV4-verifying AWS emulator (awsemu) on loopback
// for the real SDK clients, finds and runs the AWS CLI with an isolated
// configuration, and checks the AWS errors that come back.
package emutest

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/internal/testutil"
)

// T0 is the emulator's (fake) time at the start of every test.
var T0 = time.Date(2030, 3, 14, 10, 30, 0, 0, time.UTC)

// Mount starts an awsemu.Server on a loopback port, reading the time from
// now, with service mounted under its SigV4 signing name, and stops it when
// the test ends. It returns the server's base URL and an SDK configuration
// for it: the bootstrap key and one attempt per call, so that a test sees
// every error as the emulator sent it.
func Mount(t testing.TB, now func() time.Time, signingName string, service http.Handler) (string, aws.Config) {
	t.Helper()
	srv, err := awsemu.New(awsemu.Config{Now: now, Services: map[string]http.Handler{signingName: service}})
	if err != nil {
		t.Fatalf("awsemu.New: %v", err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	cfg := awsemu.ClientConfig(url)
	cfg.RetryMaxAttempts = 1
	return url, cfg
}

// APIError returns the AWS error code and message of err: empty for nil,
// "non-API error" and err's text for an error that is not an AWS API error.
func APIError(err error) (code, msg string) {
	if err == nil {
		return "", ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage()
	}
	return "non-API error", err.Error()
}

// WantError fails t unless err is the AWS API error code and, when msg is
// not empty, its message is exactly msg.
func WantError(t testing.TB, err error, code, msg string) {
	t.Helper()
	gotCode, gotMsg := APIError(err)
	if gotCode != code || (msg != "" && gotMsg != msg) {
		t.Fatalf("error = %s: %q, want %s: %q", gotCode, gotMsg, code, msg)
	}
}

// debianCLI is where Debian's awscli package (AWS CLI v2) puts the CLI.
const debianCLI = "/usr/bin/aws"

// FindCLI returns the AWS CLI to test with: Debian's v2 at /usr/bin/aws when
// installed, else the first aws on PATH (often a v1). Without one it fails
// the test in CI and skips it elsewhere, naming the install command.
func FindCLI(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(debianCLI); err == nil {
		return debianCLI
	}
	p, err := exec.LookPath("aws")
	if err != nil {
		testutil.Unavailable(t, errors.New("aws CLI not found: install it with `apt-get install -y awscli` (.ci/run does)"))
	}
	return p
}

// CLI runs the AWS CLI with an environment of its own.
type CLI struct {
	// Bin is the aws executable.
	Bin string
	// Env is the CLI's whole environment (see CLIEnv).
	Env []string
}

// NewCLI returns the AWS CLI (FindCLI) signing with keyID and secret and
// reading no user configuration (CLIEnv in a temporary directory).
func NewCLI(t testing.TB, keyID, secret string) *CLI {
	t.Helper()
	return &CLI{Bin: FindCLI(t), Env: CLIEnv(t.TempDir(), keyID, secret)}
}

// Run runs the CLI with args and returns what it printed. Callers add
// --endpoint-url themselves, so a command can be run exactly as a runbook
// spells it.
func (c *CLI) Run(args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(c.Bin, args...)
	cmd.Env = c.Env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// CLIEnv returns an environment for the AWS CLI that holds no user
// configuration: this process's environment without its AWS_* variables,
// config and credentials files in dir (which need not exist), the key keyID
// with secret, the emulator's region, no pager, no instance metadata lookup
// and one attempt per call.
func CLIEnv(dir, keyID, secret string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"AWS_ACCESS_KEY_ID="+keyID,
		"AWS_SECRET_ACCESS_KEY="+secret,
		"AWS_REGION="+awsemu.DefaultRegion,
		"AWS_DEFAULT_REGION="+awsemu.DefaultRegion, // CLI v1 reads only this one
		"AWS_CONFIG_FILE="+filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"AWS_MAX_ATTEMPTS=1",
	)
}
