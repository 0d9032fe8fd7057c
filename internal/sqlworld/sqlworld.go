// Package sqlworld is the test world the SQL engines' providers
// (shared/providers/postgres and mysql) share: one secret of an app user on
// the engine's shared test server, in an emulator whose RotateSecret runs
// dualkey's engine with the engine's provider (or another implementation,
// see World.Invoke), and dualkey's lifecycle on it. What differs between
// the engines (their users, provider, parser and login) comes in through a
// Kit.
package sqlworld

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/internal/dbtest"
	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/sqlcred"
	"github.com/dualkey/dualkey/shared/sqlcred/sqlcredtest"
)

// Provider is an engine's provider as the world uses it.
type Provider interface {
	rotation.Provider
	rotation.UsageReporter
	rotation.Deactivator
}

// Users are the accounts of one world on the engine's shared server, made
// by the engine's test.
type Users struct {
	// Server is the shared server the users are on.
	Server *dbtest.Server
	// App and AppPW are the app user the secret starts with; MasterPW is
	// the master user's password.
	App, AppPW, MasterPW string
	// Value is a secret value in AWS's format for user (naming masterARN
	// when not empty).
	Value func(user, pw, masterARN string) string
	// MasterValue is the master secret's value.
	MasterValue func() string
	// Works logs in with a secret value and reads the table the users may
	// read. Its errors never hold the password.
	Works func(ctx context.Context, value string) error
}

// Kit is what an engine hands the world.
type Kit struct {
	// Name is the provider's name: the secret's rotation.TagProvider and
	// the rotation Lambda's suffix.
	Name string
	// Users are the world's accounts.
	Users Users
	// New makes the engine's provider.
	New func(sqlcred.Config) Provider
	// Parse decodes a secret value as the engine's provider does.
	Parse func(value string) (*sqlcred.Secret, error)
	// Login logs in with s trusting roots (nil: it worked).
	Login func(ctx context.Context, s *sqlcred.Secret, roots *x509.CertPool) error
}

// World is one secret of an app user on the shared server, in an emulator
// whose RotateSecret runs dualkey's engine with the engine's provider (or
// Invoke), and dualkey's lifecycle on it.
type World struct {
	T         testing.TB
	Clock     *testutil.FakeClock
	Emu       *awsemu.Server
	SM        *secretsmanager.Client
	ARN       string
	MasterARN string
	Provider  Provider
	Engine    *rotation.Engine
	LC        *lifecycle.Lifecycle
	Logs      *testutil.SyncBuffer
	// Metrics receives the lifecycle's EMF lines.
	Metrics *testutil.SyncBuffer
	// Invoke runs one rotation step; nil runs dualkey's engine.
	Invoke func(ctx context.Context, payload []byte) error

	kit Kit
}

