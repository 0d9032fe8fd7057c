// Package rotationtest is the conformance kit every dualkey provider's tests
// run. It starts the local AWS emulator, rotates a secret through the real
// Secrets Manager protocol (RotateSecret, placeholder version, the four
// steps) with the provider under test, replays every step, injects a crash
// after every external call (Secrets Manager and provider alike) and checks
// the invariants dualkey promises:
//
//   - AWSCURRENT always holds a credential that works at the provider;
//   - at most one version holds AWSPENDING, and none after finishSecret;
//   - replaying a step, or the whole rotation, changes nothing;
//   - a crash at any point, followed by Secrets Manager's retry, ends in the
//     same state as one clean run, with no orphaned credential;
//   - no secret value appears in any log line.
package rotationtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

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

// Subject describes the provider under test.
type Subject struct {
	// Setup prepares the provider side for one environment, whose emulator is
	// already running (env.URL, env.SM), and returns the fixture.
	Setup func(t testing.TB, env *Env) *Fixture
	// OldStaysValid is true when the previous credential must still work
	// after promotion (the dual-key window).
	OldStaysValid bool
	// MaxCalls bounds the Secrets Manager calls of one rotation (default 10).
	MaxCalls int
	// Emulator, when set, is the emulator configuration to use (its Invoker
	// is replaced by the kit).
	Emulator *awsemu.Config
}

// Fixture is the provider side of one environment.
type Fixture struct {
	// Initial is the AWSCURRENT value the secret starts with.
	Initial string
	// NewProvider builds the provider. Every call it makes to the outside
	// world must go through client, so the kit can inject crashes.
	NewProvider func(client *http.Client) rotation.Provider
	// Works returns nil when the credential in value is accepted by the
	// provider right now.
	Works func(ctx context.Context, value string) error
	// Live lists the fingerprints of the credentials that exist at the
	// provider for the secret's identity; nil when the provider keeps none.
	Live func(ctx context.Context) ([]string, error)
	// BetweenRotations, when set, runs in the rotation test before each
	// rotation after the first, with the secret's ARN. Providers whose
	// credentials are limited in number (two IAM access keys per user) use it
	// to retire the AWSPREVIOUS credential as dualkey's lifecycle would.
	BetweenRotations func(ctx context.Context, env *Env, arn string)
}

// Run runs the whole conformance suite as subtests of t.
func Run(t *testing.T, s Subject) {
	if s.MaxCalls == 0 {
		s.MaxCalls = 10
	}
	t.Run("rotation", func(t *testing.T) { testRotation(t, s) })
	t.Run("replay", func(t *testing.T) { testReplay(t, s) })
	t.Run("crash", func(t *testing.T) { testCrash(t, s) })
	t.Run("bad_input", func(t *testing.T) { testBadInput(t, s) })
}

// errCrash is what the kit's transport returns after a call it "crashes" on.
type errCrash struct{}

func (errCrash) Error() string { return "injected crash after the call completed" }

// RetryableError tells the AWS SDK not to retry: the process is gone.
func (errCrash) RetryableError() bool { return false }

// Transport counts external calls and fails the Nth one after it reached
// the server; every later call fails without being sent, as after a crash.
type Transport struct {
	Base    http.RoundTripper
	mu      sync.Mutex
	calls   int
	crashAt int
	ops     map[string]int
}

// RoundTrip implements http.RoundTripper.
func (c *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := c.Base
	if base == nil {
		base = http.DefaultTransport
	}
	c.mu.Lock()
	dead := c.crashAt > 0 && c.calls >= c.crashAt
	c.mu.Unlock()
	if dead {
		// The process crashed: nothing after the crash reaches anyone.
		return nil, errCrash{}
	}
	resp, err := base.RoundTrip(r)
	c.mu.Lock()
	c.calls++
	n, at := c.calls, c.crashAt
	if c.ops == nil {
		c.ops = map[string]int{}
	}
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		c.ops[strings.TrimPrefix(t, "secretsmanager.")]++
	}
	c.mu.Unlock()
	if err == nil && at > 0 && n == at {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, errCrash{}
	}
	return resp, err
}

func (c *Transport) arm(at int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls, c.crashAt, c.ops = 0, at, map[string]int{}
}

func (c *Transport) count() (int, map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ops := map[string]int{}
	for k, v := range c.ops {
		ops[k] = v
	}
	return c.calls, ops
}

