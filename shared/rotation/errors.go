package rotation

import (
	"errors"
	"fmt"

	"github.com/aws/smithy-go"
)

// Sentinel errors. Every error the engine returns is a *RotationError that
// wraps one of these, so callers can test with errors.Is.
var (
	// ErrInvalidEvent: the rotation event is missing a field or has a bad one.
	ErrInvalidEvent = errors.New("invalid rotation event")
	// ErrRotationNotEnabled: the secret does not have rotation enabled.
	ErrRotationNotEnabled = errors.New("rotation is not enabled")
	// ErrUnknownVersion: the token is not a version of the secret.
	ErrUnknownVersion = errors.New("token is not a version of the secret")
	// ErrNotPending: the token's version is neither AWSCURRENT nor AWSPENDING.
	ErrNotPending = errors.New("version is not AWSPENDING")
	// ErrNotManaged: the secret is not tagged for this function (its
	// dualkey:provider tag is missing or names another provider, or it is
	// not tagged dualkey:managed=true).
	ErrNotManaged = errors.New("secret is not managed by this rotation function")
	// ErrConcurrentDelivery: another delivery of the same step may be in
	// flight (Lambda may deliver a step twice at once). A provider's Create
	// wraps it when it finds a credential a sibling delivery may still store;
	// the engine then waits up to StoreWithin for the pending version to get
	// a value, and the step succeeds when it does.
	ErrConcurrentDelivery = errors.New("another delivery of this step may be in flight")
	// ErrNoVersion: no version holds the label, or it has no value yet.
	ErrNoVersion = errors.New("no version with a value holds the label")
	// ErrInvalidSecret: a secret value is malformed (not JSON, missing field).
	ErrInvalidSecret = errors.New("invalid secret value")
	// ErrProvider: the provider refused or failed.
	ErrProvider = errors.New("provider error")
	// ErrSecretsManager: a Secrets Manager call failed.
	ErrSecretsManager = errors.New("secrets manager error")
)

// RotationError is the single error type the engine returns, so that Lambda's
// errorType reads "RotationError". Its message has every known secret value
// removed.
type RotationError struct {
	SecretID string
	Step     string
	msg      string
	err      error
}

// Error returns the sanitized message.
func (e *RotationError) Error() string { return e.msg }

// Unwrap returns the underlying error chain.
func (e *RotationError) Unwrap() error { return e.err }

// FieldError names the field of a secret value or event that is wrong and how
// to fix it.
type FieldError struct {
	Field string
	Issue string
	Fix   string
	Kind  error // ErrInvalidSecret or ErrInvalidEvent
}

// Error implements error.
func (e *FieldError) Error() string {
	msg := fmt.Sprintf("field %q %s", e.Field, e.Issue)
	if e.Fix != "" {
		msg += ": " + e.Fix
	}
	return msg
}

// Unwrap lets errors.Is match the kind.
func (e *FieldError) Unwrap() error { return e.Kind }

// SecretFieldError returns an error about field of a secret value.
func SecretFieldError(field, issue, fix string) error {
	return &FieldError{Field: field, Issue: issue, Fix: fix, Kind: ErrInvalidSecret}
}

// Outcome is how one rotation step ended, as logged and counted.
type Outcome string

// Step outcomes.
const (
	// OutcomeSuccess: the step did its work.
	OutcomeSuccess Outcome = "success"
	// OutcomeReplay: the step had already been done; nothing changed.
	OutcomeReplay Outcome = "replay"
	// OutcomeFailure: the step failed; Secrets Manager retries it.
	OutcomeFailure Outcome = "failure"
)

// ErrorCode returns the AWS (smithy) error code of err, such as
// "ResourceNotFoundException" or "NoSuchEntity", or "" when err carries none.
func ErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// IsErrorCode reports whether err carries one of the AWS error codes.
func IsErrorCode(err error, codes ...string) bool {
	c := ErrorCode(err)
	for _, want := range codes {
		if c == want {
			return true
		}
	}
	return false
}
