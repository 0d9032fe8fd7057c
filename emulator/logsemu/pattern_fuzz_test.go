package logsemu

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzFilterPattern checks the filter-pattern parser on arbitrary input:
// it never panics; a refusal is a *PatternError pointing inside the
// pattern; an accepted pattern matches like its canonical form; and a term
// pattern matches a message built from its own terms unless an excluded term
// occurs in it.
func FuzzFilterPattern(f *testing.F) {
	for _, s := range []struct{ pattern, message string }{
		{`"SK_OLD_"`, "auth ok key=SK_OLD_1234"},
		{"ERROR -Exiting", "Exiting with ERRORCODE: -1"},
		{"?ERROR ?WARN", "WARN message"},
		{`"a \"quoted\" phrase" back\\slash`, `a "quoted" phrase`},
		{"%^\\[ERROR [0-9]+\\]%", "[ERROR 401] UNAUTHORIZED"},
		{`{ $.x = 1 }`, `{"x":1}`},
		{`[ip, user]`, "127.0.0.1 frank"},
		{`" "`, ""},
		{"- ?", "x"},
	} {
		f.Add(s.pattern, s.message)
	}
	f.Fuzz(func(t *testing.T, pattern, message string) {
		p, err := ParseFilterPattern(pattern)
		if err != nil {
			var pe *PatternError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *PatternError", err)
			}
			if pe.Pos < 0 || pe.Pos > utf8.RuneCountInString(pattern)+1 || pe.Reason == "" || pe.apiMessage() == "" {
				t.Fatalf("bad error %+v for %q", pe, pattern)
			}
			return
		}
		got := p.Match(message)
		q, err := ParseFilterPattern(p.String())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", p.String(), pattern, err)
		}
		if q.Match(message) != got {
			t.Fatalf("%q and its canonical form %q disagree on %q", pattern, p.String(), message)
		}
		if p.re != nil {
			return
		}
		// A message holding every required term and the first ?-term
		// matches, unless it contains an excluded term.
		parts := append([]string{}, p.all...)
		if len(p.any) > 0 {
			parts = append(parts, p.any[0])
		}
		built := strings.Join(parts, " ")
		excluded := false
		for _, n := range p.none {
			excluded = excluded || strings.Contains(built, n)
		}
		if p.Match(built) == excluded {
			t.Fatalf("%q on its own terms %q: match %v, excluded %v", pattern, built, !excluded, excluded)
		}
	})
}
