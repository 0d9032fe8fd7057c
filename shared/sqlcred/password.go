package sqlcred

import "github.com/dualkey/dualkey/shared/rotation"

// ExcludeCharacters is the ExcludeCharacters of GetRandomPassword for
// database passwords: every punctuation character Secrets Manager can
// produce except "-", "." and "_". The password then needs no escaping in any
// place applications put it (PostgreSQL, MySQL and MariaDB alike):
//
//	'  ends a SQL string literal
//	"  ends a quoted identifier (MySQL: a string literal too, an identifier under ANSI_QUOTES), a JSON string, a shell double-quoted string
//	\  escape character in PostgreSQL's E'' literals, MySQL literals (unless NO_BACKSLASH_ESCAPES), libpq conninfo values, JSON, shells
//	`  quotes MySQL identifiers; shell command substitution
//	/  path separator in postgres:// and mysql:// URLs (RDS refuses it in master passwords)
//	@  separates user info from the host in URLs and user from host in MySQL accounts (RDS refuses it too)
//	:  separates user from password in URLs, fields in ~/.pgpass, and Go's MySQL DSN user:password@tcp(...)
//	;  ends a statement; separates ADO.NET/JDBC-style connection-string fields
//	%  starts a URL percent-escape; the any-host wildcard in MySQL account names; Python %-format placeholder
//	?  starts a URL query; a placeholder in client-side interpolation
//	#  starts a URL fragment; a comment in my.cnf, .env, YAML and shell
//	&  separates URL query parameters; shell background operator
//	=  separates keys and values in conninfo strings, option files and query parameters
//	+  a space in URL query values (form encoding)
//	$  shell and .env variable expansion; PostgreSQL dollar quoting
//	{} ODBC connection-string value quoting; shell brace expansion
//	[] IPv6 host brackets in URLs; section headers in my.cnf; shell globs
//	<> shell redirection
//	|  shell pipe
//	^  caret escape in Windows cmd
//	!  bash history expansion
//	,  list separator in multi-host connection strings
//	() delimit the address in Go's MySQL DSN tcp(host:port); shell subshells
//	*  shell globs; marks a hashed password in mysql_native_password
//	~  shell home expansion at the start of a word
//
// Space is never included (GetRandomPassword's IncludeSpace stays false).
// What remains is letters, digits and "-._": with 32 characters that is
// about 193 bits.
const ExcludeCharacters = "!\"#$%&'()*+,/:;<=>?@[\\]^`{|}~"

// PasswordLength is the length of generated passwords (the servers accept
// far longer ones; RDS limits only master passwords, to 41).
const PasswordLength = 32

// PasswordSpec is what to ask Secrets Manager's GetRandomPassword for.
func PasswordSpec() rotation.PasswordSpec {
	return rotation.PasswordSpec{Length: PasswordLength, ExcludeCharacters: ExcludeCharacters, RequireEachIncludedType: true}
}
