package eventsemu

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dualkey/dualkey/emulator/internal/awsjson"
)

var (
	busRefRE  = regexp.MustCompile(`^(arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:event-bus/)?[/\.\-_A-Za-z0-9]+$`)
	busNameRE = regexp.MustCompile(`^[/\.\-_A-Za-z0-9]+$`)
)

func errBusNotFound(name string) *awsjson.Error {
	return awsjson.Errorf(codeResourceNotFound, "Event bus %s does not exist.", name)
}

// busName reduces a bus name or an ARN of this account and region to a name.
// An ARN of another account or region stays as it is (no such bus here).
func (s *Service) busName(ref string) string {
	if name, ok := strings.CutPrefix(ref, "arn:aws:events:"+s.region+":"+s.account+":event-bus/"); ok {
		return name
	}
	return ref
}

// epochSeconds decodes an AWS JSON timestamp: epoch seconds (possibly
// fractional) or an RFC 3339 string.
type epochSeconds struct{ t time.Time }

func (e *epochSeconds) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(b, []byte(`"`)) {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("timestamp %q is neither epoch seconds nor RFC 3339", s)
		}
		e.t = t
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("timestamp %s is not a number of seconds", b)
	}
	sec, frac := math.Modf(f)
	e.t = time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)).UTC()
	return nil
}

// epochOut encodes a timestamp as AWS JSON does: epoch seconds with
// millisecond precision.
type epochOut time.Time

func (t epochOut) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(time.Time(t).UnixMilli())/1000, 'f', -1, 64)), nil
}

// ---- PutEvents ----

type putEventsEntry struct {
	Time         *epochSeconds `json:"Time"`
	Source       *string       `json:"Source"`
	Resources    []string      `json:"Resources"`
	DetailType   *string       `json:"DetailType"`
	Detail       *string       `json:"Detail"`
	EventBusName *string       `json:"EventBusName"`
	TraceHeader  *string       `json:"TraceHeader"`
}

type putEventsInput struct {
	Entries    []putEventsEntry `json:"Entries"`
	EndpointID *string          `json:"EndpointId"`
}

