package iamkey_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/shared/fingerprint"
	"github.com/dualkey/dualkey/shared/providers/iamkey"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

func TestConformance(t *testing.T) {
	rotationtest.Run(t, newSubject(nil, fixtureOpts{}))
}

// newEnv starts a kit environment with the secret created; it returns the
// environment, its IAM world, the secret ARN and the initial key.
func newEnv(t *testing.T, o fixtureOpts) (*rotationtest.Env, *world, string, accessKey) {
	t.Helper()
	var w *world
	var initial accessKey
	inner := o.initial
	o.initial = func(w *world, k accessKey) string {
		initial = k
		if inner != nil {
			return inner(w, k)
		}
		return value(user, k, map[string]any{"owner": "team-a"})
	}
	env := rotationtest.NewEnv(t, newSubject(&w, o))
	arn := env.CreateSecret(context.Background())
	return env, w, arn, initial
}

func runSteps(t *testing.T, env *rotationtest.Env, arn, token string) error {
	t.Helper()
	for _, step := range rotationtest.AllSteps {
		if err := env.Step(context.Background(), arn, token, step); err != nil {
			return err
		}
	}
	return nil
}

func TestRotationNeverSignsWithTheOldKey(t *testing.T) {
	ctx := context.Background()
	env, w, arn, k0 := newEnv(t, fixtureOpts{})
	if _, err := env.Rotate(ctx, arn); err != nil {
		t.Fatal(err)
	}
	if e := lastRotation(t, env); e != "" {
		t.Fatalf("rotation failed: %s", e)
	}
	cur := decode(t, env.Value(ctx, arn, rotation.StageCurrent))
	if cur.AccessKeyID == k0.id {
		t.Fatalf("AWSCURRENT still holds the initial key")
	}
	if v := env.Value(ctx, arn, rotation.StageCurrent); !strings.Contains(v, `"owner":"team-a"`) {
		t.Errorf("the new version lost the other fields of the secret")
	}
	if at := w.lastUsed(k0.id); at != nil {
		t.Errorf("the old key %s was used at %v during the rotation; nothing may sign with it", k0.id, at)
	}
	if w.lastUsed(cur.AccessKeyID) == nil {
		t.Errorf("testSecret did not use the new key %s", cur.AccessKeyID)
	}
	want := []string{k0.id + "=Active", cur.AccessKeyID + "=Active"}
	if got := w.keys(user); !sameSet(got, want) {
		t.Errorf("keys %v, want %v", got, want)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestTwoKeyLimit(t *testing.T) {
	ctx := context.Background()
	type state struct {
		k0, k1 accessKey // initial key; key of the first rotation (if any)
		v0     string    // version of the initial key
	}
	// rotated performs one successful rotation, so that k0 is AWSPREVIOUS.
	rotated := func(t *testing.T, env *rotationtest.Env, w *world, arn string, s *state) {
		s.v0 = holder(env.Labels(ctx, arn), rotation.StageCurrent)
		if _, err := env.Rotate(ctx, arn); err != nil {
			t.Fatal(err)
		}
		if e := lastRotation(t, env); e != "" {
			t.Fatalf("first rotation failed: %s", e)
		}
		s.k1.id = decode(t, env.Value(ctx, arn, rotation.StageCurrent)).AccessKeyID
	}
	cases := []struct {
		name    string
		prepare func(t *testing.T, env *rotationtest.Env, w *world, arn string, s *state) (extra string)
		ok      bool
		// want lists substrings of the error; "{k0}", "{k1}", "{x}", "{v0}" and "{arn}" are replaced.
		want []string
	}{
		{
			name: "unknown active key",
			prepare: func(t *testing.T, env *rotationtest.Env, w *world, arn string, s *state) string {
				return w.createKeyAt(user, -time.Hour).id
			},
			want: []string{"{k0} (Active, held by AWSCURRENT)", "{x} (Active, referenced by no version of the secret)",
				"does not touch keys it does not manage", "aws iam delete-access-key --user-name alice --access-key-id {x}"},
		},
		{
			name: "unknown inactive key",
			prepare: func(t *testing.T, env *rotationtest.Env, w *world, arn string, s *state) string {
				x := w.createKeyAt(user, -time.Hour)
				w.setStatus(user, x.id, "Inactive")
				return x.id
			},
			want: []string{"{k0} (Active, held by AWSCURRENT)", "{x} (Inactive, referenced by no version of the secret)"},
		},
		{
			name: "recent unknown key that was used",
			prepare: func(t *testing.T, env *rotationtest.Env, w *world, arn string, s *state) string {
				x := w.createKey(user)
				if _, err := w.works(ctx, x.id, x.secret); err != nil {
					t.Fatal(err)
				}
				return x.id
			},
			want: []string{"{x} (Active, referenced by no version of the secret)", "not created by this rotation"},
		},
		{
			name: "previous key still active",
			prepare: func(t *testing.T, env *rotationtest.Env, w *world, arn string, s *state) string {
				rotated(t, env, w, arn, s)
				return ""
			},
			want: []string{"already has 2 access keys", "{k1} (Active, held by AWSCURRENT)", "{k0} (Active, held by AWSPREVIOUS)",
				`run "dualkey retire {arn}"`, "aws iam update-access-key --user-name alice --access-key-id {k0} --status Inactive",
				"--version-stage DUALKEY_DEACTIVATED --move-to-version-id {v0}"},
		},
		{
			name: "previous key inactive but not labelled",
			prepare: func(t *testing.T, env *rotationtest.Env, w *world, arn string, s *state) string {
				rotated(t, env, w, arn, s)
				w.setStatus(user, s.k0.id, "Inactive")
				return ""
			},
			want: []string{"{k0} (Inactive, held by AWSPREVIOUS)", "is not labelled DUALKEY_DEACTIVATED",
				"--version-stage DUALKEY_DEACTIVATED --move-to-version-id {v0}"},
		},
		{
			name: "labelled DUALKEY_DEACTIVATED but active",
			prepare: func(t *testing.T, env *rotationtest.Env, w *world, arn string, s *state) string {
				rotated(t, env, w, arn, s)
				label(t, env, arn, rotation.StageDeactivated, s.v0)
				return ""
			},
			want: []string{"{k0} (Active, held by AWSPREVIOUS and DUALKEY_DEACTIVATED)", "labelled DUALKEY_DEACTIVATED but Active",
				"aws iam update-access-key --user-name alice --access-key-id {k0} --status Inactive"},
		},
		{
			name: "retired key is deleted",
			prepare: func(t *testing.T, env *rotationtest.Env, w *world, arn string, s *state) string {
				rotated(t, env, w, arn, s)
				w.setStatus(user, s.k0.id, "Inactive")
				label(t, env, arn, rotation.StageDeactivated, s.v0)
				return ""
			},
			ok: true,
		},
		{
			name: "retired key of an older version is deleted",
			prepare: func(t *testing.T, env *rotationtest.Env, w *world, arn string, s *state) string {
				rotated(t, env, w, arn, s)
				retirePrevious(t, w, env, arn)
				// Second rotation deletes k0; k1 becomes AWSPREVIOUS and is retired in turn.
				if _, err := env.Rotate(ctx, arn); err != nil {
					t.Fatal(err)
				}
				if e := lastRotation(t, env); e != "" {
					t.Fatalf("second rotation failed: %s", e)
				}
				retirePrevious(t, w, env, arn)
				s.k0 = s.k1
				return ""
			},
			ok: true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, w, arn, k0 := newEnv(t, fixtureOpts{})
			s := &state{k0: k0}
			x := c.prepare(t, env, w, arn, s)
			before := w.keys(user)
			if _, err := env.Rotate(ctx, arn); err != nil {
				t.Fatal(err)
			}
			msg := lastRotation(t, env)
			if c.ok {
				if msg != "" {
					t.Fatalf("rotation failed: %s", msg)
				}
				cur := decode(t, env.Value(ctx, arn, rotation.StageCurrent)).AccessKeyID
				want := []string{s.k1.id + "=Active", cur + "=Active"}
				if s.k0 == s.k1 { // the older-version case: the previous key is now k1's successor
					want[0] = decode(t, env.Value(ctx, arn, rotation.StagePrevious)).AccessKeyID + "=Active"
				}
				if got := w.keys(user); !sameSet(got, want) {
					t.Fatalf("keys %v, want %v (the retired key %s deleted)", got, want, s.k0.id)
				}
				if !strings.Contains(w.logs.String(), s.k0.id) || !strings.Contains(w.logs.String(), "deleted the retired access key") {
					t.Errorf("the deletion of the retired key %s was not logged: %s", s.k0.id, w.logs.String())
				}
				// The engine ended the retired version's lifecycle (issue 6 item 9).
				if tags := env.Tags(ctx, arn); tags[rotation.TagState] != rotation.StateDeleted || !strings.Contains(tags[rotation.TagStateNote], s.k0.id) {
					t.Errorf("tags after deleting the retired key: %v", tags)
				}
				env.CheckDeactivatedLive(ctx, arn)
				return
			}
			if msg == "" {
				t.Fatalf("rotation succeeded; keys now %v", w.keys(user))
			}
			r := strings.NewReplacer("{k0}", s.k0.id, "{k1}", s.k1.id, "{x}", x, "{v0}", s.v0, "{arn}", arn)
			for _, want := range c.want {
				if want = r.Replace(want); !strings.Contains(msg, want) {
					t.Errorf("error does not contain %q:\n%s", want, msg)
				}
			}
			if !strings.Contains(msg, "createSecret of secret "+arn) {
				t.Errorf("error does not name the step and secret: %s", msg)
			}
			if after := w.keys(user); !reflect.DeepEqual(before, after) {
				t.Fatalf("keys changed from %v to %v", before, after)
			}
		})
	}
}

// A key that no version references, made during this rotation and never
// used, is an earlier attempt's orphan only once it is older than
// rotation.OrphanAge: until then it may be a concurrent delivery's, still
// being stored (issue 6 item 7: one delivery deleted the other's fresh key).
func TestKeyLeftByAnEarlierAttempt(t *testing.T) {
	ctx := context.Background()
	env, w, arn, k0 := newEnv(t, fixtureOpts{})
	token := hold(t, env, arn)
	// An earlier attempt of this rotation created a key and crashed before
	// the pending version was stored, or a concurrent delivery is storing it.
	orphan := w.createKey(user)
	before := w.keys(user)
	err := env.Step(ctx, arn, token, rotation.StepCreate)
	if !errors.Is(err, iamkey.ErrConcurrentDelivery) {
		t.Fatalf("createSecret next to a fresh unreferenced key: %v, want ErrConcurrentDelivery", err)
	}
	for _, want := range []string{orphan.id, "another delivery of this step created access key", "retry after"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q: %v", want, err)
		}
	}
	if after := w.keys(user); !reflect.DeepEqual(before, after) {
		t.Fatalf("keys changed from %v to %v", before, after)
	}
	if env.Value(ctx, arn, rotation.StagePending) != "" {
		t.Fatal("a pending value was stored")
	}
	// Secrets Manager retries later: the key is provably an orphan now.
	if err := env.Retry(ctx, arn, token, rotation.StepCreate); err != nil {
		t.Fatalf("retry: %v", err)
	}
	cur := decode(t, env.Value(ctx, arn, rotation.StageCurrent)).AccessKeyID
	want := []string{k0.id + "=Active", cur + "=Active"}
	if got := w.keys(user); !sameSet(got, want) {
		t.Fatalf("keys %v, want %v (orphan %s deleted)", got, want, orphan.id)
	}
	if logs := w.logs.String(); !strings.Contains(logs, orphan.id) || !strings.Contains(logs, "left by an earlier attempt") {
		t.Errorf("the orphan %s was not logged: %s", orphan.id, logs)
	}
}

