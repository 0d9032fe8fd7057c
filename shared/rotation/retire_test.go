package rotation_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/providers/servicekey"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

// retiring is servicekey whose Create reports the DUALKEY_DEACTIVATED
// version's credential as destroyed to make room, as iamkey does at IAM's
// two-key limit (also when an earlier attempt destroyed it already).
type retiring struct {
	*discarding
	version string // when set, the version it claims to have retired
}

func (p retiring) Create(ctx context.Context, req *rotation.CreateRequest) (*rotation.CreateResponse, error) {
	resp, err := p.discarding.Create(ctx, req)
	if err != nil {
		return nil, err
	}
	if p.version != "" {
		resp.Retired = append(resp.Retired, rotation.RetiredCredential{VersionID: p.version, Fingerprint: "…test", Reason: "bogus"})
	} else if v, err := req.Versions.Stage(ctx, rotation.StageDeactivated); err == nil {
		resp.Retired = append(resp.Retired, rotation.RetiredCredential{VersionID: v.ID, Fingerprint: p.Fingerprint(v.Value), Reason: "deleted to make room (two-key limit)"})
	}
	return resp, nil
}

// failingSM fails the first call fail matches.
type failingSM struct {
	rotation.SecretsManagerAPI
	mu   sync.Mutex
	fail func(op string, in any) bool
	done bool
}

func (s *failingSM) hit(op string, in any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done || s.fail == nil || !s.fail(op, in) {
		return nil
	}
	s.done = true
	return errors.New("injected failure of " + op)
}

func (s *failingSM) TagResource(ctx context.Context, in *secretsmanager.TagResourceInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error) {
	if err := s.hit("TagResource", in); err != nil {
		return nil, err
	}
	return s.SecretsManagerAPI.TagResource(ctx, in, optFns...)
}

func (s *failingSM) UntagResource(ctx context.Context, in *secretsmanager.UntagResourceInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UntagResourceOutput, error) {
	if err := s.hit("UntagResource", in); err != nil {
		return nil, err
	}
	return s.SecretsManagerAPI.UntagResource(ctx, in, optFns...)
}

func (s *failingSM) UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	if err := s.hit("UpdateSecretVersionStage:"+aws.ToString(in.VersionStage), in); err != nil {
		return nil, err
	}
	return s.SecretsManagerAPI.UpdateSecretVersionStage(ctx, in, optFns...)
}

func (s *failingSM) PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	if err := s.hit("PutSecretValue", in); err != nil {
		return nil, err
	}
	return s.SecretsManagerAPI.PutSecretValue(ctx, in, optFns...)
}

// retiredEnv rotates once, retires the previous version as the lifecycle
// does (label and deactivation time) and holds a second rotation.
func retiredEnv(t *testing.T, p *discarding) (*rotationtest.Env, string, string, string) {
	t.Helper()
	ctx := context.Background()
	env := rotationtest.NewEnv(t, subjectWith(`{"api_key":"`+initialKey+`"}`, func(sp *servicekey.Provider) rotation.Provider {
		p.Provider = sp
		return retiring{discarding: p}
	}))
	arn := env.CreateSecret(ctx)
	env.MustRotate(ctx, arn)
	v0 := holderOf(env.Labels(ctx, arn), rotation.StagePrevious)
	if _, err := env.SM.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(arn), VersionStage: aws.String(rotation.StageDeactivated), MoveToVersionId: aws.String(v0),
	}); err != nil {
		t.Fatal(err)
	}
	env.Tag(ctx, arn, map[string]string{rotation.TagDeactivatedAt: "2030-01-01T00:00:00Z", rotation.TagState: "deactivated", rotation.TagStateVersion: v0})
	return env, arn, v0, env.Hold(ctx, arn)
}

func checkRetired(t *testing.T, env *rotationtest.Env, arn, v0 string) {
	t.Helper()
	ctx := context.Background()
	labels := env.Labels(ctx, arn)
	for _, s := range labels[v0] {
		if s == rotation.StageDeactivated {
			t.Fatalf("version %s still holds %s after its credential was deleted", v0, rotation.StageDeactivated)
		}
	}
	tags := env.Tags(ctx, arn)
	want := map[string]string{rotation.TagState: rotation.StateDeleted, rotation.TagStateVersion: v0, rotation.TagStateNote: "deleted to make room two-key limit"}
	for k, v := range want {
		if tags[k] != v {
			t.Errorf("tag %s = %q, want %q", k, tags[k], v)
		}
	}
	if _, err := time.Parse(time.RFC3339, tags[rotation.TagStateSince]); err != nil {
		t.Errorf("tag %s = %q is no RFC 3339 time", rotation.TagStateSince, tags[rotation.TagStateSince])
	}
	if v, ok := tags[rotation.TagDeactivatedAt]; ok {
		t.Errorf("tag %s=%s left behind", rotation.TagDeactivatedAt, v)
	}
}

