package awsemu

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// TestStateFileEqualsMemory: the state file, assembled from per-secret
// cached encodings, equals a full encoding of the in-memory state after
// every kind of change (a stale cache entry would silently lose a change on
// restart).
func TestStateFileEqualsMemory(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.json")
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	invoker := InvokerFunc(func(context.Context, string, []byte) error { return nil })
	srv, err := New(Config{StateFile: path, Now: clock, Invoker: invoker})
	if err != nil {
		t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sm := secretsmanager.NewFromConfig(ClientConfig(url))

	check := func(step string) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		var onDisk, inMemory any
		if err := json.Unmarshal(b, &onDisk); err != nil {
			t.Fatalf("%s: state file is not JSON: %v", step, err)
		}
		srv.mu.Lock()
		full, err := json.Marshal(stateFile{Version: stateVersion, state: srv.st})
		srv.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		_ = json.Unmarshal(full, &inMemory)
		if !reflect.DeepEqual(onDisk, inMemory) {
			t.Fatalf("after %s the state file differs from memory", step)
		}
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"create", func() error {
			for _, n := range []string{"a", "b", "c", "d"} {
				if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(n), SecretString: aws.String("v-" + n)}); err != nil {
					return err
				}
			}
			return nil
		}},
		{"put pending", func() error {
			_, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("a"), SecretString: aws.String("p"), VersionStages: []string{"AWSPENDING"}})
			return err
		}},
		{"get (last accessed)", func() error {
			now = now.Add(48 * time.Hour)
			_, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("b")})
			return err
		}},
		{"tag", func() error {
			_, err := sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("c"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
			return err
		}},
		{"untag", func() error {
			_, err := sm.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String("c"), TagKeys: []string{"k"}})
			return err
		}},
		{"update", func() error {
			_, err := sm.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: aws.String("b"), Description: aws.String("d"), SecretString: aws.String("v2")})
			return err
		}},
		{"rotate", func() error {
			_, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("d"), RotationLambdaARN: aws.String("fn"),
				RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(5)}})
			return err
		}},
		{"cancel rotate", func() error {
			_, err := sm.CancelRotateSecret(ctx, &secretsmanager.CancelRotateSecretInput{SecretId: aws.String("d")})
			return err
		}},
		{"delete and restore", func() error {
			if _, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("c"), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
				return err
			}
			_, err := sm.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String("c")})
			return err
		}},
		{"force delete", func() error {
			_, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("a"), ForceDeleteWithoutRecovery: aws.Bool(true)})
			return err
		}},
		{"purge then a write", func() error {
			if _, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("b"), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
				return err
			}
			now = now.Add(8 * 24 * time.Hour)
			_, err := sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("d"), Tags: []types.Tag{{Key: aws.String("x"), Value: aws.String("y")}}})
			return err
		}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		check(st.name)
	}
	srv.mu.Lock()
	_, stillThere := srv.st.Secrets[""]
	n := len(srv.st.Secrets)
	srv.mu.Unlock()
	if stillThere || n != 2 {
		t.Fatalf("%d secrets left, want 2 (c and d)", n)
	}
}
