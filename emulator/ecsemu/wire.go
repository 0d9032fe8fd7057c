package ecsemu

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// apiError is an AWS JSON 1.1 error: a code that becomes "__type" and the
// X-Amzn-ErrorType header, a message, and an HTTP status.
type apiError struct {
	Code    string
	Message string
	Status  int
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func newError(code, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// Error codes Amazon ECS returns.
const (
	codeInvalidParameter  = "InvalidParameterException"
	codeClient            = "ClientException"
	codeClusterNotFound   = "ClusterNotFoundException"
	codeServiceNotFound   = "ServiceNotFoundException"
	codeServiceNotActive  = "ServiceNotActiveException"
	codeClusterHasService = "ClusterContainsServicesException"
	codeSerialization     = "SerializationException"
	codeUnknownOperation  = "UnknownOperationException"
	codeInternal          = "ServerException"
)

// opFunc runs one operation on a raw JSON request body.
type opFunc func(s *Service, body []byte) (any, *apiError)

// op adapts a typed handler to opFunc, decoding the JSON input.
func op[I any](fn func(*Service, *I) (any, *apiError)) opFunc {
	return func(s *Service, body []byte) (any, *apiError) {
		var in I
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, &in); err != nil {
				return nil, newError(codeSerialization, "Could not parse the request body: %s", err.Error())
			}
		}
		return fn(s, &in)
	}
}

// serveJSON dispatches an AWS JSON 1.1 request whose X-Amz-Target is
// prefix.<Operation> to ops, counting each call in count.
func serveJSON(w http.ResponseWriter, r *http.Request, prefix string, ops map[string]opFunc, s *Service, count func(string)) {
	if r.Method != http.MethodPost {
		writeError(w, newError(codeUnknownOperation, "Amazon ECS accepts only POST requests."))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, newError(codeSerialization, "could not read the request body"))
		return
	}
	target := r.Header.Get("X-Amz-Target")
	name, ok := strings.CutPrefix(target, prefix+".")
	fn := ops[name]
	if !ok || fn == nil {
		writeError(w, newError(codeUnknownOperation, "Unknown operation %q.", target))
		return
	}
	count(name)
	out, aerr := fn(s, body)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeJSON(w, out)
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, &apiError{Code: codeInternal, Message: "could not encode the response", Status: http.StatusInternalServerError})
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", newRequestID())
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, e *apiError) {
	b, _ := json.Marshal(map[string]string{"__type": e.Code, "message": e.Message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", newRequestID())
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Coral-style validation messages, returned with InvalidParameterException.

func errNull(member string) *apiError {
	return newError(codeInvalidParameter, "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
}

func errConstraint(value any, member, constraint string) *apiError {
	return newError(codeInvalidParameter, "1 validation error detected: Value '%v' at '%s' failed to satisfy constraint: %s", value, member, constraint)
}

func checkLen(member string, v *string, min, max int) *apiError {
	if v == nil {
		return nil
	}
	if len(*v) < min {
		return errConstraint(*v, member, fmt.Sprintf("Member must have length greater than or equal to %d", min))
	}
	if len(*v) > max {
		return errConstraint(abbrev(*v), member, fmt.Sprintf("Member must have length less than or equal to %d", max))
	}
	return nil
}

func abbrev(s string) string {
	if len(s) > 80 {
		return s[:40] + "..."
	}
	return s
}
