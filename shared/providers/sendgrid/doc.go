// Package sendgrid rotates a SendGrid v3 API key with the dual-key pattern.
//
// SendGrid lets a user hold up to 100 keys, so the old key keeps working
// while consumers move to the new one:
//
//   - createSecret creates a key with exactly the scopes of the old key
//     (read with the admin key; never wider), for the same user: a key of
//     a subuser is created on behalf of that subuser. A scope the admin key
//     does not hold itself cannot be granted: that is an error naming the
//     scopes, and nothing is created. The key's name is dualkey's marker,
//     "dualkey <version id> <secret tag> <unix time>".
//   - setSecret has nothing to do.
//   - testSecret proves the new key: GET /v3/scopes signed with it must
//     return exactly the old key's scopes, and the admin key must find it
//     among the same user's keys, marked for this rotation.
//   - finishSecret promotes it. SendGrid keys cannot be disabled: the
//     lifecycle takes the delete-only path (drain, usage check,
//     confirmation period, DELETE /v3/api_keys/{id}); rollback is possible
//     until the delete.
//
// Scopes SendGrid adds to every key by itself (2fa_required,
// sender_verification_eligible and their _exempt forms) are not asked for
// and not required of the admin key; testSecret still compares the whole
// sets, so a difference there fails the rotation instead of passing
// silently.
//
// Crashes and duplicate deliveries: SendGrid shows a key once and reports
// no creation date, so the marker carries the creation time. A key marked
// with this rotation's version id that no version references is deleted
// once older than rotation.OrphanAge, and left alone while younger (a
// concurrent delivery may still store it: rotation.ErrConcurrentDelivery).
// Keys without dualkey's marker are never touched, except the ones the
// secret's versions name. A rotation while the AWSPREVIOUS key still exists
// is refused (its retirement must finish first: dualkey retire); an
// emergency rotation deletes it instead and ends its version's lifecycle.
//
// Secret value (JSON):
//
//	{
//	  "api_key":           "SG.…",     required: the key
//	  "api_key_id":        "…",        optional: its id (the part between the dots when absent)
//	  "subuser":           "name",     optional: the subuser the key belongs to
//	  "master_secret_arn": "arn:…"     required: the secret holding the admin key
//	}
//
// Every other field is copied unchanged to the new version. The admin
// secret holds {"api_key": "SG.…"}: a key of the same user (or, for a
// subuser's key, of its parent user) with api_keys.create, api_keys.read,
// api_keys.delete and every scope the rotated key has.
//
// Settings (environment): DUALKEY_SENDGRID_API_URL (default
// https://api.sendgrid.com; https://api.eu.sendgrid.com for EU regional
// subusers; http only on loopback, for tests), DUALKEY_SENDGRID_TIMEOUT
// (per request, default 20s), DUALKEY_SENDGRID_PROPAGATION_BUDGET (how long
// testSecret retries a new key SendGrid refuses, default 30s).
//
// The client is net/http with the shapes of SendGrid's OpenAPI documents
// (sendgrid-go is a generic request builder, not a typed client). A 429
// is retried after Retry-After or X-RateLimit-Reset, within the step's
// deadline; a 401 on the admin key is an error naming the admin secret. No
// key ever reaches a log line or an error: keys are named by their id.
//
// Files: doc.go, sendgrid.go (provider and settings), secret.go (secret
// formats), api.go (HTTP client, rate limit, errors), marker.go (dualkey's
// key names), create.go (createSecret and Discard), verify.go (setSecret
// and testSecret), lifecycle.go (delete and audit).
package sendgrid
