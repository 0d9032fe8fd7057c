package twilio

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// markerPrefix starts the friendly name of every key dualkey creates.
const markerPrefix = "dualkey"

// maxFriendlyName is Twilio's limit on a key's friendly name.
const maxFriendlyName = 64

// maxTokenInMarker is the longest version id a marker spells out; a longer
// one (Secrets Manager allows 64 characters) is replaced by a hash so the
// name fits Twilio's 64 characters.
const maxTokenInMarker = 40

// marker is what a friendly name says about the key dualkey created.
type marker struct {
	// token is the version id (or its hash, see tokenTag).
	token string
	// secret is the secret's tag (secretTag).
	secret string
}

// secretTag identifies a secret in 12 hex digits of the SHA-256 of its
// ARN: a secret's name may be 512 characters, a friendly name only 64.
func secretTag(secretARN string) string {
	sum := sha256.Sum256([]byte(secretARN))
	return hex.EncodeToString(sum[:])[:12]
}

// tokenTag is the version id as a marker spells it.
func tokenTag(token string) string {
	if len(token) <= maxTokenInMarker && !strings.ContainsAny(token, " \t") {
		return token
	}
	sum := sha256.Sum256([]byte(token))
	return "h" + hex.EncodeToString(sum[:])[:32]
}

// Marker is the friendly name dualkey gives the key it creates for the
// rotation token of the secret secretARN: "dualkey <version id> <secret
// tag>", where the secret tag is 12 hex digits of the SHA-256 of the ARN
// (Twilio allows 64 characters) and a version id longer than 40 characters
// is replaced by "h" and 32 hex digits of its SHA-256.
func Marker(secretARN, token string) string {
	return markerPrefix + " " + tokenTag(token) + " " + secretTag(secretARN)
}

// parseMarker reads a friendly name; ok is false for names dualkey did
// not write.
func parseMarker(name string) (m marker, ok bool) {
	f := strings.Fields(name)
	if len(f) != 3 || f[0] != markerPrefix || len(f[2]) != 12 {
		return marker{}, false
	}
	return marker{token: f[1], secret: f[2]}, true
}

// of reports whether the marker names the secret and, when token is not
// "", the version id.
func (m marker) of(secretARN, token string) bool {
	if m.secret != secretTag(secretARN) {
		return false
	}
	return token == "" || m.token == tokenTag(token)
}
