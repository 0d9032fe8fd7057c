package secretwatch

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
)

// Field returns the credential held in a SecretString: the string value of
// field if the SecretString is a JSON object, otherwise the whole string.
// hint, when not empty, follows the "not found" message (what to store
// there). Errors are one of a few fixed messages that name the field and
// never contain any part of the secret.
func Field(secretString, field, hint string) (string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(secretString), &obj); err != nil || obj == nil {
		// Not a JSON object: the whole SecretString is the credential. The
		// JSON error is deliberately dropped: it may quote secret
		// characters.
		if secretString == "" {
			return "", errors.New("secret string is empty")
		}
		return secretString, nil
	}
	raw, ok := obj[field]
	if !ok {
		if hint != "" {
			return "", fmt.Errorf("JSON field %q not found in secret: %s", field, hint)
		}
		return "", fmt.Errorf("JSON field %q not found in secret", field)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("JSON field %q is not a string", field)
	}
	if s == "" {
		return "", fmt.Errorf("JSON field %q is empty", field)
	}
	return s, nil
}

// minLast4Runes is the shortest value whose last 4 characters Last4 shows;
// for shorter ones 4 characters would give away too much.
const minLast4Runes = 12

// Last4 identifies a credential without revealing it: "…" followed by its
// last 4 characters, never more; "…" alone for values shorter than 12
// characters.
func Last4(s string) string {
	r := []rune(s)
	if len(r) < minLast4Runes {
		return "…"
	}
	return "…" + string(r[len(r)-4:])
}

// IsNotFound reports whether err is a Secrets Manager
// ResourceNotFoundException (typed, or any smithy API error with that code).
func IsNotFound(err error) bool {
	var rnf *types.ResourceNotFoundException
	if errors.As(err, &rnf) {
		return true
	}
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "ResourceNotFoundException"
}

// shortID shortens a version id for log lines.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
