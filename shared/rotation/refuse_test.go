package rotation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

// Issue 6 item 3: the servicekey function rotated a secret tagged for
// iamkey and one with no dualkey tag at all. A whole rotation of such a
// secret must stop at createSecret with an error naming the tag to set,
// and change nothing.
func TestRefusesSecretsOfOthers(t *testing.T) {
	ctx := context.Background()
	initial := `{"api_key":"` + initialKey + `"}`
	cases := []struct {
		name  string
		set   map[string]string
		unset []string
		want  []string
	}{
		{"tagged for iamkey", map[string]string{rotation.TagProvider: "iamkey"}, nil, []string{
			"is tagged dualkey:provider=iamkey, but this function rotates servicekey secrets",
			"make dualkey's iamkey function the secret's rotation function",
			"aws secretsmanager tag-resource --secret-id {arn} --tags Key=dualkey:provider,Value=servicekey"}},
		{"no dualkey tags", nil, []string{rotation.TagProvider, rotation.TagManaged}, []string{
			"has no dualkey:provider tag and has no dualkey:managed tag",
			"aws secretsmanager tag-resource --secret-id {arn} --tags Key=dualkey:provider,Value=servicekey Key=dualkey:managed,Value=true"}},
		{"not managed", map[string]string{rotation.TagManaged: "no"}, nil, []string{
			"is tagged dualkey:managed=no, not true",
			"aws secretsmanager tag-resource --secret-id {arn} --tags Key=dualkey:managed,Value=true"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := rotationtest.NewEnv(t, subject(initial, false))
			arn := env.CreateSecret(ctx)
			if c.set != nil {
				env.Tag(ctx, arn, c.set)
			}
			if c.unset != nil {
				env.Untag(ctx, arn, c.unset...)
			}
			before := env.Labels(ctx, arn)
			token, err := env.Rotate(ctx, arn)
			if err != nil {
				t.Fatal(err)
			}
			rec := env.LastRotation()
			if rec.Succeeded || rec.FailedStep != rotation.StepCreate {
				t.Fatalf("rotation of a secret that is not servicekey's: succeeded=%t failed at %q", rec.Succeeded, rec.FailedStep)
			}
			for _, w := range c.want {
				if w = strings.ReplaceAll(w, "{arn}", arn); !strings.Contains(rec.Error, w) {
					t.Errorf("error does not contain %q:\n%s", w, rec.Error)
				}
			}
			err = env.Step(ctx, arn, token, rotation.StepCreate)
			if !errors.Is(err, rotation.ErrNotManaged) {
				t.Fatalf("got %v, want ErrNotManaged", err)
			}
			after := env.Labels(ctx, arn)
			delete(after, token) // RotateSecret's placeholder
			if fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("labels changed from %v to %v", before, after)
			}
			if env.Value(ctx, arn, rotation.StageCurrent) != initial || env.Value(ctx, arn, rotation.StagePending) != "" {
				t.Fatalf("the secret's values changed")
			}
		})
	}
}

// Issue 6 item 6: finishSecret delivered before createSecret (as the
// shipped example event did) moved AWSCURRENT onto RotateSecret's empty
// placeholder, and the secret had no readable AWSCURRENT. Every step after
// createSecret must refuse the empty placeholder and change nothing.
func TestStepsRefuseTheEmptyPlaceholder(t *testing.T) {
	ctx := context.Background()
	initial := `{"api_key":"` + initialKey + `"}`
	for _, step := range []string{rotation.StepFinish, rotation.StepSet, rotation.StepTest} {
		t.Run(step, func(t *testing.T) {
			env := rotationtest.NewEnv(t, subject(initial, false))
			arn := env.CreateSecret(ctx)
			token := env.Hold(ctx, arn)
			before := env.Labels(ctx, arn)
			err := env.Step(ctx, arn, token, step)
			if !errors.Is(err, rotation.ErrNoVersion) || !strings.Contains(err.Error(), "run createSecret first") {
				t.Fatalf("got %v, want ErrNoVersion and \"run createSecret first\"", err)
			}
			if after := env.Labels(ctx, arn); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("labels changed from %v to %v", before, after)
			}
			if env.Value(ctx, arn, rotation.StageCurrent) != initial {
				t.Fatalf("AWSCURRENT is no longer the initial value")
			}
			// createSecret then repairs nothing that was broken: the rotation completes.
			if err := env.Retry(ctx, arn, token, rotation.StepCreate); err != nil {
				t.Fatalf("rotation after the refused %s: %v", step, err)
			}
		})
	}
}

