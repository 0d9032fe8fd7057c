package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/providers/postgres"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/sqlcred"
	"github.com/dualkey/dualkey/shared/sqlcred/sqlcredtest"
)

// world is one secret of an app user on the shared server, in an emulator
// whose RotateSecret runs dualkey's engine with the postgres provider (or
// another implementation, see invoke), and dualkey's lifecycle on it.
type world struct {
	t         testing.TB
	u         *dbUsers
	clock     *testutil.FakeClock
	emu       *awsemu.Server
	sm        *secretsmanager.Client
	arn       string
	masterARN string
	provider  *postgres.Provider
	engine    *rotation.Engine
	lc        *lifecycle.Lifecycle
	logs      *testutil.SyncBuffer
	// metrics receives the lifecycle's EMF lines.
	metrics *testutil.SyncBuffer
	// invoke runs one rotation step; nil runs dualkey's engine.
	invoke func(ctx context.Context, payload []byte) error
}

const worldLambda = "arn:aws:lambda:us-east-1:123456789012:function:dualkey-postgres"

// newWorld creates the app user and its secret (alternating users when
// strategy says so), tagged for dualkey with a one-hour drain.
func newWorld(t testing.TB, strategy postgres.Strategy) *world {
	t.Helper()
	w := &world{t: t, u: newUsers(t), clock: testutil.NewFakeClock(time.Now().UTC().Truncate(time.Second)), logs: &testutil.SyncBuffer{}, metrics: &testutil.SyncBuffer{}}
	emu, err := awsemu.New(awsemu.Config{Now: w.clock.Now, Invoker: awsemu.InvokerFunc(func(ctx context.Context, _ string, payload []byte) error {
		if w.invoke != nil {
			return w.invoke(ctx, payload)
		}
		return w.engine.HandleJSON(ctx, payload)
	})})
	if err != nil {
		t.Fatal(err)
	}
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	w.emu = emu
	cfg := awsemu.ClientConfig(url)
	cfg.RetryMaxAttempts = 1
	w.sm = secretsmanager.NewFromConfig(cfg)
	ctx := context.Background()
	if strategy == postgres.StrategyAlternating {
		out, err := w.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("db/master"), SecretString: aws.String(w.u.masterValue())})
		if err != nil {
			t.Fatal(err)
		}
		w.masterARN = aws.ToString(out.ARN)
	}
	out, err := w.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("db/app"), SecretString: aws.String(w.u.value(w.u.app, w.u.appPW, w.masterARN)),
		Tags: []types.Tag{
			{Key: aws.String(rotation.TagManaged), Value: aws.String("true")},
			{Key: aws.String(rotation.TagProvider), Value: aws.String(postgres.Name)},
			{Key: aws.String(lifecycle.TagDrain), Value: aws.String("1h")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.arn = aws.ToString(out.ARN)
	w.provider = postgres.New(postgres.Config{RootCAs: w.u.srv.CA().Pool(), Now: w.clock.Now, Logger: slog.New(slog.NewJSONHandler(w.logs, nil))})
	if w.engine, err = rotation.New(rotation.Config{SecretsManager: w.sm, Provider: w.provider, LogWriter: w.logs, MetricsWriter: io.Discard, Now: w.clock.Now}); err != nil {
		t.Fatal(err)
	}
	if w.lc, err = lifecycle.New(lifecycle.Config{SecretsManager: w.sm, Providers: map[string]rotation.Provider{postgres.Name: w.provider},
		Now: w.clock.Now, LogWriter: w.logs, MetricsWriter: w.metrics}); err != nil {
		t.Fatal(err)
	}
	return w
}

// rotate runs RotateSecret (with token, when not empty: Secrets Manager's
// retry of an unfinished rotation) and returns the version and the
// emulator's record of it.
func (w *world) rotate(token string) (string, awsemu.RotationRecord) {
	w.t.Helper()
	in := &secretsmanager.RotateSecretInput{SecretId: aws.String(w.arn), RotationLambdaARN: aws.String(worldLambda),
		RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}}
	if token != "" {
		in.ClientRequestToken = aws.String(token)
	}
	out, err := w.sm.RotateSecret(context.Background(), in)
	if err != nil {
		w.t.Fatalf("rotate: %v", err)
	}
	recs := w.emu.Rotations()
	return aws.ToString(out.VersionId), recs[len(recs)-1]
}

// mustRotate rotates and fails the test unless the rotation succeeded.
func (w *world) mustRotate() string {
	w.t.Helper()
	id, rec := w.rotate("")
	if !rec.Succeeded {
		w.t.Fatalf("rotation failed at %s: %s", rec.FailedStep, rec.Error)
	}
	return id
}

