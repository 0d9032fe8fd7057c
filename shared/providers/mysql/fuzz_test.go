package mysql_test

import (
	"fmt"
	"testing"

	"github.com/dualkey/dualkey/shared/providers/mysql"
	"github.com/dualkey/dualkey/shared/sqlcred"
	"github.com/dualkey/dualkey/shared/sqlcred/sqlcredtest"
)

// FuzzParse runs sqlcredtest.FuzzParse on mysql.Parse: the fingerprint,
// String and %#v of a mysql.Secret never show the password.
func FuzzParse(f *testing.F) {
	p := mysql.New(mysql.Config{})
	sqlcredtest.FuzzParse(f, "mariadb", 3306,
		func(v string) (*sqlcred.Secret, error) {
			s, err := mysql.Parse(v)
			return (*sqlcred.Secret)(s), err
		},
		p.Fingerprint,
		func(s *sqlcred.Secret) []string {
			own := (*mysql.Secret)(s)
			return []string{own.String(), fmt.Sprintf("%#v", own), fmt.Sprintf("%v", *own)}
		})
}
