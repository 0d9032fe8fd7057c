// Package fingerprint computes dualkey's usage fingerprint of a credential:
// a short, non-secret, non-reversible id that consumers log with each call
// they make with the credential, so that dualkey's lifecycle can prove from
// CloudWatch Logs that an old credential is no longer used (and that the
// new one is).
//
// The fingerprint of a credential C is
//
//	"dkfp_" + the first 16 hex characters (lower case) of SHA-256(C)
//
// where C is the exact string the consumer sends to authenticate: the
// bearer token, the basic-auth password, the value of an API-key header,
// or, for AWS SigV4 (which never sends the secret), the access key id.
// Consumers write it into their log lines as the token
//
//	dualkey_fp=dkfp_0123456789abcdef
//
// anywhere in the line (plain text or a JSON field "dualkey_fp"). dualkey
// searches for the "dkfp_…" part, so both forms match. The same
// computation in other languages is one line; see docs/evidence-and-refresh.md.
//
// For random keys (dualkey's own, Stripe, Twilio, SendGrid, IAM secrets)
// 16 hex characters (64 bits) of a SHA-256 cannot be turned back into the
// key, and two credentials practically never share a fingerprint. Do not
// fingerprint low-entropy secrets such as human-chosen passwords: a
// fingerprint of a guessable string can be confirmed by guessing.
package fingerprint

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
)

const (
	// Prefix starts every fingerprint.
	Prefix = "dkfp_"
	// HexLen is the number of hex characters after Prefix.
	HexLen = 16
	// Len is the length of a fingerprint.
	Len = len(Prefix) + HexLen
	// Key is the name of the log field (slog attribute, JSON field, or the
	// key of the key=value token) that carries a fingerprint.
	Key = "dualkey_fp"
)

// Of returns the fingerprint of credential, or "" for an empty credential
// (nothing to identify).
func Of(credential string) string {
	if credential == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(credential))
	var b [Len]byte
	copy(b[:], Prefix)
	hex.Encode(b[len(Prefix):], sum[:HexLen/2])
	return string(b[:])
}

// Token returns the log token for credential: "dualkey_fp=dkfp_…", or ""
// for an empty credential.
func Token(credential string) string {
	fp := Of(credential)
	if fp == "" {
		return ""
	}
	return Key + "=" + fp
}

// Attr returns the slog attribute dualkey_fp=<fingerprint of credential>,
// for a log line written with each outbound call:
//
//	logger.Info("charge created", fingerprint.Attr(apiKey), "status", resp.StatusCode)
func Attr(credential string) slog.Attr { return slog.String(Key, Of(credential)) }

// Valid reports whether s is a well-formed fingerprint ("dkfp_" and 16
// lower-case hex characters).
func Valid(s string) bool {
	if len(s) != Len || s[:len(Prefix)] != Prefix {
		return false
	}
	for i := len(Prefix); i < Len; i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// FilterPattern returns the CloudWatch Logs filter pattern that matches
// the log events carrying fp: the fingerprint in double quotes, as in
//
//	aws logs filter-log-events --log-group-name /app/api --filter-pattern '"dkfp_0123456789abcdef"'
//
// It returns "" when fp is not a valid fingerprint, so a malformed value
// can never become a pattern that matches everything.
func FilterPattern(fp string) string {
	if !Valid(fp) {
		return ""
	}
	return `"` + fp + `"`
}
