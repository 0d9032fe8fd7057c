package iamkey

import (
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/dualkey/dualkey/shared/rotation"
)

// Secret is the decoded secret value. Its String and GoString methods hide
// the secret access key.
type Secret struct {
	UserName                 string   `json:"user_name"`
	AccessKeyID              string   `json:"access_key_id"`
	SecretAccessKey          string   `json:"secret_access_key"`
	PropagationBudgetSeconds *float64 `json:"propagation_budget_seconds,omitempty"`
}

// String implements fmt.Stringer without the secret access key.
func (s Secret) String() string {
	return fmt.Sprintf("{UserName:%s AccessKeyID:%s SecretAccessKey:%s}", s.UserName, s.AccessKeyID, rotation.Redaction)
}

// GoString implements fmt.GoStringer without the secret access key.
func (s Secret) GoString() string { return "iamkey.Secret" + s.String() }

var (
	userNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	// accessKeyIDPattern is IAM's shape of an access key id (AKIA..., ASIA...):
	// upper-case letters and digits only, so a secret access key (mixed-case
	// base64) pasted into access_key_id is never taken for, and logged as,
	// a key id.
	accessKeyIDPattern = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)
)

const secretShape = `store the credential as {"user_name": "...", "access_key_id": "AKIA...", "secret_access_key": "..."}`

// Parse decodes and validates a secret value. Errors name the field and
// never contain a value.
func Parse(value string) (*Secret, error) {
	s, err := parseRef(value)
	if err != nil {
		return nil, err
	}
	if s.SecretAccessKey == "" {
		return nil, rotation.SecretFieldError("secret_access_key", "is missing or empty", secretShape)
	}
	if b := s.PropagationBudgetSeconds; b != nil && (*b <= 0 || *b > MaxPropagationBudget.Seconds()) {
		return nil, rotation.SecretFieldError("propagation_budget_seconds", fmt.Sprintf("must be more than 0 and at most %g", MaxPropagationBudget.Seconds()), "fix or remove propagation_budget_seconds")
	}
	return s, nil
}

// parseRef decodes a secret value that must name a user and a key; the
// lifecycle operations need no more.
func parseRef(value string) (*Secret, error) {
	var s Secret
	if err := rotation.DecodeSecret(value, &s); err != nil {
		return nil, err
	}
	switch {
	case s.UserName == "":
		return nil, rotation.SecretFieldError("user_name", "is missing or empty", secretShape)
	case !userNamePattern.MatchString(s.UserName):
		return nil, rotation.SecretFieldError("user_name", "is not an IAM user name (1 to 64 of the characters A-Z a-z 0-9 _ + = , . @ -)", "set user_name to the name of the IAM user, not its ARN")
	case s.AccessKeyID == "":
		return nil, rotation.SecretFieldError("access_key_id", "is missing or empty", secretShape)
	case !accessKeyIDPattern.MatchString(s.AccessKeyID):
		return nil, rotation.SecretFieldError("access_key_id", "is not an access key id (16 to 128 upper-case letters and digits, such as AKIA...)", secretShape)
	case s.SecretAccessKey != "" && s.SecretAccessKey == s.AccessKeyID:
		return nil, rotation.SecretFieldError("access_key_id", "holds the same text as secret_access_key", "put the key id (AKIA...) in access_key_id and the secret in secret_access_key")
	}
	return &s, nil
}

// keyID returns the access key id of a secret value, or "" when it has
// none (or when it is the secret access key too).
func keyID(value string) string {
	var s struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	}
	if json.Unmarshal([]byte(value), &s) != nil || !accessKeyIDPattern.MatchString(s.AccessKeyID) || s.AccessKeyID == s.SecretAccessKey {
		return ""
	}
	return s.AccessKeyID
}

// userName returns the user_name of a secret value, or "" when it has none.
func userName(value string) string {
	var s struct {
		UserName string `json:"user_name"`
	}
	if json.Unmarshal([]byte(value), &s) != nil || !userNamePattern.MatchString(s.UserName) {
		return ""
	}
	return s.UserName
}
