package rotationtest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dualkey/dualkey/shared/rotation"
)

var providerName = regexp.MustCompile(`^[a-z][a-z0-9-]{1,30}$`)

// testContract checks that the provider's declared capabilities agree.
func testContract(t *testing.T, s Subject) {
	env := NewEnv(t, s)
	p := env.Fixture.NewProvider(nil)
	if !providerName.MatchString(p.Name()) {
		t.Errorf("provider name %q is not a short lower-case identifier (it is the %s tag value)", p.Name(), rotation.TagProvider)
	}
	_, deactivates := p.(rotation.Deactivator)
	_, deletes := p.(rotation.Deleter)
	switch p.SwitchOff() {
	case rotation.SwitchOffReversible:
		if !deactivates {
			t.Errorf("SwitchOff is %q but the provider is no rotation.Deactivator", p.SwitchOff())
		}
	case rotation.SwitchOffLabelGated:
		if deactivates {
			t.Errorf("SwitchOff is %q (removing the label is the switch-off) but the provider is a rotation.Deactivator too", p.SwitchOff())
		}
	case rotation.SwitchOffDeleteOnly:
		if !deletes {
			t.Errorf("SwitchOff is %q but the provider is no rotation.Deleter", p.SwitchOff())
		}
		if deactivates {
			t.Errorf("SwitchOff is %q but the provider is a rotation.Deactivator", p.SwitchOff())
		}
	case rotation.SwitchOffExternal:
		if _, ok := p.(rotation.ExpiryChecker); !ok {
			t.Errorf("SwitchOff is %q but the provider is no rotation.ExpiryChecker", p.SwitchOff())
		}
		if deactivates || deletes {
			t.Errorf("SwitchOff is %q (the vendor switches the credential off) but the provider is a rotation.Deactivator or rotation.Deleter", p.SwitchOff())
		}
	default:
		t.Errorf("SwitchOff is %q, want one of %q, %q, %q, %q", p.SwitchOff(), rotation.SwitchOffReversible, rotation.SwitchOffLabelGated, rotation.SwitchOffDeleteOnly, rotation.SwitchOffExternal)
	}
	if ps, ok := p.(rotation.SwitchOffPerSecret); ok {
		if off, why := ps.SwitchOffFor(&rotation.Version{ID: "initial", Value: env.Fixture.Initial}); off != p.SwitchOff() && (off != rotation.SwitchOffNone || why == "") {
			t.Errorf("SwitchOffFor(the initial value) = %q, %q; want the provider's own %q, or %q with why", off, why, p.SwitchOff(), rotation.SwitchOffNone)
		}
		if off, _ := ps.SwitchOffFor(&rotation.Version{ID: "bad", Value: "not json"}); off != p.SwitchOff() {
			t.Errorf("SwitchOffFor(a value it cannot read) = %q; want the provider's own %q", off, p.SwitchOff())
		}
	}
	if l, ok := p.(rotation.CredentialLimit); ok && l.MaxLive() < 2 {
		t.Errorf("MaxLive() = %d: a dual-key rotation needs room for two credentials", l.MaxLive())
	}
	if env.Fixture.Live != nil {
		if _, ok := p.(rotation.Discarder); !ok {
			t.Errorf("the provider's credentials exist at the provider (Fixture.Live) but it is no rotation.Discarder: a credential the engine cannot store would be left behind")
		}
	}
	for _, v := range []string{"", "not json", "[]", `{"x":`} {
		if fp := p.Fingerprint(v); fp != "" {
			t.Errorf("Fingerprint(%q) = %q, want \"\"", v, fp)
		}
	}
	fp := p.Fingerprint(env.Fixture.Initial)
	if fp == "" {
		t.Errorf("Fingerprint of the initial value is empty")
	}
	red := rotation.NewRedactor()
	red.AddSecretValue(env.Fixture.Initial)
	if red.Contains(fp) {
		t.Errorf("Fingerprint of the initial value reveals a secret field")
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
		before := env.Labels(ctx, arn)
		old := currentID(before)
		env.crash.Arm(NoFault, 0)
		token := env.MustRotate(ctx, arn)
		calls, ops := env.crash.Count()
		sm := 0
		for _, n := range ops {
			sm += n
		}
		budget := s.MaxCalls
		if d := holder(before, rotation.StageDeactivated); d != "" && !slices.Contains(env.Labels(ctx, arn)[d], rotation.StageDeactivated) {
			budget += RetiredCalls
		}
		t.Logf("rotation %d: %d Secrets Manager calls %v (budget %d), %d calls in all", i+1, sm, ops, budget, calls)
		if sm > budget {
			t.Errorf("rotation %d made %d Secrets Manager calls, want at most %d", i+1, sm, budget)
		}
		env.CheckFinal(ctx, arn, old, token)
		env.CheckRetired(ctx, arn, before)
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
	token := env.MustRotate(ctx, arn)
	env.SetInvoke(nil)
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

// prepareFunc sets an environment up before the rotation under test.
type prepareFunc func(t testing.TB, env *Env, arn string)

// newPrepared returns a fresh environment, its secret and the labels
// before the rotation under test.
func newPrepared(t *testing.T, s Subject, prepare prepareFunc) (*Env, string, map[string][]string) {
	t.Helper()
	env := NewEnv(t, s)
	arn := env.CreateSecret(context.Background())
	if prepare != nil {
		prepare(t, env, arn)
	}
	return env, arn, env.Labels(context.Background(), arn)
}

// cleanCalls counts the external calls of one clean rotation after prepare.
func cleanCalls(t *testing.T, s Subject, prepare prepareFunc) int {
	t.Helper()
	env, arn, _ := newPrepared(t, s, prepare)
	env.crash.Arm(NoFault, 0)
	env.MustRotate(context.Background(), arn)
	total, _ := env.crash.Count()
	if total == 0 {
		t.Fatalf("a clean rotation made no external calls through the kit's transport")
	}
	return total
}

// testFaults injects fault at each external call of a rotation, then lets
// Secrets Manager retry, and checks the end state is a clean run's.
func testFaults(t *testing.T, s Subject, fault Fault, prepare prepareFunc) {
	ctx := context.Background()
	total := cleanCalls(t, s, prepare)
	for _, n := range calls(total) {
		t.Run(fmt.Sprintf("at_call_%d", n), func(t *testing.T) {
			t.Parallel()
			env, arn, before := newPrepared(t, s, prepare)
			old := currentID(before)
			env.crash.Arm(fault, n)
			token, err := env.Rotate(ctx, arn)
			if err != nil {
				t.Fatalf("rotate: %v", err)
			}
			fired := env.crash.Fired()
			env.crash.Arm(NoFault, 0)
			if !fired {
				t.Fatalf("the %s at call %d did not happen (the clean run made %d calls)", fault, n, total)
			}
			rec := env.LastRotation()
			if fault == Crash && rec.Succeeded {
				t.Fatalf("the crash after call %d did not fail the rotation", n)
			}
			env.CheckInvariants(ctx, arn)
			if !rec.Succeeded {
				if err := env.Retry(ctx, arn, token, rec.FailedStep); err != nil {
					t.Fatalf("retry after a %s at call %d (%s failed: %s): %v", fault, n, rec.FailedStep, rec.Error, err)
				}
			}
			env.CheckFinal(ctx, arn, old, token)
			env.CheckRetired(ctx, arn, before)
		})
	}
}

// calls returns the call numbers 1..total to inject faults at: all of
// them, or a spread of five with go test -short.
func calls(total int) []int {
	var out []int
	for n := 1; n <= total; n++ {
		if !testing.Short() || n == 1 || n == total || n == total/2 || n == total/4 || n == 3*total/4 {
			out = append(out, n)
		}
	}
	return out
}

// testSecondCrash crashes the rotation at call n (every n), crashes
// Secrets Manager's retry at call m (m = 1, 2, 3, 5, 8, 13, ... up to the
// retry's last call: the product of every n and every m costs providers
// that talk to a database minutes) and checks a second, clean retry still
// ends right.
func testSecondCrash(t *testing.T, s Subject) {
	ctx := context.Background()
	total := cleanCalls(t, s, nil)
	for _, n := range calls(total) {
		t.Run(fmt.Sprintf("at_call_%d", n), func(t *testing.T) {
			t.Parallel()
			for m, next := 1, 2; ; m, next = next, m+next {
				env, arn, before := newPrepared(t, s, nil)
				old := currentID(before)
				env.crash.Arm(Crash, n)
				token, err := env.Rotate(ctx, arn)
				if err != nil {
					t.Fatalf("rotate: %v", err)
				}
				rec := env.LastRotation()
				env.crash.Arm(Crash, m)
				retryErr := env.Retry(ctx, arn, token, rec.FailedStep)
				fired := env.crash.Fired()
				env.crash.Arm(NoFault, 0)
				if !fired {
					// The retry finished before call m: every m was covered.
					if retryErr != nil {
						t.Fatalf("retry after a crash at call %d: %v", n, retryErr)
					}
					env.CheckFinal(ctx, arn, old, token)
					return
				}
				env.CheckInvariants(ctx, arn)
				if err := env.Retry(ctx, arn, token, ""); err != nil {
					t.Fatalf("clean retry after crashes at call %d and at call %d of the first retry: %v", n, m, err)
				}
				env.CheckFinal(ctx, arn, old, token)
			}
		})
	}
}

// testDuplicate delivers each step twice at once, to two Lambda instances,
// and checks the rotation (with Secrets Manager's retry when it failed)
// ends exactly as a single delivery would.
func testDuplicate(t *testing.T, s Subject, steps []string, prepare prepareFunc) {
	ctx := context.Background()
	if prepare != nil {
		newPrepared(t, s, prepare) // skips when the fixture cannot prepare
	}
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			var mu sync.Mutex
			outcomes := map[string]int{}
			t.Cleanup(func() {
				keys := make([]string, 0, len(outcomes))
				for k := range outcomes {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				var parts []string
				for _, k := range keys {
					parts = append(parts, fmt.Sprintf("%s: %d", k, outcomes[k]))
				}
				t.Logf("%d trials of %s delivered twice at once: %s", s.DuplicateTrials, step, strings.Join(parts, ", "))
			})
			for i := 0; i < s.DuplicateTrials; i++ {
				t.Run(fmt.Sprintf("trial_%02d", i), func(t *testing.T) {
					t.Parallel()
					env, arn, before := newPrepared(t, s, prepare)
					old := currentID(before)
					var (
						bothMu sync.Mutex
						both   [2]error
					)
					env.SetInvoke(func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
						if ev.Step != step {
							return env.Engine().Handle(ctx, ev)
						}
						got := deliverTwice(ctx, env, ev)
						bothMu.Lock()
						both = got
						bothMu.Unlock()
						// Secrets Manager sees one of the two results.
						return got[i%2]
					})
					token, err := env.Rotate(ctx, arn)
					env.SetInvoke(nil)
					if err != nil {
						t.Fatalf("rotate: %v", err)
					}
					bothMu.Lock()
					defer bothMu.Unlock()
					outcome := "both succeeded"
					switch {
					case both[0] != nil && both[1] != nil:
						outcome = "both failed"
					case both[0] != nil || both[1] != nil:
						outcome = "one failed"
					}
					for _, err := range both {
						if err != nil {
							t.Logf("one delivery failed: %v", err)
							var re *rotation.RotationError
							if !errors.As(err, &re) {
								t.Errorf("a duplicate delivery failed with %T, not a *rotation.RotationError: %v", err, err)
							}
						}
					}
					if rec := env.LastRotation(); !rec.Succeeded {
						if err := env.Retry(ctx, arn, token, rec.FailedStep); err != nil {
							t.Fatalf("retry of %s after it was delivered twice at once (%v / %v): %v", rec.FailedStep, both[0], both[1], err)
						}
						outcome += ", retried"
					}
					mu.Lock()
					outcomes[outcome]++
					mu.Unlock()
					env.CheckFinal(ctx, arn, old, token)
					env.CheckRetired(ctx, arn, before)
				})
			}
		})
	}
}

