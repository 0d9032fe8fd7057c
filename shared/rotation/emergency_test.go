package rotation_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/providers/servicekey"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

// emergencySeen records whether Create was asked for an emergency rotation.
type emergencySeen struct {
	*servicekey.Provider
	seen *atomic.Bool
}

func (p emergencySeen) Create(ctx context.Context, req *rotation.CreateRequest) (*rotation.CreateResponse, error) {
	p.seen.Store(req.Emergency)
	return p.Provider.Create(ctx, req)
}

// stats returns the emulator's Secrets Manager call counts since the last
// reset, without RotateSecret (the caller's own), and resets them.
func stats(t *testing.T, env *rotationtest.Env) map[string]int {
	t.Helper()
	resp, err := http.Get(env.URL + "/_dualkey/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]int
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	delete(m, "RotateSecret")
	r, err := http.Post(env.URL+"/_dualkey/stats/reset", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	return m
}

// A rotation of a secret tagged dualkey:emergency=true records the
// AWSCURRENT version it replaces in dualkey:state-leaked (ids separated
// by spaces, older ids kept) before Create, which is told it is an
// emergency. That costs one TagResource call, and none when dualkey rotate
// --emergency recorded the version already; a normal rotation's calls do
// not change.
func TestEmergencyRecordsTheLeakedVersion(t *testing.T) {
	cases := []struct {
		name      string
		emergency bool
		leaked    string // dualkey:state-leaked before the rotation; CUR stands for AWSCURRENT
		want      string
		extraTags int
	}{
		{"normal rotation", false, "", "", 0},
		{"emergency tag set by hand", true, "", "CUR", 1},
		{"recorded by dualkey rotate --emergency", true, "CUR", "CUR", 0},
		{"older ids, commas read, spaces written", true, "0a6c3c40-old1,0a6c3c40-old2", "0a6c3c40-old1 0a6c3c40-old2 CUR", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			seen := &atomic.Bool{}
			env := rotationtest.NewEnv(t, subjectWith(`{"api_key":"`+initialKey+`"}`, func(p *servicekey.Provider) rotation.Provider { return emergencySeen{p, seen} }))
			arn := env.CreateSecret(ctx)
			cur := holderOf(env.Labels(ctx, arn), rotation.StageCurrent)
			tags := map[string]string{}
			if c.emergency {
				tags[rotation.TagEmergency] = "true"
			}
			if c.leaked != "" {
				tags[rotation.TagStateLeaked] = strings.ReplaceAll(c.leaked, "CUR", cur)
			}
			if len(tags) > 0 {
				env.Tag(ctx, arn, tags)
			}
			stats(t, env)
			rotateOnce(t, env, arn)
			got := stats(t, env)
			if got["TagResource"] != c.extraTags || got["DescribeSecret"] != 4 {
				t.Fatalf("calls %v: want %d TagResource and a DescribeSecret per step", got, c.extraTags)
			}
			if want := strings.ReplaceAll(c.want, "CUR", cur); env.Tags(ctx, arn)[rotation.TagStateLeaked] != want {
				t.Fatalf("%s = %q, want %q", rotation.TagStateLeaked, env.Tags(ctx, arn)[rotation.TagStateLeaked], want)
			}
			if seen.Load() != c.emergency {
				t.Fatalf("CreateRequest.Emergency = %v, want %v", seen.Load(), c.emergency)
			}
			if holderOf(env.Labels(ctx, arn), rotation.StagePrevious) != cur {
				t.Fatal("the replaced version is not AWSPREVIOUS")
			}
		})
	}
}

// failTag is Secrets Manager refusing TagResource.
type failTag struct{ *secretsmanager.Client }

func (failTag) TagResource(context.Context, *secretsmanager.TagResourceInput, ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error) {
	return nil, errors.New("AccessDeniedException: not allowed to tag")
}

// When the leaked version cannot be recorded, createSecret fails before
// the provider makes anything: the emergency rotation never runs with an
// unrecorded leak.
func TestEmergencyStopsWhenTheLeakCannotBeRecorded(t *testing.T) {
	ctx := context.Background()
	seen := &atomic.Bool{}
	env := rotationtest.NewEnv(t, subjectWith(`{"api_key":"`+initialKey+`"}`, func(p *servicekey.Provider) rotation.Provider { return emergencySeen{p, seen} }))
	arn := env.CreateSecret(ctx)
	env.Tag(ctx, arn, map[string]string{rotation.TagEmergency: "true"})
	eng, err := rotation.New(rotation.Config{SecretsManager: failTag{env.SM}, Provider: emergencySeen{servicekey.New(servicekey.DefaultSettings, nil), seen}, LogWriter: io.Discard, MetricsWriter: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	var stepErr error
	env.SetInvoke(func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
		stepErr = eng.Handle(ctx, ev)
		return stepErr
	})
	if _, err := env.Rotate(ctx, arn); err != nil {
		t.Fatal(err)
	}
	if stepErr == nil || !strings.Contains(stepErr.Error(), rotation.TagStateLeaked) || !errors.Is(stepErr, rotation.ErrSecretsManager) || !strings.Contains(stepErr.Error(), "dualkey rotate --emergency "+rotationtest.SecretName) {
		t.Fatalf("createSecret: %v, want an error naming %s", stepErr, rotation.TagStateLeaked)
	}
	if seen.Load() {
		t.Fatal("Create ran although the leak was not recorded")
	}
	pend := holderOf(env.Labels(ctx, arn), rotation.StagePending)
	if _, err := env.SM.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionId: aws.String(pend)}); err == nil {
		t.Fatal("a pending value was stored")
	}
}
