package rotation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/providers/servicekey"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

const initialKey = "initial-key-0123456789abcdefghijklmnop"

// leakyProvider is the internal key provider whose Test fails with an error
// that quotes the pending key, as a careless HTTP client error might.
type leakyProvider struct{ *servicekey.Provider }

func (p leakyProvider) Test(_ context.Context, req *rotation.TestRequest) error {
	return fmt.Errorf("server rejected %s", req.Pending.Value)
}

func subject(initial string, leaky bool) rotationtest.Subject {
	return subjectWith(initial, func(p *servicekey.Provider) rotation.Provider {
		if leaky {
			return leakyProvider{p}
		}
		return p
	})
}

// subjectWith is a servicekey subject whose provider wrap decorates.
func subjectWith(initial string, wrap func(*servicekey.Provider) rotation.Provider) rotationtest.Subject {
	return rotationtest.Subject{Setup: func(t testing.TB, env *rotationtest.Env) *rotationtest.Fixture {
		return &rotationtest.Fixture{
			Initial: initial,
			NewProvider: func(c *http.Client) rotation.Provider {
				return wrap(servicekey.New(servicekey.DefaultSettings, c))
			},
			Works: func(context.Context, string) error { return nil },
		}
	}}
}

func handle(env *rotationtest.Env, arn, token, step string) error {
	return env.Step(context.Background(), arn, token, step)
}

func rotateOnce(t *testing.T, env *rotationtest.Env, arn string) string {
	t.Helper()
	token, err := env.Rotate(context.Background(), arn)
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if recs := env.Emu.Rotations(); recs[len(recs)-1].Error != "" {
		t.Fatalf("rotation failed: %s", recs[len(recs)-1].Error)
	}
	return token
}

func holderOf(labels map[string][]string, stage string) string {
	for id, st := range labels {
		for _, s := range st {
			if s == stage {
				return id
			}
		}
	}
	return ""
}

func TestGuards(t *testing.T) {
	ctx := context.Background()
	initial := `{"api_key":"` + initialKey + `"}`
	cases := []struct {
		name string
		// prepare returns the token to invoke with.
		prepare func(t *testing.T, env *rotationtest.Env, arn string) string
		step    string
		want    error  // nil: success
		msg     string // substring of the error
	}{
		{
			name: "rotation disabled",
			prepare: func(t *testing.T, env *rotationtest.Env, arn string) string {
				return holderOf(env.Labels(ctx, arn), rotation.StageCurrent)
			},
			step: rotation.StepCreate, want: rotation.ErrRotationNotEnabled, msg: "rotate-secret",
		},
		{
			name: "token is not a version",
			prepare: func(t *testing.T, env *rotationtest.Env, arn string) string {
				rotateOnce(t, env, arn)
				return "00000000-0000-0000-0000-000000000000"
			},
			step: rotation.StepCreate, want: rotation.ErrUnknownVersion, msg: "00000000-0000-0000-0000-000000000000",
		},
		{
			name: "token already AWSCURRENT",
			prepare: func(t *testing.T, env *rotationtest.Env, arn string) string {
				return rotateOnce(t, env, arn)
			},
			step: rotation.StepCreate,
		},
		{
			name: "token is AWSPREVIOUS",
			prepare: func(t *testing.T, env *rotationtest.Env, arn string) string {
				rotateOnce(t, env, arn)
				return holderOf(env.Labels(ctx, arn), rotation.StagePrevious)
			},
			step: rotation.StepSet, want: rotation.ErrNotPending, msg: "rotate-secret",
		},
		{
			name: "another version holds AWSPENDING",
			prepare: func(t *testing.T, env *rotationtest.Env, arn string) string {
				rotateOnce(t, env, arn)
				env.SetInvoke(func(context.Context, events.SecretsManagerSecretRotationEvent) error {
					return errors.New("lambda down")
				})
				if _, err := env.Rotate(ctx, arn); err != nil {
					t.Fatalf("rotate: %v", err)
				}
				env.SetInvoke(nil)
				return holderOf(env.Labels(ctx, arn), rotation.StagePrevious)
			},
			step: rotation.StepCreate, want: rotation.ErrNotPending, msg: "aws secretsmanager update-secret-version-stage --secret-id",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := rotationtest.NewEnv(t, subject(initial, false))
			arn := env.CreateSecret(ctx)
			token := c.prepare(t, env, arn)
			before := env.Labels(ctx, arn)
			err := handle(env, arn, token, c.step)
			if c.want == nil {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
			} else {
				if !errors.Is(err, c.want) {
					t.Fatalf("got %v, want %v", err, c.want)
				}
				var re *rotation.RotationError
				if !errors.As(err, &re) || re.SecretID != arn || re.Step != c.step {
					t.Fatalf("error %T does not carry the secret and step", err)
				}
				if !strings.Contains(err.Error(), c.msg) {
					t.Fatalf("error %q does not say %q", err, c.msg)
				}
			}
			if after := env.Labels(ctx, arn); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("labels changed from %v to %v", before, after)
			}
		})
	}
	t.Run("pending hint names the stuck version", func(t *testing.T) {
		env := rotationtest.NewEnv(t, subject(initial, false))
		arn := env.CreateSecret(ctx)
		rotateOnce(t, env, arn)
		env.SetInvoke(func(context.Context, events.SecretsManagerSecretRotationEvent) error {
			return errors.New("lambda down")
		})
		stuck, _ := env.Rotate(ctx, arn)
		env.SetInvoke(nil)
		err := handle(env, arn, holderOf(env.Labels(ctx, arn), rotation.StagePrevious), rotation.StepCreate)
		want := "--version-stage AWSPENDING --remove-from-version-id " + stuck
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v does not contain %q", err, want)
		}
	})
}

