// Package stripe rotates a Stripe secret key (sk_) or restricted key (rk_)
// that an operator rolled in the Stripe Dashboard.
//
// Stripe's API (stripe-go/v76, API version 2023-10-16) has no resource for
// API keys: a key can be neither created nor revoked through it. A key is
// rolled in the Dashboard (Developers → API keys → ⋯ → Roll key…), which
// shows the new key once and sets an expiry on the old one (now, or a time
// the operator picks). So a rotation is staged by an operator and verified
// by dualkey:
//
//  1. The operator rolls the key in the Dashboard and runs
//     `dualkey stage SECRET --old-key-expires-in 24h`, which reads the new key
//     from stdin and stores it as a version labelled DUALKEY_INCOMING, with
//     the old key's expiry in previous_key_expires_at.
//  2. `dualkey rotate SECRET` starts the rotation. createSecret adopts the
//     staged key as AWSPENDING; with nothing new staged it fails and says
//     what to do. setSecret has nothing to do.
//  3. testSecret proves, with GET /v1/account, that the new key works, that
//     it belongs to the same Stripe account as the current key (account_id
//     in the secret, or the account the current key answers for) and that it
//     is of the same kind (sk_/rk_) and mode (live/test); for restricted
//     keys the probe reads declared in the secret must succeed too.
//  4. After promotion the old key keeps working until the expiry the
//     operator chose; the lifecycle (SwitchOffExternal) waits for it and
//     then proves with CheckDead that Stripe refuses the old key, alerting
//     while it still works.
//
// Secret value (JSON):
//
//	{
//	  "api_key":    "sk_live_…",              required: sk_live_, sk_test_, rk_live_ or rk_test_
//	  "account_id": "acct_…",                 optional, recommended: the Stripe account the key must belong to
//	  "probes":     ["GET /v1/charges?limit=1"],  optional: reads testSecret makes with the new key (at most 10;
//	                                          GET on /v1/… only); each must answer 2xx
//	  "previous_key_expires_at": "RFC 3339"   written by dualkey stage: when Stripe expires the key this
//	                                          version replaced
//	}
//
// Every other field is copied unchanged to the new version.
//
// Restricted keys and the account check: Stripe answers GET /v1/account
// with 403 to a restricted key that lacks the
// rak_accounts_kyc_id_numbers_read permission, even when every resource is
// set to Read. That 403 is an authenticated answer: Stripe found the key,
// and its message names the key's account ("… on account 'acct_…'"). The
// provider takes the account from the 200 answer when it gets one and from
// the 403 message otherwise; when neither names an account it refuses the
// key. Operators who would rather not rely on the message's wording grant
// the key that permission. The probes then show that the key can do what
// the consumers need.
//
// No key ever reaches a log line or an error: keys are shown as their kind
// and mode prefix and last four characters (sk_live_…abcd), and Stripe's
// error answers are reduced to the HTTP status, the error type and code and
// the request id (stripe-go's *stripe.Error serialises the whole answer,
// which quotes the key masked, and is never printed).
//
// Settings (environment): DUALKEY_STRIPE_API_URL (default
// https://api.stripe.com; http only on loopback, for tests) and
// DUALKEY_STRIPE_TIMEOUT (a duration, default 20s per request).
//
// Files: doc.go, stripe.go (provider and settings), secret.go (secret
// format and key shapes), api.go (stripe-go backend and error
// classification), create.go (createSecret and Staged), verify.go
// (testSecret), lifecycle.go (CheckDead).
package stripe
