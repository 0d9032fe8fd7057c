// Package stripefake is a stateful fake of the part of the Stripe API that
// dualkey's Stripe providers use, served over HTTP on loopback so that the
// real stripe-go/v76 client talks to it (stripe.BackendConfig.URL).
//
// stripe-mock, Stripe's own mock, checks requests against Stripe's OpenAPI
// spec but is stateless: it accepts any sk_test_ key and forgets every
// webhook endpoint it "creates". This fake keeps state, so tests can follow a
// lifecycle: several accounts, each with secret (sk_) and restricted (rk_)
// keys in test and live mode, keys that expire after a Dashboard-style roll,
// webhook endpoints that are created, disabled, re-enabled and deleted, and
// signed events delivered to every enabled endpoint.
//
// The HTTP side answers like Stripe:
//   - auth by "Authorization: Bearer <key>" or HTTP basic auth with the key
//     as user name; missing, unknown and expired keys get 401 and restricted
//     keys without the needed permission 403, with Stripe's JSON error shape
//     ({"error":{"type":"invalid_request_error","code":...,"message":...}})
//     and messages that show a key only masked (prefix and last 4);
//   - form-encoded parameters with bracket notation (enabled_events[0]=…,
//     enabled_events[]=…, metadata[k]=v), unknown parameters refused;
//   - idempotency keys on POST and DELETE (a retry with the same key replays
//     the first answer; the same key with other parameters is an
//     idempotency_error), as stripe-go sends one on every write;
//   - response objects with the same field names, types and id prefixes
//     (acct_, we_, evt_) as stripe-mock's answers to the same requests, which
//     a test in this package checks against the pinned stripe-mock.
//
// Routes: GET /v1/account, GET /v1/balance, GET /v1/charges,
// GET /v1/customers (probe reads; the fake holds no charges or customers, so
// the lists are empty), GET and POST /v1/webhook_endpoints,
// GET, POST and DELETE /v1/webhook_endpoints/{id}.
//
// The Go API is the "Dashboard" and the test's control panel: CreateAccount,
// CreateKey, RollKey (new key, old key expires at the chosen time),
// ExpireKey, RollEndpointSecret (the Dashboard's overlap roll, which signs
// with both secrets), SendEvent and Redeliver (signed deliveries), InjectFault
// (errors, lost responses) and Requests (a call log without key values).
package stripefake
