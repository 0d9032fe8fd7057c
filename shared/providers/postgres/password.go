package postgres

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/sqlcred"
)

// ExcludeCharacters is the ExcludeCharacters of GetRandomPassword for
// PostgreSQL passwords: every punctuation character Secrets Manager can
// produce except "-", "." and "_" (see sqlcred.ExcludeCharacters for why each).
const ExcludeCharacters = sqlcred.ExcludeCharacters

// PasswordLength is the length of generated passwords.
const PasswordLength = sqlcred.PasswordLength

// PasswordSpec is what to ask Secrets Manager's GetRandomPassword for.
func PasswordSpec() rotation.PasswordSpec { return sqlcred.PasswordSpec() }

// checkPassword refuses passwords dualkey would not set: empty, non-ASCII
// (PostgreSQL prepares non-ASCII passwords with SASLprep, which this package
// does not implement, so its SCRAM verifier could differ from the server's),
// or with control characters.
func checkPassword(pw string) error {
	if pw == "" {
		return fmt.Errorf("%w: the password is empty", ErrUnsafePassword)
	}
	for i := 0; i < len(pw); i++ {
		if c := pw[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("%w: the password has a character outside printable ASCII; dualkey sets only passwords from GetRandomPassword's alphabet", ErrUnsafePassword)
		}
	}
	return nil
}

// Password hashing methods, as password_encryption names them.
const (
	methodSCRAM = "scram-sha-256"
	methodMD5   = "md5"
)

// DefaultSCRAMIterations is PostgreSQL's default (scram_iterations, which
// PostgreSQL 16 made configurable).
const DefaultSCRAMIterations = 4096

// hashPassword returns the stored form of a password, computed here so the
// password itself never travels to the server (where log_statement, pgaudit
// or a failing statement's log line would record it): a SCRAM-SHA-256
// verifier, or an MD5 hash when the server's password_encryption is md5 (so
// that clients that cannot do SCRAM keep working). PostgreSQL stores a
// pre-hashed password as given.
func hashPassword(method, user, password string, iterations int) (string, error) {
	if err := checkPassword(password); err != nil {
		return "", err
	}
	switch method {
	case methodMD5:
		sum := md5.Sum([]byte(password + user))
		return "md5" + hex.EncodeToString(sum[:]), nil
	default:
		if iterations < 1 {
			iterations = DefaultSCRAMIterations
		}
		return scramVerifier(password, iterations)
	}
}

// scramVerifier computes a SCRAM-SHA-256 verifier (RFC 5802, RFC 7677) in
// PostgreSQL's format: SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>.
// For ASCII passwords SASLprep is the identity, so this equals what the
// server computes.
func scramVerifier(password string, iterations int) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", err
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(storedKey[:]), b64(serverKey)), nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// hashLiteral quotes a stored password form as a SQL literal. A verifier or
// MD5 hash only holds base64, hex, "$", ":" and "-", so no escaping is ever
// needed; anything else is refused rather than escaped.
func hashLiteral(h string) (string, error) {
	if h == "" || strings.IndexFunc(h, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("+/=$:-", r))
	}) >= 0 {
		return "", fmt.Errorf("%w: the password hash has an unexpected character", ErrUnsafePassword)
	}
	return "'" + h + "'", nil
}
