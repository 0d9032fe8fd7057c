// Package rotationtest is the conformance kit every dualkey provider's tests
// run. It starts the local AWS emulator, rotates a secret through the real
// Secrets Manager protocol (RotateSecret, placeholder version, the four
// steps) with the provider under test, replays every step, delivers every
// step twice at once, injects a fault at every external call (Secrets
// Manager and provider alike) and checks the invariants dualkey promises:
//
//   - AWSCURRENT always holds a credential that works at the provider;
//   - at most one version holds AWSPENDING, and none after finishSecret;
//   - replaying a step, or the whole rotation, changes nothing;
//   - a crash, a lost reply or a refused call at any point, a second crash
//     during the retry, and a step delivered twice at once, each followed
//     by Secrets Manager's retry, end in the same state as one clean run,
//     with no orphaned credential;
//   - a credential that a rotation destroyed to make room (a retired one)
//     is recorded as deleted in the secret's lifecycle tags, and every
//     version labelled DUALKEY_DEACTIVATED references a live credential;
//   - a secret tagged for another provider or not managed, and a step on
//     the empty placeholder, are refused and change nothing;
//   - the provider's declared capabilities agree with each other;
//   - no secret value appears in any log line.
//
// Time in the kit is an injected clock (Env.Clock) shared by the emulator,
// the engine and whatever the fixture wires to it; "Secrets Manager retries
// later" advances it by RetryDelay.
package rotationtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/rotation"
)

// LambdaARN is the rotation function ARN the kit registers.
const LambdaARN = "arn:aws:lambda:us-east-1:123456789012:function:dualkey-conformance"

// SecretName is the name of the secret the kit rotates in each environment.
const SecretName = "conformance/secret"

// RetryDelay is how far the kit moves Env.Clock before it retries a failed
// step, as Secrets Manager retries later: past rotation.OrphanAge, so a
// credential left by the failed attempt is provably an orphan.
const RetryDelay = rotation.OrphanAge + time.Minute

// RetiredCalls is how many Secrets Manager calls the engine may add to a
// rotation for each credential the provider's Create retired (TagResource,
// UntagResource, UpdateSecretVersionStage).
const RetiredCalls = 3

// DefaultDuplicateTrials is how often the kit delivers each step twice at
// once.
const DefaultDuplicateTrials = 20

// Subject describes the provider under test.
type Subject struct {
	// Setup prepares the provider side for one environment, whose emulator is
	// already running (env.URL, env.SM, env.Clock), and returns the fixture.
	Setup func(t testing.TB, env *Env) *Fixture
	// OldStaysValid is true when the previous credential must still work
	// after promotion (the dual-key window).
	OldStaysValid bool
	// MaxCalls bounds the Secrets Manager calls of one rotation (default
	// 10), plus RetiredCalls for each credential Create retired.
	MaxCalls int
	// DuplicateTrials is how often each step is delivered twice at once
	// (default DefaultDuplicateTrials; 5 with go test -short, which also
	// injects faults at a sample of the calls only).
	DuplicateTrials int
	// Emulator, when set, is the emulator configuration to use (its Invoker
	// is replaced by the kit; its clock defaults to Env.Clock).
	Emulator *awsemu.Config
}

// Fixture is the provider side of one environment.
type Fixture struct {
	// Initial is the AWSCURRENT value the secret starts with.
	Initial string
	// NewProvider builds the provider. Every call it makes to the outside
	// world must go through client, so the kit can inject faults. Its clock,
	// if it has one, should be env.Clock.
	NewProvider func(client *http.Client) rotation.Provider
	// Works returns nil when the credential in value is accepted by the
	// provider right now.
	Works func(ctx context.Context, value string) error
	// Live lists the fingerprints of the credentials that exist at the
	// provider for the secret's identity; nil when the provider keeps none.
	Live func(ctx context.Context) ([]string, error)
	// BetweenRotations, when set, runs before each rotation after the first,
	// with the secret's ARN. Providers whose credentials are limited in
	// number (two IAM access keys per user) use it to retire the AWSPREVIOUS
	// credential as dualkey's lifecycle would; the kit then also runs its
	// fault matrix on a rotation that has to make room.
	BetweenRotations func(ctx context.Context, env *Env, arn string)
	// BeforeRotation, when set, runs before every rotation the kit starts
	// (Env.Rotate and Env.Hold, in every scenario, the first rotation
	// included), with the secret's ARN. Providers that adopt a credential an
	// operator staged (DUALKEY_INCOMING: Stripe keys, keys rolled in a
	// vendor's dashboard) stage the next one here, as the operator would.
	BeforeRotation func(ctx context.Context, env *Env, arn string)
	// Propagation, when set, makes new credentials take d (on env.Clock) to
	// start working at the provider; the kit runs its fault matrix with a
	// delay so the provider's propagation retry is covered.
	Propagation func(d time.Duration)
}