// New creates the secret of kit's app user (alternating users when
// strategy says so), tagged for dualkey with a one-hour drain.
func New(t testing.TB, strategy sqlcred.Strategy, kit Kit) *World {
	t.Helper()
	w := &World{T: t, kit: kit, Clock: testutil.NewFakeClock(time.Now().UTC().Truncate(time.Second)), Logs: &testutil.SyncBuffer{}, Metrics: &testutil.SyncBuffer{}}
	emu, err := awsemu.New(awsemu.Config{Now: w.Clock.Now, Invoker: awsemu.InvokerFunc(func(ctx context.Context, _ string, payload []byte) error {
		if w.Invoke != nil {
			return w.Invoke(ctx, payload)
		}
		return w.Engine.HandleJSON(ctx, payload)
	})})
	if err != nil {
		t.Fatal(err)
	}
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	w.Emu = emu
	cfg := awsemu.ClientConfig(url)
	cfg.RetryMaxAttempts = 1
	w.SM = secretsmanager.NewFromConfig(cfg)
	ctx := context.Background()
	u := kit.Users
	if strategy == sqlcred.StrategyAlternating {
		out, err := w.SM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("db/master"), SecretString: aws.String(u.MasterValue())})
		if err != nil {
			t.Fatal(err)
		}
		w.MasterARN = aws.ToString(out.ARN)
	}
	out, err := w.SM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("db/app"), SecretString: aws.String(u.Value(u.App, u.AppPW, w.MasterARN)),
		Tags: []types.Tag{
			{Key: aws.String(rotation.TagManaged), Value: aws.String("true")},
			{Key: aws.String(rotation.TagProvider), Value: aws.String(kit.Name)},
			{Key: aws.String(lifecycle.TagDrain), Value: aws.String("1h")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.ARN = aws.ToString(out.ARN)
	w.Provider = kit.New(sqlcred.Config{RootCAs: u.Server.CA().Pool(), Now: w.Clock.Now, Logger: slog.New(slog.NewJSONHandler(w.Logs, nil))})
	if w.Engine, err = rotation.New(rotation.Config{SecretsManager: w.SM, Provider: w.Provider, LogWriter: w.Logs, MetricsWriter: io.Discard, Now: w.Clock.Now}); err != nil {
		t.Fatal(err)
	}
	if w.LC, err = lifecycle.New(lifecycle.Config{SecretsManager: w.SM, Providers: map[string]rotation.Provider{kit.Name: w.Provider},
		Now: w.Clock.Now, LogWriter: w.Logs, MetricsWriter: w.Metrics}); err != nil {
		t.Fatal(err)
	}
	return w
}

// lambda is the rotation Lambda's ARN.
func (w *World) lambda() string {
	return "arn:aws:lambda:us-east-1:123456789012:function:dualkey-" + w.kit.Name
}

// Rotate runs RotateSecret (with token, when not empty: Secrets Manager's
// retry of an unfinished rotation) and returns the version and the
// emulator's record of it.
func (w *World) Rotate(token string) (string, awsemu.RotationRecord) {
	w.T.Helper()
	in := &secretsmanager.RotateSecretInput{SecretId: aws.String(w.ARN), RotationLambdaARN: aws.String(w.lambda()),
		RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}}
	if token != "" {
		in.ClientRequestToken = aws.String(token)
	}
	out, err := w.SM.RotateSecret(context.Background(), in)
	if err != nil {
		w.T.Fatalf("rotate: %v", err)
	}
	recs := w.Emu.Rotations()
	return aws.ToString(out.VersionId), recs[len(recs)-1]
}

// MustRotate rotates and fails the test unless the rotation succeeded.
func (w *World) MustRotate() string {
	w.T.Helper()
	id, rec := w.Rotate("")
	if !rec.Succeeded {
		w.T.Fatalf("rotation failed at %s: %s", rec.FailedStep, rec.Error)
	}
	return id
}

// Version returns the version holding stage ("" when none) and its value.
func (w *World) Version(stage string) (string, *sqlcred.Secret) {
	w.T.Helper()
	out, err := w.SM.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(w.ARN), VersionStage: aws.String(stage)})
	if err != nil {
		return "", nil
	}
	s, err := w.kit.Parse(aws.ToString(out.SecretString))
	if err != nil {
		w.T.Fatalf("%s: %v", stage, err)
	}
	return aws.ToString(out.VersionId), s
}

// Labels returns version id -> stages.
func (w *World) Labels() map[string][]string {
	w.T.Helper()
	d, err := w.SM.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(w.ARN)})
	if err != nil {
		w.T.Fatal(err)
	}
	return d.VersionIdsToStages
}

// Login logs in with a decoded secret (nil: it worked).
func (w *World) Login(s *sqlcred.Secret) error {
	return w.kit.Login(context.Background(), s, w.kit.Users.Server.CA().Pool())
}

// Works logs in with the version holding stage and reads the users'
// table.
func (w *World) Works(stage string) error {
	_, s := w.Version(stage)
	if s == nil {
		return fmt.Errorf("no %s version", stage)
	}
	b, _ := json.Marshal(map[string]any{"engine": s.Engine, "host": s.Host, "port": s.Port, "username": s.Username, "password": s.Password, "dbname": s.DBName})
	return w.kit.Users.Works(context.Background(), string(b))
}

