package mysql

import (
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"filippo.io/edwards25519"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/sqlcred"
)

// ExcludeCharacters is the ExcludeCharacters of GetRandomPassword for
// MySQL and MariaDB passwords: every punctuation character Secrets Manager can
// produce except "-", "." and "_" (see sqlcred.ExcludeCharacters for why each).
const ExcludeCharacters = sqlcred.ExcludeCharacters

// PasswordLength is the length of generated passwords.
const PasswordLength = sqlcred.PasswordLength

// PasswordSpec is what to ask Secrets Manager's GetRandomPassword for.
func PasswordSpec() rotation.PasswordSpec { return sqlcred.PasswordSpec() }

// checkPassword refuses passwords dualkey would not set: empty, outside
// printable ASCII, or holding a quote or a backslash (AWS's functions
// exclude the same by default, so a pending password AWS's function left is
// accepted: a backtick is). Generated passwords never do; a pending
// password an operator stored by hand might, and then it is refused rather
// than escaped.
func checkPassword(pw string) error {
	if pw == "" {
		return fmt.Errorf("%w: the password is empty", ErrUnsafePassword)
	}
	for i := 0; i < len(pw); i++ {
		if c := pw[i]; c < 0x21 || c > 0x7e || strings.IndexByte("'\"\\", c) >= 0 {
			return fmt.Errorf("%w: the password has a character outside GetRandomPassword's alphabet minus ExcludeCharacters (a quote, backslash, space or non-ASCII character)", ErrUnsafePassword)
		}
	}
	return nil
}

// Authentication plugins whose stored form dualkey computes itself, so the
// password never travels to the server (where the general query log, the
// binary log or SHOW PROCESSLIST would show it: MariaDB does not mask
// passwords in its general log).
const (
	pluginNative  = "mysql_native_password"
	pluginEd25519 = "ed25519"
	pluginSHA2    = "caching_sha2_password"
	pluginSHA256  = "sha256_password"
)

// nativeHash is mysql_native_password's stored form: "*" and the upper-case
// hex of SHA1(SHA1(password)).
func nativeHash(pw string) string {
	a := sha1.Sum([]byte(pw))
	b := sha1.Sum(a[:])
	return "*" + strings.ToUpper(hex.EncodeToString(b[:]))
}

// ed25519Hash is MariaDB's ed25519 plugin's stored form: the Ed25519 public
// key whose secret scalar is the clamped first half of SHA-512(password),
// in unpadded base64.
func ed25519Hash(pw string) (string, error) {
	h := sha512.Sum512([]byte(pw))
	s, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		return "", err
	}
	return base64.RawStdEncoding.EncodeToString(new(edwards25519.Point).ScalarBaseMult(s).Bytes()), nil
}
