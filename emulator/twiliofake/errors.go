package twiliofake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Twilio error codes the fake answers with.
const (
	// CodeInvalidParameter: a parameter is missing or malformed (HTTP 400).
	CodeInvalidParameter = 20001
	// CodeAuthenticate: wrong, deleted or insufficient credentials (HTTP 401).
	// Twilio also answers it when a standard or restricted key calls the
	// Account or Keys resources.
	CodeAuthenticate = 20003
	// CodeForbidden: a restricted key called outside its policy (HTTP 403).
	CodeForbidden = 20403
	// CodeNotFound: the resource does not exist (HTTP 404).
	CodeNotFound = 20404
	// CodeTooManyRequests: the account's rate limit is exceeded (HTTP 429).
	CodeTooManyRequests = 20429
	// CodeToRequired, CodeFromRequired, CodeBodyRequired: Messages' own.
	CodeToRequired   = 21604
	CodeFromRequired = 21603
	CodeBodyRequired = 21602
)

// apiError is a Twilio REST error.
type apiError struct {
	Status     int
	Code       int
	Message    string
	RetryAfter int // seconds; set on 429
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %d %s", e.Status, e.Code, e.Message) }

func errAuthenticate() *apiError {
	return &apiError{Status: http.StatusUnauthorized, Code: CodeAuthenticate, Message: "Authenticate"}
}

func errForbidden() *apiError {
	return &apiError{Status: http.StatusForbidden, Code: CodeForbidden, Message: "Forbidden"}
}

func errNotFound(path string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: CodeNotFound, Message: fmt.Sprintf("The requested resource %s was not found", path)}
}

func errInvalid(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: CodeInvalidParameter, Message: fmt.Sprintf(format, args...)}
}

// writeError writes e in Twilio's JSON error shape.
func writeError(w http.ResponseWriter, e *apiError) {
	body, _ := json.Marshal(struct {
		Code     int    `json:"code"`
		Message  string `json:"message"`
		MoreInfo string `json:"more_info"`
		Status   int    `json:"status"`
	}{e.Code, e.Message, fmt.Sprintf("https://www.twilio.com/docs/errors/%d", e.Code), e.Status})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="Twilio API"`)
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, &apiError{Status: http.StatusInternalServerError, Code: 20500, Message: "Internal Server Error"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
