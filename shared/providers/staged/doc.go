// Package staged rotates a credential that can only be rolled in a vendor's
// dashboard (Braintree API keys, and any vendor without an API for its
// keys): an operator rolls it and stages the new one, and dualkey verifies
// it with a probe the secret declares before promoting it.
//
//  1. The operator rolls the key in the vendor's dashboard and runs
//     `dualkey stage SECRET` with the new credential on stdin (one value,
//     or a JSON object for a credential of several fields, such as a
//     Braintree public/private key pair), optionally saying when the vendor
//     switches the old one off (--old-key-expires-in / --old-key-expires-at).
//     It is stored as a version labelled DUALKEY_INCOMING.
//  2. `dualkey rotate SECRET`: createSecret adopts the staged credential
//     fields as AWSPENDING; with nothing new staged it fails and says what
//     to do. setSecret has nothing to do.
//  3. testSecret sends the probe with the new credential and needs the
//     expected status; when the probe declares an identity (a JSON pointer
//     into the answer), the new credential must answer with the same
//     identity as the current one (or as identity.expect).
//  4. After promotion the lifecycle (SwitchOffExternal) waits until the old
//     credential should be dead and proves it with the probe: 401 or 403 is
//     dead; it alerts while the old credential still works (for vendors that
//     never expire a rolled key, the operator must revoke it in the
//     dashboard).
//
// Secret value (JSON), for example a Braintree API key pair checked with
// Braintree's GraphQL API (viewer.merchant.id names the merchant):
//
//	{
//	  "public_key":  "…",                          the credential's fields (any names the probe's auth uses)
//	  "private_key": "…",
//	  "probe": {
//	    "method": "POST",                          GET, HEAD or POST (default GET)
//	    "url":    "https://payments.braintree-api.com/graphql",   https only (http only to 127.0.0.1 or localhost)
//	    "auth":   {"basic": {"username_field": "public_key", "password_field": "private_key"}},
//	              or {"header": "Authorization", "prefix": "Bearer ", "field": "api_key"}
//	    "headers": {"Braintree-Version": "2019-01-01", "Content-Type": "application/json"},
//	    "body":   "{\"query\": \"query { viewer { merchant { id } } }\"}",   POST only
//	    "expect_status": 200,                      default: any 2xx (redirects are not followed)
//	    "identity": {"pointer": "/data/viewer/merchant/id", "expect": "…"}   optional; expect optional
//	  },
//	  "previous_key_expires_at": "RFC 3339"       written by dualkey stage when the vendor expires the old key
//	}
//
// Every other field is copied unchanged to the new version. Only the
// credential fields named by probe.auth (and previous_key_expires_at) are
// taken from the staged version; the probe comes from AWSCURRENT, so a
// staged value cannot redirect the probe (and the credential) elsewhere.
//
// Nothing secret reaches a log line, an error or a metric: credentials are
// shown as their last four characters, the probe URL only through
// rotation.SafeURL (no user info, no query values), and the probe's answer
// body is never logged or quoted. Redirects are not followed (a redirect is
// a wrong status), so the credential goes to the declared host only.
//
// Settings (environment): DUALKEY_STAGED_TIMEOUT (a duration, default 20s
// per probe).
//
// Files: doc.go, staged.go (provider and settings), secret.go (secret
// format and probe spec), probe.go (sending the probe), create.go
// (createSecret and Staged), verify.go (testSecret and CheckDead).
package staged
