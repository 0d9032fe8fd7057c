// Command sendgrid is the rotation Lambda for SendGrid v3 API keys (see
// shared/providers/sendgrid). DUALKEY_SENDGRID_API_URL selects SendGrid's
// API (default https://api.sendgrid.com), DUALKEY_SENDGRID_TIMEOUT bounds one
// request (default 20s) and DUALKEY_SENDGRID_PROPAGATION_BUDGET how long
// testSecret retries a new key SendGrid refuses (default 30s).
package main

import (
	"github.com/dualkey/dualkey/shared/lambdamain"
	"github.com/dualkey/dualkey/shared/providers/sendgrid"
)

func main() { lambdamain.Start(sendgrid.FromEnv) }