// A slow delivery must not delete a key that a faster one stored as the
// pending version after the slow one saw no pending value.
func TestOldKeyStoredMeanwhileIsNotAnOrphan(t *testing.T) {
	ctx := context.Background()
	env, w, arn, k0 := newEnv(t, fixtureOpts{})
	token := hold(t, env, arn)
	k1 := w.createKey(user)
	if _, err := env.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(arn), ClientRequestToken: aws.String(token),
		SecretString: aws.String(value(user, k1, nil)), VersionStages: []string{rotation.StagePending},
	}); err != nil {
		t.Fatal(err)
	}
	w.clk.Advance(2 * rotation.OrphanAge)
	labels := env.Labels(ctx, arn)
	cur := &rotation.Version{ID: holder(labels, rotation.StageCurrent), Stages: []string{rotation.StageCurrent}, Value: value(user, k0, nil)}
	_, err := w.provider(nil, iamkey.Config{}).Create(ctx, &rotation.CreateRequest{
		SecretID: arn, Token: token, Current: cur, Versions: rotation.NewReader(env.SM, arn, labels, nil),
	})
	if !errors.Is(err, iamkey.ErrConcurrentDelivery) || !strings.Contains(err.Error(), "was stored as the pending version") {
		t.Fatalf("Create next to a key stored meanwhile: %v", err)
	}
	if got, want := w.keys(user), []string{k0.id + "=Active", k1.id + "=Active"}; !sameSet(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
}

