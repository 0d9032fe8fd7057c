package mysql

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/sqlcred"
)

// DefaultPort is MySQL's port, used when the secret has none.
const DefaultPort = 3306

// User name limits, in characters: MySQL 5.7.8 and later allow 32, MariaDB
// 80. AltUsername applies the one of the secret's engine.
const (
	MaxUserLengthMySQL   = 32
	MaxUserLengthMariaDB = 80
)

// maxDBNameLength is the limit on a database name, in characters.
const maxDBNameLength = 64

// CloneSuffix is AWS's suffix for the alternate user.
const CloneSuffix = sqlcred.CloneSuffix

// Engine values this package accepts: AWS's for RDS MySQL, Aurora MySQL and
// RDS MariaDB.
const (
	EngineMySQL       = "mysql"
	EngineAuroraMySQL = "aurora-mysql"
	EngineMariaDB     = "mariadb"
)

// Engines lists the "engine" values this package accepts.
var Engines = []string{EngineMySQL, EngineAuroraMySQL, EngineMariaDB}

// TLSMode says how a connection uses TLS.
type TLSMode = sqlcred.TLSMode

// TLS modes. The default verifies the server; the other two are named so
// that nobody picks them by accident.
const (
	// TLSVerifyFull encrypts and verifies the server's certificate chain
	// and that the certificate names the host (MySQL's VERIFY_IDENTITY).
	TLSVerifyFull = sqlcred.TLSVerifyFull
	// TLSInsecureSkipVerify encrypts but accepts any certificate, so an
	// attacker on the path can read the login (MySQL's REQUIRED).
	TLSInsecureSkipVerify = sqlcred.TLSInsecureSkipVerify
	// TLSInsecureDisable sends everything unencrypted (MySQL's DISABLED).
	TLSInsecureDisable = sqlcred.TLSInsecureDisable
)

// ParseTLSMode validates a TLS mode; "" means TLSVerifyFull.
func ParseTLSMode(s string) (TLSMode, error) { return sqlcred.ParseTLSMode(s) }

// Secret is a database credential in AWS's format for RDS MySQL and
// MariaDB secrets. Its String and GoString methods hide the password.
type Secret sqlcred.Secret

// String implements fmt.Stringer without the password.
func (s Secret) String() string { return sqlcred.Secret(s).String() }

// GoString implements fmt.GoStringer without the password.
func (s Secret) GoString() string { return "mysql.Secret" + s.String() }

// kind is the kind of server an engine value runs: a rotation and its
// master secret stay on one.
func kind(engine string) string {
	if engine == EngineMariaDB {
		return EngineMariaDB
	}
	return EngineMySQL
}

// syntax is MySQL's and MariaDB's secret format.
var syntax = &sqlcred.Syntax{
	Engines:       Engines,
	EngineProblem: fmt.Sprintf("is not a MySQL or MariaDB engine (%s)", strings.Join(Engines, ", ")),
	EngineFix:     "use the rotation function of the secret's engine, or fix engine",
	DefaultPort:   DefaultPort,
	Shape:         `store the credential as {"engine": "mysql", "host": "...", "port": 3306, "username": "...", "password": "..."} (engine "mariadb" for MariaDB)`,
	PasswordNUL:   "contains a NUL character",
	CheckLength: func(field, v string) error {
		max := MaxUserLengthMariaDB
		if field == "dbname" {
			max = maxDBNameLength
		}
		if utf8.RuneCountInString(v) > max {
			return rotation.SecretFieldError(field, fmt.Sprintf("is longer than %d characters", max), "use the name as the server stores it")
		}
		return nil
	},
	Kind:         kind,
	KindMismatch: "of the secret and of the master secret name different servers (MariaDB and MySQL)",
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
// the clone's name would exceed the engine's limit (MySQL 32 characters,
// MariaDB 80).
func AltUsername(user, engine string) (string, error) {
	return sqlcred.AltUsername(user, func(alt string) error {
		max := MaxUserLengthMySQL
		if engine == EngineMariaDB {
			max = MaxUserLengthMariaDB
		}
		if utf8.RuneCountInString(alt) > max {
			return rotation.SecretFieldError("username", fmt.Sprintf("is too long for an alternate user: with %q appended it exceeds the %s limit of %d characters", CloneSuffix, engine, max),
				fmt.Sprintf("use a user name of at most %d characters, or the single-user strategy", max-len(CloneSuffix)))
		}
		return nil
	})
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
