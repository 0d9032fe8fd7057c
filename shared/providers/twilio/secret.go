package twilio

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/vendorkey"
)

// Fields of the secret value.
const (
	FieldAccountSID   = "account_sid"
	FieldAPIKeySID    = "api_key_sid"
	FieldAPIKeySecret = "api_key_secret"
	FieldAuthToken    = "auth_token"
)

// Secret is the decoded secret value. Its String and GoString methods hide
// the key secret.
type Secret struct {
	AccountSID      string `json:"account_sid"`
	APIKeySID       string `json:"api_key_sid"`
	APIKeySecret    string `json:"api_key_secret"`
	MasterSecretARN string `json:"master_secret_arn"`
}

// String implements fmt.Stringer without the key secret.
func (s Secret) String() string {
	return fmt.Sprintf("{AccountSID:%s APIKeySID:%s APIKeySecret:%s MasterSecretARN:%s}", s.AccountSID, s.APIKeySID, rotation.Redaction, s.MasterSecretARN)
}

// GoString implements fmt.GoStringer without the key secret.
func (s Secret) GoString() string { return "twilio.Secret" + s.String() }

var (
	accountPattern = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	keyPattern     = regexp.MustCompile(`^SK[0-9a-fA-F]{32}$`)
	// secretPattern is what twilio-go accepts as a password (it refuses
	// anything but letters and digits): key secrets are 32 of them, auth
	// tokens 32 hex digits.
	secretPattern = regexp.MustCompile(`^[A-Za-z0-9]{16,128}$`)
)

const secretShape = `store the key as {"account_sid": "AC...", "api_key_sid": "SK...", "api_key_secret": "...", "master_secret_arn": "arn:aws:secretsmanager:..."}`

// Parse decodes and validates a secret value. Errors name the field and
// never contain a value.
func Parse(value string) (*Secret, error) {
	s, err := parseRef(value)
	if err != nil {
		return nil, err
	}
	if err := vendorkey.CheckFields(secretShape,
		vendorkey.Check{Field: FieldAPIKeySecret, Value: s.APIKeySecret, Pattern: secretPattern,
			Not: "is not a Twilio API key secret (16 to 128 letters and digits)", Fix: "copy the secret shown when the key was created"},
		vendorkey.Check{Field: rotation.FieldMasterSecretARN, Value: s.MasterSecretARN,
			Missing: "set it to the ARN of the secret that holds the account's auth token or a Main API key: Standard and restricted keys cannot create keys"},
	); err != nil {
		return nil, err
	}
	return s, nil
}

// parseRef decodes a value that must name an account and a key; the
// lifecycle operations need no more.
func parseRef(value string) (*Secret, error) {
	var s Secret
	if err := rotation.DecodeSecret(value, &s); err != nil {
		return nil, err
	}
	if err := vendorkey.CheckFields(secretShape,
		vendorkey.Check{Field: FieldAccountSID, Value: s.AccountSID, Pattern: accountPattern,
			Not: "is not a Twilio account SID (AC and 32 hex digits)", Fix: "copy it from the Twilio Console's account info"},
		vendorkey.Check{Field: FieldAPIKeySID, Value: s.APIKeySID, Pattern: keyPattern,
			Not: "is not a Twilio API key SID (SK and 32 hex digits)", Fix: "copy it from Console → API keys"},
	); err != nil {
		return nil, err
	}
	return &s, nil
}

// keySID returns the api_key_sid of a value, or "" when it has none (or
// when, absurdly, the key secret is part of it: the SID is logged).
func keySID(value string) string {
	var s struct {
		SID    string `json:"api_key_sid"`
		Secret any    `json:"api_key_secret"`
	}
	if json.Unmarshal([]byte(value), &s) != nil || !keyPattern.MatchString(s.SID) {
		return ""
	}
	if secret, ok := s.Secret.(string); ok && len(secret) >= 6 && strings.Contains(s.SID, secret) {
		return ""
	}
	return s.SID
}

// credential is what authenticates a call: an account SID with its auth
// token, or a key SID with its secret.
type credential struct {
	user, pass string
	account    string
	// kind says what it is, for messages: "auth token" or "API key SK…".
	kind string
	// adminARN names the secret it came from ("" for the secret's own key).
	adminARN string
}

// adminCredential decodes the admin secret: the account's auth token, or
// a Main key. It must belong to account.
func adminCredential(a *rotation.Admin, account string) (*credential, error) {
	fix := "store the account's auth token as {\"account_sid\": \"AC...\", \"auth_token\": \"...\"} or a Main API key as " +
		"{\"account_sid\": \"AC...\", \"api_key_sid\": \"SK...\", \"api_key_secret\": \"...\"} in that secret"
	if a == nil || a.Version == nil {
		return nil, rotation.SecretFieldError(rotation.FieldMasterSecretARN, "is missing",
			"set it to the ARN of the secret that holds the account's auth token or a Main API key")
	}
	var s struct {
		AccountSID   string `json:"account_sid"`
		AuthToken    string `json:"auth_token"`
		APIKeySID    string `json:"api_key_sid"`
		APIKeySecret string `json:"api_key_secret"`
	}
	if json.Unmarshal([]byte(a.Version.Value), &s) != nil {
		return nil, rotation.SecretFieldError(rotation.FieldMasterSecretARN, fmt.Sprintf("names secret %s, whose value is not a JSON object", a.SecretARN), fix)
	}
	if !accountPattern.MatchString(s.AccountSID) {
		return nil, rotation.SecretFieldError(rotation.FieldMasterSecretARN, fmt.Sprintf("names secret %s, whose account_sid is missing or not an AC… SID", a.SecretARN), fix)
	}
	if s.AccountSID != account {
		return nil, rotation.SecretFieldError(rotation.FieldMasterSecretARN,
			fmt.Sprintf("names secret %s, whose credential is for account %s, not for the key's account %s", a.SecretARN, s.AccountSID, account),
			"point master_secret_arn at the admin secret of the key's account")
	}
	switch {
	case s.AuthToken != "" && secretPattern.MatchString(s.AuthToken):
		return &credential{user: s.AccountSID, pass: s.AuthToken, account: s.AccountSID, kind: "the auth token", adminARN: a.SecretARN}, nil
	case keyPattern.MatchString(s.APIKeySID) && secretPattern.MatchString(s.APIKeySecret):
		return &credential{user: s.APIKeySID, pass: s.APIKeySecret, account: s.AccountSID, kind: "API key " + s.APIKeySID, adminARN: a.SecretARN}, nil
	}
	return nil, rotation.SecretFieldError(rotation.FieldMasterSecretARN,
		fmt.Sprintf("names secret %s, which holds neither an auth_token nor an api_key_sid and api_key_secret", a.SecretARN), fix)
}