// flakySM fails PutSecretValue a number of times, before or after storing.
type flakySM struct {
	rotation.SecretsManagerAPI
	mu          sync.Mutex
	fails       int
	storeFirst  bool // the value is stored and only the reply is lost
	attemptedAt []string
}

func (f *flakySM) PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	f.mu.Lock()
	fail := f.fails > 0
	if fail {
		f.fails--
	}
	f.mu.Unlock()
	if !fail {
		return f.SecretsManagerAPI.PutSecretValue(ctx, in, optFns...)
	}
	if f.storeFirst {
		if _, err := f.SecretsManagerAPI.PutSecretValue(ctx, in, optFns...); err != nil {
			return nil, err
		}
		return nil, errors.New("read tcp: connection reset by peer")
	}
	return nil, errors.New("ServiceUnavailable: try again")
}

func TestPutSecretValueFails(t *testing.T) {
	ctx := context.Background()
	t.Run("stored but reply lost", func(t *testing.T) {
		// The engine looks before it discards: the stored key is kept and
		// the rotation completes in one go.
		env, w, arn, k0 := newEnv(t, fixtureOpts{})
		sm := &flakySM{SecretsManagerAPI: env.SM, fails: 1, storeFirst: true}
		eng, err := rotation.New(rotation.Config{SecretsManager: sm, Provider: w.provider(nil, iamkey.Config{}), LogWriter: env.Logs, MetricsWriter: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		env.SetInvoke(eng.Handle)
		if _, err := env.Rotate(ctx, arn); err != nil {
			t.Fatal(err)
		}
		if msg := lastRotation(t, env); msg != "" {
			t.Fatalf("rotation failed: %s", msg)
		}
		cur := decode(t, env.Value(ctx, arn, rotation.StageCurrent)).AccessKeyID
		if got, want := w.keys(user), []string{k0.id + "=Active", cur + "=Active"}; !sameSet(got, want) {
			t.Fatalf("keys %v, want exactly %v", got, want)
		}
		if !strings.Contains(env.Logs.String(), "reported an error but the value was stored") {
			t.Errorf("the lost reply was not logged")
		}
		env.CheckNoOrphans(ctx, arn)
	})
	t.Run("not stored", func(t *testing.T) {
		env, w, arn, k0 := newEnv(t, fixtureOpts{})
		sm := &flakySM{SecretsManagerAPI: env.SM, fails: 1}
		eng, err := rotation.New(rotation.Config{SecretsManager: sm, Provider: w.provider(nil, iamkey.Config{}), LogWriter: env.Logs, MetricsWriter: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		env.SetInvoke(eng.Handle)
		token, err := env.Rotate(ctx, arn)
		if err != nil {
			t.Fatal(err)
		}
		if msg := lastRotation(t, env); !strings.Contains(msg, "put pending version") {
			t.Fatalf("rotation error %q, want the failed PutSecretValue", msg)
		}
		// Discard switched the new key off: unusable, and recognisably the rotation's own.
		keys := w.keys(user)
		var discarded string
		for _, k := range keys {
			if id, ok := strings.CutSuffix(k, "=Inactive"); ok {
				discarded = id
			}
		}
		if len(keys) != 2 || discarded == "" {
			t.Fatalf("after the failed put the keys are %v, want %s and the discarded key Inactive", keys, k0.id)
		}
		if !strings.Contains(w.logs.String(), "deactivated the new access key whose pending version could not be stored") {
			t.Errorf("Discard was not logged: %s", w.logs.String())
		}
		// Secrets Manager retries the rotation with the same token, later.
		env.Clock.Advance(rotationtest.RetryDelay)
		for _, step := range rotationtest.AllSteps {
			if err := eng.Handle(ctx, events.SecretsManagerSecretRotationEvent{Step: step, SecretID: arn, ClientRequestToken: token}); err != nil {
				t.Fatalf("retry %s: %v", step, err)
			}
		}
		cur := decode(t, env.Value(ctx, arn, rotation.StageCurrent)).AccessKeyID
		if got, want := w.keys(user), []string{k0.id + "=Active", cur + "=Active"}; !sameSet(got, want) {
			t.Fatalf("keys %v, want exactly %v", got, want)
		}
		if cur == discarded {
			t.Fatalf("the discarded key %s became current", discarded)
		}
		if logs := w.logs.String(); !strings.Contains(logs, "left by an earlier attempt") || !strings.Contains(logs, discarded) {
			t.Errorf("the retry did not delete the discarded key %s: %s", discarded, logs)
		}
		env.CheckNoOrphans(ctx, arn)
	})
}

func TestPropagation(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name         string
		configBudget time.Duration
		secretBudget float64
		ok           bool
		slept        []time.Duration
	}{
		{name: "default budget", ok: true, slept: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}},
		{name: "config budget too short", configBudget: 2 * time.Second, slept: []time.Duration{time.Second, time.Second}},
		{name: "secret budget too short", secretBudget: 3, slept: []time.Duration{time.Second, 2 * time.Second}},
		{name: "secret budget overrides config", configBudget: 2 * time.Second, secretBudget: 30, ok: true,
			slept: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := frozenClock(time.Now().UTC())
			o := fixtureOpts{clk: clk, config: iamkey.Config{PropagationBudget: c.configBudget}}
			if c.secretBudget != 0 {
				o.initial = func(w *world, k accessKey) string {
					return value(user, k, map[string]any{"propagation_budget_seconds": c.secretBudget})
				}
			}
			env, w, arn, _ := newEnv(t, o)
			w.svc.SetPropagationDelay(5 * time.Second)
			if _, err := env.Rotate(ctx, arn); err != nil {
				t.Fatal(err)
			}
			msg := lastRotation(t, env)
			if got := clk.Slept(); !reflect.DeepEqual(got, c.slept) {
				t.Errorf("slept %v, want %v", got, c.slept)
			}
			if c.ok {
				if msg != "" {
					t.Fatalf("rotation failed: %s", msg)
				}
				return
			}
			pending := decode(t, env.Value(ctx, arn, rotation.StagePending)).AccessKeyID
			budget := c.configBudget
			if c.secretBudget != 0 {
				budget = time.Duration(c.secretBudget) * time.Second
			}
			for _, want := range []string{"testSecret of secret " + arn, "pending access key " + pending, "InvalidClientTokenId",
				fmt.Sprintf("after %s (the propagation budget)", budget), "propagation_budget_seconds"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error does not contain %q:\n%s", want, msg)
				}
			}
		})
	}
}

