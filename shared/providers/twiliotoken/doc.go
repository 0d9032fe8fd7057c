// Package twiliotoken rotates a Twilio account's auth token (the primary
// token many integrations use directly, and the key Twilio signs webhooks
// with) with the dual-key pattern, using Twilio's secondary auth token.
//
// An account has one primary token and at most one secondary; both
// authenticate API calls. The rotation:
//
//   - createSecret creates the secondary token (POST
//     /v1/AuthTokens/Secondary) and stores it as AWSPENDING;
//   - setSecret removes the lock key createSecret held (see below);
//   - testSecret proves that Twilio accepts the secondary token for the
//     account, and that AWSCURRENT is still the primary (retrying within the
//     propagation budget: Twilio says a token change takes about a minute to
//     reach everything);
//   - finishSecret promotes it to AWSCURRENT in Secrets Manager while Twilio
//     still accepts both tokens; the old primary is AWSPREVIOUS.
//   - Twilio cannot disable a token, so the lifecycle takes the delete-only
//     path (rotation.SwitchOffDeleteOnly): after the drain, the usage check
//     and the confirmation period, Delete of the AWSPREVIOUS version
//     promotes the secondary at Twilio (POST /v1/AuthTokens/Promote). The
//     old primary stops working at once and Twilio signs webhooks with the
//     new token from then on. That is irreversible: rollback (AWSCURRENT
//     back to the old primary, which still works) is possible until then.
//
// One secondary per account makes duplicate deliveries dangerous: Twilio
// does not document what creating a second secondary does (it may replace
// the first, which a concurrent delivery may be storing, or refuse), and a
// secondary cannot be listed or read back. So createSecret holds a lock
// first: it creates an API key named "dualkey-lock <version id> <secret
// tag>" (its secret is dropped at once), lists the account's keys, and
// goes on only if no other lock exists; otherwise it deletes its own and
// fails with rotation.ErrConcurrentDelivery (both may yield; Secrets
// Manager's retry then goes through). A lock older than rotation.OrphanAge
// is a crashed attempt's: it is deleted, and it proves that the secondary
// that attempt may have created is an orphan, which the retry replaces (or
// deletes first, when Twilio refuses a second one). setSecret, Discard and
// the next createSecret remove locks. A secondary token dualkey did not
// create makes createSecret refuse when Twilio refuses a new one.
//
// Before creating, createSecret checks that AWSCURRENT is the primary: a
// rotation that starts while the previous rotation's secondary was not
// promoted yet would replace the token AWSCURRENT holds. It refuses (finish
// the retirement first: dualkey retire), except in an emergency rotation,
// which promotes it at once (the older primary dies) and reports it
// Retired. Likewise a secondary left in AWSPREVIOUS by a rollback that
// restored AWSCURRENT is deleted only in an emergency.
//
// Secret value (JSON):
//
//	{
//	  "account_sid":       "AC…",    required
//	  "auth_token":        "…",      required: the token (32 hex digits)
//	  "master_secret_arn": "arn:…"   optional: a secret holding a Main API key
//	}
//
// Every other field is copied unchanged. Without master_secret_arn the
// calls that manage the tokens and the lock are authenticated with the
// account's primary token (the token itself, or the primary that Twilio
// reports to a call made with the secondary); with it, with the Main key it
// holds ({"account_sid": "AC…", "api_key_sid": "SK…", "api_key_secret":
// "…"}). An admin secret holding an auth token is refused: it would stop
// working at the promotion.
//
// Fingerprints: a token has no public id, so logs show its usage
// fingerprint (shared/fingerprint: "dkfp_" and 16 hex digits of its
// SHA-256; TokenFingerprint), the id its consumers log with each call. The
// provider implements shared/usagelogs' Fingerprinter, so the lifecycle can
// look for the old token's use in CloudWatch Logs.
//
// Settings (environment): DUALKEY_TWILIO_API_URL and
// DUALKEY_TWILIO_ACCOUNTS_URL (defaults https://api.twilio.com and
// https://accounts.twilio.com; http only on loopback), DUALKEY_TWILIO_TIMEOUT
// (per request, default 20s), DUALKEY_TWILIO_TOKEN_PROPAGATION_BUDGET (how
// long testSecret retries a new token Twilio refuses, default 90s).
//
// Files: doc.go, twiliotoken.go (provider and settings), secret.go (secret
// formats, fingerprint), api.go (twilio-go clients, transport, errors),
// lock.go (the lock keys), create.go (createSecret and Discard), verify.go
// (setSecret and testSecret), lifecycle.go (delete = promote, audit).
package twiliotoken