// Issue 6 item 5: a verify_url with user info or a token in its query was
// printed in clear in the function log on a failed testSecret.
func TestURLSecretsNeverLeak(t *testing.T) {
	ctx := context.Background()
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) }))
	defer refuse.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // connection refused: net/http quotes the URL in its error
	const password, token = "hunter2pass", "s3cr3tquerytoken"
	for name, base := range map[string]string{"refused": refuse.URL, "unreachable": down.URL} {
		t.Run(name, func(t *testing.T) {
			verify := strings.Replace(base, "http://", "http://svc:"+password+"@", 1) + "/health?token=" + token
			initial := `{"api_key":"` + initialKey + `","verify_url":"` + verify + `"}`
			env := rotationtest.NewEnv(t, subject(initial, false))
			arn := env.CreateSecret(ctx)
			if _, err := env.Rotate(ctx, arn); err != nil {
				t.Fatal(err)
			}
			rec := env.LastRotation()
			if rec.Succeeded || rec.FailedStep != rotation.StepTest {
				t.Fatalf("rotation with a refusing verify_url: succeeded=%t at %q: %s", rec.Succeeded, rec.FailedStep, rec.Error)
			}
			err := env.Step(ctx, arn, rec.Token, rotation.StepTest)
			if err == nil {
				t.Fatal("testSecret succeeded")
			}
			for what, text := range map[string]string{"the error": err.Error(), "the logs": env.Logs.String(), "the rotation record": rec.Error} {
				if strings.Contains(text, password) || strings.Contains(text, token) {
					t.Errorf("%s shows the verify_url's password or token:\n%s", what, text)
				}
			}
			if !strings.Contains(err.Error(), "/health") {
				t.Errorf("the error no longer names the URL's path: %v", err)
			}
		})
	}
}

// Issue 6 item 8: the failure's log line and the RotationFailed metric line
// carry the command that gets the operator out.
func TestFailureCarriesTheFix(t *testing.T) {
	ctx := context.Background()
	env := rotationtest.NewEnv(t, subject(`{"api_key":"`+initialKey+`"}`, true))
	arn := env.CreateSecret(ctx)
	if _, err := env.Rotate(ctx, arn); err != nil {
		t.Fatal(err)
	}
	if rec := env.LastRotation(); rec.Succeeded {
		t.Fatal("the leaky provider's testSecret succeeded")
	}
	want := "dualkey cancel " + arn
	var failedLog, failedMetric bool
	for _, line := range strings.Split(env.Logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if m["msg"] == "rotation step failed" {
			failedLog = true
			if m["fix"] != want {
				t.Errorf("failure log line has fix %v, want %q: %s", m["fix"], want, line)
			}
		}
		if m["_aws"] != nil && m["RotationFailed"] == 1.0 {
			failedMetric = true
			if m["Fix"] != want {
				t.Errorf("RotationFailed metric line has Fix %v, want %q: %s", m["Fix"], want, line)
			}
			if strings.Contains(line, `"Fix"]`) || strings.Contains(line, `"Fix",`) {
				t.Errorf("Fix became a metric dimension: %s", line)
			}
		}
		if m["_aws"] != nil && m["RotationFailed"] == 0.0 && m["Fix"] != nil {
			t.Errorf("a successful step's metric line carries Fix: %s", line)
		}
	}
	if !failedLog || !failedMetric {
		t.Fatalf("no failure log line (%t) or RotationFailed metric line (%t):\n%s", failedLog, failedMetric, env.Logs.String())
	}
	if got := rotation.CancelCommand("it's a name"); got != `dualkey cancel 'it'\''s a name'` {
		t.Errorf("CancelCommand quotes %q", got)
	}
}
