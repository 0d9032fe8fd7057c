package rotation

import (
	"slices"
	"strings"
)

// Tags dualkey reads and writes on a secret. The engine checks the
// provider and managed tags; the lifecycle (retire, rollback) reads its
// settings from more tags (see shared/lifecycle and docs/lifecycle.md) and
// records its state in the state tags, which the engine also updates when a
// rotation ends a credential's lifecycle early.
const (
	// TagManaged set to "true" puts a secret under dualkey's management.
	TagManaged = "dualkey:managed"
	// TagProvider names the provider that rotates the secret; a rotation
	// function refuses a secret whose tag names another provider.
	TagProvider = "dualkey:provider"
	// TagEmergency set to "true" makes the next rotation an emergency rotation.
	TagEmergency = "dualkey:emergency"

	// TagState is the lifecycle state of the old credential.
	TagState = "dualkey:state"
	// TagStateVersion is the version the state is about.
	TagStateVersion = "dualkey:state-version"
	// TagStateSince is when the state was entered (RFC 3339).
	TagStateSince = "dualkey:state-since"
	// TagStateNote says why, in words (no secrets).
	TagStateNote = "dualkey:state-note"
	// TagDeactivatedAt is when the DUALKEY_DEACTIVATED version was switched off.
	TagDeactivatedAt = "dualkey:state-deactivated-at"
	// TagStateLeaked lists the versions (ids separated by spaces) whose
	// credential leaked: an emergency rotation's createSecret (or dualkey
	// rotate --emergency) records AWSCURRENT before replacing it, and the
	// lifecycle's emergency switch-off acts only on versions listed here.
	// No automatic rollback may bring them back.
	TagStateLeaked = "dualkey:state-leaked"
)

// LeakedVersions reads TagStateLeaked: version ids separated by spaces
// (commas are read too, but never written: tag values in some AWS
// services may not contain them).
func LeakedVersions(tags map[string]string) []string {
	return strings.FieldsFunc(tags[TagStateLeaked], func(r rune) bool { return r == ',' || r == ' ' })
}

// maxTagValue is the longest tag value dualkey writes (Secrets Manager
// accepts 256).
const maxTagValue = 255

// WithLeaked returns the TagStateLeaked value that lists the versions of
// list and then versions, each once, separated by spaces; the oldest go
// first when the value would not fit a tag.
func WithLeaked(list []string, versions ...string) string {
	var out []string
	for _, v := range append(slices.Clone(list), versions...) {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	for len(strings.Join(out, " ")) > maxTagValue && len(out) > 1 {
		out = out[1:]
	}
	return strings.Join(out, " ")
}

// StateDeleted is the dualkey:state value of a credential that was
// destroyed: its rollback window is over.
const StateDeleted = "deleted"

// Every tag dualkey's functions write starts with StateTagPrefix, so their
// IAM policies can allow TagResource/UntagResource on exactly these keys
// (aws:TagKeys "dualkey:state*") and never on dualkey:provider or
// dualkey:managed, which other policies rely on.
const StateTagPrefix = "dualkey:state"

// Admin secret references in a secret value: dualkey's own field and the one
// AWS's database rotation functions use.
const (
	FieldMasterSecretARN = "master_secret_arn"
	FieldMasterARN       = "masterarn"
)
