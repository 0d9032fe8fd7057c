package main

import (
	"context"
	"os"
	"testing"

	"github.com/dualkey/dualkey/internal/dbtest"
	"github.com/dualkey/dualkey/internal/lambdarie/rietest"
	"github.com/dualkey/dualkey/shared/providers/postgres"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// TestBootstrapUnderRIE builds this function exactly as it is deployed and
// rotates PostgreSQL secrets of both strategies through it under the
// Lambda Runtime Interface Emulator, against a real server it verifies with
// the CA bundle DUALKEY_DB_CA_BUNDLE names (rietest.RotateDatabase lists
// what it proves).
func TestBootstrapUnderRIE(t *testing.T) {
	srv := dbtest.SharedPostgres(t)
	f := rietest.Start(t, rietest.Config{Function: "postgres", Env: []string{postgres.EnvCABundle + "=" + srv.CAFile}})
	u := rietest.NewDatabaseUsers(dbtest.UniqueName)
	srv.MustExec(t, "", "CREATE DATABASE "+u.DB)
	srv.MustExec(t, u.DB,
		"CREATE ROLE "+u.Master+" LOGIN CREATEROLE PASSWORD '"+u.MasterPW+"'",
		"CREATE ROLE "+u.App+" LOGIN PASSWORD '"+u.AppPW+"'",
		"CREATE ROLE "+u.Single+" LOGIN PASSWORD '"+u.SinglePW+"'",
	)
	f.RotateDatabase(rietest.Database{
		Engine: "postgres", Provider: postgres.Name, Host: srv.Host, Port: srv.Port, Users: u, ErrAuth: postgres.ErrAuth,
		Login: func(ctx context.Context, secret string) error {
			s, err := postgres.Parse(secret)
			if err != nil {
				return err
			}
			cfg := s.ConnConfig()
			cfg.RootCAs = srv.CA().Pool()
			return postgres.Login(ctx, cfg)
		},
	})
}

// TestBootstrapMisconfigured: a CA bundle the function cannot read makes
// every invocation fail with a ConfigError that names the variable.
func TestBootstrapMisconfigured(t *testing.T) {
	rietest.MustRefuseUnreadableCABundle(t, "postgres", postgres.EnvCABundle)
}
