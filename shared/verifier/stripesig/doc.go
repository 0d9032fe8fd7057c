// Package stripesig verifies Stripe webhook deliveries for a service
// whose endpoint signing secret is kept in AWS Secrets Manager and rotated
// by dualkey with the dual-key pattern.
//
// Stripe's API cannot roll an endpoint's signing secret, so dualkey rotates
// it by creating a second endpoint with the same URL, events and API
// version, promoting its whsec_ secret, and disabling the old endpoint after
// a drain. While both endpoints are live, Stripe sends every event twice:
// once from each endpoint, each copy signed with its own endpoint's secret
// and carrying the same event id. A Verifier therefore
//
//   - accepts a signature by the secret of the AWSCURRENT, AWSPENDING or
//     AWSPREVIOUS version (AWSPENDING because the new endpoint sends as soon
//     as it exists, before the rotation promotes it);
//   - dedupes by event id: the first copy is processed, the second is
//     reported as a duplicate so the handler acknowledges it with a 2xx
//     without processing it again. A copy whose processing fails is given
//     back (Delivery.Failed), so the retry Stripe sends is processed.
//
// Secrets are refreshed lazily with cheap change detection: DescribeSecret
// every CheckInterval (one call; only the label map is read) and
// GetSecretValue only for a version id not loaded yet. A delivery signed by
// an unknown secret triggers an immediate refresh, rate-limited to one per
// MinRefreshInterval, so a rotation is seen at the first event the new
// endpoint sends. A failing refresh keeps the last good secrets.
//
// Signatures follow Stripe's scheme: Stripe-Signature is
// "t=<unix>,v1=<hex>[,v1=<hex>…]" (two v1 during a Dashboard roll's
// overlap; Stripe adds v0 in test mode, which is ignored), and v1 is
// HMAC-SHA256 keyed with the whole whsec_ secret over "<t>.<payload>".
// Every v1 is compared with every known secret in constant time; the
// timestamp must be within Tolerance (default 5 minutes) either way.
//
// No secret and no signature is ever logged or put in an error: versions are
// named by a short version id, the endpoint id and a fingerprint (the last 4
// characters of the secret).
package stripesig