// Request is a lifecycle request for version id, read the way the
// lifecycle reads the secret.
func (w *World) Request(id string) *rotation.CredentialRequest {
	w.T.Helper()
	ctx := context.Background()
	r := rotation.NewReader(w.SM, w.ARN, w.Labels(), nil)
	v, err := r.Version(ctx, id, "")
	if err != nil {
		w.T.Fatal(err)
	}
	// The lifecycle reads AWSCURRENT and the admin secret early; a request
	// kept while the secret changes sees them as they were.
	if _, err := r.Stage(ctx, rotation.StageCurrent); err != nil {
		w.T.Fatal(err)
	}
	if _, err := r.Admin(ctx); err != nil {
		w.T.Fatal(err)
	}
	return &rotation.CredentialRequest{SecretID: w.ARN, Version: v, Versions: r}
}

// Retire runs dualkey's retire on the secret.
func (w *World) Retire() *lifecycle.Report {
	w.T.Helper()
	rep, err := w.LC.Retire(context.Background(), w.ARN, lifecycle.Options{})
	if err != nil {
		w.T.Fatalf("retire: %v", err)
	}
	return rep
}

// PutCurrent stores a new AWSCURRENT made from the current one by edit.
func (w *World) PutCurrent(edit func(m map[string]any)) {
	w.T.Helper()
	ctx := context.Background()
	out, err := w.SM.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(w.ARN)})
	if err != nil {
		w.T.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &m); err != nil {
		w.T.Fatal(err)
	}
	edit(m)
	b, _ := json.Marshal(m)
	if _, err := w.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(w.ARN), SecretString: aws.String(string(b))}); err != nil {
		w.T.Fatal(err)
	}
}

// RebuildEngine makes the engine use w.Provider again.
func (w *World) RebuildEngine() {
	w.T.Helper()
	eng, err := rotation.New(rotation.Config{SecretsManager: w.SM, Provider: w.Provider, LogWriter: w.Logs, MetricsWriter: io.Discard, Now: w.Clock.Now})
	if err != nil {
		w.T.Fatal(err)
	}
	w.Engine = eng
}

// Shared is the world as sqlcredtest's scenarios see it.
func (w *World) Shared() *sqlcredtest.World {
	return &sqlcredtest.World{
		ARN: w.ARN, App: w.kit.Users.App, SM: w.SM, Engine: w.Engine, LC: w.LC, Provider: w.Provider,
		Invoke: &w.Invoke, Clock: w.Clock, Logs: w.Logs, Metrics: w.Metrics,
		MustRotate: w.MustRotate,
		Rotate: func(token string) (string, sqlcredtest.Rotation) {
			id, r := w.Rotate(token)
			return id, sqlcredtest.Rotation{Token: r.Token, FailedStep: r.FailedStep, Error: r.Error, Succeeded: r.Succeeded}
		},
		Version:     w.Version,
		Labels:      w.Labels,
		Login:       w.Login,
		Works:       w.Works,
		Request:     w.Request,
		Retire:      w.Retire,
		NoSecretsIn: w.NoSecretsIn,
	}
}

// Bench is the world as sqlcredtest.BenchmarkRotationSteps sees it: from
// now on RotateSecret only starts a rotation (the benchmark runs the steps).
func (w *World) Bench() *sqlcredtest.BenchWorld {
	w.Invoke = func(context.Context, []byte) error { return errors.New("held: the benchmark runs the steps") }
	return &sqlcredtest.BenchWorld{
		Rotate:   func() string { token, _ := w.Rotate(""); return token },
		Engine:   w.Engine,
		ARN:      w.ARN,
		Previous: func() *rotation.CredentialRequest { id, _ := w.Version(rotation.StagePrevious); return w.Request(id) },
		Provider: w.Provider,
	}
}

// NoSecretsIn fails the test when a password of the world's users or
// versions appears in s.
func (w *World) NoSecretsIn(what, s string) {
	w.T.Helper()
	red := rotation.NewRedactor()
	red.Add(w.kit.Users.AppPW, w.kit.Users.MasterPW)
	out, err := w.SM.ListSecretVersionIds(context.Background(), &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(w.ARN), IncludeDeprecated: aws.Bool(true)})
	if err != nil {
		w.T.Fatal(err)
	}
	for _, v := range out.Versions {
		gv, err := w.SM.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(w.ARN), VersionId: v.VersionId})
		if err == nil {
			red.AddSecretValue(aws.ToString(gv.SecretString))
		}
	}
	if red.Contains(s) {
		w.T.Fatalf("a password appears in %s", what)
	}
}