// Env is one kit environment: an emulator, a secret and an engine factory.
type Env struct {
	t        testing.TB
	s        Subject
	Fixture  *Fixture
	Emu      *awsemu.Server
	URL      string
	SM       *secretsmanager.Client // the kit's own client, not counted
	crash    *Transport
	engineSM *secretsmanager.Client
	Logs     *testutil.SyncBuffer
	engine   *rotation.Engine
	mu       sync.Mutex
	invokeFn func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error
}

// NewEnv starts an emulator for the subject.
func NewEnv(t testing.TB, s Subject) *Env {
	t.Helper()
	env := &Env{t: t, s: s, crash: &Transport{}, Logs: &testutil.SyncBuffer{}}
	cfg := awsemu.Config{}
	if s.Emulator != nil {
		cfg = *s.Emulator
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

// NewEngine replaces the engine by a fresh one, as a new Lambda process would be.
func (env *Env) NewEngine() *rotation.Engine {
	env.t.Helper()
	eng, err := rotation.New(rotation.Config{
		SecretsManager: env.engineSM,
		Provider:       env.Fixture.NewProvider(env.HTTPClient()),
		LogWriter:      env.Logs,
		MetricsWriter:  env.Logs,
	})
	if err != nil {
		env.t.Fatalf("new engine: %v", err)
	}
	env.mu.Lock()
	env.engine = eng
	env.mu.Unlock()
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

// CreateSecret creates SecretName holding the fixture's initial value; it
// returns the ARN.
func (env *Env) CreateSecret(ctx context.Context) string {
	env.t.Helper()
	out, err := env.SM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(SecretName),
		SecretString: aws.String(env.Fixture.Initial),
	})
	if err != nil {
		env.t.Fatalf("create secret: %v", err)
	}
	return aws.ToString(out.ARN)
}

// Rotate asks the emulator to rotate now; it returns the new version id.
func (env *Env) Rotate(ctx context.Context, arn string) (string, error) {
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

// Step invokes one step directly, as Secrets Manager's retry would.
func (env *Env) Step(ctx context.Context, arn, token, step string) error {
	return env.Engine().Handle(ctx, events.SecretsManagerSecretRotationEvent{Step: step, SecretID: arn, ClientRequestToken: token})
}

// AllSteps is the order Secrets Manager runs the steps in.
var AllSteps = []string{rotation.StepCreate, rotation.StepSet, rotation.StepTest, rotation.StepFinish}

// CheckInvariants asserts what must hold at any moment.
func (env *Env) CheckInvariants(ctx context.Context, arn string) {
	env.t.Helper()
	labels := env.Labels(ctx, arn)
	pending := 0
	for _, st := range labels {
		for _, s := range st {
			if s == rotation.StagePending {
				pending++
			}
		}
	}
	if pending > 1 {
		env.t.Fatalf("%d versions hold AWSPENDING", pending)
	}
	cur := env.Value(ctx, arn, rotation.StageCurrent)
	if cur == "" {
		env.t.Fatalf("no AWSCURRENT value")
	}
	if err := env.Fixture.Works(ctx, cur); err != nil {
		env.t.Fatalf("AWSCURRENT credential does not work at the provider: %v", err)
	}
}

// CheckFinal asserts the state after a completed rotation to token from old.
func (env *Env) CheckFinal(ctx context.Context, arn, old, token string) {
	env.t.Helper()
	env.CheckInvariants(ctx, arn)
	labels := env.Labels(ctx, arn)
	if got := labels[token]; len(got) != 1 || got[0] != rotation.StageCurrent {
		env.t.Fatalf("new version %s has labels %v, want [AWSCURRENT] (no AWSPENDING left)", token, got)
	}
	if got := labels[old]; len(got) != 1 || got[0] != rotation.StagePrevious {
		env.t.Fatalf("old version %s has labels %v, want [AWSPREVIOUS]", old, got)
	}
	if env.s.OldStaysValid {
		if err := env.Fixture.Works(ctx, env.Value(ctx, arn, rotation.StagePrevious)); err != nil {
			env.t.Fatalf("previous credential stopped working at promotion (dual-key window broken): %v", err)
		}
	}
	env.CheckNoOrphans(ctx, arn)
	env.CheckLogs(ctx, arn)
}

// CheckNoOrphans asserts that every live credential at the provider is
// referenced by a labelled version of the secret.
func (env *Env) CheckNoOrphans(ctx context.Context, arn string) {
	env.t.Helper()
	if env.Fixture.Live == nil {
		return
	}
	live, err := env.Fixture.Live(ctx)
	if err != nil {
		env.t.Fatalf("list live credentials: %v", err)
	}
	p := env.Fixture.NewProvider(nil)
	known := map[string]bool{}
	for id := range env.Labels(ctx, arn) {
		out, err := env.SM.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionId: aws.String(id)})
		if err == nil {
			known[p.Fingerprint(aws.ToString(out.SecretString))] = true
		}
	}
	for _, fp := range live {
		if !known[fp] {
			env.t.Fatalf("orphaned credential %s at the provider: no version of the secret references it", fp)
		}
	}
}

