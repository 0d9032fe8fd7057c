package fingerprint

import (
	"encoding/base64"
	"log/slog"
	"net/http"
	"strings"
)

// FromRequest returns the fingerprint of the credential an outbound request
// carries, or "" when it carries none that FromRequest recognises:
//
//   - header "" or "Authorization": "Bearer X" → Of(X); "Basic" user:pass →
//     Of(pass); AWS SigV4 ("AWS4-HMAC-SHA256 Credential=AKID/…") → Of(AKID),
//     because SigV4 never sends the secret key; any other scheme → "".
//   - any other header (an API-key header such as "X-Api-Key") → Of(its
//     whole value).
//
// It never returns or stores the credential itself.
func FromRequest(r *http.Request, header string) string {
	if r == nil {
		return ""
	}
	if header != "" && !strings.EqualFold(header, "Authorization") {
		return Of(r.Header.Get(header))
	}
	auth := r.Header.Get("Authorization")
	scheme, rest, ok := strings.Cut(auth, " ")
	if !ok {
		return ""
	}
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return Of(rest)
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return ""
		}
		_, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return ""
		}
		return Of(pass)
	case scheme == "AWS4-HMAC-SHA256":
		_, after, ok := strings.Cut(rest, "Credential=")
		if !ok {
			return ""
		}
		akid, _, ok := strings.Cut(after, "/")
		if !ok {
			return ""
		}
		return Of(akid)
	}
	return ""
}

// Transport is an http.RoundTripper that writes one log line per outbound
// request with the fingerprint of the credential the request carries
// (FromRequest), so a consumer proves which credential it uses without
// changing its call sites:
//
//	client := &http.Client{Transport: &fingerprint.Transport{Logger: logger}}
//
// The line holds the method, the host, the status (or the error) and
// dualkey_fp; never the URL's path or query, a header, or a body. Requests
// without a recognised credential are passed through without a line.
type Transport struct {
	// Base carries the requests (http.DefaultTransport when nil).
	Base http.RoundTripper
	// Logger receives the lines (slog.Default() when nil).
	Logger *slog.Logger
	// Level of the lines (Info when zero).
	Level slog.Level
	// Header names the header that carries the credential ("" or
	// "Authorization": bearer, basic or SigV4; see FromRequest).
	Header string
	// Message is the log message ("outbound call" when empty).
	Message string
}

var _ http.RoundTripper = (*Transport)(nil)

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	fp := FromRequest(r, t.Header)
	resp, err := base.RoundTrip(r)
	if fp == "" {
		return resp, err
	}
	log := t.Logger
	if log == nil {
		log = slog.Default()
	}
	msg := t.Message
	if msg == "" {
		msg = "outbound call"
	}
	attrs := []slog.Attr{slog.String(Key, fp), slog.String("method", r.Method), slog.String("host", r.URL.Host)}
	if err != nil {
		attrs = append(attrs, slog.String("error", "request failed"))
	} else {
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
	}
	log.LogAttrs(r.Context(), t.Level, msg, attrs...)
	return resp, err
}
