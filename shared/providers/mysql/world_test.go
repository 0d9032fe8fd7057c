package mysql_test

import (
	"context"
	"crypto/x509"
	"testing"

	"github.com/dualkey/dualkey/internal/sqlworld"
	"github.com/dualkey/dualkey/shared/providers/mysql"
	"github.com/dualkey/dualkey/shared/sqlcred"
)

// world is sqlworld's world of one secret of an app user on the shared
// server, with the mysql provider, and the users it was made with.
type world struct {
	*sqlworld.World
	u *dbUsers
}

// newWorld creates the app user and its secret (alternating users when
// strategy says so), tagged for dualkey with a one-hour drain.
func newWorld(t testing.TB, strategy mysql.Strategy) *world {
	t.Helper()
	u := newUsers(t)
	return &world{u: u, World: sqlworld.New(t, strategy, sqlworld.Kit{
		Name: mysql.Name,
		Users: sqlworld.Users{Server: u.srv, App: u.app, AppPW: u.appPW, MasterPW: u.masterPW,
			Value: u.value, MasterValue: u.masterValue, Works: u.works},
		New: func(cfg mysql.Config) sqlworld.Provider { return mysql.New(cfg) },
		Parse: func(value string) (*sqlcred.Secret, error) {
			s, err := mysql.Parse(value)
			return (*sqlcred.Secret)(s), err
		},
		Login: func(ctx context.Context, s *sqlcred.Secret, roots *x509.CertPool) error {
			cfg := (*mysql.Secret)(s).ConnConfig()
			cfg.RootCAs = roots
			return mysql.Login(ctx, cfg)
		},
	})}
}