// CheckLogs asserts that no secret field of any version reached the logs.
func (env *Env) CheckLogs(ctx context.Context, arn string) {
	env.t.Helper()
	logs := env.Logs.String()
	out, err := env.SM.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(arn), IncludeDeprecated: aws.Bool(true)})
	if err != nil {
		env.t.Fatalf("list versions: %v", err)
	}
	for _, v := range out.Versions {
		val, err := env.SM.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionId: v.VersionId})
		if err != nil {
			continue
		}
		r := rotation.NewRedactor()
		r.AddSecretValue(aws.ToString(val.SecretString))
		if r.Redact(logs) != logs {
			env.t.Fatalf("a secret value of version %s appears in the logs", aws.ToString(v.VersionId))
		}
	}
}

func testRotation(t *testing.T, s Subject) {
	ctx := context.Background()
	env := NewEnv(t, s)
	arn := env.CreateSecret(ctx)
	for i := 0; i < 3; i++ {
		if i > 0 && env.Fixture.BetweenRotations != nil {
			env.Fixture.BetweenRotations(ctx, env, arn)
		}
		old := currentID(env.Labels(ctx, arn))
		env.crash.arm(0)
		token, err := env.Rotate(ctx, arn)
		if err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
		calls, ops := env.crash.count()
		sm := 0
		for _, n := range ops {
			sm += n
		}
		t.Logf("rotation %d: %d Secrets Manager calls %v, %d calls in all", i+1, sm, ops, calls)
		if sm > s.MaxCalls {
			t.Errorf("rotation %d made %d Secrets Manager calls, want at most %d", i+1, sm, s.MaxCalls)
		}
		if recs := env.Emu.Rotations(); len(recs) == 0 || recs[len(recs)-1].Error != "" {
			t.Fatalf("rotation %d failed: %+v", i+1, recs)
		}
		env.CheckFinal(ctx, arn, old, token)
	}
}

func testReplay(t *testing.T, s Subject) {
	ctx := context.Background()
	env := NewEnv(t, s)
	arn := env.CreateSecret(ctx)
	old := currentID(env.Labels(ctx, arn))
	// Each step runs twice in a row, as a duplicate Lambda delivery would.
	env.SetInvoke(func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
		if err := env.Engine().Handle(ctx, ev); err != nil {
			return err
		}
		before := env.Labels(ctx, arn)
		beforeVal := env.Value(ctx, arn, rotation.StagePending)
		if err := env.Engine().Handle(ctx, ev); err != nil {
			return fmt.Errorf("replay of %s: %w", ev.Step, err)
		}
		if after := env.Labels(ctx, arn); !equalLabels(before, after) {
			return fmt.Errorf("replay of %s changed labels from %v to %v", ev.Step, before, after)
		}
		if after := env.Value(ctx, arn, rotation.StagePending); after != beforeVal {
			return fmt.Errorf("replay of %s changed the pending value", ev.Step)
		}
		return nil
	})
	token, err := env.Rotate(ctx, arn)
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if recs := env.Emu.Rotations(); len(recs) == 0 || recs[len(recs)-1].Error != "" {
		t.Fatalf("rotation with replays failed: %+v", recs)
	}
	env.CheckFinal(ctx, arn, old, token)
	// The whole sequence again, from a fresh process: nothing changes.
	before := env.Labels(ctx, arn)
	curVal := env.Value(ctx, arn, rotation.StageCurrent)
	env.NewEngine()
	for _, step := range AllSteps {
		if err := env.Step(ctx, arn, token, step); err != nil {
			t.Fatalf("replay of completed %s: %v", step, err)
		}
	}
	if after := env.Labels(ctx, arn); !equalLabels(before, after) {
		t.Fatalf("replaying a completed rotation changed labels from %v to %v", before, after)
	}
	if env.Value(ctx, arn, rotation.StageCurrent) != curVal {
		t.Fatalf("replaying a completed rotation changed AWSCURRENT's value")
	}
	env.CheckFinal(ctx, arn, old, token)
}

