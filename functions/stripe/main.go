// Command stripe is the rotation Lambda for Stripe secret and restricted
// keys rolled in the Stripe Dashboard and staged with `dualkey stage` (see
// shared/providers/stripe). DUALKEY_STRIPE_API_URL overrides Stripe's API
// URL (tests); DUALKEY_STRIPE_TIMEOUT bounds one request (default 20s).
package main

import (
	"github.com/dualkey/dualkey/shared/lambdamain"
	"github.com/dualkey/dualkey/shared/providers/stripe"
)

func main() { lambdamain.Start(stripe.FromEnv) }
