package rotation_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/providers/servicekey"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

// discarding is servicekey with a Discarder that records what the engine
// asks it to discard, and an optional delay inside Create.
type discarding struct {
	*servicekey.Provider
	mu        sync.Mutex
	discarded []rotation.DiscardRequest
	during    func() // runs inside Create
}

func (p *discarding) Create(ctx context.Context, req *rotation.CreateRequest) (*rotation.CreateResponse, error) {
	resp, err := p.Provider.Create(ctx, req)
	if p.during != nil {
		p.during()
	}
	return resp, err
}

func (p *discarding) Discard(_ context.Context, req *rotation.DiscardRequest) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.discarded = append(p.discarded, *req)
	return nil
}

func (p *discarding) requests() []rotation.DiscardRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.discarded)
}

// racingSM lets a "sibling" act right before the engine's own call.
type racingSM struct {
	rotation.SecretsManagerAPI
	beforePut   func(in *secretsmanager.PutSecretValueInput) error // an error replaces the call
	beforeStage func(in *secretsmanager.UpdateSecretVersionStageInput)
}

func (s *racingSM) PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	if s.beforePut != nil {
		if err := s.beforePut(in); err != nil {
			return nil, err
		}
	}
	return s.SecretsManagerAPI.PutSecretValue(ctx, in, optFns...)
}

func (s *racingSM) UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	if s.beforeStage != nil {
		s.beforeStage(in)
	}
	return s.SecretsManagerAPI.UpdateSecretVersionStage(ctx, in, optFns...)
}

const sibling = `{"api_key":"sibling-key-0123456789abcdefghijklmnopqrstu"}`

// Issue 6 item 7, engine part: a put that fails is resolved by reading the
// pending version back.
func TestCreateSecretPutOutcomes(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		// before runs in place of / before the engine's put.
		before      func(env *rotationtest.Env, in *secretsmanager.PutSecretValueInput) error
		ok          bool
		wantPending string // "own", "sibling" or ""
		destroy     []bool // Discard calls and their Destroy
	}{
		{
			name: "a concurrent delivery stored another value first",
			before: func(env *rotationtest.Env, in *secretsmanager.PutSecretValueInput) error {
				_, err := env.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
					SecretId: in.SecretId, ClientRequestToken: in.ClientRequestToken, SecretString: aws.String(sibling), VersionStages: in.VersionStages,
				})
				return err
			},
			ok: true, wantPending: "sibling", destroy: []bool{true},
		},
		{
			name: "stored but the reply was lost",
			before: func(env *rotationtest.Env, in *secretsmanager.PutSecretValueInput) error {
				if _, err := env.SM.PutSecretValue(ctx, in); err != nil {
					return err
				}
				return errors.New("read tcp: connection reset by peer")
			},
			ok: true, wantPending: "own",
		},
		{
			name: "not stored",
			before: func(*rotationtest.Env, *secretsmanager.PutSecretValueInput) error {
				return errors.New("ServiceUnavailable: try again")
			},
			destroy: []bool{false},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &discarding{}
			env := rotationtest.NewEnv(t, subjectWith(`{"api_key":"`+initialKey+`"}`, func(sp *servicekey.Provider) rotation.Provider {
				p.Provider = sp
				return p
			}))
			arn := env.CreateSecret(ctx)
			token := env.Hold(ctx, arn)
			var own string
			sm := &racingSM{SecretsManagerAPI: env.SM, beforePut: func(in *secretsmanager.PutSecretValueInput) error {
				own = aws.ToString(in.SecretString)
				return c.before(env, in)
			}}
			eng, err := rotation.New(rotation.Config{SecretsManager: sm, Provider: p, LogWriter: env.Logs, MetricsWriter: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			err = eng.Handle(ctx, events.SecretsManagerSecretRotationEvent{Step: rotation.StepCreate, SecretID: arn, ClientRequestToken: token})
			if c.ok != (err == nil) {
				t.Fatalf("createSecret: %v, want success %t", err, c.ok)
			}
			want := map[string]string{"own": own, "sibling": sibling, "": ""}[c.wantPending]
			if got := env.Value(ctx, arn, rotation.StagePending); got != want {
				t.Errorf("pending value is %s, want the %s value", rotation.LastFour(got), c.wantPending)
			}
			var destroy []bool
			for _, d := range p.requests() {
				if d.Value != own {
					t.Errorf("Discard was asked to discard a value other than the engine's own")
				}
				destroy = append(destroy, d.Destroy)
			}
			if !slices.Equal(destroy, c.destroy) {
				t.Errorf("Discard calls with Destroy %v, want %v", destroy, c.destroy)
			}
			if c.ok {
				// The rest of the rotation proceeds with whatever was stored.
				if err := env.Retry(ctx, arn, token, rotation.StepSet); err != nil {
					t.Fatalf("rest of the rotation: %v", err)
				}
			}
		})
	}
}