// Run runs the whole conformance suite as subtests of t.
func Run(t *testing.T, s Subject) {
	if s.MaxCalls == 0 {
		s.MaxCalls = 10
	}
	if s.DuplicateTrials == 0 {
		s.DuplicateTrials = DefaultDuplicateTrials
		if testing.Short() {
			s.DuplicateTrials = 5
		}
	}
	t.Run("contract", func(t *testing.T) { testContract(t, s) })
	t.Run("rotation", func(t *testing.T) { testRotation(t, s) })
	t.Run("replay", func(t *testing.T) { testReplay(t, s) })
	t.Run("crash", func(t *testing.T) { testFaults(t, s, Crash, nil) })
	t.Run("lost_reply", func(t *testing.T) { testFaults(t, s, LoseReply, nil) })
	t.Run("refused", func(t *testing.T) { testFaults(t, s, Refuse, nil) })
	t.Run("second_crash", func(t *testing.T) { testSecondCrash(t, s) })
	t.Run("crash_propagating", func(t *testing.T) {
		testFaults(t, s, Crash, func(t testing.TB, env *Env, arn string) {
			if env.Fixture.Propagation == nil {
				t.Skip("the fixture has no propagation delay (Fixture.Propagation)")
			}
			// New credentials take 5 s to work; the ones that exist already
			// have propagated.
			env.Fixture.Propagation(5 * time.Second)
			env.Clock.Advance(5 * time.Second)
		})
	})
	t.Run("crash_retiring", func(t *testing.T) {
		testFaults(t, s, Crash, func(t testing.TB, env *Env, arn string) {
			if env.Fixture.BetweenRotations == nil {
				t.Skip("the fixture retires nothing between rotations (Fixture.BetweenRotations)")
			}
			env.MustRotate(context.Background(), arn)
			env.Fixture.BetweenRotations(context.Background(), env, arn)
		})
	})
	t.Run("duplicate", func(t *testing.T) { testDuplicate(t, s, AllSteps, nil) })
	t.Run("duplicate_retiring", func(t *testing.T) {
		testDuplicate(t, s, []string{rotation.StepCreate}, func(t testing.TB, env *Env, arn string) {
			if env.Fixture.BetweenRotations == nil {
				t.Skip("the fixture retires nothing between rotations (Fixture.BetweenRotations)")
			}
			env.MustRotate(context.Background(), arn)
			env.Fixture.BetweenRotations(context.Background(), env, arn)
		})
	})
	t.Run("bad_input", func(t *testing.T) { testBadInput(t, s) })
}

// Env is one kit environment: an emulator, a secret and an engine factory.
type Env struct {
	t       testing.TB
	s       Subject
	Fixture *Fixture
	Emu     *awsemu.Server
	URL     string
	SM      *secretsmanager.Client // the kit's own client, not counted
	// Clock is the environment's time: the emulator's clock (unless the
	// subject's emulator configuration brings its own), the engine's, and
	// the one fixtures should give the provider and its emulator.
	Clock    *testutil.FakeClock
	Logs     *testutil.SyncBuffer
	crash    *Transport
	engineSM *secretsmanager.Client
	provider string
	mu       sync.Mutex
	engine   *rotation.Engine
	invokeFn func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error
}

// NewEnv starts an emulator for the subject.
func NewEnv(t testing.TB, s Subject) *Env {
	t.Helper()
	env := &Env{
		t:     t,
		s:     s,
		crash: &Transport{},
		Logs:  &testutil.SyncBuffer{},
		Clock: testutil.NewFakeClock(time.Now().UTC().Truncate(time.Second)),
	}
	cfg := awsemu.Config{}
	if s.Emulator != nil {
		cfg = *s.Emulator
	}
	if cfg.Now == nil {
		cfg.Now = env.Clock.Now
	}
	cfg.Invoker = env
	emu, err := awsemu.New(cfg)
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	env.Emu, env.URL = emu, url
	env.SM = NewSecretsManagerClient(url, nil)
	env.engineSM = NewSecretsManagerClient(url, &http.Client{Transport: env.crash})
	env.Fixture = s.Setup(t, env)
	env.provider = env.Fixture.NewProvider(nil).Name()
	env.NewEngine()
	return env
}

