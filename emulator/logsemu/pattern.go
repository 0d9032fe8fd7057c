package logsemu

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxFilterPatternLength is CloudWatch Logs' limit on filterPattern.
const MaxFilterPatternLength = 1024

// FilterPattern is a compiled CloudWatch Logs filter pattern for unstructured
// log events. The zero value matches every event.
//
// Supported syntax (CloudWatch Logs "filter pattern syntax"):
//
//	ERROR Exception        every bare term must occur (case-sensitive substring)
//	"Failed to process"    a quoted term is an exact phrase; terms with characters
//	                       other than letters, digits and underscore must be quoted
//	?ERROR ?WARN           at least one ?-term must occur
//	ERROR -Exiting         no -term may occur
//	%ERR[0-9]+%            a standalone regular expression between percent signs
//	"" or " "              matches every event
//
// JSON patterns ({ $.field = value }) and space-delimited patterns
// ([ip, user, ...]) are refused with a PatternError.
type FilterPattern struct {
	all  []string // every one must occur
	any  []string // at least one must occur when non-empty
	none []string // none may occur
	re   *regexp.Regexp
	src  string
}

// PatternError describes why a filter pattern was refused.
type PatternError struct {
	// Pos is the 1-based character position the problem was found at (0 when
	// it concerns the whole pattern).
	Pos int
	// Reason explains the problem and how to fix it.
	Reason string

	verbatim bool // Reason is CloudWatch Logs' own message
}

func (e *PatternError) Error() string {
	if e.Pos > 0 {
		return fmt.Sprintf("invalid filter pattern at character %d: %s", e.Pos, e.Reason)
	}
	return "invalid filter pattern: " + e.Reason
}

func patternErr(pos int, format string, args ...any) *PatternError {
	return &PatternError{Pos: pos, Reason: fmt.Sprintf(format, args...)}
}

// apiMessage is the InvalidParameterException message for e.
func (e *PatternError) apiMessage() string {
	switch {
	case e.verbatim:
		return e.Reason
	case e.Pos > 0:
		return fmt.Sprintf("Invalid filter pattern: %s (at character %d)", e.Reason, e.Pos)
	}
	return "Invalid filter pattern: " + e.Reason
}

// ParseFilterPattern compiles pattern. An empty pattern matches every event.
func ParseFilterPattern(pattern string) (*FilterPattern, error) {
	if len(pattern) > MaxFilterPatternLength {
		return nil, patternErr(0, "the pattern is %d characters long; the limit is %d", len(pattern), MaxFilterPatternLength)
	}
	if !utf8.ValidString(pattern) {
		return nil, patternErr(0, "the pattern is not valid UTF-8")
	}
	p := &FilterPattern{src: pattern}
	s := strings.TrimSpace(pattern)
	if s == "" {
		return p, nil
	}
	switch s[0] {
	case '{':
		if !strings.HasSuffix(s, "}") {
			return nil, &PatternError{Reason: "If a filter pattern starts with '{' it must end with '}'", verbatim: true}
		}
		return nil, patternErr(0, "JSON filter patterns ({ $.field = value }) are not supported by the dualkey emulator; use terms or \"exact phrases\"")
	case '[':
		if !strings.HasSuffix(s, "]") {
			return nil, &PatternError{Reason: "If a filter pattern starts with '[' it must end with ']'", verbatim: true}
		}
		return nil, patternErr(0, "space-delimited filter patterns ([field, ...]) are not supported by the dualkey emulator; use terms or \"exact phrases\"")
	case '%':
		return parseRegex(p, s)
	}
	if err := parseTerms(p, pattern); err != nil {
		return nil, err
	}
	return p, nil
}

// regexAllowed reports whether r may appear in a regex filter pattern: letters
// and digits, the symbols and operators CloudWatch Logs documents, and spaces.
func regexAllowed(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("_#=@/;,-: ^$?[]{}|\\*+.", r)
}

