// Command stripewebhook is the rotation Lambda for Stripe webhook signing
// secrets (see shared/providers/stripewebhook): it rotates an endpoint's
// whsec_ secret by creating a second endpoint and retiring the first.
// DUALKEY_STRIPE_API_URL overrides Stripe's API URL (tests);
// DUALKEY_STRIPE_TIMEOUT bounds one request (default 20s).
package main

import (
	"github.com/dualkey/dualkey/shared/lambdamain"
	"github.com/dualkey/dualkey/shared/providers/stripewebhook"
)

func main() { lambdamain.Start(stripewebhook.FromEnv) }
