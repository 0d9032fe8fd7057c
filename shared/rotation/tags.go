package rotation

// Tags dualkey reads on a secret. The lifecycle (retire, rollback) adds more;
// see docs/lifecycle.md.
const (
	// TagEmergency set to "true" makes the next rotation an emergency rotation.
	TagEmergency = "dualkey:emergency"
)