func TestTestRejectsAnotherUsersKey(t *testing.T) {
	ctx := context.Background()
	env, w, arn, _ := newEnv(t, fixtureOpts{})
	bobARN := w.createUser("bob")
	bob := w.createKey("bob")
	token := hold(t, env, arn)
	if _, err := env.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(arn), ClientRequestToken: aws.String(token),
		SecretString: aws.String(value(user, bob, nil)), VersionStages: []string{rotation.StagePending},
	}); err != nil {
		t.Fatal(err)
	}
	aliceARN := "arn:aws:iam::123456789012:user/alice"
	err := env.Step(ctx, arn, token, rotation.StepTest)
	if err == nil {
		t.Fatal("testSecret accepted a key of another user")
	}
	for _, want := range []string{bob.id, bobARN, aliceARN} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q: %v", want, err)
		}
	}
	err = env.Step(ctx, arn, token, rotation.StepSet)
	if err == nil || !strings.Contains(err.Error(), bob.id+" is not a key of IAM user \"alice\"") {
		t.Errorf("setSecret: %v, want it to say the key is not alice's", err)
	}
	w.assertNoSecrets(t, "an error", fmt.Sprint(err))
}

func TestBadSecret(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		initial func(w *world, k accessKey) string
		want    []string
		field   bool
	}{
		{"not json", func(*world, accessKey) string { return "AKIA not json" }, []string{`"SecretString"`}, true},
		{"missing user_name", func(w *world, k accessKey) string { return value("", k, nil) }, []string{`"user_name"`, "is missing"}, true},
		{"user_name is an ARN", func(w *world, k accessKey) string { return value("arn:aws:iam::123456789012:user/alice", k, nil) }, []string{`"user_name"`, "not its ARN"}, true},
		{"user_name not a string", func(w *world, k accessKey) string { return `{"user_name": 7}` }, []string{`"user_name"`, "must be a string"}, true},
		{"missing access_key_id", func(w *world, k accessKey) string { return value(user, accessKey{secret: k.secret}, nil) }, []string{`"access_key_id"`}, true},
		{"missing secret_access_key", func(w *world, k accessKey) string { return value(user, accessKey{id: k.id}, nil) }, []string{`"secret_access_key"`}, true},
		{"bad budget", func(w *world, k accessKey) string {
			return value(user, k, map[string]any{"propagation_budget_seconds": -1})
		}, []string{`"propagation_budget_seconds"`}, true},
		{"unknown user", func(w *world, k accessKey) string { return value("nobody", k, nil) }, []string{`"user_name"`, `IAM user "nobody", which does not exist`}, true},
		{"key of another user", func(w *world, k accessKey) string {
			w.createUser("bob")
			return value("bob", k, nil)
		}, []string{"the current access key {k0} is not a key of IAM user \"bob\"", "check user_name and access_key_id"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, w, arn, k0 := newEnv(t, fixtureOpts{initial: c.initial})
			before := w.keys(user)
			token, err := env.Rotate(ctx, arn)
			if err != nil {
				t.Fatal(err)
			}
			msg := lastRotation(t, env)
			for _, want := range append(c.want, "createSecret of secret "+arn) {
				if want = strings.ReplaceAll(want, "{k0}", k0.id); !strings.Contains(msg, want) {
					t.Errorf("error does not contain %q:\n%s", want, msg)
				}
			}
			err = env.Step(ctx, arn, token, rotation.StepCreate)
			if c.field != errors.Is(err, rotation.ErrInvalidSecret) {
				t.Errorf("errors.Is(%v, ErrInvalidSecret) = %t, want %t", err, !c.field, c.field)
			}
			if after := w.keys(user); !reflect.DeepEqual(before, after) {
				t.Fatalf("keys changed from %v to %v", before, after)
			}
			if v := env.Value(ctx, arn, rotation.StagePending); v != "" {
				t.Fatalf("a pending value was stored")
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	w := newWorld(t, frozenClock(at))
	w.createUser(user)
	k0 := w.createKey(user)
	w.clk.Advance(time.Hour)
	k1 := w.createKey(user)
	// The real constructor, with the Lambda's own IAM client.
	p := iamkey.NewFromAWSConfig(w.awsConfig(nil), nil, iamkey.Config{})
	secretID := "arn:aws:secretsmanager:us-east-1:123456789012:secret:ci-AbCdEf"
	req := &rotation.CredentialRequest{SecretID: secretID, Version: &rotation.Version{
		ID: "v1", Stages: []string{rotation.StagePrevious}, Value: value(user, k1, nil),
	}}
	var errs []string
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			errs = append(errs, err.Error())
			t.Fatalf("%s: %v", what, err)
		}
	}
	fails := func(what string, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s succeeded", what)
		}
		errs = append(errs, err.Error())
		for _, s := range want {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not contain %q", what, err, s)
			}
		}
	}

	u, err := p.LastUsed(ctx, req)
	check("last used", err)
	if !u.Known || !u.LastUsed.IsZero() || u.Detail != "never used" {
		t.Errorf("usage of an unused key: %+v", u)
	}

	check("deactivate", p.Deactivate(ctx, req))
	_, err = w.works(ctx, k1.id, k1.secret)
	if errorCode(err) != "InvalidClientTokenId" {
		t.Fatalf("STS with the deactivated key: %v, want InvalidClientTokenId", err)
	}
	check("deactivate again", p.Deactivate(ctx, req))

	creds, err := p.Credentials(ctx, req)
	check("credentials", err)
	want := []rotation.Credential{
		{Fingerprint: k0.id, Status: "Active", Created: at},
		{Fingerprint: k1.id, Status: "Inactive", Created: at.Add(time.Hour)},
	}
	if !reflect.DeepEqual(creds, want) {
		t.Errorf("credentials %+v, want %+v", creds, want)
	}

	check("reactivate", p.Reactivate(ctx, req))
	check("reactivate again", p.Reactivate(ctx, req))
	w.clk.Advance(90 * time.Second) // 05:05:35
	if arn, err := w.works(ctx, k1.id, k1.secret); err != nil || arn != "arn:aws:iam::123456789012:user/alice" {
		t.Fatalf("STS with the reactivated key: %q, %v", arn, err)
	}
	u, err = p.LastUsed(ctx, req)
	check("last used", err)
	usedAt := time.Date(2030, 1, 2, 4, 5, 0, 0, time.UTC) // IAM keeps minutes
	if !u.Known || !u.LastUsed.Equal(usedAt) || u.Granularity != time.Minute || u.Detail != "last used 2030-01-02T04:05:00Z via sts in us-east-1" {
		t.Errorf("usage %+v, want last used %v via sts", u, usedAt)
	}

	live := &rotation.CredentialRequest{SecretID: secretID, Version: &rotation.Version{ID: "v0", Stages: []string{rotation.StageCurrent}, Value: value(user, k0, nil)}}
	fails("deactivate the AWSCURRENT key", p.Deactivate(ctx, live), "refusing", k0.id, "AWSCURRENT")
	fails("delete the AWSCURRENT key", p.Delete(ctx, live), "refusing", k0.id)

	check("delete", p.Delete(ctx, req))
	check("delete again", p.Delete(ctx, req))
	if got := w.keys(user); !reflect.DeepEqual(got, []string{k0.id + "=Active"}) {
		t.Fatalf("keys after delete: %v", got)
	}
	err = p.Reactivate(ctx, req)
	fails("reactivate a deleted key", err, k1.id, `IAM user "alice"`, "deleted and cannot come back")
	if !errors.Is(err, iamkey.ErrNoSuchKey) {
		t.Errorf("reactivate a deleted key: %v is not ErrNoSuchKey", err)
	}
	err = p.Deactivate(ctx, req)
	fails("deactivate a deleted key", err, k1.id)
	if !errors.Is(err, iamkey.ErrNoSuchKey) {
		t.Errorf("deactivate a deleted key: %v is not ErrNoSuchKey", err)
	}
	_, err = p.LastUsed(ctx, req)
	fails("last used of a deleted key", err, k1.id)
	if !errors.Is(err, iamkey.ErrNoSuchKey) {
		t.Errorf("last used of a deleted key: %v is not ErrNoSuchKey", err)
	}

	bad := &rotation.CredentialRequest{SecretID: secretID, Version: &rotation.Version{ID: "v9", Value: `{"user_name":"alice"}`}}
	fails("deactivate a malformed version", p.Deactivate(ctx, bad), `"access_key_id"`, "v9")
	fails("no version", p.Delete(ctx, &rotation.CredentialRequest{}), "no version")
	nobody := &rotation.CredentialRequest{SecretID: secretID, Version: &rotation.Version{ID: "v0", Value: value("nobody", k0, nil)}}
	_, err = p.Credentials(ctx, nobody)
	fails("credentials of an unknown user", err, `"user_name"`, "nobody")
	w.createUser("carol")
	other := &rotation.CredentialRequest{SecretID: secretID, Version: &rotation.Version{ID: "v0", Value: value("carol", k0, nil)}}
	_, err = p.LastUsed(ctx, other)
	fails("last used under the wrong user", err, k0.id, `belongs to IAM user "alice"`)

	w.assertNoSecrets(t, "an error", errs...)
}