// version returns the version holding stage ("" when none) and its value.
func (w *world) version(stage string) (string, *postgres.Secret) {
	w.t.Helper()
	out, err := w.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(w.arn), VersionStage: aws.String(stage)})
	if err != nil {
		return "", nil
	}
	s, err := postgres.Parse(aws.ToString(out.SecretString))
	if err != nil {
		w.t.Fatalf("%s: %v", stage, err)
	}
	return aws.ToString(out.VersionId), s
}

// labels returns version id -> stages.
func (w *world) labels() map[string][]string {
	w.t.Helper()
	d, err := w.sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(w.arn)})
	if err != nil {
		w.t.Fatal(err)
	}
	return d.VersionIdsToStages
}

// login logs in with a decoded secret (nil: it worked).
func (w *world) login(s *postgres.Secret) error {
	cfg := s.ConnConfig()
	cfg.RootCAs = w.u.srv.CA().Pool()
	return postgres.Login(context.Background(), cfg)
}

// works logs in with the version holding stage and reads pub.
func (w *world) works(stage string) error {
	_, s := w.version(stage)
	if s == nil {
		return fmt.Errorf("no %s version", stage)
	}
	b, _ := json.Marshal(map[string]any{"engine": "postgres", "host": s.Host, "port": s.Port, "username": s.Username, "password": s.Password, "dbname": s.DBName})
	return w.u.works(context.Background(), string(b))
}

// request is a lifecycle request for version id, read the way the
// lifecycle reads the secret.
func (w *world) request(id string) *rotation.CredentialRequest {
	w.t.Helper()
	ctx := context.Background()
	r := rotation.NewReader(w.sm, w.arn, w.labels(), nil)
	v, err := r.Version(ctx, id, "")
	if err != nil {
		w.t.Fatal(err)
	}
	// The lifecycle reads AWSCURRENT and the admin secret early; a request
	// kept while the secret changes sees them as they were.
	if _, err := r.Stage(ctx, rotation.StageCurrent); err != nil {
		w.t.Fatal(err)
	}
	if _, err := r.Admin(ctx); err != nil {
		w.t.Fatal(err)
	}
	return &rotation.CredentialRequest{SecretID: w.arn, Version: v, Versions: r}
}

// retire runs dualkey's retire on the secret.
func (w *world) retire() *lifecycle.Report {
	w.t.Helper()
	rep, err := w.lc.Retire(context.Background(), w.arn, lifecycle.Options{})
	if err != nil {
		w.t.Fatalf("retire: %v", err)
	}
	return rep
}

// reasons joins the report's actions as "op: reason" lines.
func reasons(rep *lifecycle.Report) string { return sqlcredtest.Reasons(rep) }

// shared is the world as sqlcredtest's scenarios see it.
func (w *world) shared() *sqlcredtest.World {
	return &sqlcredtest.World{
		ARN: w.arn, App: w.u.app, SM: w.sm, Engine: w.engine, LC: w.lc, Provider: w.provider,
		Invoke: &w.invoke, Clock: w.clock, Logs: w.logs, Metrics: w.metrics,
		MustRotate: w.mustRotate,
		Rotate: func(token string) (string, sqlcredtest.Rotation) {
			id, r := w.rotate(token)
			return id, sqlcredtest.Rotation{Token: r.Token, FailedStep: r.FailedStep, Error: r.Error, Succeeded: r.Succeeded}
		},
		Version: func(stage string) (string, *sqlcred.Secret) {
			id, s := w.version(stage)
			return id, (*sqlcred.Secret)(s)
		},
		Labels:      w.labels,
		Login:       func(s *sqlcred.Secret) error { return w.login((*postgres.Secret)(s)) },
		Works:       w.works,
		Request:     w.request,
		Retire:      w.retire,
		NoSecretsIn: w.noSecretsIn,
	}
}

// noSecretsIn fails the test when a password of the world's users or
// versions appears in s.
func (w *world) noSecretsIn(what, s string) {
	w.t.Helper()
	red := rotation.NewRedactor()
	red.Add(w.u.appPW, w.u.masterPW)
	out, err := w.sm.ListSecretVersionIds(context.Background(), &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(w.arn), IncludeDeprecated: aws.Bool(true)})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, v := range out.Versions {
		gv, err := w.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(w.arn), VersionId: v.VersionId})
		if err == nil {
			red.AddSecretValue(aws.ToString(gv.SecretString))
		}
	}
	if red.Contains(s) {
		w.t.Fatalf("a password appears in %s", what)
	}
}
