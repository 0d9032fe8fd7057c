package twiliotoken

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/dualkey/dualkey/shared/fingerprint"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/vendorkey"
)

// Fields of the secret value.
const (
	FieldAccountSID = "account_sid"
	FieldAuthToken  = "auth_token"
)

// Secret is the decoded secret value. Its String and GoString methods hide
// the token.
type Secret struct {
	AccountSID      string `json:"account_sid"`
	AuthToken       string `json:"auth_token"`
	MasterSecretARN string `json:"master_secret_arn"`
}

// String implements fmt.Stringer without the token.
func (s Secret) String() string {
	return fmt.Sprintf("{AccountSID:%s AuthToken:%s MasterSecretARN:%s}", s.AccountSID, rotation.Redaction, s.MasterSecretARN)
}

// GoString implements fmt.GoStringer without the token.
func (s Secret) GoString() string { return "twiliotoken.Secret" + s.String() }

var (
	accountPattern = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	keyPattern     = regexp.MustCompile(`^SK[0-9a-fA-F]{32}$`)
	// tokenPattern: auth tokens are 32 hex digits; twilio-go refuses
	// passwords with anything but letters and digits.
	tokenPattern  = regexp.MustCompile(`^[A-Za-z0-9]{16,128}$`)
	secretPattern = tokenPattern
)

const secretShape = `store the token as {"account_sid": "AC...", "auth_token": "..."}`

// Parse decodes and validates a secret value. Errors name the field and
// never contain the token.
func Parse(value string) (*Secret, error) {
	var s Secret
	if err := rotation.DecodeSecret(value, &s); err != nil {
		return nil, err
	}
	if err := vendorkey.CheckFields(secretShape,
		vendorkey.Check{Field: FieldAccountSID, Value: s.AccountSID, Pattern: accountPattern,
			Not: "is not a Twilio account SID (AC and 32 hex digits)", Fix: "copy it from the Twilio Console's account info"},
		vendorkey.Check{Field: FieldAuthToken, Value: s.AuthToken, Pattern: tokenPattern,
			Not: "is not a Twilio auth token (letters and digits, 32 hex digits for Twilio's)", Fix: "copy the primary auth token from the Twilio Console"},
	); err != nil {
		return nil, err
	}
	return &s, nil
}

// TokenFingerprint identifies an auth token without revealing it: its
// usage fingerprint (shared/fingerprint: "dkfp_" and 16 hex digits of its
// SHA-256), the same id consumers log with each call they make with it, so
// dualkey's log lines and the consumers' can be matched. "" for "".
func TokenFingerprint(token string) string { return fingerprint.Of(token) }

// tokenOf returns the auth token of a value ("" when it has none).
func tokenOf(value string) string {
	var s struct {
		AuthToken string `json:"auth_token"`
	}
	if json.Unmarshal([]byte(value), &s) != nil || !tokenPattern.MatchString(s.AuthToken) {
		return ""
	}
	return s.AuthToken
}

// same compares two tokens in constant time.
func same(a, b string) bool { return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// credential is what authenticates a call.
type credential struct {
	user, pass string
	account    string
	kind       string // for messages: "the primary auth token", "Main API key SK…"
	adminARN   string // the admin secret it came from ("" for the secret's own tokens)
	// manager is true for the credential that manages tokens and locks (a
	// 401 then wraps ErrAdminRefused).
	manager bool
}

func tokenCred(account, token, kind string) *credential {
	return &credential{user: account, pass: token, account: account, kind: kind}
}

func managerToken(account, token string) *credential {
	c := tokenCred(account, token, "the primary auth token "+TokenFingerprint(token))
	c.manager = true
	return c
}

// mainKey decodes the admin secret: a Main API key of account.
func mainKey(a *rotation.Admin, account string) (*credential, error) {
	fix := "store a Main API key of the account as {\"account_sid\": \"AC...\", \"api_key_sid\": \"SK...\", \"api_key_secret\": \"...\"} in that secret, " +
		"or remove master_secret_arn to use the account's own tokens"
	var s struct {
		AccountSID   string `json:"account_sid"`
		AuthToken    string `json:"auth_token"`
		APIKeySID    string `json:"api_key_sid"`
		APIKeySecret string `json:"api_key_secret"`
	}
	if json.Unmarshal([]byte(a.Version.Value), &s) != nil {
		return nil, rotation.SecretFieldError(rotation.FieldMasterSecretARN, fmt.Sprintf("names secret %s, whose value is not a JSON object", a.SecretARN), fix)
	}
	switch {
	case s.AccountSID != account:
		return nil, rotation.SecretFieldError(rotation.FieldMasterSecretARN,
			fmt.Sprintf("names secret %s, whose account_sid is not the secret's account %s", a.SecretARN, account), fix)
	case s.AuthToken != "":
		return nil, rotation.SecretFieldError(rotation.FieldMasterSecretARN,
			fmt.Sprintf("names secret %s, which holds an auth token of the account whose auth token this secret rotates: it would stop working at the promotion", a.SecretARN), fix)
	case !keyPattern.MatchString(s.APIKeySID) || !secretPattern.MatchString(s.APIKeySecret):
		return nil, rotation.SecretFieldError(rotation.FieldMasterSecretARN, fmt.Sprintf("names secret %s, which holds no api_key_sid and api_key_secret", a.SecretARN), fix)
	}
	return &credential{user: s.APIKeySID, pass: s.APIKeySecret, account: account, kind: "Main API key " + s.APIKeySID, adminARN: a.SecretARN, manager: true}, nil
}
