// Package vendorkeytest holds what the vendor-key providers' tests
// (twilio, twiliotoken, sendgrid; stripe, stripewebhook and staged for
// rotating and fixed versions) share on top of the rotation kit
// (rotationtest): a test's secret and its versions as a provider reads
// them, rotations that must be refused and change nothing, label removal,
// the delete-only lifecycle test, FromEnv checks and secret checks. Tests
// only: no rotation function imports it.
package vendorkeytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

// Reader is a VersionReader over the secret arn as it is now.
func Reader(ctx context.Context, t testing.TB, env *rotationtest.Env, arn string) rotation.VersionReader {
	t.Helper()
	d, err := env.SM.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	return rotation.NewReader(env.SM, arn, d.VersionIdsToStages, nil)
}

// Request is a lifecycle request for the version of arn holding stage.
func Request(ctx context.Context, t testing.TB, env *rotationtest.Env, arn, stage string) *rotation.CredentialRequest {
	t.Helper()
	r := Reader(ctx, t, env, arn)
	v, err := r.Stage(ctx, stage)
	if err != nil {
		t.Fatal(err)
	}
	return &rotation.CredentialRequest{SecretID: arn, Version: v, Versions: r}
}

// FailedRotation starts a rotation of arn and returns its token and the
// error of the step that failed; the test fails if the rotation succeeded.
func FailedRotation(ctx context.Context, t testing.TB, env *rotationtest.Env, arn string) (string, error) {
	t.Helper()
	token, err := env.Rotate(ctx, arn)
	if err != nil {
		t.Fatal(err)
	}
	rec := env.LastRotation()
	if rec.Succeeded {
		t.Fatal("the rotation succeeded, want it refused")
	}
	return token, errors.New(rec.Error)
}

// RemoveLabel takes stage off version id of arn, as the lifecycle does
// once it ended the version's credential.
func RemoveLabel(ctx context.Context, t testing.TB, env *rotationtest.Env, arn, stage, id string) {
	t.Helper()
	if _, err := env.SM.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(arn), VersionStage: aws.String(stage), RemoveFromVersionId: aws.String(id),
	}); err != nil {
		t.Fatal(err)
	}
}

// Holder returns the version that holds stage in labels ("" for none).
func Holder(labels map[string][]string, stage string) string {
	for id, st := range labels {
		if slices.Contains(st, stage) {
			return id
		}
	}
	return ""
}

// WantIn fails unless err contains every part.
func WantIn(t testing.TB, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}

// PutEdited stores value, as edit changes its JSON fields, as the new
// AWSCURRENT of arn.
func PutEdited(ctx context.Context, t testing.TB, env *rotationtest.Env, arn, value string, edit func(m map[string]any)) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(value), &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String(string(raw))}); err != nil {
		t.Fatal(err)
	}
}

// FromEnvCase is a provider's environment and the part its FromEnv error
// must contain ("" when it must be accepted).
type FromEnvCase struct {
	Env  map[string]string
	Want string
}

// CheckFromEnv runs factory on each case: an accepted environment gives a
// provider named name, a refused one an error containing Want and never
// hidden (a URL's password from the environment; "" to skip that check).
func CheckFromEnv(t *testing.T, factory rotation.Factory, name, hidden string, cases []FromEnvCase) {
	t.Helper()
	for _, c := range cases {
		p, err := factory(context.Background(), rotation.Env{Getenv: func(k string) string { return c.Env[k] }})
		switch {
		case c.Want == "" && err != nil:
			t.Errorf("%v: %v", c.Env, err)
		case c.Want == "" && p.Name() != name:
			t.Errorf("%v: name %q", c.Env, p.Name())
		case c.Want != "" && (err == nil || !strings.Contains(err.Error(), c.Want)):
			t.Errorf("%v: got %v, want an error naming %s", c.Env, err, c.Want)
		case c.Want != "" && hidden != "" && strings.Contains(err.Error(), hidden):
			t.Errorf("%v: the error shows the URL's password", c.Env)
		}
	}
}

// Subject is the rotation kit's subject of a provider whose old credential
// stays valid after a rotation (the lifecycle ends it) and whose rotation
// makes at most maxCalls Secrets Manager calls: newBed builds a test world
// on the kit's Env and fixture its Fixture; *out receives the world when
// out is not nil.
func Subject[B any](maxCalls int, newBed func(testing.TB, *rotationtest.Env) B, fixture func(B) *rotationtest.Fixture, out *B) rotationtest.Subject {
	return rotationtest.Subject{
		OldStaysValid: true,
		MaxCalls:      maxCalls,
		Setup: func(t testing.TB, env *rotationtest.Env) *rotationtest.Fixture {
			b := newBed(t, env)
			if out != nil {
				*out = b
			}
			return fixture(b)
		},
	}
}

// Client is the client a test's provider uses: hc (the kit's counted
// one) when set, else a client over rt (Prism's checker), else nil (the
// default transport).
func Client(hc *http.Client, rt http.RoundTripper) *http.Client {
	if hc == nil && rt != nil {
		return &http.Client{Transport: rt}
	}
	return hc
}

// Sleep is a provider's Sleep that moves the kit's clock instead of
// waiting.
func Sleep(env *rotationtest.Env) func(ctx context.Context, d time.Duration) error {
	return func(ctx context.Context, d time.Duration) error { env.Clock.Advance(d); return ctx.Err() }
}

