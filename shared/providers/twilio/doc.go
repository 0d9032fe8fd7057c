// Package twilio rotates a Twilio API key (a Standard key, or a restricted
// key with a policy) with the dual-key pattern.
//
// Twilio lets an account hold many API keys at once, so the old key keeps
// working while consumers move to the new one:
//
//   - createSecret creates a new key with the admin credential (the
//     account's auth token or a Main key, kept in the secret that
//     master_secret_arn names): a restricted key gets exactly the old key's
//     policy (IAM v1), a Standard key stays Standard (API 2010). Its
//     friendly name is dualkey's marker, "dualkey <version id> <secret tag>",
//     which says which rotation of which secret made it.
//   - setSecret has nothing to do: a new key works at once.
//   - testSecret proves the new key: the admin credential finds it in the
//     same account with the same policy, and a call signed with it (one page
//     of the account's Messages, which every Standard key may read) is
//     accepted by Twilio for that account.
//   - finishSecret promotes it. Twilio keys cannot be disabled, so the
//     lifecycle takes the delete-only path (rotation.SwitchOffDeleteOnly):
//     drain, usage check and confirmation period, then Delete; rollback is
//     possible until the delete.
//
// Crashes and duplicate deliveries: the engine stores a new key within
// rotation.StoreWithin of creating it or never, and the secret of a key is
// shown once, so a key marked with this rotation's version id that no
// version references cannot be adopted: createSecret deletes it once it is
// older than rotation.OrphanAge (a crashed attempt's), and fails with
// rotation.ErrConcurrentDelivery while it is younger (a concurrent delivery
// of the step may still store it). Keys without dualkey's marker are never
// touched, except the ones the secret's versions name.
//
// A rotation that starts while the previous key (AWSPREVIOUS) still exists
// at Twilio would leave that key without a label, valid for ever: Create
// refuses it and says to finish the retirement first (dualkey retire).
// An emergency rotation (tag dualkey:emergency=true) deletes that older key
// instead, ends its version's lifecycle (CreateResponse.Retired), and goes
// on: the leaked key must be replaced now.
//
// Secret value (JSON):
//
//	{
//	  "account_sid":       "AC…",    required: the account the key belongs to
//	  "api_key_sid":       "SK…",    required: the key
//	  "api_key_secret":    "…",      required: its secret
//	  "master_secret_arn": "arn:…"   required: the secret holding the admin credential
//	}
//
// Every other field is copied unchanged to the new version. The admin
// secret holds {"account_sid": "AC…", "auth_token": "…"} or {"account_sid":
// "AC…", "api_key_sid": "SK…", "api_key_secret": "…"} (a Main key: Standard
// and restricted keys cannot manage keys, and Twilio refuses them with 401).
//
// Settings (environment): DUALKEY_TWILIO_API_URL, DUALKEY_TWILIO_IAM_URL
// (defaults https://api.twilio.com and https://iam.twilio.com; http only on
// loopback, for tests), DUALKEY_TWILIO_TIMEOUT (per request, default 20s),
// DUALKEY_TWILIO_PROPAGATION_BUDGET (how long testSecret retries a new key
// Twilio refuses, default 30s).
//
// A 429 answer is retried after its Retry-After, within the step's
// deadline; a 401 on the admin credential is an error naming the admin
// secret. No key secret and no auth token ever reaches a log line or an
// error: keys are named by their SK… id.
//
// Files: doc.go, twilio.go (provider and settings), secret.go (secret
// formats), api.go (twilio-go clients, transport, errors), marker.go
// (dualkey's friendly names), create.go (createSecret and Discard),
// verify.go (setSecret and testSecret), lifecycle.go (delete and audit).
package twilio
