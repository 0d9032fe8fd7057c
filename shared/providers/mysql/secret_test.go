package mysql_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/shared/providers/mysql"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/sqlcred"
	"github.com/dualkey/dualkey/shared/sqlcred/sqlcredtest"
)

// TestSecrets runs sqlcredtest's secret format scenarios against MySQL's
// and MariaDB's: default port 3306, no default database, user names of at
// most 80 characters (MariaDB's limit; MySQL's 32 applies to clones) and
// database names of at most 64.
func TestSecrets(t *testing.T) {
	sqlcredtest.TestSecrets(t, sqlcredtest.SecretKit{
		Engine: "mysql", Aurora: "aurora-mysql", Foreign: "postgres",
		Port: 3306, DBName: "", MaxUser: 80, MaxDBName: 64,
		Parse: func(v string) (*sqlcred.Secret, error) {
			s, err := mysql.Parse(v)
			return (*sqlcred.Secret)(s), err
		},
		ParseCredentials: func(v string) (*sqlcred.Secret, error) {
			s, err := mysql.ParseCredentials(v)
			return (*sqlcred.Secret)(s), err
		},
		CheckMaster: func(user, master *sqlcred.Secret) error {
			return mysql.CheckMaster((*mysql.Secret)(user), (*mysql.Secret)(master))
		},
		Strings: func(s *sqlcred.Secret) []string {
			p := (*mysql.Secret)(s)
			return []string{p.String(), p.GoString()}
		},
		WithCredentials:   mysql.WithCredentials,
		ExcludeCharacters: mysql.ExcludeCharacters,
		PasswordSpec:      mysql.PasswordSpec(),
		OK: []sqlcredtest.OKCase{
			{Name: "mariadb", Value: `{"engine":"mariadb","host":"h","username":"u","password":"p","dbname":"appdb"}`, Port: 3306, DBName: "appdb", Mode: mysql.TLSVerifyFull},
		},
	})
}

func TestAltUsername(t *testing.T) {
	for _, tc := range []struct{ in, engine, want string }{
		{"app", "mysql", "app_clone"},
		{"app_clone", "mysql", "app"},
		{strings.Repeat("a", 26), "mysql", strings.Repeat("a", 26) + "_clone"},
		{strings.Repeat("a", 74), "mariadb", strings.Repeat("a", 74) + "_clone"},
	} {
		got, err := mysql.AltUsername(tc.in, tc.engine)
		if err != nil || got != tc.want {
			t.Errorf("AltUsername(%q, %s) = %q, %v; want %q", tc.in, tc.engine, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, engine string }{
		{strings.Repeat("a", 27), "mysql"},
		{strings.Repeat("a", 27), "aurora-mysql"},
		{strings.Repeat("a", 75), "mariadb"},
	} {
		if _, err := mysql.AltUsername(tc.in, tc.engine); !errors.Is(err, rotation.ErrInvalidSecret) {
			t.Errorf("%d-character name on %s: %v, want a field error", len(tc.in), tc.engine, err)
		}
	}
}

func TestCheckMasterEngine(t *testing.T) {
	user, _ := mysql.Parse(`{"engine":"mariadb","host":"h","username":"app","password":"x"}`)
	master, _ := mysql.Parse(`{"engine":"mysql","host":"h","username":"admin","password":"y"}`)
	var fe *rotation.FieldError
	if err := mysql.CheckMaster(user, master); !errors.As(err, &fe) || fe.Field != "engine" {
		t.Fatalf("MariaDB user with a MySQL master: %v, want a field error on engine", err)
	}
}
