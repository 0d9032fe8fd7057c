package ecsemu

import "github.com/dualkey/dualkey/emulator/internal/awsjson"

// Error codes Amazon ECS returns.
const (
	codeInvalidParameter  = "InvalidParameterException"
	codeClient            = "ClientException"
	codeClusterNotFound   = "ClusterNotFoundException"
	codeServiceNotFound   = "ServiceNotFoundException"
	codeServiceNotActive  = "ServiceNotActiveException"
	codeClusterHasService = "ClusterContainsServicesException"
	codeInternal          = "ServerException"
)

// protocol is Amazon ECS's dialect of AWS JSON 1.1: its Coral-style
// validation messages come with InvalidParameterException.
var protocol = awsjson.Protocol{
	Service:        "Amazon ECS",
	TargetPrefix:   TargetPrefix,
	ValidationCode: codeInvalidParameter,
	InternalCode:   codeInternal,
}