// CreateAdminSecret stores value (JSON fields) as the new secret name, the
// admin secret a rotated secret's master_secret_arn names, and returns its
// ARN.
func CreateAdminSecret(t testing.TB, env *rotationtest.Env, name string, value map[string]string) string {
	t.Helper()
	raw, err := json.Marshal(value)
	if err != nil {
		t.Fatal(err)
	}
	out, err := env.SM.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(string(raw))})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

// Unchanged fails unless the vendor's keys (keys, as whose keys reads
// them now) and arn's AWSCURRENT (current) are as before what.
func Unchanged[K comparable, V any](ctx context.Context, t testing.TB, env *rotationtest.Env, arn, what, whose string, now func() map[K]V, keys map[K]V, current string) {
	t.Helper()
	if got := now(); fmt.Sprint(got) != fmt.Sprint(keys) {
		t.Fatalf("%s changed %s keys from %v to %v", what, whose, keys, got)
	}
	if env.Value(ctx, arn, rotation.StageCurrent) != current {
		t.Fatalf("%s changed AWSCURRENT", what)
	}
}

// Refused starts a rotation of arn that must fail with an error containing
// parts and change neither the vendor's keys (as now reads them; whose
// names them) nor AWSCURRENT; it returns the rotation's token and error.
func Refused[K comparable, V any](ctx context.Context, t testing.TB, env *rotationtest.Env, arn, what, whose string, now func() map[K]V, parts ...string) (string, error) {
	t.Helper()
	keys, current := now(), env.Value(ctx, arn, rotation.StageCurrent)
	token, err := FailedRotation(ctx, t, env, arn)
	WantIn(t, err, parts...)
	Unchanged(ctx, t, env, arn, what, whose, now, keys, current)
	return token, err
}

// World is a test's secret in the kit's Env, with the vendor's keys, and
// the checks the providers' tests share.
type World struct {
	T   testing.TB
	Env *rotationtest.Env
	ARN string
	// Whose names the keys in messages ("the account's"); Keys reads them
	// from the fake (id to a description). Needed by Unchanged and Refused.
	Whose string
	Keys  func() map[string]string
}

// Reader is a VersionReader over the secret as it is now.
func (w World) Reader(ctx context.Context) rotation.VersionReader {
	w.T.Helper()
	return Reader(ctx, w.T, w.Env, w.ARN)
}

// Version returns the version holding stage.
func (w World) Version(ctx context.Context, stage string) *rotation.Version {
	w.T.Helper()
	return Request(ctx, w.T, w.Env, w.ARN, stage).Version
}

// Request is a lifecycle request for the version holding stage.
func (w World) Request(ctx context.Context, stage string) *rotation.CredentialRequest {
	w.T.Helper()
	return Request(ctx, w.T, w.Env, w.ARN, stage)
}

// FailedRotation starts a rotation that must fail and returns its token
// and the error of the step that failed.
func (w World) FailedRotation(ctx context.Context) (string, error) {
	w.T.Helper()
	return FailedRotation(ctx, w.T, w.Env, w.ARN)
}

// Unchanged fails unless the keys and AWSCURRENT are as before what.
func (w World) Unchanged(ctx context.Context, what string, keys map[string]string, current string) {
	w.T.Helper()
	Unchanged(ctx, w.T, w.Env, w.ARN, what, w.Whose, w.Keys, keys, current)
}

// Refused starts a rotation that must be refused with an error containing
// parts and change nothing; it returns the rotation's token.
func (w World) Refused(ctx context.Context, what string, parts ...string) string {
	w.T.Helper()
	token, _ := Refused(ctx, w.T, w.Env, w.ARN, what, w.Whose, w.Keys, parts...)
	return token
}

// Rotate starts a rotation of arn and returns its token and, when it
// failed, an error "<step>: <error>".
func Rotate(ctx context.Context, t testing.TB, env *rotationtest.Env, arn string) (string, error) {
	t.Helper()
	token, err := env.Rotate(ctx, arn)
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if rec := env.LastRotation(); !rec.Succeeded {
		return token, fmt.Errorf("%s: %s", rec.FailedStep, rec.Error)
	}
	return token, nil
}

// Versions is a rotation.VersionReader over fixed versions by stage, for
// calling provider methods directly.
type Versions map[string]*rotation.Version

var _ rotation.VersionReader = Versions(nil)

// Stage implements rotation.VersionReader.
func (v Versions) Stage(_ context.Context, stage string) (*rotation.Version, error) {
	if x, ok := v[stage]; ok {
		return x, nil
	}
	return nil, fmt.Errorf("%s: %w", stage, rotation.ErrNoVersion)
}

// Created implements rotation.VersionReader: the zero time.
func (v Versions) Created(context.Context, string) (time.Time, error) { return time.Time{}, nil }

// Admin implements rotation.VersionReader: none.
func (v Versions) Admin(context.Context) (*rotation.Admin, error) { return nil, nil }

// NoSecret fails the test when text (what) holds any of secrets; noun
// names one in the message ("a key").
func NoSecret(t testing.TB, what, noun, text string, secrets ...string) {
	t.Helper()
	red := rotation.NewRedactor()
	red.Add(secrets...)
	if red.Contains(text) {
		t.Fatalf("%s contains %s: %s", what, noun, red.Redact(text))
	}
}
