package awsemu

import (
	"fmt"
	"net/http"
)

// apiError is an AWS JSON 1.1 error: a code that becomes "__type" and the
// X-Amzn-ErrorType header, a message, and an HTTP status.
type apiError struct {
	Code    string
	Message string
	Status  int
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func newAPIError(code, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

const (
	codeResourceNotFound  = "ResourceNotFoundException"
	codeInvalidRequest    = "InvalidRequestException"
	codeInvalidParameter  = "InvalidParameterException"
	codeResourceExists    = "ResourceExistsException"
	codeLimitExceeded     = "LimitExceededException"
	codeValidation        = "ValidationException"
	codeInvalidNextToken  = "InvalidNextTokenException"
	codeAccessDenied      = "AccessDeniedException"
	codeInternal          = "InternalServiceError"
	codeSerialization     = "SerializationException"
	codeUnknownOperation  = "UnknownOperationException"
	msgSecretNotFound     = "Secrets Manager can't find the specified secret."
	msgMarkedForDeletion  = "You can't perform this operation on the secret because it was marked for deletion."
	msgBothValues         = "You can't specify both a binary secret value and a string secret value in the same secret."
	msgRotationIncomplete = "A previous rotation isn't complete. That rotation will be reattempted."
)

func errSecretNotFound() *apiError { return newAPIError(codeResourceNotFound, msgSecretNotFound) }

func errMarkedForDeletion() *apiError { return newAPIError(codeInvalidRequest, msgMarkedForDeletion) }

func errVersionIDNotFound(id string) *apiError {
	return newAPIError(codeResourceNotFound, "Secrets Manager can't find the specified secret value for VersionId: %s", id)
}

func errStageNotFound(stage string) *apiError {
	return newAPIError(codeResourceNotFound, "Secrets Manager can't find the specified secret value for staging label: %s", stage)
}

// errNull is the Coral-style validation error AWS returns for a missing
// required member.
func errNull(member string) *apiError {
	return newAPIError(codeValidation, "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
}

func errLength(member string, value string, min, max int) *apiError {
	if len(value) < min {
		return newAPIError(codeValidation, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", redactIfLong(value), member, min)
	}
	return newAPIError(codeValidation, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", redactIfLong(value), member, max)
}

func errRange(member string, value int64, min, max int64) *apiError {
	if value < min {
		return newAPIError(codeValidation, "1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to %d", value, member, min)
	}
	return newAPIError(codeValidation, "1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value less than or equal to %d", value, member, max)
}

func redactIfLong(s string) string {
	if len(s) > 80 {
		return s[:40] + "..."
	}
	return s
}

// checkLen validates an optional string member's length.
func checkLen(member string, v *string, min, max int) *apiError {
	if v == nil {
		return nil
	}
	if len(*v) < min || len(*v) > max {
		return errLength(member, *v, min, max)
	}
	return nil
}
