package mysql_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/providers/mysql"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/sqlcred/sqlcredtest"
)

// TestProviderBasics runs sqlcredtest's scenarios of the provider's pure
// functions: fingerprints, strategies, the CA bundle and FromEnv.
func TestProviderBasics(t *testing.T) {
	srv, _ := rotationDB(t)
	sqlcredtest.TestProviderBasics(t, sqlcredtest.ProviderKit{
		Name: mysql.Name,
		New: func() interface {
			rotation.Provider
			rotation.UsageFingerprinter
		} {
			return mysql.New(mysql.Config{})
		},
		StrategyOf:      mysql.StrategyOf,
		CABundleFromEnv: mysql.CABundleFromEnv,
		FromEnv:         mysql.FromEnv,
		CAPEM:           srv.CAPEM,
	})
}

// putCurrent stores a new AWSCURRENT made from the current one by edit.
func (w *world) putCurrent(edit func(m map[string]any)) {
	w.t.Helper()
	ctx := context.Background()
	out, err := w.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(w.arn)})
	if err != nil {
		w.t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &m); err != nil {
		w.t.Fatal(err)
	}
	edit(m)
	b, _ := json.Marshal(m)
	if _, err := w.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(w.arn), SecretString: aws.String(string(b))}); err != nil {
		w.t.Fatal(err)
	}
}

// A rotation that cannot proceed fails at setSecret with an error that
// names the cause and the fix, holds no password, and leaves AWSCURRENT
// working.
func TestSetErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, w *world)
		want    []string
	}{
		{"wrong master password", func(t *testing.T, w *world) {
			b, _ := json.Marshal(map[string]any{"engine": "mariadb", "host": w.u.srv.Host, "port": w.u.srv.Port, "username": w.u.master, "password": "Wrong-password-123"})
			if _, err := w.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(w.masterARN), SecretString: aws.String(string(b))}); err != nil {
				t.Fatal(err)
			}
		}, []string{"master secret", "authentication failed", "refused the password"}},
		{"master without GRANT OPTION", func(t *testing.T, w *world) {
			w.u.srv.MustExec(t, "", "REVOKE GRANT OPTION ON *.* FROM '"+w.u.master+"'@'%'")
		}, []string{"missing privilege", "WITH GRANT OPTION"}},
		{"someone else's clone", func(t *testing.T, w *world) {
			w.u.srv.MustExec(t, "", "CREATE USER '"+w.u.app+"_clone'@'%' IDENTIFIED BY 'Someone-elses-123'",
				"GRANT SELECT ON "+w.u.db+".* TO '"+w.u.app+"_clone'@'%'")
		}, []string{"not a rotation's alternate user", "holds privileges", "drop or rename it"}},
		{"master of another server", func(t *testing.T, w *world) {
			b, _ := json.Marshal(map[string]any{"engine": "mariadb", "host": "db.other.example", "port": w.u.srv.Port, "username": w.u.master, "password": w.u.masterPW})
			if _, err := w.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(w.masterARN), SecretString: aws.String(string(b))}); err != nil {
				t.Fatal(err)
			}
		}, []string{`"host"`, "differs from the master secret's host"}},
		{"master is the rotated user", func(t *testing.T, w *world) {
			b, _ := json.Marshal(map[string]any{"engine": "mariadb", "host": w.u.srv.Host, "port": w.u.srv.Port, "username": w.u.app, "password": w.u.appPW})
			if _, err := w.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(w.masterARN), SecretString: aws.String(string(b))}); err != nil {
				t.Fatal(err)
			}
		}, []string{"master secret is the rotated user"}},
		{"AWSCURRENT does not log in", func(t *testing.T, w *world) {
			w.putCurrent(func(m map[string]any) { m["password"] = "Edited-password-123" })
		}, []string{"AWSCURRENT must log in", "confused", "refused the password"}},
		{"unreachable", func(t *testing.T, w *world) {
			port := closedPort(t)
			w.putCurrent(func(m map[string]any) { m["port"] = port })
			b, _ := json.Marshal(map[string]any{"engine": "mariadb", "host": w.u.srv.Host, "port": port, "username": w.u.master, "password": w.u.masterPW})
			if _, err := w.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(w.masterARN), SecretString: aws.String(string(b))}); err != nil {
				t.Fatal(err)
			}
		}, []string{"database unreachable", "connection refused", "VPC", "security group", "VPC endpoint"}},
		{"server not trusted", func(t *testing.T, w *world) {
			w.provider = mysql.New(mysql.Config{})
			w.rebuildEngine()
		}, []string{"tls failed", "not signed by a CA the function trusts", mysql.EnvCABundle}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, mysql.StrategyAlternating)
			tc.prepare(t, w)
			curID, _ := w.version(rotation.StageCurrent)
			_, rec := w.rotate("")
			if rec.Succeeded || rec.FailedStep != rotation.StepSet {
				t.Fatalf("rotation: %+v, want a failure at setSecret", rec)
			}
			for _, s := range tc.want {
				if !strings.Contains(rec.Error, s) {
					t.Errorf("error %q does not say %q", rec.Error, s)
				}
			}
			w.noSecretsIn("the error", rec.Error)
			w.noSecretsIn("the logs", w.logs.String())
			if id, _ := w.version(rotation.StageCurrent); id != curID {
				t.Fatalf("AWSCURRENT moved to %s", id)
			}
		})
	}
}

