// Command iamkey is the rotation Lambda for IAM user access keys (see
// shared/providers/iamkey). DUALKEY_IAM_PROPAGATION_BUDGET (a duration such
// as "90s", default 60s) bounds how long testSecret waits for IAM to
// propagate a new key.
package main

import (
	"github.com/dualkey/dualkey/shared/lambdamain"
	"github.com/dualkey/dualkey/shared/providers/iamkey"
)

func main() { lambdamain.Start(iamkey.FromEnv) }
