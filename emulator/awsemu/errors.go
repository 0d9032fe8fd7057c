package awsemu

import "github.com/dualkey/dualkey/emulator/internal/awsjson"

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
	msgSecretNotFound     = "Secrets Manager can't find the specified secret."
	msgMarkedForDeletion  = "You can't perform this operation on the secret because it was marked for deletion."
	msgBothValues         = "You can't specify both a binary secret value and a string secret value in the same secret."
	msgRotationIncomplete = "A previous rotation isn't complete. That rotation will be reattempted."
)

func errSecretNotFound() *awsjson.Error {
	return awsjson.Errorf(codeResourceNotFound, msgSecretNotFound)
}

func errMarkedForDeletion() *awsjson.Error {
	return awsjson.Errorf(codeInvalidRequest, msgMarkedForDeletion)
}

func errVersionIDNotFound(id string) *awsjson.Error {
	return awsjson.Errorf(codeResourceNotFound, "Secrets Manager can't find the specified secret value for VersionId: %s", id)
}

func errStageNotFound(stage string) *awsjson.Error {
	return awsjson.Errorf(codeResourceNotFound, "Secrets Manager can't find the specified secret value for staging label: %s", stage)
}

// protocol is Secrets Manager's dialect of AWS JSON 1.1: its Coral-style
// validation messages come with ValidationException.
var protocol = awsjson.Protocol{
	Service:        "Secrets Manager",
	TargetPrefix:   serviceName,
	ValidationCode: codeValidation,
	InternalCode:   codeInternal,
}