// rebuildEngine makes the engine use w.provider again.
func (w *world) rebuildEngine() {
	w.t.Helper()
	eng, err := rotation.New(rotation.Config{SecretsManager: w.sm, Provider: w.provider, LogWriter: w.logs, MetricsWriter: io.Discard, Now: w.clock.Now})
	if err != nil {
		w.t.Fatal(err)
	}
	w.engine = eng
}

// A server that never answers (a security group that drops packets looks
// like this from inside a VPC) fails the step with ErrUnreachable inside
// the step's deadline, not at Lambda's timeout.
func TestStepTimeoutInsideDeadline(t *testing.T) {
	t.Parallel()
	port := blackHole(t)
	value := func(pw string) string {
		b, _ := json.Marshal(map[string]any{"engine": "mariadb", "host": "127.0.0.1", "port": port, "username": "app", "password": pw})
		return string(b)
	}
	cur := &rotation.Version{ID: "v1", Stages: []string{rotation.StageCurrent}, Value: value("Current-password-1234")}
	pend := &rotation.Version{ID: "v2", Stages: []string{rotation.StagePending}, Value: value("Pending-password-1234")}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	p := mysql.New(mysql.Config{})
	err := p.Test(ctx, &rotation.TestRequest{SecretID: "s", Token: "v2", Pending: pend, Versions: staticVersions{cur}})
	if ctx.Err() != nil {
		t.Fatalf("the step's deadline passed before the connection attempt gave up: %v", err)
	}
	if !errors.Is(err, mysql.ErrUnreachable) || !strings.Contains(err.Error(), "no answer before the connect timeout") {
		t.Fatalf("Test against a silent server: %v, want ErrUnreachable saying no answer came", err)
	}
}

// staticVersions is a VersionReader over fixed versions.
type staticVersions []*rotation.Version

func (s staticVersions) Stage(_ context.Context, stage string) (*rotation.Version, error) {
	for _, v := range s {
		for _, st := range v.Stages {
			if st == stage {
				return v, nil
			}
		}
	}
	return nil, rotation.ErrNoVersion
}

func (s staticVersions) Created(context.Context, string) (time.Time, error) {
	return time.Time{}, rotation.ErrNoVersion
}

func (s staticVersions) Admin(context.Context) (*rotation.Admin, error) { return nil, nil }

// Set and Test refuse a pending version that is not the strategy's user on
// the same server and database, before any login.
func TestPendingMustMatchCurrent(t *testing.T) {
	value := func(user, host string, port int, db, master string) string {
		m := map[string]any{"engine": "mariadb", "host": host, "port": port, "username": user, "password": "Some-password-12345", "dbname": db}
		if master != "" {
			m["masterarn"] = master
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:m"
	port := closedPort(t)
	p := mysql.New(mysql.Config{})
	for _, tc := range []struct {
		name, cur, pend, want string
	}{
		{"alternate of another user", value("app", "127.0.0.1", port, "d", arn), value("other_clone", "127.0.0.1", port, "d", arn), "is not the alternate user"},
		{"the current user itself", value("app", "127.0.0.1", port, "d", arn), value("app", "127.0.0.1", port, "d", arn), "is not the alternate user"},
		{"single user renamed", value("app", "127.0.0.1", port, "d", ""), value("other", "127.0.0.1", port, "d", ""), "differs from AWSCURRENT's"},
		{"another host", value("app", "127.0.0.1", port, "d", arn), value("app_clone", "db.example", port, "d", arn), `"host"`},
		{"another port", value("app", "127.0.0.1", port, "d", arn), value("app_clone", "127.0.0.1", port+1, "d", arn), `"port"`},
		{"another database", value("app", "127.0.0.1", port, "d", arn), value("app_clone", "127.0.0.1", port, "e", arn), `"dbname"`},
	} {
		cur := &rotation.Version{ID: "v1", Stages: []string{rotation.StageCurrent}, Value: tc.cur}
		pend := &rotation.Version{ID: "v2", Stages: []string{rotation.StagePending}, Value: tc.pend}
		errSet := p.Set(context.Background(), &rotation.SetRequest{Pending: pend, Versions: staticVersions{cur}})
		errTest := p.Test(context.Background(), &rotation.TestRequest{Pending: pend, Versions: staticVersions{cur}})
		for _, err := range []error{errSet, errTest} {
			var fe *rotation.FieldError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) || errors.Is(err, mysql.ErrUnreachable) {
				t.Errorf("%s: %v, want a field error saying %q before any login", tc.name, err, tc.want)
			}
		}
	}
}