// Issue 6 item 9: a rotation that deletes the deactivated credential to make
// room ends its lifecycle in the same run: label, tags, log and metric.
func TestCreateSecretEndsTheLifecycleOfRetiredCredentials(t *testing.T) {
	ctx := context.Background()
	p := &discarding{}
	env, arn, v0, token := retiredEnv(t, p)
	if err := env.Retry(ctx, arn, token, rotation.StepCreate); err != nil {
		t.Fatal(err)
	}
	checkRetired(t, env, arn, v0)
	var logged, counted bool
	for _, line := range strings.Split(env.Logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if m["msg"] == "createSecret deleted a retired credential to make room; its rollback window is over" && m["version"] == v0 && m["state"] == rotation.StateDeleted {
			logged = true
		}
		if m["_aws"] != nil && m["CredentialDeleted"] == 1.0 && m["SecretName"] == rotationtest.SecretName {
			counted = true
		}
	}
	if !logged || !counted {
		t.Fatalf("the deletion was not logged (%t) or counted (%t):\n%s", logged, counted, env.Logs.String())
	}
}

// A failure at any write of the bookkeeping fails createSecret before the
// put, discards the new credential for good, and the retry completes it.
func TestRetiredBookkeepingSurvivesFailures(t *testing.T) {
	ctx := context.Background()
	for _, op := range []string{"TagResource", "UntagResource", "UpdateSecretVersionStage:" + rotation.StageDeactivated, "PutSecretValue"} {
		t.Run(op, func(t *testing.T) {
			p := &discarding{}
			env, arn, v0, token := retiredEnv(t, p)
			sm := &failingSM{SecretsManagerAPI: env.SM, fail: func(got string, _ any) bool { return got == op }}
			eng, err := rotation.New(rotation.Config{SecretsManager: sm, Provider: retiring{discarding: p}, LogWriter: env.Logs, MetricsWriter: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			err = eng.Handle(ctx, events.SecretsManagerSecretRotationEvent{Step: rotation.StepCreate, SecretID: arn, ClientRequestToken: token})
			if err == nil || !strings.Contains(err.Error(), "injected failure of "+strings.Split(op, ":")[0]) {
				t.Fatalf("createSecret with a failing %s: %v", op, err)
			}
			if env.Value(ctx, arn, rotation.StagePending) != "" {
				t.Fatalf("a pending value was stored although %s failed", op)
			}
			if d := p.requests(); len(d) != 1 || d[0].Destroy != (op != "PutSecretValue") {
				t.Fatalf("discards %+v after a failing %s", d, op)
			}
			if err := env.Retry(ctx, arn, token, rotation.StepCreate); err != nil {
				t.Fatalf("retry: %v", err)
			}
			checkRetired(t, env, arn, v0)
		})
	}
}

// A provider that claims to have destroyed a live version's credential is
// not believed: nothing is stored, the new credential is discarded.
func TestRetiredMustBeARetiredVersion(t *testing.T) {
	ctx := context.Background()
	p := &discarding{}
	env := rotationtest.NewEnv(t, subjectWith(`{"api_key":"`+initialKey+`"}`, func(sp *servicekey.Provider) rotation.Provider {
		p.Provider = sp
		return p
	}))
	arn := env.CreateSecret(ctx)
	cur := holderOf(env.Labels(ctx, arn), rotation.StageCurrent)
	token := env.Hold(ctx, arn)
	for _, v := range []string{cur, token, "no-such-version-0000000000000000000"} {
		eng, err := rotation.New(rotation.Config{SecretsManager: env.SM, Provider: retiring{discarding: p, version: v}, LogWriter: env.Logs, MetricsWriter: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		err = eng.Handle(ctx, events.SecretsManagerSecretRotationEvent{Step: rotation.StepCreate, SecretID: arn, ClientRequestToken: token})
		if !errors.Is(err, rotation.ErrProvider) || !strings.Contains(err.Error(), "not a retired version") {
			t.Fatalf("Retired naming %s: %v", v, err)
		}
	}
	if env.Value(ctx, arn, rotation.StagePending) != "" || len(env.Tags(ctx, arn)) != 2 {
		t.Fatalf("something was stored or tagged")
	}
}
