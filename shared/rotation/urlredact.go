package rotation

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// urlPattern finds absolute URLs in free text: a scheme, "://", and
// everything up to the next space, quote or bracket.
var urlPattern = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.\-]*://[^\s"'<>\x60]+`)

// redactMark stands for Redaction while SafeURL parses a URL redacted
// before ([ and ] are not valid in most parts of a URL).
const redactMark = "REDACTEDx0mark"

// SafeURL returns u with the secrets a URL can carry removed: the password
// (and user name) of its user info, every query value and the fragment.
// The scheme, host, port and path stay, so the URL is still recognisable
// in a log line. A string that does not parse as a URL is returned with
// everything after the host removed.
func SafeURL(u string) string {
	// A URL redacted before ("https://[REDACTED]@host/?k=[REDACTED]") must
	// come out unchanged: [ and ] are not valid in user info.
	const mark = redactMark
	if strings.Contains(u, Redaction) {
		return strings.ReplaceAll(SafeURL(strings.ReplaceAll(u, Redaction, mark)), mark, Redaction)
	}
	if scheme, rest, ok := strings.Cut(u, "://"); ok {
		// A password with an unescaped "/" ends the authority early for
		// url.Parse ("https://u:pa/ss@host/"): take the last "@" before the
		// query as the end of the user info and hide all of it.
		auth := rest
		if i := strings.IndexAny(auth, "?#"); i >= 0 {
			auth = auth[:i]
		}
		if at := strings.LastIndex(auth, "@"); at >= 0 && strings.Contains(auth[:at], ":") && strings.Contains(auth[:at], "/") {
			u = scheme + "://" + "x@" + rest[at+1:]
		}
	}
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		scheme, rest, ok := strings.Cut(u, "://")
		if !ok {
			return Redaction
		}
		if rest == "" {
			return u // nothing after the scheme, nothing to hide
		}
		host := rest
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			host = rest[:i]
		}
		if i := strings.LastIndex(host, "@"); i >= 0 {
			host = Redaction + "@" + host[i+1:]
		}
		return scheme + "://" + host + "/" + Redaction
	}
	var b strings.Builder
	scheme, _, ok := strings.Cut(u, "://")
	if !ok || !strings.EqualFold(scheme, p.Scheme) {
		scheme = p.Scheme // as spelt in u: url.Parse lower-cases it
	}
	b.WriteString(scheme)
	b.WriteString("://")
	if p.User != nil {
		b.WriteString(Redaction)
		b.WriteByte('@')
	}
	b.WriteString(hostText(u, p.Host))
	b.WriteString(p.EscapedPath())
	if p.RawQuery != "" || p.ForceQuery {
		b.WriteByte('?')
		q, err := url.ParseQuery(p.RawQuery)
		if err != nil {
			b.WriteString(Redaction)
		} else {
			keys := make([]string, 0, len(q))
			for k := range q {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for i, k := range keys {
				if i > 0 {
					b.WriteByte('&')
				}
				b.WriteString(url.QueryEscape(k))
				if strings.Contains(k, redactMark) && len(q[k]) == 1 && q[k][0] == "" {
					continue // a query redacted whole before: "?[REDACTED]"
				}
				b.WriteByte('=')
				b.WriteString(Redaction)
			}
		}
	}
	switch {
	case p.Fragment != "":
		b.WriteString("#" + Redaction)
	case strings.HasSuffix(u, "#"):
		b.WriteByte('#')
	}
	return b.String()
}

// RedactURLs returns s with every URL in it passed through SafeURL, so user
// info (user:password@) and query values (?token=...) never reach a log
// line, an error message or an emulator record.
func RedactURLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlPattern.ReplaceAllStringFunc(s, func(u string) string {
		// Trailing punctuation belongs to the sentence, not the URL (but
		// the bracket of a [REDACTED] belongs to the URL).
		trimmed := u
		for trimmed != "" && !strings.HasSuffix(trimmed, Redaction) && strings.ContainsRune(".,;:)]}", rune(trimmed[len(trimmed)-1])) {
			trimmed = trimmed[:len(trimmed)-1]
		}
		return SafeURL(trimmed) + u[len(trimmed):]
	})
}

// hostText returns the host (and port) of u as spelt in u, which url.Parse
// may have unescaped; parsed when u has no "://".
func hostText(u, parsed string) string {
	_, rest, ok := strings.Cut(u, "://")
	if !ok {
		return parsed
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	return rest
}
