package logsemu_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/emulator/logsemu"
)

// The examples of CloudWatch Logs' "Filter pattern syntax" documentation.
var docEvents = []string{
	"[ERROR] A fatal exception has occurred",
	"Exiting with ERRORCODE: -1",
	"[WARN] Failed to process the request",
	"[ERROR] Unable to continue: Failed to process the request",
	"ERROR WARN message",
	"ERROR message",
	"WARN message",
	"[SUCCESS 200] AUTHORIZED REQUEST",
	"[ERROR 401] UNAUTHORIZED REQUEST",
}

func TestFilterPatternMatches(t *testing.T) {
	cases := []struct {
		pattern string
		want    []int // indexes into docEvents
	}{
		{"", []int{0, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"   ", []int{0, 1, 2, 3, 4, 5, 6, 7, 8}},
		{`" "`, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}},
		{`""`, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"ERROR", []int{0, 1, 3, 4, 5, 8}},
		{`"ERROR"`, []int{0, 1, 3, 4, 5, 8}},
		{"error", nil},
		{"ERROR -Exiting", []int{0, 3, 4, 5, 8}},
		{`"ERROR" - "Exiting"`, []int{0, 3, 4, 5, 8}},
		{"ERROR WARN", []int{4}},
		{"?ERROR ?WARN", []int{0, 1, 2, 3, 4, 5, 6, 8}},
		{"ERROR -WARN", []int{0, 1, 3, 5, 8}},
		{`"Failed to process the request"`, []int{2, 3}},
		{`"request the process"`, nil},
		{"Failed request", []int{2, 3}},
		{"%AUTHORIZED%", []int{7, 8}},
		{"%^\\[ERROR [0-9]+\\]%", []int{8}},
		{"%[Ee]rror|WARN%", []int{2, 4, 6}},
		{"-ERROR", []int{2, 6, 7}},
		{"?fatal ?Unable -WARN", []int{0, 3}},
		{`"[ERROR]" ?fatal ?continue`, []int{0, 3}},
		{`"ERRORCODE: -1"`, []int{1}},
		{"ERRORCODE_X", nil},
		{`"A \"quoted\" word"`, nil},
		{"Ünïcode_42", nil},
	}
	for _, c := range cases {
		t.Run(c.pattern, func(t *testing.T) {
			p, err := logsemu.ParseFilterPattern(c.pattern)
			if err != nil {
				t.Fatalf("ParseFilterPattern(%q): %v", c.pattern, err)
			}
			var got []int
			for i, m := range docEvents {
				if p.Match(m) {
					got = append(got, i)
				}
			}
			if !equalInts(got, c.want) {
				t.Fatalf("%q matches %v, want %v", c.pattern, got, c.want)
			}
			// The canonical form means the same.
			q, err := logsemu.ParseFilterPattern(p.String())
			if err != nil {
				t.Fatalf("canonical form %q does not parse: %v", p.String(), err)
			}
			for _, m := range docEvents {
				if p.Match(m) != q.Match(m) {
					t.Fatalf("canonical form %q disagrees on %q", p.String(), m)
				}
			}
		})
	}
}

func TestFilterPatternEscapes(t *testing.T) {
	p, err := logsemu.ParseFilterPattern(`"say \"hi\"" "back\\slash"`)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Match(`we say "hi" with a back\slash`) || p.Match(`we say hi with a back\slash`) {
		t.Fatal("escaped quote or backslash not matched literally")
	}
}

func TestFilterPatternRefusals(t *testing.T) {
	cases := []struct {
		pattern string
		pos     int
		reason  string // substring
	}{
		{`"unterminated`, 1, "not closed"},
		{`ok "unterminated`, 4, "not closed"},
		{`key=value`, 4, `must be in double quotes: "key=value"`},
		{`foo-bar`, 4, "double quotes"},
		{`a?b`, 2, "double quotes"},
		{`?`, 1, "must be followed by a term"},
		{`ERROR -`, 7, "must be followed by a term"},
		{`?-x`, 2, "cannot follow"},
		{`"a""b"`, 4, "separate terms"},
		{`{ $.level = "ERROR" }`, 0, "JSON filter patterns"},
		{`{ $.level = "ERROR"`, 0, "If a filter pattern starts with '{' it must end with '}'"},
		{`[ip, user]`, 0, "space-delimited"},
		{`[ip, user`, 0, "must end with ']'"},
		{`%unterminated`, 0, "start and end with %"},
		{`%%`, 0, "empty"},
		{`%(a|b)%`, 2, "parentheses"},
		{`%caf` + "\u00e9" + `%`, 5, "multi-byte"},
		{`%wow!%`, 5, "not supported"},
		{`%a{2,1}%`, 0, "does not compile"},
		{strings.Repeat("a", 1025), 0, "limit is 1024"},
		{"\xff", 0, "UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.pattern, func(t *testing.T) {
			_, err := logsemu.ParseFilterPattern(c.pattern)
			var pe *logsemu.PatternError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseFilterPattern(%q) error = %v, want a *PatternError", c.pattern, err)
			}
			if pe.Pos != c.pos || !strings.Contains(pe.Reason, c.reason) {
				t.Fatalf("error = %+v, want position %d and a reason containing %q", pe, c.pos, c.reason)
			}
		})
	}
}

func TestNilPatternMatchesAll(t *testing.T) {
	var p *logsemu.FilterPattern
	if !p.Match("anything") || !p.MatchesAll() || p.String() != "" {
		t.Fatal("nil pattern does not match everything")
	}
	q, _ := logsemu.ParseFilterPattern("x")
	if q.MatchesAll() {
		t.Fatal("a term pattern claims to match everything")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
