package lifecycle_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

// newLifecycle returns a lifecycle over env's Secrets Manager with the
// given providers, the fake clock and a log buffer.
func newLifecycle(t *testing.T, env *rotationtest.Env, clock *testutil.FakeClock, ps ...rotation.Provider) (*lifecycle.Lifecycle, *bytes.Buffer) {
	t.Helper()
	logs := &bytes.Buffer{}
	m := map[string]rotation.Provider{}
	for _, p := range ps {
		m[p.Name()] = p
	}
	lc, err := lifecycle.New(lifecycle.Config{SecretsManager: env.SM, Providers: m, Now: clock.Now, LogWriter: logs, MetricsWriter: logs})
	if err != nil {
		t.Fatal(err)
	}
	return lc, logs
}

// tagsOf returns the secret's tags.
func tagsOf(t *testing.T, sm *secretsmanager.Client, arn string) map[string]string {
	t.Helper()
	d, err := sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, tg := range d.Tags {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

// putPending is the PutSecretValue createSecret makes.
func putPending(arn, token, value string) *secretsmanager.PutSecretValueInput {
	return &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn), ClientRequestToken: aws.String(token),
		SecretString: aws.String(value), VersionStages: []string{rotation.StagePending}}
}
