package mysql_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

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
			if _, err := w.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(w.MasterARN), SecretString: aws.String(string(b))}); err != nil {
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
			if _, err := w.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(w.MasterARN), SecretString: aws.String(string(b))}); err != nil {
				t.Fatal(err)
			}
		}, []string{`"host"`, "differs from the master secret's host"}},
		{"master is the rotated user", func(t *testing.T, w *world) {
			b, _ := json.Marshal(map[string]any{"engine": "mariadb", "host": w.u.srv.Host, "port": w.u.srv.Port, "username": w.u.app, "password": w.u.appPW})
			if _, err := w.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(w.MasterARN), SecretString: aws.String(string(b))}); err != nil {
				t.Fatal(err)
			}
		}, []string{"master secret is the rotated user"}},
		{"AWSCURRENT does not log in", func(t *testing.T, w *world) {
			w.PutCurrent(func(m map[string]any) { m["password"] = "Edited-password-123" })
		}, []string{"AWSCURRENT must log in", "confused", "refused the password"}},
		{"unreachable", func(t *testing.T, w *world) {
			port := sqlcredtest.ClosedPort(t)
			w.PutCurrent(func(m map[string]any) { m["port"] = port })
			b, _ := json.Marshal(map[string]any{"engine": "mariadb", "host": w.u.srv.Host, "port": port, "username": w.u.master, "password": w.u.masterPW})
			if _, err := w.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(w.MasterARN), SecretString: aws.String(string(b))}); err != nil {
				t.Fatal(err)
			}
		}, []string{"database unreachable", "connection refused", "VPC", "security group", "VPC endpoint"}},
		{"server not trusted", func(t *testing.T, w *world) {
			w.Provider = mysql.New(mysql.Config{})
			w.RebuildEngine()
		}, []string{"tls failed", "not signed by a CA the function trusts", mysql.EnvCABundle}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, mysql.StrategyAlternating)
			tc.prepare(t, w)
			curID, _ := w.Version(rotation.StageCurrent)
			_, rec := w.Rotate("")
			if rec.Succeeded || rec.FailedStep != rotation.StepSet {
				t.Fatalf("rotation: %+v, want a failure at setSecret", rec)
			}
			for _, s := range tc.want {
				if !strings.Contains(rec.Error, s) {
					t.Errorf("error %q does not say %q", rec.Error, s)
				}
			}
			w.NoSecretsIn("the error", rec.Error)
			w.NoSecretsIn("the logs", w.Logs.String())
			if id, _ := w.Version(rotation.StageCurrent); id != curID {
				t.Fatalf("AWSCURRENT moved to %s", id)
			}
		})
	}
}

// TestSteps runs sqlcredtest's step scenarios that need no database: a
// silent server fails the step inside its deadline, and a pending version
// that is not the strategy's user on the same server and database is
// refused before any login.
func TestSteps(t *testing.T) {
	k := sqlcredtest.StepKit{Engine: "mariadb", New: func() rotation.Provider { return mysql.New(mysql.Config{}) }}
	t.Run("StepTimeoutInsideDeadline", func(t *testing.T) {
		t.Parallel()
		sqlcredtest.TestStepTimeoutInsideDeadline(t, k)
	})
	t.Run("PendingMustMatchCurrent", func(t *testing.T) { sqlcredtest.TestPendingMustMatchCurrent(t, k) })
}
