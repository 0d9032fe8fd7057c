// Package demosvc provides the pieces of `dualkey demo`: a small HTTP API
// protected by a keyring.Keyring, a client that streams requests at it while
// re-reading AWSCURRENT from Secrets Manager like a real consumer, a timeline
// of demo events, and a printer for a secret's version labels.
//
// Nothing in this package prints, logs or returns a key value; keys appear
// only as keyring.Fingerprint values.
package demosvc

import (
	"encoding/json"
	"net/http"

	"github.com/dualkey/dualkey/shared/keyring"
)

// helloResponse is the body of GET /hello.
type helloResponse struct {
	OK          bool   `json:"ok"`
	Stage       string `json:"stage"`
	VersionID   string `json:"version_id"`
	Fingerprint string `json:"fingerprint"`
}

// NewService returns the demo API, protected by kr:
//
//	GET /hello   -> 200 {"ok":true,"stage":"AWSCURRENT","version_id":"…","fingerprint":"…abcd"}
//	               (stage is the label of the presented key at the keyring's last successful check)
//	GET /usage   -> 200 kr.Usage() as JSON (per-version accepted counts)
//	GET /healthz -> 200 {"ok":true}, unauthenticated
//
// Requests without a valid key get the keyring's 401 JSON error.
func NewService(kr *keyring.Keyring) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
	if kr == nil {
		mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "no keyring configured"})
		})
		return mux
	}
	mux.Handle("GET /hello", kr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, _ := keyring.MatchFromContext(r.Context())
		writeJSON(w, http.StatusOK, helloResponse{OK: true, Stage: m.Stage, VersionID: m.VersionID, Fingerprint: m.Fingerprint})
	})))
	mux.Handle("GET /usage", kr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, kr.Usage())
	})))
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	// Values are plain structs/maps that always encode; a write error means
	// the client went away.
	_ = json.NewEncoder(w).Encode(v)
}
