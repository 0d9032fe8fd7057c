// Package twiliofake is a stateful fake of the parts of Twilio's REST API that
// dualkey rotates, served over HTTP on loopback so the real twilio-go client
// talks to it:
//
//   - api.twilio.com (2010-04-01): fetch an Account; create, list, fetch,
//     update and delete standard API keys (Accounts/{AccountSid}/Keys); send
//     and list Messages (the traffic a consumer of a key generates);
//   - iam.twilio.com (IAM v1): create, list, fetch, update and delete keys,
//     standard or restricted (KeyType=restricted with a Policy);
//   - accounts.twilio.com (Accounts v1): create and delete the secondary auth
//     token, promote it to primary.
//
// Authentication is Twilio's: HTTP basic with AccountSid:AuthToken (the
// primary token, or the secondary while one exists) or KeySid:KeySecret. Main
// keys and the auth token may do everything; standard keys everything but the
// Account and Keys resources and the auth tokens (401, code 20003, as Twilio
// answers); restricted keys only what their policy allows (403, code 20403).
// Errors have Twilio's shape ({"code","message","more_info","status"}), and a
// per-account rate limit answers 429 (code 20429) with Retry-After.
//
// Response shapes follow Twilio's official OpenAPI documents, copied in
// spec/ (MIT, see spec/LICENSE.twilio-oai); the tests run every request
// through Prism in proxy mode against those documents. docs/vendor-fakes.md
// lists what the fake supports and where it differs from Twilio.
//
// Twilio signs webhooks with the account's primary auth token: SignWebhook
// and SendWebhook do the same (X-Twilio-Signature, checked against
// twilio-go's RequestValidator), so a consumer's verifier can be tested
// across a token promotion.
//
// twilio-go has no base-URL option: Transport rewrites *.twilio.com to the
// fake (or to a Prism in front of it), and NewRestClient builds a real
// *twilio.RestClient that uses it.
package twiliofake