// The engine stores a value within rotation.StoreWithin of calling Create
// or never: a slow Create's credential is discarded for good.
func TestCreateSecretStoreBound(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		took time.Duration
		ok   bool
	}{
		{took: 0, ok: true},
		{took: rotation.StoreWithin - 10*time.Second, ok: true},
		{took: rotation.StoreWithin - time.Second},
		{took: 2 * rotation.StoreWithin},
	}
	for _, c := range cases {
		t.Run(c.took.String(), func(t *testing.T) {
			clock := testutil.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			p := &discarding{during: func() { clock.Advance(c.took) }}
			env := rotationtest.NewEnv(t, subjectWith(`{"api_key":"`+initialKey+`"}`, func(sp *servicekey.Provider) rotation.Provider {
				p.Provider = sp
				return p
			}))
			arn := env.CreateSecret(ctx)
			token := env.Hold(ctx, arn)
			eng, err := rotation.New(rotation.Config{SecretsManager: env.SM, Provider: p, LogWriter: env.Logs, MetricsWriter: io.Discard, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			err = eng.Handle(ctx, events.SecretsManagerSecretRotationEvent{Step: rotation.StepCreate, SecretID: arn, ClientRequestToken: token})
			stored := env.Value(ctx, arn, rotation.StagePending)
			if c.ok {
				if err != nil || stored == "" || len(p.requests()) != 0 {
					t.Fatalf("createSecret: %v; stored %t; discards %d", err, stored != "", len(p.requests()))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "within "+rotation.StoreWithin.String()) {
				t.Fatalf("createSecret after %s: %v, want an error naming the %s bound", c.took, err, rotation.StoreWithin)
			}
			if stored != "" {
				t.Fatalf("a value was stored after %s", c.took)
			}
			if d := p.requests(); len(d) != 1 || !d[0].Destroy {
				t.Fatalf("discards %+v, want one with Destroy", d)
			}
		})
	}
}

// finishSecret delivered twice at once: the second move of AWSCURRENT (or
// removal of AWSPENDING) fails because the first already made it.
func TestFinishSecretRace(t *testing.T) {
	ctx := context.Background()
	for _, label := range []string{rotation.StageCurrent, rotation.StagePending} {
		t.Run("sibling moved "+label+" first", func(t *testing.T) {
			env := rotationtest.NewEnv(t, subject(`{"api_key":"`+initialKey+`"}`, false))
			arn := env.CreateSecret(ctx)
			old := holderOf(env.Labels(ctx, arn), rotation.StageCurrent)
			token := env.Hold(ctx, arn)
			for _, step := range []string{rotation.StepCreate, rotation.StepSet, rotation.StepTest} {
				if err := env.Step(ctx, arn, token, step); err != nil {
					t.Fatal(err)
				}
			}
			sibling := env.Instance(nil)
			once := sync.Once{}
			sm := &racingSM{SecretsManagerAPI: env.SM, beforeStage: func(in *secretsmanager.UpdateSecretVersionStageInput) {
				if aws.ToString(in.VersionStage) != label {
					return
				}
				once.Do(func() {
					if err := sibling.Handle(ctx, events.SecretsManagerSecretRotationEvent{Step: rotation.StepFinish, SecretID: arn, ClientRequestToken: token}); err != nil {
						t.Errorf("the sibling's finishSecret: %v", err)
					}
				})
			}}
			eng, err := rotation.New(rotation.Config{SecretsManager: sm, Provider: servicekey.New(servicekey.DefaultSettings, nil), LogWriter: env.Logs, MetricsWriter: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			if err := eng.Handle(ctx, events.SecretsManagerSecretRotationEvent{Step: rotation.StepFinish, SecretID: arn, ClientRequestToken: token}); err != nil {
				t.Fatalf("finishSecret after a concurrent one: %v", err)
			}
			env.CheckFinal(ctx, arn, old, token)
		})
	}
}
