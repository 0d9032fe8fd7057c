package logsemu

import "github.com/dualkey/dualkey/emulator/internal/awsjson"

// Error codes CloudWatch Logs returns.
const (
	codeInvalidParameter = "InvalidParameterException"
	codeResourceNotFound = "ResourceNotFoundException"
	codeAlreadyExists    = "ResourceAlreadyExistsException"
	codeValidation       = "ValidationException"
	codeInternal         = "ServiceUnavailableException"
)

// protocol is CloudWatch Logs' dialect of AWS JSON 1.1: its Coral-style
// validation messages come with InvalidParameterException.
var protocol = awsjson.Protocol{
	Service:        "CloudWatch Logs",
	TargetPrefix:   TargetPrefix,
	ValidationCode: codeInvalidParameter,
	InternalCode:   codeInternal,
}
