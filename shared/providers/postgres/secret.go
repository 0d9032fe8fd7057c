package postgres

import (
	"fmt"
	"strings"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/sqlcred"
)

// DefaultPort is PostgreSQL's port, used when the secret has none.
const DefaultPort = 5432

// DefaultDBName is the database a connection opens when the secret names
// none (AWS's functions do the same).
const DefaultDBName = "postgres"

// MaxIdentifierLength is PostgreSQL's limit on a role name, in bytes
// (NAMEDATALEN - 1).
const MaxIdentifierLength = 63

// CloneSuffix is AWS's suffix for the alternate user.
const CloneSuffix = sqlcred.CloneSuffix

// Engines lists the "engine" values this package accepts: AWS's for RDS
// PostgreSQL and Aurora PostgreSQL.
var Engines = []string{"postgres", "aurora-postgresql"}

// TLSMode says how a connection uses TLS.
type TLSMode = sqlcred.TLSMode

// TLS modes. The default verifies the server; the other two are named so
// that nobody picks them by accident.
const (
	// TLSVerifyFull encrypts and verifies the server's certificate chain
	// and that the certificate names the host (libpq's verify-full).
	TLSVerifyFull = sqlcred.TLSVerifyFull
	// TLSInsecureSkipVerify encrypts but accepts any certificate, so an
	// attacker on the path can read the login (libpq's require).
	TLSInsecureSkipVerify = sqlcred.TLSInsecureSkipVerify
	// TLSInsecureDisable sends everything unencrypted (libpq's disable).
	TLSInsecureDisable = sqlcred.TLSInsecureDisable
)

// ParseTLSMode validates a TLS mode; "" means TLSVerifyFull.
func ParseTLSMode(s string) (TLSMode, error) { return sqlcred.ParseTLSMode(s) }

// Secret is a database credential in AWS's format for RDS PostgreSQL
// secrets. Its String and GoString methods hide the password.
type Secret sqlcred.Secret

// String implements fmt.Stringer without the password.
func (s Secret) String() string { return sqlcred.Secret(s).String() }

// GoString implements fmt.GoStringer without the password.
func (s Secret) GoString() string { return "postgres.Secret" + s.String() }

// syntax is PostgreSQL's secret format.
var syntax = &sqlcred.Syntax{
	Engines:       Engines,
	EngineProblem: fmt.Sprintf("is not a PostgreSQL engine (%s)", strings.Join(Engines, " or ")),
	EngineFix:     "use the PostgreSQL rotation function for this secret, or fix engine",
	DefaultPort:   DefaultPort,
	DefaultDBName: DefaultDBName,
	Shape:         `store the credential as {"engine": "postgres", "host": "...", "port": 5432, "username": "...", "password": "...", "dbname": "..."}`,
	PasswordNUL:   "contains a NUL character, which PostgreSQL cannot store",
	CheckLength: func(field, v string) error {
		if len(v) > MaxIdentifierLength {
			return rotation.SecretFieldError(field, fmt.Sprintf("is longer than PostgreSQL's %d bytes", MaxIdentifierLength), "use the name as PostgreSQL stores it")
		}
		return nil
	},
}

// Parse decodes and validates a secret value (AWSCURRENT, AWSPENDING or a
// master secret with a host). Errors name the field and the fix and never
// contain a value. Fields it does not know are ignored here; the rotation
// keeps them (see WithCredentials).
func Parse(value string) (*Secret, error) { return parse(value, true) }

// ParseCredentials is Parse for a master secret that may hold only
// "username" and "password" (an RDS-managed master secret): engine, host
// and port are optional. Use CheckMaster before logging in with it.
func ParseCredentials(value string) (*Secret, error) { return parse(value, false) }

func parse(value string, full bool) (*Secret, error) {
	s, err := syntax.Parse(value, full)
	return (*Secret)(s), err
}

// AltUsername returns the other user of the alternating pair, AWS's way:
// "<user>_clone" for "<user>", and "<user>" for "<user>_clone". It fails when
// the clone's name would exceed PostgreSQL's 63 bytes.
func AltUsername(user string) (string, error) { return sqlcred.AltUsername(user, altFits) }

func altFits(alt string) error {
	if len(alt) > MaxIdentifierLength {
		return rotation.SecretFieldError("username", fmt.Sprintf("is too long for an alternate user: with %q appended it exceeds PostgreSQL's %d bytes", CloneSuffix, MaxIdentifierLength),
			"use a user name of at most 57 bytes, or the single-user strategy")
	}
	return nil
}

// BaseUsername returns the base user of the pair ("app" for "app" and for
// "app_clone").
func BaseUsername(user string) string { return sqlcred.BaseUsername(user) }

// WithCredentials returns base (a secret value) with username and password
// replaced and every other field, known or not, kept as it was.
func WithCredentials(base, username, password string) (string, error) {
	return sqlcred.WithCredentials(base, username, password)
}

// CheckMaster refuses a master secret that points somewhere else than the
// user's secret: logging in with the master credential sends it to the
// user secret's host, so a user secret edited to point at another host must
// not receive it (AWS's functions make the same check). A master secret
// without a host (an RDS-managed master secret) is refused: its host would
// have to come from the RDS API, not from the user's secret.
func CheckMaster(user, master *Secret) error {
	return syntax.CheckMaster((*sqlcred.Secret)(user), (*sqlcred.Secret)(master))
}
