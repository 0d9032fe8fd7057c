package eventsemu

import "github.com/dualkey/dualkey/emulator/internal/awsjson"

// Error codes EventBridge returns.
const (
	codeValidation       = "ValidationException"
	codeResourceNotFound = "ResourceNotFoundException"
	codeAlreadyExists    = "ResourceAlreadyExistsException"
	codeInternal         = "InternalException"
)

// protocol is EventBridge's dialect of AWS JSON 1.1: its Coral-style
// validation messages come with ValidationException.
var protocol = awsjson.Protocol{
	Service:        "EventBridge",
	TargetPrefix:   TargetPrefix,
	ValidationCode: codeValidation,
	InternalCode:   codeInternal,
}