func testCrash(t *testing.T, s Subject) {
	ctx := context.Background()
	// How many external calls does a clean rotation make?
	clean := NewEnv(t, s)
	arn := clean.CreateSecret(ctx)
	clean.crash.arm(0)
	if _, err := clean.Rotate(ctx, arn); err != nil {
		t.Fatalf("clean rotation: %v", err)
	}
	total, _ := clean.crash.count()
	if total == 0 {
		t.Fatalf("a clean rotation made no external calls through the kit's transport")
	}
	for n := 1; n <= total; n++ {
		t.Run(fmt.Sprintf("after_call_%d", n), func(t *testing.T) {
			env := NewEnv(t, s)
			arn := env.CreateSecret(ctx)
			old := currentID(env.Labels(ctx, arn))
			env.crash.arm(n)
			token, err := env.Rotate(ctx, arn)
			if err != nil {
				t.Fatalf("rotate: %v", err)
			}
			recs := env.Emu.Rotations()
			if len(recs) == 0 || recs[len(recs)-1].Error == "" {
				t.Fatalf("the crash after call %d did not fail the rotation", n)
			}
			env.crash.arm(0)
			env.CheckInvariants(ctx, arn)
			// Secrets Manager retries the rotation with the same token, in a new process.
			env.NewEngine()
			for _, step := range AllSteps {
				if err := env.Step(ctx, arn, token, step); err != nil {
					t.Fatalf("retry %s after crash at call %d: %v", step, n, err)
				}
				env.CheckInvariants(ctx, arn)
			}
			env.CheckFinal(ctx, arn, old, token)
		})
	}
}

func testBadInput(t *testing.T, s Subject) {
	ctx := context.Background()
	env := NewEnv(t, s)
	arn := env.CreateSecret(ctx)
	// A rotation in progress: the placeholder exists, nothing else ran.
	env.SetInvoke(func(context.Context, events.SecretsManagerSecretRotationEvent) error { return errors.New("held") })
	token, err := env.Rotate(ctx, arn)
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	env.SetInvoke(nil)
	before := env.Labels(ctx, arn)
	cases := []struct {
		name  string
		ev    events.SecretsManagerSecretRotationEvent
		field string
	}{
		{"empty step", events.SecretsManagerSecretRotationEvent{SecretID: arn, ClientRequestToken: token}, `"Step"`},
		{"unknown step", events.SecretsManagerSecretRotationEvent{Step: "dropSecret", SecretID: arn, ClientRequestToken: token}, `"Step"`},
		{"empty secret", events.SecretsManagerSecretRotationEvent{Step: rotation.StepCreate, ClientRequestToken: token}, `"SecretId"`},
		{"control chars", events.SecretsManagerSecretRotationEvent{Step: rotation.StepCreate, SecretID: arn + "\x00", ClientRequestToken: token}, `"SecretId"`},
		{"empty token", events.SecretsManagerSecretRotationEvent{Step: rotation.StepCreate, SecretID: arn}, `"ClientRequestToken"`},
		{"short token", events.SecretsManagerSecretRotationEvent{Step: rotation.StepCreate, SecretID: arn, ClientRequestToken: "abc"}, `"ClientRequestToken"`},
		{"unknown version", events.SecretsManagerSecretRotationEvent{Step: rotation.StepCreate, SecretID: arn, ClientRequestToken: strings.Repeat("f", 36)}, "not a version"},
		{"unknown secret", events.SecretsManagerSecretRotationEvent{Step: rotation.StepCreate, SecretID: arn + "x", ClientRequestToken: token}, "describe secret"},
	}
	for _, c := range cases {
		err := env.Engine().Handle(ctx, c.ev)
		var re *rotation.RotationError
		if !errors.As(err, &re) {
			t.Errorf("%s: got %v, want a *rotation.RotationError", c.name, err)
			continue
		}
		if !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: error %q does not name %s", c.name, err, c.field)
		}
	}
	if after := env.Labels(ctx, arn); !equalLabels(before, after) {
		t.Fatalf("bad input changed labels from %v to %v", before, after)
	}
}

func currentID(labels map[string][]string) string {
	for id, st := range labels {
		for _, s := range st {
			if s == rotation.StageCurrent {
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
