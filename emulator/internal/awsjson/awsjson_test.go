package awsjson_test

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dualkey/dualkey/emulator/internal/awsjson"
)

var proto = awsjson.Protocol{
	Service:        "Test Service",
	TargetPrefix:   "Test_20240101",
	ValidationCode: "ValidationException",
	InternalCode:   "InternalFailure",
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

type svc struct{ got []string }

type echoInput struct {
	Name  *string `json:"name"`
	Limit *int32  `json:"limit"`
}

func (s *svc) echo(in *echoInput) (any, *awsjson.Error) {
	if in.Name == nil {
		return nil, proto.Null("name")
	}
	if aerr := proto.CheckLen("name", in.Name, 1, 8); aerr != nil {
		return nil, aerr
	}
	if aerr := awsjson.CheckRange(proto, "limit", in.Limit, 1, 50); aerr != nil {
		return nil, aerr
	}
	s.got = append(s.got, *in.Name)
	return map[string]string{"name": *in.Name}, nil
}

func (s *svc) nan(*struct{}) (any, *awsjson.Error) { return math.NaN(), nil }

var ops = map[string]awsjson.Handler[*svc]{
	"Echo": awsjson.Op((*svc).echo),
	"NaN":  awsjson.Op((*svc).nan),
}

// TestServe pins what goes on the wire for every path through Serve: the
// status, the X-Amzn-ErrorType header, the body, the request id, and which
// calls are counted.
func TestServe(t *testing.T) {
	tests := []struct {
		name, method, target, body string
		status                     int
		code                       string // "" for success
		message                    string
		wantBody                   string // on success
		counted                    string // operation counted, "" for none
	}{
		{"ok", http.MethodPost, "Test_20240101.Echo", `{"name":"abc"}`, 200, "", "", `{"name":"abc"}`, "Echo"},
		{"GET", http.MethodGet, "Test_20240101.Echo", `{}`, 400, "UnknownOperationException", "Test Service accepts only POST requests.", "", ""},
		{"unknown operation", http.MethodPost, "Test_20240101.Nope", `{}`, 400, "UnknownOperationException", `Unknown operation "Test_20240101.Nope".`, "", ""},
		{"other prefix", http.MethodPost, "Other.Echo", `{}`, 400, "UnknownOperationException", `Unknown operation "Other.Echo".`, "", ""},
		{"no target", http.MethodPost, "", `{}`, 400, "UnknownOperationException", `Unknown operation "".`, "", ""},
		{"empty operation", http.MethodPost, "Test_20240101.", `{}`, 400, "UnknownOperationException", `Unknown operation "Test_20240101.".`, "", ""},
		{"malformed JSON", http.MethodPost, "Test_20240101.Echo", `{`, 400, "SerializationException", "Could not parse the request body: unexpected end of JSON input", "", "Echo"},
		{"wrong type", http.MethodPost, "Test_20240101.Echo", `{"limit":"x"}`, 400, "SerializationException", "Could not parse the request body: json: cannot unmarshal string into Go struct field echoInput.limit of type int32", "", "Echo"},
		{"empty body is {}", http.MethodPost, "Test_20240101.Echo", " \n", 400, "ValidationException", "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null", "", "Echo"},
		{"too short", http.MethodPost, "Test_20240101.Echo", `{"name":""}`, 400, "ValidationException", "1 validation error detected: Value '' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1", "", "Echo"},
		{"too long", http.MethodPost, "Test_20240101.Echo", `{"name":"abcdefghi"}`, 400, "ValidationException", "1 validation error detected: Value 'abcdefghi' at 'name' failed to satisfy constraint: Member must have length less than or equal to 8", "", "Echo"},
		{"under range", http.MethodPost, "Test_20240101.Echo", `{"name":"a","limit":0}`, 400, "ValidationException", "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", "", "Echo"},
		{"over range", http.MethodPost, "Test_20240101.Echo", `{"name":"a","limit":51}`, 400, "ValidationException", "1 validation error detected: Value '51' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 50", "", "Echo"},
		{"unencodable output", http.MethodPost, "Test_20240101.NaN", `{}`, 500, "InternalFailure", "could not encode the response", "", "NaN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &svc{}
			var calls awsjson.Calls
			req := httptest.NewRequest(tc.method, "/", strings.NewReader(tc.body))
			if tc.target != "" {
				req.Header.Set("X-Amz-Target", tc.target)
			}
			rec := httptest.NewRecorder()
			awsjson.Serve(proto, rec, req, ops, s, &calls)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			h := rec.Header()
			if h.Get("Content-Type") != "application/x-amz-json-1.1" || !uuidRE.MatchString(h.Get("X-Amzn-RequestId")) ||
				h.Get("Content-Length") != strconv.Itoa(rec.Body.Len()) {
				t.Fatalf("headers %v", h)
			}
			if tc.code == "" {
				if rec.Body.String() != tc.wantBody || h.Get("X-Amzn-ErrorType") != "" {
					t.Fatalf("body %s, error type %q", rec.Body, h.Get("X-Amzn-ErrorType"))
				}
			} else {
				var got map[string]string
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
					t.Fatal(err)
				}
				want := map[string]string{"__type": tc.code, "message": tc.message}
				if len(got) != 2 || got["__type"] != want["__type"] || got["message"] != want["message"] || h.Get("X-Amzn-ErrorType") != tc.code {
					t.Fatalf("error %v (X-Amzn-ErrorType %q), want %v", got, h.Get("X-Amzn-ErrorType"), want)
				}
			}
			counts := calls.Snapshot()
			if tc.counted == "" && len(counts) != 0 || tc.counted != "" && (len(counts) != 1 || counts[tc.counted] != 1) {
				t.Fatalf("counted %v, want %q", counts, tc.counted)
			}
		})
	}
}

