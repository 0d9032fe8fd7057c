// Package vendorkeytest holds what the vendor-key providers' tests
// (twilio, twiliotoken, sendgrid) share on top of the rotation kit
// (rotationtest): reading a secret's versions as a provider does, a
// rotation that must be refused, taking a label off a version, and error
// checks. Tests only: no rotation function imports it.
package vendorkeytest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

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