// NewSecretsManagerClient returns a real SDK client for the emulator at url
// with the emulator's bootstrap credentials and no retries.
func NewSecretsManagerClient(url string, hc *http.Client) *secretsmanager.Client {
	if hc == nil {
		hc = &http.Client{}
	}
	cfg := awsemu.ClientConfig(url)
	cfg.HTTPClient, cfg.RetryMaxAttempts = hc, 1
	return secretsmanager.NewFromConfig(cfg)
}

// HTTPClient is the counted client providers must use.
func (env *Env) HTTPClient() *http.Client { return &http.Client{Transport: env.crash} }

// Faults is the transport through which the engine and the provider reach
// the outside world.
func (env *Env) Faults() *Transport { return env.crash }

// NewEngine replaces the engine by a fresh one, as a new Lambda process would be.
func (env *Env) NewEngine() *rotation.Engine {
	env.t.Helper()
	eng := env.newEngine(env.engineSM, env.HTTPClient())
	env.mu.Lock()
	env.engine = eng
	env.mu.Unlock()
	return eng
}

// Instance returns an engine of its own, with its own provider, whose every
// call goes through rt: another Lambda instance of the same function.
func (env *Env) Instance(rt http.RoundTripper) *rotation.Engine {
	env.t.Helper()
	hc := &http.Client{Transport: rt}
	return env.newEngine(NewSecretsManagerClient(env.URL, hc), hc)
}

func (env *Env) newEngine(sm *secretsmanager.Client, hc *http.Client) *rotation.Engine {
	env.t.Helper()
	eng, err := rotation.New(rotation.Config{
		SecretsManager: sm,
		Provider:       env.Fixture.NewProvider(hc),
		LogWriter:      env.Logs,
		MetricsWriter:  env.Logs,
		Now:            env.Clock.Now,
		// While it waits for a concurrent delivery, an engine yields to it
		// for a moment of real time and leaves the shared clock alone.
		Sleep: func(ctx context.Context, d time.Duration) error { return rotation.Sleep(ctx, d/1000) },
	})
	if err != nil {
		env.t.Fatalf("new engine: %v", err)
	}
	return eng
}

// Engine returns the current engine.
func (env *Env) Engine() *rotation.Engine {
	env.mu.Lock()
	defer env.mu.Unlock()
	return env.engine
}

// Invoke implements awsemu.Invoker: the emulator's RotateSecret calls the engine.
func (env *Env) Invoke(ctx context.Context, _ string, payload []byte) error {
	env.mu.Lock()
	fn := env.invokeFn
	env.mu.Unlock()
	if fn == nil {
		return env.Engine().HandleJSON(ctx, payload)
	}
	var ev events.SecretsManagerSecretRotationEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return fmt.Errorf("decode rotation event: %w", err)
	}
	return fn(ctx, ev)
}

// SetInvoke replaces what the emulator's RotateSecret runs for each step (nil: the engine).
func (env *Env) SetInvoke(fn func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error) {
	env.mu.Lock()
	env.invokeFn = fn
	env.mu.Unlock()
}

// ProviderName is the name of the provider under test, the value of the
// secret's dualkey:provider tag.
func (env *Env) ProviderName() string { return env.provider }

// CreateSecret creates SecretName holding the fixture's initial value,
// tagged dualkey:managed=true and dualkey:provider=<provider>; it returns
// the ARN.
func (env *Env) CreateSecret(ctx context.Context) string {
	env.t.Helper()
	out, err := env.SM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(SecretName),
		SecretString: aws.String(env.Fixture.Initial),
		Tags: []types.Tag{
			{Key: aws.String(rotation.TagManaged), Value: aws.String("true")},
			{Key: aws.String(rotation.TagProvider), Value: aws.String(env.provider)},
		},
	})
	if err != nil {
		env.t.Fatalf("create secret: %v", err)
	}
	return aws.ToString(out.ARN)
}

// Tag sets tags on the secret.
func (env *Env) Tag(ctx context.Context, arn string, kv map[string]string) {
	env.t.Helper()
	var tags []types.Tag
	for k, v := range kv {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	if _, err := env.SM.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(arn), Tags: tags}); err != nil {
		env.t.Fatalf("tag secret: %v", err)
	}
}

// Untag removes tags from the secret.
func (env *Env) Untag(ctx context.Context, arn string, keys ...string) {
	env.t.Helper()
	if _, err := env.SM.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String(arn), TagKeys: keys}); err != nil {
		env.t.Fatalf("untag secret: %v", err)
	}
}

