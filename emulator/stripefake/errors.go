package stripefake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Error types and codes the fake answers with (the values Stripe uses).
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeIdempotency    = "idempotency_error"
	TypeAPI            = "api_error"

	CodeAPIKeyExpired        = "api_key_expired"
	CodeResourceMissing      = "resource_missing"
	CodeParameterMissing     = "parameter_missing"
	CodeParameterUnknown     = "parameter_unknown"
	CodeParameterInvalid     = "parameter_invalid_empty"
	CodeURLInvalid           = "url_invalid"
	CodeIdempotencyKeyInUse  = "idempotency_key_in_use"
	CodeParameterInvalidInt  = "parameter_invalid_integer"
	CodeWebhookEndpointLimit = "webhook_endpoint_limit" // fake's own code; see maxEndpoints
)

// apiError is one Stripe error answer.
type apiError struct {
	status  int
	Type    string `json:"type"`
	Code    string `json:"code,omitempty"`
	DocURL  string `json:"doc_url,omitempty"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.Type, e.Message) }

func docURL(code string) string {
	if code == "" {
		return ""
	}
	return "https://stripe.com/docs/error-codes/" + strings.ReplaceAll(code, "_", "-")
}

func newError(status int, typ, code, param, format string, args ...any) *apiError {
	return &apiError{status: status, Type: typ, Code: code, DocURL: docURL(code), Param: param, Message: fmt.Sprintf(format, args...)}
}

// Authentication and permission errors, worded as Stripe words them.
func errNoKey() *apiError {
	return newError(http.StatusUnauthorized, TypeInvalidRequest, "", "",
		"You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.")
}

func errInvalidKey(key string) *apiError {
	return newError(http.StatusUnauthorized, TypeInvalidRequest, "", "", "Invalid API Key provided: %s", MaskKey(key))
}

func errExpiredKey(key string) *apiError {
	return newError(http.StatusUnauthorized, TypeInvalidRequest, CodeAPIKeyExpired, "", "Expired API Key provided: %s", MaskKey(key))
}

func errPermission(key, account, perm string) *apiError {
	return newError(http.StatusForbidden, TypeInvalidRequest, "", "",
		"The provided key '%s' does not have the required permissions for this endpoint on account '%s'. Having the '%s' permission would allow this request to continue.",
		MaskKey(key), account, perm)
}

func errUnrecognizedURL(method, path string) *apiError {
	return newError(http.StatusNotFound, TypeInvalidRequest, "", "",
		"Unrecognized request URL (%s: %s). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.", method, path)
}

func errNoSuch(what, id, param string) *apiError {
	return newError(http.StatusNotFound, TypeInvalidRequest, CodeResourceMissing, param, "No such %s: '%s'", what, id)
}

func errUnknownParam(name string) *apiError {
	return newError(http.StatusBadRequest, TypeInvalidRequest, CodeParameterUnknown, name, "Received unknown parameter: %s", name)
}

func errMissingParam(name string) *apiError {
	return newError(http.StatusBadRequest, TypeInvalidRequest, CodeParameterMissing, name, "Missing required param: %s.", name)
}

func errInvalidParam(code, name, format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, TypeInvalidRequest, code, name, format, args...)
}

// MaskKey shows a key the way Stripe's error messages do, without giving it
// away: its prefix (sk_test_, rk_live_, ...) and its last 4 characters.
// Stripe shows up to the last 6; the fake shows 4, dualkey's rule for
// fingerprints.
func MaskKey(key string) string {
	prefix := ""
	for _, p := range []string{"sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_"} {
		if strings.HasPrefix(key, p) {
			prefix = p
			break
		}
	}
	rest := []rune(key[len(prefix):])
	if len(rest) < 12 {
		return prefix + strings.Repeat("*", len(rest))
	}
	return prefix + strings.Repeat("*", len(rest)-4) + string(rest[len(rest)-4:])
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"type":"api_error","message":"An unknown error occurred"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