func TestParseAndFingerprint(t *testing.T) {
	k := accessKey{"AKIAEXAMPLE000000001", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	p := iamkey.New(iamkey.Config{})
	if got := p.Fingerprint(value(user, k, nil)); got != k.id {
		t.Errorf("Fingerprint = %q, want %q", got, k.id)
	}
	for _, v := range []string{"", "not json", `{"secret_access_key":"` + k.secret + `"}`, `{"access_key_id":"` + k.secret + `"}`} {
		if got := p.Fingerprint(v); got != "" {
			t.Errorf("Fingerprint(malformed) = %q, want empty", got)
		}
	}
	s, err := iamkey.Parse(value(user, k, map[string]any{"propagation_budget_seconds": 90, "owner": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	if s.UserName != user || s.AccessKeyID != k.id || s.SecretAccessKey != k.secret || *s.PropagationBudgetSeconds != 90 {
		t.Errorf("parsed %v", s)
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(f, s); strings.Contains(out, k.secret) {
			t.Errorf("%s of a Secret shows the secret access key", f)
		}
		if out := fmt.Sprintf(f, *s); strings.Contains(out, k.secret) {
			t.Errorf("%s of a Secret value shows the secret access key", f)
		}
	}
	if p.MaxLive() != 2 {
		t.Errorf("MaxLive() = %d, want IAM's 2", p.MaxLive())
	}
	// A provider without clients fails cleanly.
	_, err = p.Create(context.Background(), &rotation.CreateRequest{Current: &rotation.Version{Value: value(user, k, nil)}})
	if err == nil || !strings.Contains(err.Error(), "no IAM client") {
		t.Errorf("Create without an IAM client: %v", err)
	}
}

// SigV4 sends the access key id, never the secret key: the usage
// fingerprint is what fingerprint.FromRequest finds in a request the SDK
// signed with the key.
func TestUsageFingerprint(t *testing.T) {
	k := accessKey{"AKIAEXAMPLE000000001", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	p := iamkey.New(iamkey.Config{})
	req, _ := http.NewRequest(http.MethodPost, "https://sts.amazonaws.com/", nil)
	const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: k.id, SecretAccessKey: k.secret}, req, emptySHA256, "sts", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := p.UsageFingerprint(value(user, k, nil)); got != fingerprint.Of(k.id) || got != fingerprint.FromRequest(req, "") {
		t.Errorf("UsageFingerprint = %q, the signed request's %q, want %q", got, fingerprint.FromRequest(req, ""), fingerprint.Of(k.id))
	}
	if got := p.UsageFingerprint(`{"secret_access_key":"` + k.secret + `"}`); got != "" {
		t.Errorf("a value without an access key id: %q", got)
	}
}

func TestPropagationBudgetFromEnv(t *testing.T) {
	cases := []struct {
		env  string
		want time.Duration
		ok   bool
	}{
		{"", 0, true}, {"90s", 90 * time.Second, true}, {"2m", 2 * time.Minute, true},
		{"90", 0, false}, {"-1s", 0, false}, {"0s", 0, false}, {"1h", 0, false},
	}
	for _, c := range cases {
		got, err := iamkey.PropagationBudgetFromEnv(func(k string) string {
			if k == "DUALKEY_IAM_PROPAGATION_BUDGET" {
				return c.env
			}
			return ""
		})
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("%q: got %v, %v; want %v, ok=%t", c.env, got, err, c.want, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "DUALKEY_IAM_PROPAGATION_BUDGET") {
			t.Errorf("%q: error %q does not name the variable", c.env, err)
		}
	}
}

func TestEmergencyRotationWithoutTheCurrentKey(t *testing.T) {
	ctx := context.Background()
	env, w, arn, k0 := newEnv(t, fixtureOpts{})
	// The leaked key was deleted by hand; a normal rotation refuses...
	if _, err := w.admin().DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(user), AccessKeyId: aws.String(k0.id)}); err != nil {
		t.Fatal(err)
	}
	token := hold(t, env, arn)
	err := env.Step(ctx, arn, token, rotation.StepCreate)
	if err == nil || !strings.Contains(err.Error(), "the current access key "+k0.id+" is not a key of IAM user") || !strings.Contains(err.Error(), rotation.TagEmergency) {
		t.Fatalf("createSecret without the current key: %v", err)
	}
	// ...an emergency rotation makes a new one.
	if _, err := env.SM.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(arn), Tags: []smtypes.Tag{{Key: aws.String(rotation.TagEmergency), Value: aws.String("true")}}}); err != nil {
		t.Fatal(err)
	}
	if err := runSteps(t, env, arn, token); err != nil {
		t.Fatalf("emergency rotation: %v", err)
	}
	cur := decode(t, env.Value(ctx, arn, rotation.StageCurrent)).AccessKeyID
	if got := w.keys(user); !reflect.DeepEqual(got, []string{cur + "=Active"}) {
		t.Fatalf("keys %v, want only the new key %s", got, cur)
	}
}
