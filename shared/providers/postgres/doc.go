// Package postgres is the SQL layer of dualkey's PostgreSQL rotation: the
// secret format, connections that verify the server, and the operations a
// rotation and dualkey's lifecycle run with the master user's session. The
// rotation.Provider glue calls these; nothing here calls Secrets Manager.
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
