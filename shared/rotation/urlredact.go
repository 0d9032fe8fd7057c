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

// SafeURL returns u with the secrets a URL can carry removed: the password
// (and user name) of its user info, every query value and the fragment.
// The scheme, host, port and path stay, so the URL is still recognisable
// in a log line. A string that does not parse as a URL is returned with
// everything after the host removed.
func SafeURL(u string) string {
	// A URL redacted before ("https://[REDACTED]@host/?k=[REDACTED]") must
	// come out unchanged: [ and ] are not valid in user info.
	const mark = "REDACTEDx0mark"
	if strings.Contains(u, Redaction) {
		return strings.ReplaceAll(SafeURL(strings.ReplaceAll(u, Redaction, mark)), mark, Redaction)
	}
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		scheme, rest, ok := strings.Cut(u, "://")
		if !ok {
			return Redaction
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
	b.WriteString(p.Scheme)
	b.WriteString("://")
	if p.User != nil {
		b.WriteString(Redaction)
		b.WriteByte('@')
	}
	b.WriteString(p.Host)
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
				b.WriteByte('=')
				b.WriteString(Redaction)
			}
		}
	}
	if p.Fragment != "" {
		b.WriteString("#" + Redaction)
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