// Tags returns the secret's tags.
func (env *Env) Tags(ctx context.Context, arn string) map[string]string {
	env.t.Helper()
	out, err := env.SM.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		env.t.Fatalf("describe: %v", err)
	}
	m := map[string]string{}
	for _, tg := range out.Tags {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

// Rotate asks the emulator to rotate now; it returns the new version id.
func (env *Env) Rotate(ctx context.Context, arn string) (string, error) {
	if env.Fixture.BeforeRotation != nil {
		env.Fixture.BeforeRotation(ctx, env, arn)
	}
	out, err := env.SM.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(arn),
		RotationLambdaARN: aws.String(LambdaARN),
		RotationRules:     &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)},
	})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.VersionId), nil
}

// MustRotate rotates and fails the test unless the rotation succeeded.
func (env *Env) MustRotate(ctx context.Context, arn string) string {
	env.t.Helper()
	token, err := env.Rotate(ctx, arn)
	if err != nil {
		env.t.Fatalf("rotate: %v", err)
	}
	if rec := env.LastRotation(); !rec.Succeeded {
		env.t.Fatalf("rotation failed at %s: %s", rec.FailedStep, rec.Error)
	}
	return token
}

// LastRotation returns the emulator's record of the last rotation.
func (env *Env) LastRotation() awsemu.RotationRecord {
	env.t.Helper()
	recs := env.Emu.Rotations()
	if len(recs) == 0 {
		env.t.Fatalf("no rotation recorded")
	}
	return recs[len(recs)-1]
}

// Hold makes RotateSecret create the placeholder version and stop, as if
// the Lambda were down; it returns the token.
func (env *Env) Hold(ctx context.Context, arn string) string {
	env.t.Helper()
	env.SetInvoke(func(context.Context, events.SecretsManagerSecretRotationEvent) error {
		return fmt.Errorf("held by the conformance kit")
	})
	defer env.SetInvoke(nil)
	token, err := env.Rotate(ctx, arn)
	if err != nil {
		env.t.Fatalf("rotate: %v", err)
	}
	return token
}

// Labels returns version id -> sorted stages.
func (env *Env) Labels(ctx context.Context, arn string) map[string][]string {
	env.t.Helper()
	out, err := env.SM.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		env.t.Fatalf("describe: %v", err)
	}
	m := map[string][]string{}
	for id, st := range out.VersionIdsToStages {
		st = append([]string(nil), st...)
		sort.Strings(st)
		m[id] = st
	}
	return m
}

// Value returns the value of the version holding stage ("" if none).
func (env *Env) Value(ctx context.Context, arn, stage string) string {
	out, err := env.SM.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String(stage)})
	if err != nil {
		return ""
	}
	return aws.ToString(out.SecretString)
}

// VersionValue returns the value of version id ("" if none).
func (env *Env) VersionValue(ctx context.Context, arn, id string) string {
	out, err := env.SM.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionId: aws.String(id)})
	if err != nil {
		return ""
	}
	return aws.ToString(out.SecretString)
}

// Step invokes one step directly, as Secrets Manager's retry would.
func (env *Env) Step(ctx context.Context, arn, token, step string) error {
	return env.Engine().Handle(ctx, events.SecretsManagerSecretRotationEvent{Step: step, SecretID: arn, ClientRequestToken: token})
}

// Retry runs the steps from step on with a fresh engine after RetryDelay,
// as Secrets Manager retries a failed rotation later.
func (env *Env) Retry(ctx context.Context, arn, token, from string) error {
	env.Clock.Advance(RetryDelay)
	env.NewEngine()
	started := false
	for _, step := range AllSteps {
		if step == from || from == "" {
			started = true
		}
		if !started {
			continue
		}
		if err := env.Step(ctx, arn, token, step); err != nil {
			return fmt.Errorf("%s: %w", step, err)
		}
	}
	return nil
}

// AllSteps is the order Secrets Manager runs the steps in.
var AllSteps = []string{rotation.StepCreate, rotation.StepSet, rotation.StepTest, rotation.StepFinish}

func currentID(labels map[string][]string) string { return holder(labels, rotation.StageCurrent) }

func holder(labels map[string][]string, stage string) string {
	for id, st := range labels {
		for _, s := range st {
			if s == stage {
				return id
			}
		}
	}
	return ""
}

func equalLabels(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for id, st := range a {
		if strings.Join(st, ",") != strings.Join(b[id], ",") {
			return false
		}
	}
	return true
}
