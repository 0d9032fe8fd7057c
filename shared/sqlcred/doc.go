// Package sqlcred holds what dualkey's SQL database providers
// (shared/providers/postgres and shared/providers/mysql) share: AWS's secret
// format for database credentials (parsing, validation, the alternating
// pair's user names, the master secret's checks), the kinds and messages of
// database errors, TLS trust and connect timeouts, and the rotation and
// lifecycle steps of rotation.Provider, written once over a small Engine
// interface (log in, set the alternate user, set a password, list sessions,
// lock and unlock a credential).
//
// It imports no database driver and no provider package, so a function
// built for one engine links only that engine's driver; each provider keeps
// its SQL, driver, grants and error classification, and its exported API as
// thin wrappers around this package.
package sqlcred
