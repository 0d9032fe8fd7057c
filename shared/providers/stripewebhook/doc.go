// Package stripewebhook rotates the signing secret (whsec_) of a Stripe
// webhook endpoint with the dual-key pattern.
//
// Stripe's API cannot roll an endpoint's signing secret (only the Dashboard
// can, and it keeps the old one for at most 24 hours), so the provider
// rotates the endpoint instead:
//
//   - createSecret creates a second endpoint with the same URL, API version,
//     description and metadata as the current one, listening at first only to
//     a placeholder event type (account.application.deauthorized, which
//     Stripe sends only to Connect applications, never to an account's own
//     endpoint), and stores its id and secret as AWSPENDING. No delivery can
//     be signed by a secret the consumers cannot load yet.
//   - setSecret gives the new endpoint the current endpoint's
//     enabled_events (and enables it): from now on Stripe sends every event
//     twice, once from each endpoint, each copy signed by its own endpoint's
//     secret. Consumers that verify with shared/verifier/stripesig accept
//     AWSPENDING, AWSCURRENT and AWSPREVIOUS and drop the second copy by
//     event id.
//   - testSecret checks the new endpoint: enabled, same URL, events, API
//     version and mode as the current one, and a whsec_ secret of its own.
//   - finishSecret promotes it. The old endpoint keeps sending until the
//     lifecycle (SwitchOffReversible) disables it after the drain
//     (Deactivate: disabled=true; rollback re-enables it) and deletes it
//     after the grace period.
//
// Each endpoint the provider creates carries two metadata keys:
// dualkey_rotation (the rotation token) and dualkey_secret (the secret's
// name). The create request's Idempotency-Key is derived from the token and
// the request, so a createSecret retried within Stripe's 24 hours gets the
// same endpoint back, with its secret, instead of making a second one. An
// endpoint marked with this rotation's token that no version stores is an
// earlier attempt's: it is adopted when Stripe replays it, deleted once it
// is older than rotation.OrphanAge otherwise, and left alone while younger
// (a concurrent delivery may still store it). Endpoints without the marker
// are never touched, except the ones the secret's versions name.
//
// The calls are made with a Stripe key allowed to manage webhook endpoints
// (a secret key, or a restricted key with Webhook Endpoints: Write), kept in
// another secret that master_secret_arn names: {"api_key": "sk_live_…"}.
// The key's mode (live/test) is the endpoints' mode.
//
// Secret value (JSON):
//
//	{
//	  "endpoint_id":       "we_…",     required: the endpoint whose secret this is
//	  "webhook_secret":    "whsec_…",  required: its signing secret
//	  "master_secret_arn": "arn:…"     required: the secret holding the Stripe key that manages endpoints
//	}
//
// Every other field is copied unchanged to the new version.
//
// Settings (environment): DUALKEY_STRIPE_API_URL (default
// https://api.stripe.com; http only on loopback, for tests) and
// DUALKEY_STRIPE_TIMEOUT (a duration, default 20s per request).
//
// No key and no signing secret ever reaches a log line or an error:
// endpoints are named by their we_ id and keys by their prefix and last
// four characters; Stripe's error answers are reduced to the HTTP status,
// type, code and request id.
//
// Files: doc.go, webhook.go (provider and settings), secret.go (secret
// formats), api.go (stripe-go backend, endpoint calls, errors), create.go
// (createSecret and Discard), verify.go (setSecret and testSecret),
// lifecycle.go (deactivate, reactivate, delete, audit).
package stripewebhook
