package postgres_test

import (
	"fmt"
	"testing"

	"github.com/dualkey/dualkey/shared/providers/postgres"
	"github.com/dualkey/dualkey/shared/sqlcred"
	"github.com/dualkey/dualkey/shared/sqlcred/sqlcredtest"
)

// FuzzParse runs sqlcredtest.FuzzParse on postgres.Parse: the fingerprint,
// String and %#v of a postgres.Secret never show the password.
func FuzzParse(f *testing.F) {
	p := postgres.New(postgres.Config{})
	sqlcredtest.FuzzParse(f, "postgres", 5432,
		func(v string) (*sqlcred.Secret, error) {
			s, err := postgres.Parse(v)
			return (*sqlcred.Secret)(s), err
		},
		p.Fingerprint,
		func(s *sqlcred.Secret) []string {
			own := (*postgres.Secret)(s)
			return []string{own.String(), fmt.Sprintf("%#v", own), fmt.Sprintf("%v", *own)}
		})
}
