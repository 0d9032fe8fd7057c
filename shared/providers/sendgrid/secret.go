package sendgrid

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
	FieldAPIKey   = "api_key"
	FieldAPIKeyID = "api_key_id"
	FieldSubuser  = "subuser"
)

// Secret is the decoded secret value. Its String and GoString methods hide
// the key.
type Secret struct {
	APIKey          string `json:"api_key"`
	APIKeyID        string `json:"api_key_id"`
	Subuser         string `json:"subuser"`
	MasterSecretARN string `json:"master_secret_arn"`
}

// String implements fmt.Stringer without the key.
func (s Secret) String() string {
	return fmt.Sprintf("{APIKey:%s APIKeyID:%s Subuser:%s MasterSecretARN:%s}", rotation.Redaction, s.APIKeyID, s.Subuser, s.MasterSecretARN)
}

// GoString implements fmt.GoStringer without the key.
func (s Secret) GoString() string { return "sendgrid.Secret" + s.String() }

var (
	keyPattern     = regexp.MustCompile(`^SG\.([A-Za-z0-9_-]{8,64})\.[A-Za-z0-9_-]{16,128}$`)
	keyIDPattern   = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)
	subuserPattern = regexp.MustCompile(`^[A-Za-z0-9._@+-]{1,64}$`)
)

const secretShape = `store the key as {"api_key": "SG...", "api_key_id": "...", "subuser": "(optional)", "master_secret_arn": "arn:aws:secretsmanager:..."}`

// Parse decodes and validates a secret value. Errors name the field and
// never contain the key.
func Parse(value string) (*Secret, error) {
	s, err := parseRef(value)
	if err != nil {
		return nil, err
	}
	if err := vendorkey.CheckFields(secretShape,
		vendorkey.Check{Field: FieldAPIKey, Value: s.APIKey, Pattern: keyPattern,
			Not: "is not a SendGrid API key (SG.<id>.<secret>)", Fix: "copy the key shown when it was created"},
		vendorkey.Check{Field: rotation.FieldMasterSecretARN, Value: s.MasterSecretARN,
			Missing: "set it to the ARN of the secret that holds a SendGrid key allowed to manage API keys, as {\"api_key\": \"SG...\"}"},
	); err != nil {
		return nil, err
	}
	return s, nil
}

// parseRef decodes a value that must name a key (by api_key_id, or the id
// inside api_key) and may name a subuser; the lifecycle needs no more.
func parseRef(value string) (*Secret, error) {
	var s Secret
	if err := rotation.DecodeSecret(value, &s); err != nil {
		return nil, err
	}
	if s.APIKeyID == "" {
		if m := keyPattern.FindStringSubmatch(s.APIKey); m != nil {
			s.APIKeyID = m[1]
		}
	}
	switch {
	case s.APIKeyID == "" && s.APIKey == "":
		return nil, rotation.SecretFieldError(FieldAPIKey, "is missing or empty", secretShape)
	case s.APIKeyID == "":
		return nil, rotation.SecretFieldError(FieldAPIKey, "is not a SendGrid API key (SG.<id>.<secret>)", "copy the key shown when it was created, or set api_key_id")
	case !keyIDPattern.MatchString(s.APIKeyID):
		return nil, rotation.SecretFieldError(FieldAPIKeyID, "is not a SendGrid API key id (8 to 64 letters, digits, _ and -)", "copy it from Settings → API Keys")
	case s.Subuser != "" && !subuserPattern.MatchString(s.Subuser):
		return nil, rotation.SecretFieldError(FieldSubuser, "is not a SendGrid username (1 to 64 letters, digits and . _ @ + -)", "set it to the subuser's username, or remove it for the parent user's own key")
	}
	return &s, nil
}

// keyID returns the key id of a value (api_key_id, or the id inside
// api_key), or "" when it has none.
func keyID(value string) string {
	var s struct {
		APIKey   string `json:"api_key"`
		APIKeyID string `json:"api_key_id"`
	}
	if json.Unmarshal([]byte(value), &s) != nil {
		return ""
	}
	if s.APIKeyID != "" {
		if keyIDPattern.MatchString(s.APIKeyID) {
			return s.APIKeyID
		}
		return ""
	}
	if m := keyPattern.FindStringSubmatch(s.APIKey); m != nil {
		return m[1]
	}
	return ""
}

// admin is the admin key and the secret it came from.
type admin struct {
	key string
	arn string
}

// adminKey decodes the admin secret: {"api_key": "SG..."}.
func adminKey(a *rotation.Admin) (*admin, error) {
	if a == nil || a.Version == nil {
		return nil, rotation.SecretFieldError(rotation.FieldMasterSecretARN, "is missing",
			"set it to the ARN of the secret that holds a SendGrid key allowed to manage API keys")
	}
	var s struct {
		APIKey string `json:"api_key"`
	}
	if json.Unmarshal([]byte(a.Version.Value), &s) != nil || !keyPattern.MatchString(s.APIKey) {
		return nil, rotation.SecretFieldError(rotation.FieldMasterSecretARN,
			fmt.Sprintf("names secret %s, whose value is not {\"api_key\": \"SG...\"}", a.SecretARN),
			"store a SendGrid key with api_keys.create, api_keys.read, api_keys.delete and the rotated key's scopes in that secret as {\"api_key\": \"SG...\"}")
	}
	return &admin{key: s.APIKey, arn: a.SecretARN}, nil
}

// whose names the user a key belongs to, for messages.
func whose(subuser string) string {
	if subuser == "" {
		return "the admin key's user"
	}
	return "subuser " + subuser
}

// systemScopes are added by SendGrid to keys by itself; they are not asked
// for, and not required of the admin key.
var systemScopes = map[string]bool{
	"2fa_exempt": true, "2fa_required": true,
	"sender_verification_eligible": true, "sender_verification_exempt": true,
}

// normScopes returns the sorted, unique scopes.
func normScopes(in []string) []string {
	set := map[string]bool{}
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			set[s] = true
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sortStrings(out)
	return out
}

// minus returns the scopes of a not in b, sorted.
func minus(a, b []string) []string {
	has := map[string]bool{}
	for _, s := range b {
		has[s] = true
	}
	var out []string
	for _, s := range a {
		if !has[s] {
			out = append(out, s)
		}
	}
	sortStrings(out)
	return out
}

// grantable drops the system scopes.
func grantable(scopes []string) []string {
	out := []string{}
	for _, s := range scopes {
		if !systemScopes[s] {
			out = append(out, s)
		}
	}
	return out
}
