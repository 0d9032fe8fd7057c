package mysql

import (
	"fmt"
	"sort"
	"strings"
)

// Account is a MySQL/MariaDB account: a user name and a host pattern.
type Account struct {
	User string
	Host string
}

// String quotes the account for SQL with backticks (doubled inside), which
// means the same under every sql_mode.
func (a Account) String() string { return quoteName(a.User) + "@" + quoteName(a.Host) }

func quoteName(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// grant is one line of SHOW GRANTS, split into the parts a replay needs.
type grant struct {
	kind string // kindPriv, kindRole, kindDefaultRole, kindRevoke
	// privs is the privilege list as the server wrote it ("SELECT, INSERT
	// (`a`)"), or the role for role grants and default roles.
	privs string
	// object is what the privileges are on ("*.*", "`db`.*",
	// "PROCEDURE `db`.`p`", "''@'%'" for PROXY).
	object string
	// option is WITH GRANT OPTION (privileges) or WITH ADMIN OPTION
	// (roles).
	option bool
}

const (
	kindPriv        = "GRANT"
	kindRole        = "ROLE"
	kindDefaultRole = "DEFAULT ROLE"
	kindRevoke      = "REVOKE"
)

// quoteMask marks the bytes of s that are inside '...', "..." or `...`
// (MySQL's quoting; a doubled quote stays inside, a backslash escapes the
// next byte inside '...' and "...").
func quoteMask(s string) []bool {
	in := make([]bool, len(s))
	var q byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case q == 0 && (ch == '\'' || ch == '"' || ch == '`'):
			q = ch
			in[i] = true
		case q != 0:
			in[i] = true
			if ch == '\\' && q != '`' && i+1 < len(s) {
				i++
				in[i] = true
			} else if ch == q {
				if i+1 < len(s) && s[i+1] == q {
					i++
					in[i] = true
				} else {
					q = 0
				}
			}
		}
	}
	return in
}

// index finds the first occurrence of word (such as " TO ") outside quotes,
// case-insensitively, at or after from; -1 if none.
func index(s string, mask []bool, word string, from int) int {
	up := strings.ToUpper(s)
	for i := from; i+len(word) <= len(s); i++ {
		j := strings.Index(up[i:], word)
		if j < 0 {
			return -1
		}
		i += j
		quoted := false
		for k := i; k < i+len(word); k++ {
			if mask[k] {
				quoted = true
				break
			}
		}
		if !quoted {
			return i
		}
	}
	return -1
}

// parseGrant splits one SHOW GRANTS line. Lines it does not understand are
// an error: replaying half a grant set would give the clone other privileges
// than the current user's.
func parseGrant(line string) (grant, error) {
	line = strings.TrimSpace(line)
	mask := quoteMask(line)
	up := strings.ToUpper(line)
	bad := fmt.Errorf("unexpected SHOW GRANTS line starting %q", firstWords(line))
	switch {
	case strings.HasPrefix(up, "SET DEFAULT ROLE "):
		forAt := index(line, mask, " FOR ", 0)
		if forAt < 0 {
			return grant{}, bad
		}
		return grant{kind: kindDefaultRole, privs: strings.TrimSpace(line[len("SET DEFAULT ROLE "):forAt])}, nil
	case strings.HasPrefix(up, "REVOKE "):
		on := index(line, mask, " ON ", 0)
		from := index(line, mask, " FROM ", 0)
		if on < 0 || from < on {
			return grant{}, bad
		}
		return grant{kind: kindRevoke, privs: strings.TrimSpace(line[len("REVOKE "):on]), object: strings.TrimSpace(line[on+4 : from])}, nil
	case strings.HasPrefix(up, "GRANT "):
		to := index(line, mask, " TO ", 0)
		if to < 0 {
			return grant{}, bad
		}
		tail := up[to:]
		tailMask := mask[to:]
		on := index(line[:to], mask[:to], " ON ", 0)
		if on < 0 {
			// GRANT `role` TO ... [WITH ADMIN OPTION]
			return grant{kind: kindRole, privs: strings.TrimSpace(line[len("GRANT "):to]),
				option: index(tail, tailMask, " WITH ADMIN OPTION", 0) >= 0}, nil
		}
		return grant{kind: kindPriv, privs: strings.TrimSpace(line[len("GRANT "):on]), object: strings.TrimSpace(line[on+4 : to]),
			option: index(tail, tailMask, " GRANT OPTION", 0) >= 0}, nil
	}
	return grant{}, bad
}

func firstWords(s string) string {
	f := strings.Fields(s)
	if len(f) > 3 {
		f = f[:3]
	}
	return strings.Join(f, " ")
}

// privItems splits a privilege list into items, one per column for column
// privileges: "SELECT (`a`, `b`), INSERT" -> "SELECT (`a`)", "SELECT (`b`)",
// "INSERT".
func privItems(list string) []string {
	mask := quoteMask(list)
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(list); i++ {
		if mask[i] {
			continue
		}
		switch list[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, strings.TrimSpace(list[start:i]))
				start = i + 1
			}
		}
	}
	parts = append(parts, strings.TrimSpace(list[start:]))
	var out []string
	for _, p := range parts {
		open := strings.IndexByte(p, '(')
		if open < 0 || quoteMask(p)[open] {
			out = append(out, strings.ToUpper(p))
			continue
		}
		name := strings.ToUpper(strings.TrimSpace(p[:open]))
		cols := strings.TrimSuffix(strings.TrimSpace(p[open+1:]), ")")
		for _, col := range privItemsCols(cols) {
			out = append(out, name+" ("+col+")")
		}
	}
	return out
}

// privItemsCols splits a column list on commas outside quotes.
func privItemsCols(cols string) []string {
	mask := quoteMask(cols)
	var out []string
	start := 0
	for i := 0; i < len(cols); i++ {
		if !mask[i] && cols[i] == ',' {
			out = append(out, strings.TrimSpace(cols[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(cols[start:]))
}

// grantSet is the comparable content of a grant list.
type grantSet map[string]bool

// items returns what each grant gives, one string per privilege (USAGE,
// which gives nothing, and default roles, which the replay sets, left out).
func items(grants []grant) grantSet {
	set := grantSet{}
	for _, g := range grants {
		switch g.kind {
		case kindPriv:
			for _, p := range privItems(g.privs) {
				if p != "USAGE" {
					set[p+" ON "+g.object] = true
				}
			}
			if g.option {
				set["GRANT OPTION ON "+g.object] = true
			}
		case kindRole:
			for _, r := range privItemsCols(g.privs) {
				set["role "+r] = true
				if g.option {
					set["role "+r+" WITH ADMIN OPTION"] = true
				}
			}
		case kindRevoke:
			for _, p := range privItems(g.privs) {
				set["revoked "+p+" ON "+g.object] = true
			}
		}
	}
	return set
}

// minus lists what s has that other lacks, sorted.
func (s grantSet) minus(other grantSet) []string {
	var out []string
	for k := range s {
		if !other[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
