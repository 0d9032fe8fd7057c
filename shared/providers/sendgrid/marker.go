package sendgrid

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// markerPrefix starts the name of every key dualkey creates.
const markerPrefix = "dualkey"

// maxTokenInMarker is the longest version id a marker spells out; a longer
// one is replaced by a hash.
const maxTokenInMarker = 40

// marker is what a key's name says about the key dualkey created.
type marker struct {
	token   string    // the version id (or its hash, see tokenTag)
	secret  string    // the secret's tag (secretTag)
	created time.Time // when the creating delivery asked for it
}

// secretTag identifies a secret in 12 hex digits of the SHA-256 of its ARN.
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

// Marker is the name dualkey gives the key it creates at time at for the
// rotation token of the secret secretARN: "dualkey <version id> <secret
// tag> <unix time>". The secret tag is 12 hex digits of the SHA-256 of the
// ARN; the time is there because SendGrid reports no creation date, and a
// key that no version references is a crashed attempt's orphan only once
// it is older than rotation.OrphanAge.
func Marker(secretARN, token string, at time.Time) string {
	return markerPrefix + " " + tokenTag(token) + " " + secretTag(secretARN) + " " + strconv.FormatInt(at.Unix(), 10)
}

// parseMarker reads a key's name; ok is false for names dualkey did not
// write.
func parseMarker(name string) (m marker, ok bool) {
	f := strings.Fields(name)
	if len(f) != 4 || f[0] != markerPrefix || len(f[2]) != 12 {
		return marker{}, false
	}
	sec, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil || sec <= 0 {
		return marker{}, false
	}
	return marker{token: f[1], secret: f[2], created: time.Unix(sec, 0).UTC()}, true
}

// of reports whether the marker names the secret and, when token is not
// "", the version id.
func (m marker) of(secretARN, token string) bool {
	if m.secret != secretTag(secretARN) {
		return false
	}
	return token == "" || m.token == tokenTag(token)
}
