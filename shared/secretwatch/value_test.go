package secretwatch_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/dualkey/dualkey/shared/secretwatch"
)

func TestField(t *testing.T) {
	tests := []struct {
		name, secret, field, hint string
		want, wantErr             string
	}{
		{"field", `{"token":"abc","other":1}`, "token", "", "abc", ""},
		{"not JSON: whole string", `plain-value`, "token", "", "plain-value", ""},
		{"JSON string: whole string", `"quoted"`, "token", "", `"quoted"`, ""},
		{"JSON array: whole string", `[1,2]`, "token", "", `[1,2]`, ""},
		{"empty", ``, "token", "", "", "secret string is empty"},
		{"missing", `{"other":"x"}`, "token", "", "", `JSON field "token" not found in secret`},
		{"missing with hint", `{"other":"x"}`, "token", "store it there", "", `JSON field "token" not found in secret: store it there`},
		{"not a string", `{"token":42}`, "token", "", "", `JSON field "token" is not a string`},
		{"null", `{"token":null}`, "token", "", "", `JSON field "token" is empty`},
		{"empty string", `{"token":""}`, "token", "", "", `JSON field "token" is empty`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := secretwatch.Field(tc.secret, tc.field, tc.hint)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("Field = %q, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Field = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestLast4(t *testing.T) {
	tests := []struct{ in, want string }{
		{"sk-abcdefghij-WXYZ", "…WXYZ"},
		{"short", "…"},
		{"elevenchars", "…"},
		{"twelve-chars", "…hars"},
		{"ключ-юникод-ключ", "…ключ"},
	}
	for _, tc := range tests {
		if got := secretwatch.Last4(tc.in); got != tc.want {
			t.Errorf("Last4(len %d) = %q, want %q", len(tc.in), got, tc.want)
		}
	}
}

func TestIsNotFound(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"typed", &types.ResourceNotFoundException{Message: aws.String("no such version")}, true},
		{"wrapped", fmt.Errorf("get: %w", &types.ResourceNotFoundException{}), true},
		{"generic API error", &smithy.GenericAPIError{Code: "ResourceNotFoundException"}, true},
		{"other API error", &smithy.GenericAPIError{Code: "AccessDeniedException"}, false},
		{"network", errors.New("connection reset"), false},
	}
	for _, tc := range tests {
		if got := secretwatch.IsNotFound(tc.err); got != tc.want {
			t.Errorf("%s: IsNotFound = %v, want %v", tc.name, got, tc.want)
		}
	}
}
