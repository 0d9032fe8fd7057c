package postgres_test

import (
	"context"
	"crypto/x509"
	"testing"

	"github.com/dualkey/dualkey/internal/sqlworld"
	"github.com/dualkey/dualkey/shared/providers/postgres"
	"github.com/dualkey/dualkey/shared/sqlcred"
)

// world is sqlworld's world of one secret of an app user on the shared
// server, with the postgres provider, and the users it was made with.
type world struct {
	*sqlworld.World
	u *dbUsers
}

// newWorld creates the app user and its secret (alternating users when
// strategy says so), tagged for dualkey with a one-hour drain.
func newWorld(t testing.TB, strategy postgres.Strategy) *world {
	t.Helper()
	u := newUsers(t)
	return &world{u: u, World: sqlworld.New(t, strategy, sqlworld.Kit{
		Name: postgres.Name,
		Users: sqlworld.Users{Server: u.srv, App: u.app, AppPW: u.appPW, MasterPW: u.masterPW,
			Value: u.value, MasterValue: u.masterValue, Works: u.works},
		New: func(cfg postgres.Config) sqlworld.Provider { return postgres.New(cfg) },
		Parse: func(value string) (*sqlcred.Secret, error) {
			s, err := postgres.Parse(value)
			return (*sqlcred.Secret)(s), err
		},
		Login: func(ctx context.Context, s *sqlcred.Secret, roots *x509.CertPool) error {
			cfg := (*postgres.Secret)(s).ConnConfig()
			cfg.RootCAs = roots
			return postgres.Login(ctx, cfg)
		},
	})}
}