func TestMalformedSecret(t *testing.T) {
	ctx := context.Background()
	cases := []struct{ name, value, field string }{
		{"not json", "just a string value", `"SecretString"`},
		{"array", `["a"]`, `"SecretString"`},
		{"missing key", `{"verify_url":"http://127.0.0.1:1/x"}`, `"api_key"`},
		{"wrong type", `{"api_key": 12}`, `"api_key"`},
		{"bad length", `{"api_key":"` + initialKey + `","key_length":3}`, `"key_length"`},
		{"bad verify_url", `{"api_key":"` + initialKey + `","verify_url":"ftp:/x"}`, `"verify_url"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := rotationtest.NewEnv(t, subject(c.value, false))
			arn := env.CreateSecret(ctx)
			before := env.Labels(ctx, arn)
			token, err := env.Rotate(ctx, arn)
			if err != nil {
				t.Fatalf("rotate: %v", err)
			}
			recs := env.Emu.Rotations()
			last := recs[len(recs)-1]
			if last.Error == "" || !strings.Contains(last.Error, c.field) || !strings.Contains(last.Error, arn) {
				t.Fatalf("rotation error %q does not name the secret and field %s", last.Error, c.field)
			}
			err = handle(env, arn, token, rotation.StepCreate)
			if !errors.Is(err, rotation.ErrInvalidSecret) {
				t.Fatalf("got %v, want ErrInvalidSecret", err)
			}
			after := env.Labels(ctx, arn)
			delete(after, token) // the placeholder RotateSecret made
			if fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("labels changed from %v to %v", before, after)
			}
			if env.Value(ctx, arn, rotation.StageCurrent) != c.value {
				t.Fatalf("AWSCURRENT changed")
			}
		})
	}
}

func TestSecretsNeverLeak(t *testing.T) {
	ctx := context.Background()
	env := rotationtest.NewEnv(t, subject(`{"api_key":"`+initialKey+`"}`, true))
	arn := env.CreateSecret(ctx)
	token, _ := env.Rotate(ctx, arn)
	err := handle(env, arn, token, rotation.StepTest)
	if err == nil {
		t.Fatal("leaky test step succeeded")
	}
	pending := env.Value(ctx, arn, rotation.StagePending)
	var p struct {
		APIKey string `json:"api_key"`
	}
	if json.Unmarshal([]byte(pending), &p) != nil || p.APIKey == "" {
		t.Fatalf("no pending key")
	}
	for _, out := range []string{err.Error(), env.Logs.String()} {
		if strings.Contains(out, p.APIKey) || strings.Contains(out, initialKey) {
			t.Fatalf("a key reached an error or log line")
		}
	}
	if !strings.Contains(err.Error(), rotation.Redaction) {
		t.Fatalf("error %q was not redacted", err)
	}
	if !errors.Is(err, rotation.ErrProvider) {
		t.Fatalf("got %v, want ErrProvider", err)
	}
}

func TestMetricsAndCallCount(t *testing.T) {
	ctx := context.Background()
	env := rotationtest.NewEnv(t, subject(`{"api_key":"`+initialKey+`"}`, false))
	arn := env.CreateSecret(ctx)
	resp, err := http.Post(env.URL+"/_dualkey/stats/reset", "application/json", nil)
	if err != nil {
		t.Fatalf("reset stats: %v", err)
	}
	resp.Body.Close()
	rotateOnce(t, env, arn)
	resp, err = http.Get(env.URL + "/_dualkey/stats")
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	defer resp.Body.Close()
	var stats map[string]int
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatalf("decode stats: %v", err)
	}
	total := 0
	for op, n := range stats {
		if op != "RotateSecret" {
			total += n
		}
	}
	t.Logf("Secrets Manager calls for one rotation: %d %v", total, stats)
	if total > 10 || stats["DescribeSecret"] != 4 {
		t.Fatalf("rotation made %d calls (%v); want at most 10 with a DescribeSecret guard per step", total, stats)
	}
	// One EMF line per step, all successful.
	steps := map[string]bool{}
	for _, line := range strings.Split(env.Logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["_aws"] == nil {
			continue
		}
		if m["Outcome"] != "success" || m["Provider"] != "servicekey" || m["SecretName"] != rotationtest.SecretName || m["Service"] != "dualkey" {
			t.Fatalf("unexpected metric line %s", line)
		}
		steps[m["Step"].(string)] = true
	}
	if len(steps) != 4 {
		t.Fatalf("metric lines for steps %v, want all four", steps)
	}
	out, err := env.SM.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil || out.LastRotatedDate == nil {
		t.Fatalf("LastRotatedDate not set after rotation: %v", err)
	}
}
