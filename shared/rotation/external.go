package rotation

import (
	"context"
	"time"
)

// SwitchOffExternal: the vendor switches the old credential off by itself,
// at a time the operator chose when rolling the key in the vendor's
// dashboard (Stripe secret and restricted keys, Braintree and other keys
// without a key API). dualkey can neither disable nor delete it; after the
// drain and the usage check the lifecycle waits for the announced expiry and
// then proves the credential is dead, alerting while it still works. The
// provider must implement ExpiryChecker. Rollback is possible only while
// the vendor still accepts the credential.
const SwitchOffExternal SwitchOff = "external"

// StageIncoming labels the version an operator staged with `dualkey stage`:
// a credential rolled in a vendor's dashboard that the next createSecret
// adopts as AWSPENDING.
const StageIncoming = "DUALKEY_INCOMING"

// Liveness is what an ExpiryChecker found out about an old credential.
type Liveness struct {
	// Dead is true when the vendor refused the credential as expired,
	// revoked or unknown.
	Dead bool
	// ExpiresAt is when the operator said the vendor would switch it off
	// (zero when unknown).
	ExpiresAt time.Time
	// Detail is a human-readable, non-secret description of the evidence.
	Detail string
}

// ExpiryChecker is implemented by providers whose old credentials the
// vendor switches off (SwitchOffExternal).
type ExpiryChecker interface {
	// CheckDead makes one harmless call with the credential and reports
	// whether the vendor refuses it. It must not change anything at the
	// vendor, and must return an error (not Dead) when the vendor could not
	// be asked.
	CheckDead(ctx context.Context, req *CredentialRequest) (*Liveness, error)
}

// StageChecker is implemented by providers whose new credentials an
// operator rolls in the vendor's dashboard and stages with dualkey stage
// (StageIncoming): the next createSecret adopts what is staged and fails
// without it. The retire function asks it before a rotation is due, so a
// key that nobody staged raises an alert (KeyNotStaged) instead of a
// failed rotation.
type StageChecker interface {
	// Staged reports whether a credential newer than AWSCURRENT's is
	// staged: the StageIncoming version holds a credential the next
	// createSecret would adopt (neither the current nor the previous one,
	// of the same kind). req.Version is AWSCURRENT (nil: the provider
	// reads it through req.Versions). detail says what is staged, or what
	// the operator must do, without any credential. A staged value that
	// cannot be adopted is (false, why, nil); err is only for versions
	// that cannot be read and a current value that cannot be parsed. It
	// must not change anything.
	Staged(ctx context.Context, req *CredentialRequest) (staged bool, detail string, err error)
}
