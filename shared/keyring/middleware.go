package keyring

import (
	"context"
	"encoding/json"
	"net/http"
)

type matchKey struct{}

// WithMatch returns a copy of ctx carrying m.
func WithMatch(ctx context.Context, m Match) context.Context {
	return context.WithValue(ctx, matchKey{}, m)
}

// MatchFromContext returns the Match stored by Middleware, if any.
func MatchFromContext(ctx context.Context) (Match, bool) {
	m, ok := ctx.Value(matchKey{}).(Match)
	return m, ok
}

// Middleware accepts a request only if it presents a valid key in
// "Authorization: Bearer <key>" or "X-Api-Key: <key>"; otherwise it answers
// 401 with a JSON error that says nothing about the presented value. The
// handler sees the Match via MatchFromContext.
func (k *Keyring) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := presentedKey(r.Header)
		if !ok {
			unauthorized(w, "missing API key")
			return
		}
		m, ok := k.Verify(r.Context(), key)
		if !ok {
			unauthorized(w, "invalid API key")
			return
		}
		next.ServeHTTP(w, r.WithContext(WithMatch(r.Context(), m)))
	})
}

func unauthorized(w http.ResponseWriter, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("WWW-Authenticate", `Bearer realm="dualkey"`)
	w.WriteHeader(http.StatusUnauthorized)
	// Encoding a map of two constant strings cannot fail; a write error means
	// the client went away and there is nobody to tell.
	_ = json.NewEncoder(w).Encode(map[string]string{"error": "unauthorized", "message": msg})
}
