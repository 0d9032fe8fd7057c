// Command twiliotoken is the rotation Lambda for a Twilio account's auth
// token (see shared/providers/twiliotoken). DUALKEY_TWILIO_TIMEOUT bounds one
// request (default 20s), DUALKEY_TWILIO_TOKEN_PROPAGATION_BUDGET how long
// testSecret retries a new token Twilio refuses (default 90s);
// DUALKEY_TWILIO_API_URL and DUALKEY_TWILIO_ACCOUNTS_URL replace Twilio's
// hosts (tests and the local demo).
package main

import (
	"github.com/dualkey/dualkey/shared/lambdamain"
	"github.com/dualkey/dualkey/shared/providers/twiliotoken"
)

func main() { lambdamain.Start(twiliotoken.FromEnv) }
