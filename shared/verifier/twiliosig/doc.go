// Package twiliosig verifies Twilio webhook requests (the X-Twilio-Signature
// header) for a service whose account auth token is kept in AWS Secrets
// Manager and rotated by dualkey's twiliotoken provider.
//
// Twilio signs every webhook with the account's primary auth token. During
// a rotation the primary changes hands once, at a moment dualkey chooses:
//
//	before the rotation      AWSCURRENT = old primary           Twilio signs with it
//	createSecret             AWSPENDING = secondary             still the old primary
//	finishSecret             AWSCURRENT = secondary,
//	                         AWSPREVIOUS = old primary          still the old primary
//	lifecycle delete         Twilio promotes the secondary;     from now on the new token
//	(after drain, usage        the old primary dies; dualkey
//	check, confirmation)       removes AWSPREVIOUS
//
// So a Verifier accepts a signature by the token of the AWSCURRENT or the
// AWSPREVIOUS version (and of AWSPENDING only with Config.AcceptPending:
// Twilio never signs with a secondary token). A rollback that moves
// AWSCURRENT back to the old primary needs nothing either: the old primary
// is then AWSCURRENT and the secondary AWSPREVIOUS.
//
// Tokens are refreshed lazily with cheap change detection: DescribeSecret at
// most every CheckInterval (only the label map is read) and GetSecretValue
// only for a version id not loaded yet. A request signed by no known token
// triggers one immediate refresh, rate-limited to one per
// MinRefreshInterval, before it is refused. A failing refresh keeps the
// last good tokens. After the promotion (or an emergency rotation that
// switches a leaked token off) the old token is refused at most
// CheckInterval after dualkey removes its label.
//
// The signature is Twilio's: base64(HMAC-SHA1(token, URL + the POST
// parameters sorted by name, each name followed by its value)). The URL is
// the full URL Twilio requested, query string included; like Twilio's own
// libraries the Verifier accepts it with and without the scheme's default
// port. A request whose body is not a form (JSON) is signed over the URL
// alone, which then carries bodySHA256, the hex SHA-256 of the body: the
// Verifier checks that too.
//
// No token and no signature is ever logged or put in an error: versions are
// named by a short version id and the token's usage fingerprint
// (shared/fingerprint: "dkfp_" and 16 hex digits of its SHA-256).
package twiliosig
