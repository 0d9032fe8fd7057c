package rotation

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
)

// minSecretLen is the shortest value the redactor removes; shorter values
// would mangle ordinary words in log lines.
const minSecretLen = 6

// Redaction replaces secret values in logs and errors.
const Redaction = "[REDACTED]"

// Redactor removes registered secret values from strings. It is safe for
// concurrent use.
type Redactor struct {
	mu      sync.RWMutex
	secrets map[string]struct{}
	rep     *strings.Replacer
}

// NewRedactor returns an empty Redactor.
func NewRedactor() *Redactor { return &Redactor{secrets: map[string]struct{}{}} }

// Add registers secret values. Values shorter than six characters are ignored.
func (r *Redactor) Add(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, v := range values {
		if len(v) < minSecretLen {
			continue
		}
		if _, ok := r.secrets[v]; !ok {
			r.secrets[v] = struct{}{}
			changed = true
		}
	}
	if changed {
		r.rep = nil
	}
}

// AddSecretValue registers a SecretString: the whole value and, when it is a
// JSON object, every string field whose name suggests a secret.
func (r *Redactor) AddSecretValue(value string) {
	r.Add(value)
	var fields map[string]any
	if json.Unmarshal([]byte(value), &fields) != nil {
		return
	}
	var found []string
	collectSecrets(fields, &found)
	r.Add(found...)
}

func collectSecrets(m map[string]any, out *[]string) {
	for k, v := range m {
		switch x := v.(type) {
		case string:
			if IsSecretField(k) {
				*out = append(*out, x)
			}
		case map[string]any:
			collectSecrets(x, out)
		}
	}
}

// IsSecretField reports whether a JSON field name names secret material
// (password, secret, token, key...) rather than an identifier.
func IsSecretField(name string) bool {
	n := strings.ToLower(name)
	for _, suffix := range []string{"id", "_name", "name", "fingerprint", "arn", "url", "sid"} {
		if strings.HasSuffix(n, suffix) {
			return false
		}
	}
	for _, part := range []string{"pass", "secret", "token", "key", "private", "credential", "pwd", "auth"} {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

// Redact returns s with every registered secret replaced by [REDACTED],
// and every URL in it passed through SafeURL (user info, query values and
// fragments removed), so a verify_url such as https://user:password@host/
// or https://host/?token=... never reaches a log line or an error.
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return RedactURLs(s)
	}
	return RedactURLs(r.redactSecrets(s))
}

func (r *Redactor) redactSecrets(s string) string {
	r.mu.RLock()
	rep := r.rep
	n := len(r.secrets)
	r.mu.RUnlock()
	if n == 0 {
		return s
	}
	if rep == nil {
		r.mu.Lock()
		if r.rep == nil {
			list := make([]string, 0, len(r.secrets))
			for v := range r.secrets {
				list = append(list, v)
			}
			// Longest first, so a secret containing another is removed whole.
			sort.Slice(list, func(i, j int) bool { return len(list[i]) > len(list[j]) })
			pairs := make([]string, 0, 2*len(list))
			for _, v := range list {
				pairs = append(pairs, v, Redaction)
			}
			r.rep = strings.NewReplacer(pairs...)
		}
		rep = r.rep
		r.mu.Unlock()
	}
	return rep.Replace(s)
}

// Contains reports whether s contains a registered secret value. Tests use
// it to prove that nothing secret reached a log line or an error.
func (r *Redactor) Contains(s string) bool {
	if r == nil {
		return false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for v := range r.secrets {
		if strings.Contains(s, v) {
			return true
		}
	}
	return false
}

// Handler returns a slog.Handler that redacts the message and every attribute
// before passing the record to next.
func (r *Redactor) Handler(next slog.Handler) slog.Handler {
	return &redactingHandler{r: r, next: next}
}

type redactingHandler struct {
	r    *Redactor
	next slog.Handler
}

func (h *redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *redactingHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *redactingHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.Redact(v.String()))
	case slog.KindGroup:
		attrs := v.Group()
		out := make([]any, len(attrs))
		for i, g := range attrs {
			out[i] = h.attr(g)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.r.Redact(err.Error()))
		}
		return slog.String(a.Key, h.r.Redact(fmt.Sprint(v.Any())))
	default:
		return a
	}
}

func (h *redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = h.attr(a)
	}
	return &redactingHandler{r: h.r, next: h.next.WithAttrs(out)}
}

func (h *redactingHandler) WithGroup(name string) slog.Handler {
	return &redactingHandler{r: h.r, next: h.next.WithGroup(name)}
}
