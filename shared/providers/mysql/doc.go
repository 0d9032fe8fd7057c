// Package mysql rotates MySQL, Aurora MySQL and MariaDB credentials stored
// in AWS's secret format: Provider implements rotation.Provider, Deactivator
// and UsageReporter with the steps shared by the SQL providers
// (shared/sqlcred), over this package's MySQL layer (provider.go adapts it;
// secret.go, conn.go, users.go, grants.go, lock.go, password.go, errors.go):
// the secret format's limits, connections that verify the server, and the
// operations a rotation and dualkey's lifecycle run with the master user's
// session. Nothing here calls Secrets Manager.
//
// # Strategies
//
// A secret that names a master secret (masterarn, or master_secret_arn)
// rotates with alternating users; any other with a single user, as AWS's
// two function families do (see StrategyOf). Alternating users keep the
// previous user valid (the dual-key window) until dualkey's lifecycle has
// seen no session of it (LastUsed, the process list) and locks it
// (Deactivate: ACCOUNT LOCK, after proving its password under the pair's
// GET_LOCK); rollback unlocks it (Reactivate); the next rotation reuses it,
// so there is no delete stage. A single-user secret changes the account's
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
// # Secret value (AWS's format for RDS MySQL and MariaDB)
//
//	{
//	  "engine":    "mysql",          required: "mysql", "aurora-mysql" or "mariadb"
//	  "host":      "db.example.com", required: host name only
//	  "port":      3306,             optional (a number or a numeric string)
//	  "username":  "app",            required
//	  "password":  "...",            required
//	  "dbname":    "appdb",          optional: no default database when absent
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
// PasswordSpec (letters, digits and "-._", see ExcludeCharacters). For
// mysql_native_password and MariaDB's ed25519 accounts the password never
// reaches the server: dualkey computes the stored form and sends it (ALTER
// USER ... IDENTIFIED WITH mysql_native_password AS '*...', IDENTIFIED VIA
// ed25519 USING '...'), because MariaDB writes account statements to its
// general query log as they are, password included. MySQL's
// caching_sha2_password salts on the server, so its password is sent (MySQL
// masks it in its logs), and so is a MariaDB password when the server's
// strict_password_validation refuses hashes. Values are always bound
// through the driver's placeholder interpolation, which quotes for the
// session's sql_mode; account names are quoted with backticks.
//
// # Alternating users
//
// SetAlternate is AWS's multi-user setSecret, made crash-safe (the clone is
// created locked and only the last statement makes the new password work)
// and strict (an existing "<user>_clone" holding privileges the current user
// lacks is refused, see CheckAlternate). Grants are replayed from SHOW GRANTS
// (privileges and grant options, roles, PROXY, partial revokes, default
// role), and the authentication plugin, TLS requirements (REQUIRE
// SSL/X509/ISSUER/SUBJECT/CIPHER) and resource limits from mysql.user. Lock
// and Unlock switch a previous user off and on (ACCOUNT LOCK/UNLOCK, MySQL
// 5.7.6+, MariaDB 10.4.2+); Sessions is the usage evidence (the process list,
// with the program_name connection attribute when performance_schema is on).
//
// # What the master user needs
//
// CREATE USER, SELECT on the mysql database (mysql.user, SHOW GRANTS FOR and
// SHOW CREATE USER of other accounts), every privilege it copies WITH GRANT
// OPTION, and PROCESS for Sessions. An RDS master user has them.
//
// # What is tested
//
// Everything runs against a real MariaDB 10.11 from Debian's packages. MySQL
// itself (5.7, 8.0) is handled from its documentation (SHOW GRANTS' format,
// caching_sha2_password, ALTER USER CURRENT_USER()) and not tested here:
// Debian ships no MySQL server.
package mysql
