package awsemu

import (
	"context"
	"strings"

	"github.com/dualkey/dualkey/emulator/internal/awsjson"
)

// Character classes of GetRandomPassword, as AWS defines them.
const (
	pwLower       = "abcdefghijklmnopqrstuvwxyz"
	pwUpper       = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	pwDigits      = "0123456789"
	pwPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
)

type getRandomPasswordInput struct {
	PasswordLength          *int64
	ExcludeCharacters       *string
	ExcludeNumbers          *bool
	ExcludePunctuation      *bool
	ExcludeUppercase        *bool
	ExcludeLowercase        *bool
	IncludeSpace            *bool
	RequireEachIncludedType *bool
}

type getRandomPasswordOutput struct {
	RandomPassword string `json:"RandomPassword"`
}

func isTrue(b *bool) bool { return b != nil && *b }

func (s *Server) getRandomPassword(_ context.Context, in *getRandomPasswordInput) (any, *awsjson.Error) {
	length := int64(32)
	if in.PasswordLength != nil {
		length = *in.PasswordLength
		if aerr := awsjson.CheckRange(protocol, "passwordLength", &length, 1, 4096); aerr != nil {
			return nil, aerr
		}
	}
	if aerr := protocol.CheckLen("excludeCharacters", in.ExcludeCharacters, 0, 4096); aerr != nil {
		return nil, aerr
	}
	exclude := ""
	if in.ExcludeCharacters != nil {
		exclude = *in.ExcludeCharacters
	}
	keep := func(set string) []rune {
		var out []rune
		for _, r := range set {
			if !strings.ContainsRune(exclude, r) {
				out = append(out, r)
			}
		}
		return out
	}
	var classes [][]rune
	add := func(excluded bool, set string) {
		if excluded {
			return
		}
		if rs := keep(set); len(rs) > 0 {
			classes = append(classes, rs)
		}
	}
	add(isTrue(in.ExcludeLowercase), pwLower)
	add(isTrue(in.ExcludeUppercase), pwUpper)
	add(isTrue(in.ExcludeNumbers), pwDigits)
	add(isTrue(in.ExcludePunctuation), pwPunctuation)
	add(!isTrue(in.IncludeSpace), " ")
	if len(classes) == 0 {
		return nil, awsjson.Errorf(codeInvalidParameter, "The password can't be generated because all character types are excluded.")
	}
	requireEach := in.RequireEachIncludedType == nil || *in.RequireEachIncludedType
	if requireEach && length < int64(len(classes)) {
		return nil, awsjson.Errorf(codeInvalidParameter, "Password length is too short based on the required types.")
	}
	var pool []rune
	for _, c := range classes {
		pool = append(pool, c...)
	}
	pw := make([]rune, 0, length)
	if requireEach {
		for _, c := range classes {
			pw = append(pw, c[randIndex(len(c))])
		}
	}
	for int64(len(pw)) < length {
		pw = append(pw, pool[randIndex(len(pool))])
	}
	for i := len(pw) - 1; i > 0; i-- { // Fisher-Yates with crypto/rand
		j := randIndex(i + 1)
		pw[i], pw[j] = pw[j], pw[i]
	}
	return getRandomPasswordOutput{RandomPassword: string(pw)}, nil
}