// deliverTwice runs ev on two fresh Lambda instances at once.
func deliverTwice(ctx context.Context, env *Env, ev events.SecretsManagerSecretRotationEvent) [2]error {
	engines := [2]*rotation.Engine{env.Instance(jitter{}), env.Instance(jitter{})}
	var out [2]error
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, eng := range engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = eng.Handle(ctx, ev)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

func testBadInput(t *testing.T, s Subject) {
	ctx := context.Background()
	env := NewEnv(t, s)
	arn := env.CreateSecret(ctx)
	// A rotation in progress: the placeholder exists, nothing else ran.
	token := env.Hold(ctx, arn)
	before := env.Labels(ctx, arn)
	current := env.Value(ctx, arn, rotation.StageCurrent)
	live := env.live(ctx)
	unchanged := func(what string) {
		t.Helper()
		if after := env.Labels(ctx, arn); !equalLabels(before, after) {
			t.Fatalf("%s changed labels from %v to %v", what, before, after)
		}
		if env.Value(ctx, arn, rotation.StageCurrent) != current {
			t.Fatalf("%s changed AWSCURRENT's value", what)
		}
		if env.Value(ctx, arn, rotation.StagePending) != "" {
			t.Fatalf("%s stored a pending value", what)
		}
		if after := env.live(ctx); !slices.Equal(live, after) {
			t.Fatalf("%s changed the credentials at the provider from %v to %v", what, live, after)
		}
	}
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
	unchanged("bad events")

	// Steps after createSecret on RotateSecret's empty placeholder.
	for _, step := range []string{rotation.StepSet, rotation.StepTest, rotation.StepFinish} {
		err := env.Step(ctx, arn, token, step)
		if !errors.Is(err, rotation.ErrNoVersion) || !strings.Contains(fmt.Sprint(err), "run createSecret first") {
			t.Errorf("%s on the empty placeholder: got %v, want ErrNoVersion saying \"run createSecret first\"", step, err)
		}
		unchanged(step + " on the empty placeholder")
	}

	// A secret that is not this function's.
	other := "not-" + env.ProviderName()
	ownership := []struct {
		name  string
		set   map[string]string
		unset []string
		want  []string
	}{
		{"tagged for another provider", map[string]string{rotation.TagProvider: other}, nil,
			[]string{rotation.TagProvider + "=" + other, "Key=" + rotation.TagProvider + ",Value=" + env.ProviderName()}},
		{"no provider tag", nil, []string{rotation.TagProvider},
			[]string{rotation.TagProvider, "aws secretsmanager tag-resource --secret-id " + arn, "Key=" + rotation.TagProvider + ",Value=" + env.ProviderName()}},
		{"not managed", nil, []string{rotation.TagManaged},
			[]string{rotation.TagManaged, "aws secretsmanager tag-resource --secret-id " + arn, "Key=" + rotation.TagManaged + ",Value=true"}},
		{"managed false", map[string]string{rotation.TagManaged: "false"}, nil,
			[]string{rotation.TagManaged, "Key=" + rotation.TagManaged + ",Value=true"}},
		{"no dualkey tags", nil, []string{rotation.TagManaged, rotation.TagProvider},
			[]string{"Key=" + rotation.TagManaged + ",Value=true", "Key=" + rotation.TagProvider + ",Value=" + env.ProviderName()}},
	}
	for _, c := range ownership {
		if c.set != nil {
			env.Tag(ctx, arn, c.set)
		}
		if c.unset != nil {
			env.Untag(ctx, arn, c.unset...)
		}
		for _, step := range AllSteps {
			env.NewEngine()
			err := env.Step(ctx, arn, token, step)
			if !errors.Is(err, rotation.ErrNotManaged) {
				t.Errorf("%s: %s: got %v, want ErrNotManaged", c.name, step, err)
				continue
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: %s: error %q does not contain %q", c.name, step, err, w)
				}
			}
		}
		unchanged(c.name)
		env.Tag(ctx, arn, map[string]string{rotation.TagManaged: "true", rotation.TagProvider: env.ProviderName()})
	}
	// The same secret, tagged right, rotates.
	if err := env.Retry(ctx, arn, token, rotation.StepCreate); err != nil {
		t.Fatalf("rotation after the bad input: %v", err)
	}
}

// live returns the sorted fingerprints of the provider's live credentials
// (nil when the fixture lists none).
func (env *Env) live(ctx context.Context) []string {
	env.t.Helper()
	if env.Fixture.Live == nil {
		return nil
	}
	l, err := env.Fixture.Live(ctx)
	if err != nil {
		env.t.Fatalf("list live credentials: %v", err)
	}
	l = slices.Clone(l)
	sort.Strings(l)
	return l
}
