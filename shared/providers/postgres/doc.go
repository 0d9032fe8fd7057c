// Package postgres rotates PostgreSQL credentials (RDS PostgreSQL, Aurora
// PostgreSQL) stored in AWS's secret format: Provider implements
// rotation.Provider, Deactivator and UsageReporter with the steps shared by
// the SQL providers (shared/sqlcred), over this package's PostgreSQL layer
// (provider.go adapts it; secret.go, conn.go, users.go, lock.go,
// password.go, errors.go): the secret format's limits, pgx connections that
// verify the server, and the operations a rotation and dualkey's lifecycle
// run with the master user's session. Nothing here calls Secrets Manager.
//
// # Strategies
//
// A secret that names a master secret (masterarn, or master_secret_arn)
// rotates with alternating users; any other with a single user, as AWS's
// two function families do (see StrategyOf). Alternating users keep the
// previous user valid (the dual-key window) until dualkey's lifecycle has
// seen no session of it (LastUsed, pg_stat_activity) and locks it
// (Deactivate: NOLOGIN, after proving its password under the pair's
// advisory lock); rollback unlocks it (Reactivate); the next rotation reuses
// it, so there is no delete stage. A single-user secret changes the user's
// own password at setSecret (no dual-key window): the lifecycle has nothing
// left to switch off, and a rollback is refused.
//
// # Settings
//
// DUALKEY_DB_CA_BUNDLE (EnvCABundle) names a PEM file of CA certificates the
// functions trust besides the system's roots (for RDS, the global bundle,
// packaged with the function). Servers are verified unless a secret relaxes
// it with tls_mode.
//
// # Secret value (AWS's format for RDS PostgreSQL)
//
//	{
//	  "engine":    "postgres",       required: "postgres" or "aurora-postgresql"
//	  "host":      "db.example.com", required: host name only
//	  "port":      5432,             optional (a number or a numeric string)
//	  "username":  "app",            required
//	  "password":  "...",            required
//	  "dbname":    "appdb",          optional, default "postgres"
//	  "masterarn": "arn:...",        the master secret (alternating users)
//	  "tls_mode":  "verify-full",    optional: "verify-full" (default),
//	                                 "insecure-skip-verify" or "insecure-disable"
//	  "ssl":       true              AWS's switch, honoured: true is verify-full,
//	                                 false is insecure-disable
//	}
//
// Every other field is kept by a rotation (WithCredentials). Unlike AWS's
// functions, a connection never falls back to plain text when TLS fails.
//
// # Passwords
//
// New passwords come from Secrets Manager's GetRandomPassword with
// PasswordSpec (letters, digits and "-._", see ExcludeCharacters). They never
// reach the server in clear text: ALTER ROLE and CREATE ROLE cannot take
// bind parameters, so dualkey computes the stored form itself (a SCRAM-SHA-256
// verifier, or an MD5 hash when the server's password_encryption is md5) and
// sends that as a literal whose alphabet (base64, hex, "$", ":", "-") needs no
// escaping and is checked before use. A statement log (log_statement, pgaudit)
// or an error line therefore never holds a password; the tests prove it
// against a server logging every statement.
//
// # Alternating users
//
// SetAlternate is AWS's multi-user setSecret: the clone "<user>_clone" is
// created with LOGIN and made a member of "<user>", or, when it exists and
// passes CheckAlternate (the rule that tells a rotation's clone from someone
// else's role), given its new password and LOGIN in one statement. Lock and
// Unlock switch a previous user off and on (NOLOGIN/LOGIN); Sessions is the
// usage evidence (pg_stat_activity).
//
// # What the master user needs
//
// CREATEROLE, and ADMIN OPTION on the rotated user's role on PostgreSQL 16+
// (an RDS master user has both; PostgreSQL 16 gives it automatically on roles
// it creates). For client addresses and start times of other users'
// sessions, the privileges of pg_read_all_stats (pg_monitor); without them
// Sessions still lists every session with its application name, marked
// Hidden.
package postgres
