// Command staged is the rotation Lambda for credentials rolled in a
// vendor's dashboard (Braintree API keys and others) and staged with
// `dualkey stage` (see shared/providers/staged). DUALKEY_STAGED_TIMEOUT
// bounds one probe (default 20s).
package main

import (
	"github.com/dualkey/dualkey/shared/lambdamain"
	"github.com/dualkey/dualkey/shared/providers/staged"
)

func main() { lambdamain.Start(staged.FromEnv) }
