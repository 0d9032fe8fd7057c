// Package sendgridfake is a stateful fake of SendGrid's v3 API keys, served
// over HTTP on loopback so a net/http client talks to it as to
// https://api.sendgrid.com:
//
//   - POST /v3/api_keys (name, scopes): 201 with the key shown once;
//   - GET /v3/api_keys (limit), GET/PATCH/PUT/DELETE /v3/api_keys/{id};
//   - GET /v3/scopes: the scopes of the calling key.
//
// Authentication is SendGrid's: "Authorization: Bearer SG.<id>.<secret>". A
// key acts for its own user; a parent user's key may act for one of its
// subusers with the on-behalf-of header, and keys created that way belong to
// the subuser. Every endpoint demands its scope (api_keys.create, .read,
// .update, .delete); a key may only grant scopes it holds itself (403 names
// the missing ones); a user has at most 100 keys (403). Errors have
// SendGrid's shape ({"errors":[{"field":…,"message":…}]}); a per-user rate
// limit answers 429 with X-RateLimit-Limit/-Remaining/-Reset.
//
// Response shapes follow SendGrid's official OpenAPI documents, copied in
// spec/ (MIT, see spec/LICENSE.sendgrid-oai); the tests run every request
// through Prism in proxy mode against them (package sendgridprism).
// docs/vendor-fakes.md lists where the fake differs from SendGrid.
package sendgridfake