func parseRegex(p *FilterPattern, s string) (*FilterPattern, error) {
	if len(s) < 2 || !strings.HasSuffix(s, "%") {
		return nil, patternErr(0, "a regular expression pattern must start and end with %%, for example %%ERROR [0-9]+%%")
	}
	body := s[1 : len(s)-1]
	if body == "" {
		return nil, patternErr(0, "the regular expression between the %% signs is empty")
	}
	for i, r := range body {
		if r == '(' || r == ')' {
			return nil, patternErr(i+2, "parentheses are not supported in regular expression patterns")
		}
		if r >= utf8.RuneSelf {
			return nil, patternErr(i+2, "multi-byte characters are not supported in regular expression patterns")
		}
		if !regexAllowed(r) {
			return nil, patternErr(i+2, "character %q is not supported in regular expression patterns", r)
		}
	}
	re, err := regexp.Compile(body)
	if err != nil {
		return nil, patternErr(0, "the regular expression does not compile: %v", err)
	}
	p.re = re
	return p, nil
}

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// parseTerms parses a sequence of (optionally ?- or --prefixed) bare or quoted
// terms separated by white space.
func parseTerms(p *FilterPattern, s string) error {
	rs := []rune(s)
	i := 0
	for {
		for i < len(rs) && unicode.IsSpace(rs[i]) {
			i++
		}
		if i >= len(rs) {
			return nil
		}
		start := i
		op := rune(0)
		if rs[i] == '?' || rs[i] == '-' {
			op = rs[i]
			i++
			for i < len(rs) && unicode.IsSpace(rs[i]) {
				i++
			}
			if i >= len(rs) {
				return patternErr(start+1, "%q must be followed by a term", op)
			}
			if rs[i] == '?' || rs[i] == '-' {
				return patternErr(i+1, "%q cannot follow %q; write one operator per term", rs[i], op)
			}
		}
		var term string
		if rs[i] == '"' {
			open := i
			i++
			var b strings.Builder
			closed := false
			for i < len(rs) {
				c := rs[i]
				if c == '\\' && i+1 < len(rs) && (rs[i+1] == '"' || rs[i+1] == '\\') {
					b.WriteRune(rs[i+1])
					i += 2
					continue
				}
				if c == '"' {
					closed = true
					i++
					break
				}
				b.WriteRune(c)
				i++
			}
			if !closed {
				return patternErr(open+1, "the quoted term is not closed; add a closing \"")
			}
			if i < len(rs) && !unicode.IsSpace(rs[i]) {
				return patternErr(i+1, "separate terms with a space after the closing \"")
			}
			term = b.String()
			if strings.TrimSpace(term) == "" {
				term = "" // " " matches every event
			}
		} else {
			wordStart := i
			for i < len(rs) && !unicode.IsSpace(rs[i]) {
				i++
			}
			word := string(rs[wordStart:i])
			for j, r := range rs[wordStart:i] {
				if !isWordRune(r) {
					return patternErr(wordStart+j+1, "term %q contains %q; terms with characters other than letters, digits and underscore must be in double quotes: \"%s\"", word, r, strings.ReplaceAll(word, `"`, `\"`))
				}
			}
			term = word
		}
		switch op {
		case '?':
			p.any = append(p.any, term)
		case '-':
			p.none = append(p.none, term)
		default:
			p.all = append(p.all, term)
		}
	}
}

// Match reports whether message matches the pattern.
func (p *FilterPattern) Match(message string) bool {
	if p == nil {
		return true
	}
	if p.re != nil {
		return p.re.MatchString(message)
	}
	for _, t := range p.all {
		if !strings.Contains(message, t) {
			return false
		}
	}
	for _, t := range p.none {
		if strings.Contains(message, t) {
			return false
		}
	}
	if len(p.any) == 0 {
		return true
	}
	for _, t := range p.any {
		if strings.Contains(message, t) {
			return true
		}
	}
	return false
}

// MatchesAll reports whether the pattern matches every event (it is empty).
func (p *FilterPattern) MatchesAll() bool {
	return p == nil || (p.re == nil && len(p.all) == 0 && len(p.any) == 0 && len(p.none) == 0)
}

// String returns a canonical form of the pattern that parses to an equivalent
// pattern: every term quoted, required terms first, then ?-terms, then
// -terms.
func (p *FilterPattern) String() string {
	if p == nil {
		return ""
	}
	if p.re != nil {
		return "%" + p.re.String() + "%"
	}
	quote := func(t string) string {
		return `"` + strings.ReplaceAll(strings.ReplaceAll(t, `\`, `\\`), `"`, `\"`) + `"`
	}
	var parts []string
	for _, t := range p.all {
		parts = append(parts, quote(t))
	}
	for _, t := range p.any {
		parts = append(parts, "?"+quote(t))
	}
	for _, t := range p.none {
		parts = append(parts, "-"+quote(t))
	}
	return strings.Join(parts, " ")
}
