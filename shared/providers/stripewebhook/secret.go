package stripewebhook

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
	FieldEndpointID    = "endpoint_id"
	FieldWebhookSecret = "webhook_secret"
)

// Secret is the decoded secret value. Its String and GoString methods hide
// the signing secret.
type Secret struct {
	EndpointID      string `json:"endpoint_id"`
	WebhookSecret   string `json:"webhook_secret"`
	MasterSecretARN string `json:"master_secret_arn"`
}

// String implements fmt.Stringer without the signing secret.
func (s Secret) String() string {
	return fmt.Sprintf("{EndpointID:%s WebhookSecret:%s MasterSecretARN:%s}", s.EndpointID, rotation.Redaction, s.MasterSecretARN)
}

// GoString implements fmt.GoStringer without the signing secret.
func (s Secret) GoString() string { return "stripewebhook.Secret" + s.String() }

var (
	endpointPattern = regexp.MustCompile(`^we_[A-Za-z0-9]{1,64}$`)
	secretPattern   = regexp.MustCompile(`^whsec_[A-Za-z0-9+/=_-]{8,256}$`)
	keyPattern      = regexp.MustCompile(`^(sk|rk)_(live|test)_[A-Za-z0-9_]{8,240}$`)
)

const secretShape = `store the endpoint as {"endpoint_id": "we_...", "webhook_secret": "whsec_...", "master_secret_arn": "arn:aws:secretsmanager:..."}`

// Parse decodes and validates a secret value. Errors name the field and
// never contain the signing secret.
func Parse(value string) (*Secret, error) {
	s, err := parseRef(value)
	if err != nil {
		return nil, err
	}
	if err := vendorkey.CheckFields(secretShape,
		vendorkey.Check{Field: FieldWebhookSecret, Value: s.WebhookSecret, Pattern: secretPattern,
			Not: "is not a Stripe signing secret (whsec_...)", Fix: "copy it from Developers → Webhooks → the endpoint → Signing secret"},
		vendorkey.Check{Field: rotation.FieldMasterSecretARN, Value: s.MasterSecretARN,
			Missing: "set it to the ARN of the secret that holds a Stripe key allowed to manage webhook endpoints, as {\"api_key\": \"sk_live_...\"}"},
	); err != nil {
		return nil, err
	}
	return s, nil
}

// parseRef decodes a value that must name an endpoint; the lifecycle
// operations need no more.
func parseRef(value string) (*Secret, error) {
	var s Secret
	if err := rotation.DecodeSecret(value, &s); err != nil {
		return nil, err
	}
	if err := vendorkey.CheckFields(secretShape, vendorkey.Check{Field: FieldEndpointID, Value: s.EndpointID, Pattern: endpointPattern,
		Not: "is not a webhook endpoint id (we_...)", Fix: "copy it from Developers → Webhooks → the endpoint"}); err != nil {
		return nil, err
	}
	return &s, nil
}

// endpointOf returns the endpoint id of a value, or "" when it has none.
func endpointOf(value string) string {
	var s struct {
		EndpointID string `json:"endpoint_id"`
	}
	if json.Unmarshal([]byte(value), &s) != nil || !endpointPattern.MatchString(s.EndpointID) {
		return ""
	}
	return s.EndpointID
}

// adminKey decodes the admin secret: {"api_key": "sk_..."}.
func adminKey(a *rotation.Admin) (string, error) {
	if a == nil || a.Version == nil {
		return "", rotation.SecretFieldError(rotation.FieldMasterSecretARN, "is missing",
			"set it to the ARN of the secret that holds a Stripe key allowed to manage webhook endpoints")
	}
	var s struct {
		APIKey string `json:"api_key"`
	}
	if json.Unmarshal([]byte(a.Version.Value), &s) != nil || !keyPattern.MatchString(s.APIKey) {
		return "", rotation.SecretFieldError(rotation.FieldMasterSecretARN,
			fmt.Sprintf("names secret %s, whose value is not {\"api_key\": \"sk_...\" or \"rk_...\"}", a.SecretARN),
			"store a Stripe secret key, or a restricted key with Webhook Endpoints: Write, in that secret as {\"api_key\": \"...\"}")
	}
	return s.APIKey, nil
}

// keyFingerprint shows a Stripe key as its prefix and last four characters.
func keyFingerprint(key string) string {
	if !keyPattern.MatchString(key) {
		return ""
	}
	return key[:8] + rotation.LastFour(key)
}

// secretName returns the name part of a Secrets Manager ARN (without the
// random suffix), or id when it is not an ARN, cut to fit a metadata value.
func secretName(id string) string {
	name := id
	if _, n, ok := strings.Cut(id, ":secret:"); ok {
		name = n
		if i := strings.LastIndex(n, "-"); i > 0 && len(n)-i == 7 {
			name = n[:i]
		}
	}
	if len(name) > maxMetadataValue {
		name = name[:maxMetadataValue]
	}
	return name
}
