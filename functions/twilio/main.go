// Command twilio is the rotation Lambda for Twilio API keys (see
// shared/providers/twilio). DUALKEY_TWILIO_TIMEOUT bounds one request (default
// 20s), DUALKEY_TWILIO_PROPAGATION_BUDGET how long testSecret retries a new
// key Twilio refuses (default 30s); DUALKEY_TWILIO_API_URL and
// DUALKEY_TWILIO_IAM_URL replace Twilio's hosts (tests and the local demo).
package main

import (
	"github.com/dualkey/dualkey/shared/lambdamain"
	"github.com/dualkey/dualkey/shared/providers/twilio"
)

func main() { lambdamain.Start(twilio.FromEnv) }
