// Command servicekey is the rotation Lambda for keys between a company's own
// services (see shared/providers/servicekey).
package main

import (
	"github.com/dualkey/dualkey/shared/lambdamain"
	"github.com/dualkey/dualkey/shared/providers/servicekey"
)

func main() { lambdamain.Start(servicekey.FromEnv) }
