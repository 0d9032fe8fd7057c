package awsemu_test

import (
	"strings"
	"testing"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/emulator/awsemu"
)

const awsPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

func classes(pw string) (lower, upper, digit, punct, space bool) {
	for _, r := range pw {
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		case r == ' ':
			space = true
		case strings.ContainsRune(awsPunctuation, r):
			punct = true
		}
	}
	return
}

func TestGetRandomPassword(t *testing.T) {
	e := startEmu(t, awsemu.Config{})
	tests := []struct {
		name                               string
		in                                 secretsmanager.GetRandomPasswordInput
		length                             int
		lower, upper, digit, punct, space  bool // must appear (RequireEachIncludedType)
		noLower, noUpper, noDigit, noPunct bool // must not appear
		noSpace                            bool
		excluded                           string
	}{
		{name: "defaults", length: 32, lower: true, upper: true, digit: true, punct: true, noSpace: true},
		{name: "length 8", in: secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(8)}, length: 8, lower: true, upper: true, digit: true, punct: true, noSpace: true},
		{name: "no punctuation", in: secretsmanager.GetRandomPasswordInput{ExcludePunctuation: aws.Bool(true)}, length: 32, lower: true, upper: true, digit: true, noPunct: true, noSpace: true},
		{name: "digits only", in: secretsmanager.GetRandomPasswordInput{ExcludePunctuation: aws.Bool(true), ExcludeLowercase: aws.Bool(true), ExcludeUppercase: aws.Bool(true), PasswordLength: aws.Int64(64)}, length: 64, digit: true, noLower: true, noUpper: true, noPunct: true, noSpace: true},
		{name: "include space", in: secretsmanager.GetRandomPasswordInput{IncludeSpace: aws.Bool(true), PasswordLength: aws.Int64(5)}, length: 5, lower: true, upper: true, digit: true, punct: true, space: true},
		{name: "exclude characters", in: secretsmanager.GetRandomPasswordInput{ExcludeCharacters: aws.String("abcdefghijklmnopqrstuvwxyz0123456789/\"'\\@"), PasswordLength: aws.Int64(200)}, length: 200, upper: true, punct: true, noLower: true, noDigit: true, noSpace: true, excluded: "/\"'\\@"},
		{name: "one char without requirement", in: secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(1), RequireEachIncludedType: aws.Bool(false)}, length: 1, noSpace: true},
		{name: "max length", in: secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(4096)}, length: 4096, lower: true, upper: true, digit: true, punct: true, noSpace: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := 0; i < 20; i++ { // randomness: repeat to catch a missing class
				out := must(e.sm.GetRandomPassword(ctx, &tt.in)).ok(t)
				pw := aws.ToString(out.RandomPassword)
				if len([]rune(pw)) != tt.length {
					t.Fatalf("length = %d, want %d", len([]rune(pw)), tt.length)
				}
				lo, up, di, pu, sp := classes(pw)
				if (tt.lower && !lo) || (tt.upper && !up) || (tt.digit && !di) || (tt.punct && !pu) || (tt.space && !sp) {
					t.Fatalf("a required character class is missing (lower %v upper %v digit %v punct %v space %v)", lo, up, di, pu, sp)
				}
				if (tt.noLower && lo) || (tt.noUpper && up) || (tt.noDigit && di) || (tt.noPunct && pu) || (tt.noSpace && sp) {
					t.Fatalf("an excluded character class appears (lower %v upper %v digit %v punct %v space %v)", lo, up, di, pu, sp)
				}
				if tt.excluded != "" && strings.ContainsAny(pw, tt.excluded) {
					t.Fatal("an excluded character appears")
				}
				for _, r := range pw {
					if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || strings.ContainsRune(awsPunctuation, r)) {
						t.Fatalf("character %q outside the AWS alphabet", r)
					}
				}
			}
		})
	}

	errs := []struct {
		name string
		in   secretsmanager.GetRandomPasswordInput
		code string
	}{
		{"zero length", secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(0)}, "ValidationException"},
		{"too long", secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(4097)}, "ValidationException"},
		{"shorter than required types", secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(3)}, "InvalidParameterException"},
		{"everything excluded", secretsmanager.GetRandomPasswordInput{ExcludeLowercase: aws.Bool(true), ExcludeUppercase: aws.Bool(true), ExcludeNumbers: aws.Bool(true), ExcludePunctuation: aws.Bool(true)}, "InvalidParameterException"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.sm.GetRandomPassword(ctx, &tt.in)
			wantCode(t, err, tt.code)
		})
	}
}
