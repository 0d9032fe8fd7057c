package vendorkey

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/shared/rotation"
)

func TestCheckFields(t *testing.T) {
	id := regexp.MustCompile(`^ID[0-9]+$`)
	checks := func(a, b string) []Check {
		return []Check{
			{Field: "id", Value: a, Pattern: id, Not: "is not an id (ID and digits)", Fix: "copy it"},
			{Field: "master_secret_arn", Value: b, Missing: "set it to the admin secret's ARN"},
		}
	}
	tests := []struct {
		name, a, b, want string
	}{
		{"good", "ID1", "arn:x", ""},
		{"missing", "", "arn:x", `"id" is missing or empty`},
		{"bad", "ID-secretvalue", "arn:x", `"id" is not an id (ID and digits)`},
		{"missing with its own fix", "ID1", "", "set it to the admin secret's ARN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckFields("store it as {...}", checks(tc.a, tc.b)...)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckFields = %v, want nil", err)
				}
				return
			}
			var fe *rotation.FieldError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secretvalue") {
				t.Fatalf("CheckFields = %v, want a FieldError containing %q and no value", err, tc.want)
			}
		})
	}
}
