package rotation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// DecodeSecret decodes a JSON SecretString into v. Errors name the field
// that is wrong and never include the value.
func DecodeSecret(value string, v any) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(value)))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				field = "SecretString"
			}
			return SecretFieldError(field, fmt.Sprintf("must be a %s, not a %s", jsonKind(te.Type.Kind().String()), te.Value), "fix the secret value")
		}
		return SecretFieldError("SecretString", "is not a JSON object", "store the secret as a JSON object such as {\"api_key\": \"...\"}")
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "number"
	case "struct", "map":
		return "object"
	case "slice":
		return "array"
	}
	return goKind
}

// MergeSecret returns base (a JSON object) with the given fields replaced,
// keeping every other field the operator stored.
func MergeSecret(base string, fields map[string]any) (string, error) {
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal([]byte(base), &m); err != nil {
		return "", SecretFieldError("SecretString", "is not a JSON object", "store the secret as a JSON object")
	}
	for k, v := range fields {
		b, err := json.Marshal(v)
		if err != nil {
			return "", fmt.Errorf("encode field %q: %w", k, err)
		}
		m[k] = b
	}
	out, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode secret: %w", err)
	}
	return string(out), nil
}

// LastFour returns a fingerprint of a secret string: its last four
// characters after an ellipsis, or "" when it is too short to show any.
func LastFour(s string) string {
	if len(s) < 12 {
		return ""
	}
	return "…" + s[len(s)-4:]
}
