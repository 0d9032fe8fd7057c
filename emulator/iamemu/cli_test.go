package iamemu_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/dualkey/dualkey/emulator/internal/emutest"
)

// TestAWSCLI checks the emulator against botocore's signer and parsers. It is
// skipped when the aws CLI is not installed (and fails in CI).
func TestAWSCLI(t *testing.T) {
	awsPath := emutest.FindCLI(t)
	e := newEmu(t, nil)
	e.createUser(t, "app")
	k := e.createKey(t, "app")
	dir := t.TempDir()

	// run invokes the CLI with only the given key in its environment. Its
	// output never contains the secret, so it may appear in failures.
	run := func(t *testing.T, k key, args ...string) (stdout, stderr string, err error) {
		t.Helper()
		c := &emutest.CLI{Bin: awsPath, Env: emutest.CLIEnv(dir, k.id, k.secret)}
		return c.Run(append([]string{"--endpoint-url", e.url, "--output", "json"}, args...)...)
	}

	t.Run("sts get-caller-identity", func(t *testing.T) {
		out, stderr, err := run(t, k, "sts", "get-caller-identity")
		if err != nil {
			t.Fatalf("aws sts get-caller-identity: %v: %s", err, stderr)
		}
		var id struct{ Account, Arn, UserId string }
		if err := json.Unmarshal([]byte(out), &id); err != nil {
			t.Fatalf("parse %q: %v", out, err)
		}
		if id.Arn != "arn:aws:iam::"+account+":user/app" || id.Account != account || id.UserId == "" {
			t.Errorf("identity = %+v", id)
		}
	})

	t.Run("iam list-access-keys", func(t *testing.T) {
		out, stderr, err := run(t, k, "iam", "list-access-keys")
		if err != nil {
			t.Fatalf("aws iam list-access-keys: %v: %s", err, stderr)
		}
		var list struct {
			AccessKeyMetadata []struct{ UserName, AccessKeyId, Status, CreateDate string }
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("parse %q: %v", out, err)
		}
		if len(list.AccessKeyMetadata) != 1 {
			t.Fatalf("got %d keys, want 1: %s", len(list.AccessKeyMetadata), out)
		}
		m := list.AccessKeyMetadata[0]
		if m.UserName != "app" || m.AccessKeyId != k.id || m.Status != "Active" || m.CreateDate == "" {
			t.Errorf("metadata = %+v", m)
		}
		if strings.Contains(out, k.secret) {
			t.Error("list-access-keys output contains the secret")
		}
	})

	t.Run("iam user tags", func(t *testing.T) {
		if _, stderr, err := run(t, k, "iam", "tag-user", "--user-name", "app", "--tags", "Key=dualkey:managed,Value=true", "Key=Team,Value=payments"); err != nil {
			t.Fatalf("aws iam tag-user: %v: %s", err, stderr)
		}
		if _, stderr, err := run(t, k, "iam", "untag-user", "--user-name", "app", "--tag-keys", "team"); err != nil {
			t.Fatalf("aws iam untag-user: %v: %s", err, stderr)
		}
		out, stderr, err := run(t, k, "iam", "list-user-tags", "--user-name", "app")
		if err != nil {
			t.Fatalf("aws iam list-user-tags: %v: %s", err, stderr)
		}
		var list struct {
			Tags        []struct{ Key, Value string }
			IsTruncated bool
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("parse %q: %v", out, err)
		}
		if len(list.Tags) != 1 || list.Tags[0].Key != "dualkey:managed" || list.Tags[0].Value != "true" || list.IsTruncated {
			t.Fatalf("list-user-tags = %s", out)
		}
		out, stderr, err = run(t, k, "iam", "get-user", "--user-name", "app")
		if err != nil || !strings.Contains(out, `"dualkey:managed"`) {
			t.Fatalf("aws iam get-user: %v: %s %s", err, out, stderr)
		}
		_, stderr, err = run(t, k, "iam", "tag-user", "--user-name", "app", "--tags", "Key=aws:x,Value=y")
		if err == nil || !strings.Contains(stderr, "InvalidInput") {
			t.Fatalf("aws iam tag-user with a reserved key: %v %s", err, stderr)
		}
	})

	t.Run("inactive key refused", func(t *testing.T) {
		if _, err := e.admin().UpdateAccessKey(t.Context(), &iam.UpdateAccessKeyInput{
			UserName: aws.String("app"), AccessKeyId: aws.String(k.id), Status: iamtypes.StatusTypeInactive,
		}); err != nil {
			t.Fatalf("UpdateAccessKey: %v", err)
		}
		for _, args := range [][]string{{"sts", "get-caller-identity"}, {"iam", "list-access-keys"}} {
			_, stderr, err := run(t, k, args...)
			if err == nil {
				t.Fatalf("aws %s succeeded with an inactive key", strings.Join(args, " "))
			}
			if !strings.Contains(stderr, "InvalidClientTokenId") {
				t.Errorf("aws %s: stderr %q does not name InvalidClientTokenId", strings.Join(args, " "), stderr)
			}
		}
	})
}
