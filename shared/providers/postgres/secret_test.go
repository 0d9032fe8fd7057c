package postgres_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/shared/providers/postgres"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/sqlcred"
	"github.com/dualkey/dualkey/shared/sqlcred/sqlcredtest"
)

// TestSecrets runs sqlcredtest's secret format scenarios against
// PostgreSQL's: defaults port 5432 and database "postgres", names of at
// most 63 bytes.
func TestSecrets(t *testing.T) {
	sqlcredtest.TestSecrets(t, sqlcredtest.SecretKit{
		Engine: "postgres", Aurora: "aurora-postgresql", Foreign: "mysql",
		Port: 5432, DBName: "postgres", MaxUser: 63, MaxDBName: 63,
		Parse: func(v string) (*sqlcred.Secret, error) {
			s, err := postgres.Parse(v)
			return (*sqlcred.Secret)(s), err
		},
		ParseCredentials: func(v string) (*sqlcred.Secret, error) {
			s, err := postgres.ParseCredentials(v)
			return (*sqlcred.Secret)(s), err
		},
		CheckMaster: func(user, master *sqlcred.Secret) error {
			return postgres.CheckMaster((*postgres.Secret)(user), (*postgres.Secret)(master))
		},
		Strings: func(s *sqlcred.Secret) []string {
			p := (*postgres.Secret)(s)
			return []string{p.String(), p.GoString()}
		},
		WithCredentials:   postgres.WithCredentials,
		ExcludeCharacters: postgres.ExcludeCharacters,
		PasswordSpec:      postgres.PasswordSpec(),
	})
}

func TestAltUsername(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"app", "app_clone"},
		{"app_clone", "app"},
		{"_clone", "_clone_clone"},
		{strings.Repeat("a", 57), strings.Repeat("a", 57) + "_clone"},
	} {
		got, err := postgres.AltUsername(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("AltUsername(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := postgres.AltUsername(strings.Repeat("a", 58)); !errors.Is(err, rotation.ErrInvalidSecret) {
		t.Fatalf("58-byte name: %v, want a field error", err)
	}
}
