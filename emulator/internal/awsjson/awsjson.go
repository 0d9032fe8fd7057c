// Package awsjson is the AWS JSON 1.1 plumbing the emulated AWS services
// (emulator/awsemu's Secrets Manager, logsemu, eventsemu, ecsemu) share: the
// error type and how it goes on the wire, dispatch of POST / by X-Amz-Target,
// typed decoding of request bodies, request ids, the Coral-style validation
// messages AWS returns, per-operation call counting and the default region,
// account and clock.
//
// What differs between services is a Protocol value: the name the service
// gives itself in messages, its X-Amz-Target prefix, the code of its
// validation errors (ValidationException or InvalidParameterException) and of
// its internal errors.
package awsjson

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
	"sync"
	"time"
)

// Error codes every AWS JSON 1.1 service returns for a request it cannot
// take apart.
const (
	CodeSerialization    = "SerializationException"
	CodeUnknownOperation = "UnknownOperationException"
)

// Error is an AWS JSON 1.1 error: a code that becomes "__type" and the
// X-Amzn-ErrorType header, a message, and an HTTP status (400 when zero).
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an HTTP 400 error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// Protocol is what differs between the services on the wire.
type Protocol struct {
	// Service is the service's name in messages, e.g. "CloudWatch Logs".
	Service string
	// TargetPrefix is the X-Amz-Target prefix: a request names its operation
	// as TargetPrefix + "." + Operation.
	TargetPrefix string
	// ValidationCode is the code of the Coral-style validation errors
	// (Null, Constraint, CheckLen, CheckRange).
	ValidationCode string
	// InternalCode is the code of an HTTP 500 answer.
	InternalCode string
}

// Handler runs one operation of service S on a raw JSON request body.
type Handler[S any] func(s S, body []byte) (any, *Error)

// Op adapts a typed operation to a Handler, decoding the JSON input.
func Op[S, I any](fn func(S, *I) (any, *Error)) Handler[S] {
	return func(s S, body []byte) (any, *Error) {
		in, aerr := Decode[I](body)
		if aerr != nil {
			return nil, aerr
		}
		return fn(s, in)
	}
}

// Decode decodes a JSON request body into a new I. An empty (or blank) body
// is the zero I; one that does not decode is a SerializationException.
func Decode[I any](body []byte) (*I, *Error) {
	var in I
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, Errorf(CodeSerialization, "Could not parse the request body: %s", err.Error())
		}
	}
	return &in, nil
}

// Lookup returns the operation r names and its entry in ops: r must be a POST
// whose X-Amz-Target is p.TargetPrefix + "." + a name in ops. Otherwise it
// returns the UnknownOperationException the service answers.
func Lookup[F any](p Protocol, r *http.Request, ops map[string]F) (string, F, *Error) {
	var none F
	if r.Method != http.MethodPost {
		return "", none, Errorf(CodeUnknownOperation, "%s accepts only POST requests.", p.Service)
	}
	target := r.Header.Get("X-Amz-Target")
	name, ok := strings.CutPrefix(target, p.TargetPrefix+".")
	fn, known := ops[name]
	if !ok || !known {
		return "", none, Errorf(CodeUnknownOperation, "Unknown operation %q.", target)
	}
	return name, fn, nil
}

// Serve answers an AWS JSON 1.1 request: it looks the operation up in ops,
// counts it in calls (when not nil), reads the body, runs the operation on s
// and writes its output or error.
func Serve[S any](p Protocol, w http.ResponseWriter, r *http.Request, ops map[string]Handler[S], s S, calls *Calls) {
	name, fn, aerr := Lookup(p, r, ops)
	if aerr != nil {
		WriteError(w, aerr)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		WriteError(w, Errorf(CodeSerialization, "could not read the request body"))
		return
	}
	if calls != nil {
		calls.Count(name)
	}
	out, aerr := fn(s, body)
	if aerr != nil {
		WriteError(w, aerr)
		return
	}
	p.WriteJSON(w, out)
}

// UUID returns a random (version 4) UUID, the form of AWS request ids.
func UUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// WriteJSON writes v as an HTTP 200 AWS JSON 1.1 response with a fresh
// X-Amzn-RequestId; a v that does not encode is answered with p.InternalCode
// (HTTP 500) instead.
func (p Protocol) WriteJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		WriteError(w, &Error{Code: p.InternalCode, Message: "could not encode the response", Status: http.StatusInternalServerError})
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", UUID())
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// WriteError writes e as AWS JSON 1.1 services do: {"__type":CODE,
// "message":MSG} with the code in X-Amzn-ErrorType, a fresh
// X-Amzn-RequestId and e.Status (400 when zero).
func WriteError(w http.ResponseWriter, e *Error) {
	b, _ := json.Marshal(map[string]string{"__type": e.Code, "message": e.Message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", UUID())
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Null is the Coral-style validation error for a missing required member.
func (p Protocol) Null(member string) *Error {
	return Errorf(p.ValidationCode, "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
}

// Constraint is the Coral-style validation error for a member whose value
// breaks constraint (e.g. "Member must satisfy enum value set: [A, B]").
func (p Protocol) Constraint(value any, member, constraint string) *Error {
	return Errorf(p.ValidationCode, "1 validation error detected: Value '%v' at '%s' failed to satisfy constraint: %s", value, member, constraint)
}

// CheckLen validates the length of an optional string member: nil, or the
// Constraint error naming the bound it breaks (a long value abbreviated).
func (p Protocol) CheckLen(member string, v *string, min, max int) *Error {
	if v == nil {
		return nil
	}
	if len(*v) < min {
		return p.Constraint(Abbrev(*v), member, fmt.Sprintf("Member must have length greater than or equal to %d", min))
	}
	if len(*v) > max {
		return p.Constraint(Abbrev(*v), member, fmt.Sprintf("Member must have length less than or equal to %d", max))
	}
	return nil
}

// CheckRange validates an optional integer member: nil, or p's Constraint
// error naming the bound it breaks.
func CheckRange[N ~int | ~int32 | ~int64](p Protocol, member string, v *N, min, max N) *Error {
	if v == nil {
		return nil
	}
	if *v < min {
		return p.Constraint(*v, member, fmt.Sprintf("Member must have value greater than or equal to %d", min))
	}
	if *v > max {
		return p.Constraint(*v, member, fmt.Sprintf("Member must have value less than or equal to %d", max))
	}
	return nil
}

// Abbrev shortens a value quoted in a message as AWS does: a value over 80
// bytes becomes its first 40 and "...".
func Abbrev(s string) string {
	if len(s) > 80 {
		return s[:40] + "..."
	}
	return s
}

// Calls counts calls per operation. The zero value is ready to use; it is
// safe for concurrent use.
type Calls struct {
	mu sync.Mutex
	n  map[string]int
}

// Count counts one call of op.
func (c *Calls) Count(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[op]++
}

// Snapshot returns a copy of the counts.
func (c *Calls) Snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// Reset zeroes the counts.
func (c *Calls) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n = nil
}

// Where and when an emulated service runs by default.
const (
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "123456789012"
)

// Defaults returns region, account and now with DefaultRegion,
// DefaultAccountID and time.Now in place of empty values.
func Defaults(region, account string, now func() time.Time) (string, string, func() time.Time) {
	if region == "" {
		region = DefaultRegion
	}
	if account == "" {
		account = DefaultAccountID
	}
	if now == nil {
		now = time.Now
	}
	return region, account, now
}
