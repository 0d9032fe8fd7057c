package main

import (
	"context"
	"os"
	"testing"

	"github.com/dualkey/dualkey/internal/dbtest"
	"github.com/dualkey/dualkey/internal/lambdarie/rietest"
	"github.com/dualkey/dualkey/shared/providers/mysql"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// TestBootstrapUnderRIE builds this function exactly as it is deployed and
// rotates MariaDB secrets of both strategies through it under the
// Lambda Runtime Interface Emulator, against a real server it verifies with
// the CA bundle DUALKEY_DB_CA_BUNDLE names (rietest.RotateDatabase lists
// what it proves).
func TestBootstrapUnderRIE(t *testing.T) {
	srv := dbtest.SharedMariaDB(t)
	f := rietest.Start(t, rietest.Config{Function: "mysql", Env: []string{mysql.EnvCABundle + "=" + srv.CAFile}})
	u := rietest.NewDatabaseUsers(dbtest.UniqueName)
	srv.MustExec(t, "", "CREATE DATABASE "+u.DB,
		"CREATE USER '"+u.Master+"'@'%' IDENTIFIED BY '"+u.MasterPW+"'",
		"GRANT ALL PRIVILEGES ON *.* TO '"+u.Master+"'@'%' WITH GRANT OPTION",
		"CREATE USER '"+u.App+"'@'%' IDENTIFIED BY '"+u.AppPW+"'",
		"GRANT SELECT ON "+u.DB+".* TO '"+u.App+"'@'%'",
		"CREATE USER '"+u.Single+"'@'%' IDENTIFIED BY '"+u.SinglePW+"'",
		"GRANT SELECT ON "+u.DB+".* TO '"+u.Single+"'@'%'",
	)
	f.RotateDatabase(rietest.Database{
		Engine: "mariadb", Provider: mysql.Name, Host: srv.Host, Port: srv.Port, Users: u, ErrAuth: mysql.ErrAuth,
		Login: func(ctx context.Context, secret string) error {
			s, err := mysql.Parse(secret)
			if err != nil {
				return err
			}
			cfg := s.ConnConfig()
			cfg.RootCAs = srv.CA().Pool()
			return mysql.Login(ctx, cfg)
		},
	})
}

// TestBootstrapMisconfigured: a CA bundle the function cannot read makes
// every invocation fail with a ConfigError that names the variable.
func TestBootstrapMisconfigured(t *testing.T) {
	rietest.MustRefuseUnreadableCABundle(t, "mysql", mysql.EnvCABundle)
}