// TestServeNilCalls: counting is optional.
func TestServeNilCalls(t *testing.T) {
	s := &svc{}
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"name":"x"}`))
	req.Header.Set("X-Amz-Target", "Test_20240101.Echo")
	rec := httptest.NewRecorder()
	awsjson.Serve(proto, rec, req, ops, s, nil)
	if rec.Code != http.StatusOK || len(s.got) != 1 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

func TestWriteErrorStatus(t *testing.T) {
	tests := []struct {
		status, want int
	}{{0, 400}, {400, 400}, {403, 403}, {413, 413}, {500, 500}}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		awsjson.WriteError(rec, &awsjson.Error{Code: "X", Message: `say "hi" <b>`, Status: tc.status})
		if rec.Code != tc.want || rec.Body.String() != `{"__type":"X","message":"say \"hi\" \u003cb\u003e"}` {
			t.Fatalf("status %d: %d %s", tc.status, rec.Code, rec.Body)
		}
	}
}

// TestValidationMessages pins the Coral-style messages byte for byte, with
// the protocol's code, including how long values are abbreviated.
func TestValidationMessages(t *testing.T) {
	ip := awsjson.Protocol{ValidationCode: "InvalidParameterException"}
	long81 := strings.Repeat("x", 81)
	long80 := strings.Repeat("y", 80)
	i64 := func(v int64) *int64 { return &v }
	str := func(v string) *string { return &v }
	tests := []struct {
		name string
		err  *awsjson.Error
		code string
		msg  string
	}{
		{"null", ip.Null("logGroupName"), "InvalidParameterException", "1 validation error detected: Value null at 'logGroupName' failed to satisfy constraint: Member must not be null"},
		{"constraint", proto.Constraint("[...]", "tags", "Member must have length between 1 and 50"), "ValidationException", "1 validation error detected: Value '[...]' at 'tags' failed to satisfy constraint: Member must have length between 1 and 50"},
		{"constraint int", ip.Constraint(int64(-1), "startTime", "Member must have value greater than or equal to 0"), "InvalidParameterException", "1 validation error detected: Value '-1' at 'startTime' failed to satisfy constraint: Member must have value greater than or equal to 0"},
		{"len nil", proto.CheckLen("x", nil, 1, 2), "", ""},
		{"len at min", proto.CheckLen("x", str("a"), 1, 2), "", ""},
		{"len at max", proto.CheckLen("x", str("ab"), 1, 2), "", ""},
		{"len 80 quoted whole", proto.CheckLen("x", &long80, 0, 10), "ValidationException", "1 validation error detected: Value '" + long80 + "' at 'x' failed to satisfy constraint: Member must have length less than or equal to 10"},
		{"len 81 abbreviated", proto.CheckLen("x", &long81, 0, 10), "ValidationException", "1 validation error detected: Value '" + strings.Repeat("x", 40) + "...' at 'x' failed to satisfy constraint: Member must have length less than or equal to 10"},
		{"range nil", awsjson.CheckRange(proto, "n", (*int64)(nil), 1, 2), "", ""},
		{"range at bounds", awsjson.CheckRange(proto, "n", i64(2), 1, 2), "", ""},
		{"range int64 over", awsjson.CheckRange(proto, "passwordLength", i64(4097), 1, 4096), "ValidationException", "1 validation error detected: Value '4097' at 'passwordLength' failed to satisfy constraint: Member must have value less than or equal to 4096"},
		{"range int64 under", awsjson.CheckRange(ip, "n", i64(-5), 1, 4096), "InvalidParameterException", "1 validation error detected: Value '-5' at 'n' failed to satisfy constraint: Member must have value greater than or equal to 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.code == "" {
				if tc.err != nil {
					t.Fatalf("error %v, want none", tc.err)
				}
				return
			}
			if tc.err == nil || tc.err.Code != tc.code || tc.err.Message != tc.msg || tc.err.Status != http.StatusBadRequest {
				t.Fatalf("error %+v, want %s: %q", tc.err, tc.code, tc.msg)
			}
			if tc.err.Error() != tc.code+": "+tc.msg {
				t.Fatalf("Error() = %q", tc.err.Error())
			}
		})
	}
}

func TestCalls(t *testing.T) {
	var c awsjson.Calls
	if got := c.Snapshot(); got == nil || len(got) != 0 {
		t.Fatalf("zero value snapshot %v", got)
	}
	c.Count("A")
	c.Count("A")
	c.Count("B")
	snap := c.Snapshot()
	snap["A"] = 100 // a copy: the counter is unchanged
	if got := c.Snapshot(); got["A"] != 2 || got["B"] != 1 || len(got) != 2 {
		t.Fatalf("counts %v", got)
	}
	c.Reset()
	if got := c.Snapshot(); len(got) != 0 {
		t.Fatalf("after Reset %v", got)
	}
	c.Count("C")
	if got := c.Snapshot(); got["C"] != 1 || len(got) != 1 {
		t.Fatalf("after Reset and Count %v", got)
	}
}

func TestDefaults(t *testing.T) {
	r, a, now := awsjson.Defaults("", "", nil)
	if r != "us-east-1" || a != "123456789012" || now == nil {
		t.Fatalf("defaults %q %q", r, a)
	}
	fixed := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	r, a, now = awsjson.Defaults("eu-west-1", "111122223333", func() time.Time { return fixed })
	if r != "eu-west-1" || a != "111122223333" || !now().Equal(fixed) {
		t.Fatalf("kept %q %q %v", r, a, now())
	}
}

func TestUUID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := awsjson.UUID()
		if !uuidRE.MatchString(id) || seen[id] {
			t.Fatalf("UUID %q (repeat %v)", id, seen[id])
		}
		seen[id] = true
	}
}
