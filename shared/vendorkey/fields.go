package vendorkey

import (
	"regexp"

	"github.com/dualkey/dualkey/shared/rotation"
)

// Check is one check of a secret value's field.
type Check struct {
	// Field is the field's name; Value its value.
	Field, Value string
	// Pattern is what the value must match (nil: anything not empty).
	Pattern *regexp.Regexp
	// Not says what a value that does not match is not ("is not a Twilio
	// account SID (AC and 32 hex digits)"); Fix how to correct it.
	Not, Fix string
	// Missing, when set, is the fix of an empty value in place of the
	// secret's shape.
	Missing string
}

// CheckFields returns the rotation.SecretFieldError of the first check
// that fails, nil when all pass: an empty value "is missing or empty" (the
// fix: shape, how to store the secret, or the check's Missing), a value
// that does not match the check's Not and Fix. Errors never contain a
// value.
func CheckFields(shape string, checks ...Check) error {
	for _, c := range checks {
		switch {
		case c.Value == "":
			fix := shape
			if c.Missing != "" {
				fix = c.Missing
			}
			return rotation.SecretFieldError(c.Field, "is missing or empty", fix)
		case c.Pattern != nil && !c.Pattern.MatchString(c.Value):
			return rotation.SecretFieldError(c.Field, c.Not, c.Fix)
		}
	}
	return nil
}