type putEventsResultEntry struct {
	EventID      string `json:"EventId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

type putEventsOutput struct {
	FailedEntryCount int                    `json:"FailedEntryCount"`
	Entries          []putEventsResultEntry `json:"Entries"`
}

// entrySize is an entry's size as EventBridge counts it towards
// MaxRequestBytes.
func entrySize(e *putEventsEntry) int {
	n := 0
	if e.Time != nil {
		n += 14
	}
	for _, p := range []*string{e.Source, e.DetailType, e.Detail} {
		if p != nil {
			n += len(*p)
		}
	}
	for _, r := range e.Resources {
		n += len(r)
	}
	return n
}

// entryFailure returns the per-entry error EventBridge reports for e, or nil.
func entryFailure(e *putEventsEntry) *putEventsResultEntry {
	required := func(field string) *putEventsResultEntry {
		return &putEventsResultEntry{ErrorCode: "InvalidArgument", ErrorMessage: "Parameter " + field + " is not valid. Reason: " + field + " is a required argument."}
	}
	switch {
	case e.Source == nil || *e.Source == "":
		return required("Source")
	case e.DetailType == nil || *e.DetailType == "":
		return required("DetailType")
	case e.Detail == nil || *e.Detail == "":
		return required("Detail")
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(*e.Detail), &obj) != nil || obj == nil {
		return &putEventsResultEntry{ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed."}
	}
	return nil
}

func (s *Service) putEvents(in *putEventsInput) (any, *awsjson.Error) {
	if in.Entries == nil {
		return nil, protocol.Null("entries")
	}
	if len(in.Entries) < 1 {
		return nil, protocol.Constraint("[]", "entries", "Member must have length greater than or equal to 1")
	}
	if len(in.Entries) > MaxEntries {
		return nil, protocol.Constraint("[...]", "entries", fmt.Sprintf("Member must have length less than or equal to %d", MaxEntries))
	}
	if in.EndpointID != nil {
		return nil, awsjson.Errorf(codeValidation, "EndpointId (global endpoints) is not supported by the dualkey emulator; send events to the regional endpoint.")
	}
	total := 0
	for i := range in.Entries {
		e := &in.Entries[i]
		member := fmt.Sprintf("entries.%d.member", i+1)
		if e.EventBusName != nil {
			if aerr := protocol.CheckLen(member+".eventBusName", e.EventBusName, 1, 1600); aerr != nil {
				return nil, aerr
			}
			if !busRefRE.MatchString(*e.EventBusName) {
				return nil, protocol.Constraint(*e.EventBusName, member+".eventBusName", `Member must satisfy regular expression pattern: (arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:event-bus\/)?[\.\-_A-Za-z0-9]+`)
			}
		}
		if aerr := protocol.CheckLen(member+".traceHeader", e.TraceHeader, 1, 500); aerr != nil {
			return nil, aerr
		}
		total += entrySize(e)
	}
	if total > MaxRequestBytes {
		return nil, awsjson.Errorf(codeValidation, "Total size of the entries in the request is over the limit.")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := putEventsOutput{Entries: make([]putEventsResultEntry, 0, len(in.Entries))}
	for i := range in.Entries {
		e := &in.Entries[i]
		if f := entryFailure(e); f != nil {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, *f)
			continue
		}
		ev := Event{
			ID:           awsjson.UUID(),
			EventBusName: DefaultBus,
			Source:       *e.Source,
			DetailType:   *e.DetailType,
			Detail:       *e.Detail,
			Resources:    append([]string(nil), e.Resources...),
			Time:         now.UTC(),
			Account:      s.account,
			Region:       s.region,
		}
		if e.EventBusName != nil {
			ev.EventBusName = s.busName(*e.EventBusName)
		}
		if e.Time != nil {
			ev.Time = e.Time.t
		}
		if e.TraceHeader != nil {
			ev.TraceHeader = *e.TraceHeader
		}
		ev.Dropped = s.buses[ev.EventBusName] == nil
		s.events = append(s.events, ev)
		out.Entries = append(out.Entries, putEventsResultEntry{EventID: ev.ID})
	}
	return out, nil
}

// ---- event buses ----

type createEventBusInput struct {
	Name             *string         `json:"Name"`
	EventSourceName  *string         `json:"EventSourceName"`
	Description      *string         `json:"Description"`
	KmsKeyIdentifier *string         `json:"KmsKeyIdentifier"`
	DeadLetterConfig json.RawMessage `json:"DeadLetterConfig"`
	LogConfig        json.RawMessage `json:"LogConfig"`
	Tags             []tag           `json:"Tags"`
}

type createEventBusOutput struct {
	EventBusArn string  `json:"EventBusArn"`
	Description *string `json:"Description,omitempty"`
}

func (s *Service) createEventBus(in *createEventBusInput) (any, *awsjson.Error) {
	if aerr := checkBusName(in.Name); aerr != nil {
		return nil, aerr
	}
	if aerr := protocol.CheckLen("description", in.Description, 0, 512); aerr != nil {
		return nil, aerr
	}
	if in.EventSourceName != nil {
		return nil, awsjson.Errorf(codeResourceNotFound, "Event source %s does not exist.", *in.EventSourceName)
	}
	if strings.Contains(*in.Name, "/") {
		return nil, awsjson.Errorf(codeValidation, "Event bus name must not contain '/'.")
	}
	seen := map[string]bool{}
	for i, t := range in.Tags {
		member := fmt.Sprintf("tags.%d.member", i+1)
		if t.Key == nil {
			return nil, protocol.Null(member + ".key")
		}
		if t.Value == nil {
			return nil, protocol.Null(member + ".value")
		}
		if aerr := protocol.CheckLen(member+".key", t.Key, 1, 128); aerr != nil {
			return nil, aerr
		}
		if aerr := protocol.CheckLen(member+".value", t.Value, 0, 256); aerr != nil {
			return nil, aerr
		}
		if seen[*t.Key] {
			return nil, awsjson.Errorf(codeValidation, "Invalid parameter: Duplicated keys are not allowed.")
		}
		seen[*t.Key] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buses[*in.Name] != nil {
		return nil, awsjson.Errorf(codeAlreadyExists, "Event bus %s already exists.", *in.Name)
	}
	now := s.now()
	b := &bus{name: *in.Name, created: now, modified: now, tags: in.Tags}
	if in.Description != nil {
		b.description = *in.Description
	}
	s.buses[b.name] = b
	return createEventBusOutput{EventBusArn: s.busARN(b.name), Description: in.Description}, nil
}

type busRefInput struct {
	Name *string `json:"Name"`
}

type eventBusOut struct {
	Name             string   `json:"Name"`
	Arn              string   `json:"Arn"`
	Description      string   `json:"Description,omitempty"`
	CreationTime     epochOut `json:"CreationTime"`
	LastModifiedTime epochOut `json:"LastModifiedTime"`
}

func (s *Service) busOut(b *bus) eventBusOut {
	return eventBusOut{Name: b.name, Arn: s.busARN(b.name), Description: b.description, CreationTime: epochOut(b.created), LastModifiedTime: epochOut(b.modified)}
}

// checkBusName validates the required name of a bus to create or delete.
func checkBusName(v *string) *awsjson.Error {
	if v == nil {
		return protocol.Null("name")
	}
	if aerr := protocol.CheckLen("name", v, 1, 256); aerr != nil {
		return aerr
	}
	if !busNameRE.MatchString(*v) {
		return protocol.Constraint(*v, "name", `Member must satisfy regular expression pattern: [/\.\-_A-Za-z0-9]+`)
	}
	return nil
}

func checkBusRef(member string, v *string) *awsjson.Error {
	if aerr := protocol.CheckLen(member, v, 1, 1600); aerr != nil {
		return aerr
	}
	if v != nil && !busRefRE.MatchString(*v) {
		return protocol.Constraint(*v, member, `Member must satisfy regular expression pattern: (arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:event-bus\/)?[/\.\-_A-Za-z0-9]+`)
	}
	return nil
}

func (s *Service) describeEventBus(in *busRefInput) (any, *awsjson.Error) {
	if aerr := checkBusRef("name", in.Name); aerr != nil {
		return nil, aerr
	}
	name := DefaultBus
	if in.Name != nil {
		name = s.busName(*in.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buses[name]
	if b == nil {
		return nil, errBusNotFound(name)
	}
	return s.busOut(b), nil
}

func (s *Service) deleteEventBus(in *busRefInput) (any, *awsjson.Error) {
	if aerr := checkBusName(in.Name); aerr != nil {
		return nil, aerr
	}
	if *in.Name == DefaultBus {
		return nil, awsjson.Errorf(codeValidation, "Cannot delete event bus default.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buses[*in.Name] == nil {
		return nil, errBusNotFound(*in.Name)
	}
	delete(s.buses, *in.Name)
	return struct{}{}, nil
}

type listEventBusesInput struct {
	NamePrefix *string `json:"NamePrefix"`
	NextToken  *string `json:"NextToken"`
	Limit      *int32  `json:"Limit"`
}

type listEventBusesOutput struct {
	EventBuses []eventBusOut `json:"EventBuses"`
	NextToken  *string       `json:"NextToken,omitempty"`
}

func (s *Service) listEventBuses(in *listEventBusesInput) (any, *awsjson.Error) {
	if aerr := protocol.CheckLen("namePrefix", in.NamePrefix, 1, 256); aerr != nil {
		return nil, aerr
	}
	if aerr := protocol.CheckLen("nextToken", in.NextToken, 1, 2048); aerr != nil {
		return nil, aerr
	}
	if aerr := awsjson.CheckRange(protocol, "limit", in.Limit, 1, 100); aerr != nil {
		return nil, aerr
	}
	after := ""
	if in.NextToken != nil {
		b, err := base64.RawURLEncoding.DecodeString(*in.NextToken)
		if err != nil || len(b) == 0 {
			return nil, awsjson.Errorf(codeValidation, "The NextToken provided is invalid.")
		}
		after = string(b)
	}
	limit := 100
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.buses))
	for n := range s.buses {
		if (in.NamePrefix == nil || strings.HasPrefix(n, *in.NamePrefix)) && n > after {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	out := listEventBusesOutput{EventBuses: []eventBusOut{}}
	for _, n := range names {
		if len(out.EventBuses) == limit {
			t := base64.RawURLEncoding.EncodeToString([]byte(out.EventBuses[limit-1].Name))
			out.NextToken = &t
			break
		}
		out.EventBuses = append(out.EventBuses, s.busOut(s.buses[n]))
	}
	return out, nil
}
