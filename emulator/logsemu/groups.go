package logsemu

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/dualkey/dualkey/emulator/internal/awsjson"
)

const (
	msgGroupNotFound  = "The specified log group does not exist."
	msgStreamNotFound = "The specified log stream does not exist."
	msgGroupExists    = "The specified log group already exists"
	msgStreamExists   = "The specified log stream already exists"
	msgNameTooLong    = "Invalid LogGroup or LogStream, both must have length less than or equal to 512."
	msgNameAndARN     = "LogGroup name and LogGroup ARN are mutually exclusive parameters."
	msgBadToken       = "The specified nextToken is invalid."
)

var (
	groupNameRE  = regexp.MustCompile(`^[\.\-_/#A-Za-z0-9]+$`)
	groupPatRE   = regexp.MustCompile(`^[\.\-_/#A-Za-z0-9]*$`)
	identifierRE = regexp.MustCompile(`^[\w#+=/:,.@-]*$`)
)

func errGroupNotFound() *awsjson.Error { return awsjson.Errorf(codeResourceNotFound, msgGroupNotFound) }
func errStreamNotFound() *awsjson.Error {
	return awsjson.Errorf(codeResourceNotFound, msgStreamNotFound)
}

// nameRule is what a log group or log stream name must look like.
type nameRule struct {
	valid   func(string) bool
	pattern string // the pattern as CloudWatch Logs quotes it
}

var (
	groupName  = nameRule{groupNameRE.MatchString, `[\.\-_/#A-Za-z0-9]+`}
	streamName = nameRule{func(v string) bool { return !strings.ContainsAny(v, ":*") }, "[^:*]*"}
)

// check validates the name member v: present when required, 1 to 512
// bytes, matching the rule.
func (n nameRule) check(member string, v *string, required bool) *awsjson.Error {
	if v == nil {
		if required {
			return protocol.Null(member)
		}
		return nil
	}
	if len(*v) > 512 {
		return awsjson.Errorf(codeInvalidParameter, msgNameTooLong)
	}
	if aerr := protocol.CheckLen(member, v, 1, 512); aerr != nil {
		return aerr
	}
	if !n.valid(*v) {
		return protocol.Constraint(*v, member, "Member must satisfy regular expression pattern: "+n.pattern)
	}
	return nil
}

// checkStreamRef validates the required logGroupName and logStreamName.
func checkStreamRef(group, stream *string) *awsjson.Error {
	if aerr := groupName.check("logGroupName", group, true); aerr != nil {
		return aerr
	}
	return streamName.check("logStreamName", stream, true)
}

// checkPage validates the limit (1 to max) and nextToken of a request for a
// page.
func checkPage(limit *int32, max int32, nextToken *string) *awsjson.Error {
	if aerr := awsjson.CheckRange(protocol, "limit", limit, 1, max); aerr != nil {
		return aerr
	}
	return protocol.CheckLen("nextToken", nextToken, 1, 1<<20)
}

// streamLocked returns the stream groupName/streamName and its group, or
// the ResourceNotFoundException for whichever does not exist. Callers hold
// s.mu.
func (s *Service) streamLocked(groupName, streamName string) (*group, *stream, *awsjson.Error) {
	g := s.groups[groupName]
	if g == nil {
		return nil, nil, errGroupNotFound()
	}
	st := g.streams[streamName]
	if st == nil {
		return nil, nil, errStreamNotFound()
	}
	return g, st, nil
}

// groupRefLocked resolves logGroupName / logGroupIdentifier (a name or a log
// group ARN, with or without the trailing ":*"). Callers hold s.mu.
func (s *Service) groupRefLocked(name, identifier *string) (*group, *awsjson.Error) {
	if name != nil && identifier != nil {
		return nil, awsjson.Errorf(codeValidation, msgNameAndARN)
	}
	if name == nil && identifier == nil {
		return nil, awsjson.Errorf(codeInvalidParameter, "Either logGroupName or logGroupIdentifier must be specified.")
	}
	if name != nil {
		if aerr := groupName.check("logGroupName", name, true); aerr != nil {
			return nil, aerr
		}
		g := s.groups[*name]
		if g == nil {
			return nil, errGroupNotFound()
		}
		return g, nil
	}
	id := *identifier
	if aerr := protocol.CheckLen("logGroupIdentifier", identifier, 1, 2048); aerr != nil {
		return nil, aerr
	}
	if !identifierRE.MatchString(strings.TrimSuffix(id, ":*")) {
		return nil, protocol.Constraint(id, "logGroupIdentifier", `Member must satisfy regular expression pattern: [\w#+=/:,.@-]*`)
	}
	groupName := id
	if strings.HasPrefix(id, "arn:") {
		prefix := "arn:aws:logs:" + s.region + ":" + s.account + ":log-group:"
		rest, ok := strings.CutPrefix(id, prefix)
		if !ok {
			return nil, errGroupNotFound()
		}
		groupName = strings.TrimSuffix(rest, ":*")
	}
	g := s.groups[groupName]
	if g == nil {
		return nil, errGroupNotFound()
	}
	return g, nil
}

// pageToken encodes a name-ordered listing position.
func pageToken(parts ...string) *string {
	t := base64.RawURLEncoding.EncodeToString([]byte(strings.Join(parts, "\x00")))
	return &t
}

func parsePageToken(t *string, n int) ([]string, *awsjson.Error) {
	if t == nil {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*t)
	parts := strings.Split(string(b), "\x00")
	if err != nil || len(parts) != n {
		return nil, awsjson.Errorf(codeInvalidParameter, msgBadToken)
	}
	return parts, nil
}

// ---- CreateLogGroup ----

type createLogGroupInput struct {
	LogGroupName              *string           `json:"logGroupName"`
	KmsKeyID                  *string           `json:"kmsKeyId"`
	Tags                      map[string]string `json:"tags"`
	LogGroupClass             *string           `json:"logGroupClass"`
	DeletionProtectionEnabled *bool             `json:"deletionProtectionEnabled"`
}

var logGroupClasses = []string{"STANDARD", "INFREQUENT_ACCESS", "DELIVERY", "ESSENTIALS"}

func checkTags(tags map[string]string) *awsjson.Error {
	if tags == nil {
		return nil
	}
	if len(tags) < 1 || len(tags) > 50 {
		return protocol.Constraint("{...}", "tags", "Member must have length between 1 and 50")
	}
	for k, v := range tags {
		if len(k) < 1 || len(k) > 128 {
			return protocol.Constraint(k, "tags.key", "Member must have length between 1 and 128")
		}
		if len(v) > 256 {
			return protocol.Constraint(awsjson.Abbrev(v), "tags.value", "Member must have length less than or equal to 256")
		}
	}
	return nil
}

func (s *Service) createLogGroup(in *createLogGroupInput) (any, *awsjson.Error) {
	if aerr := groupName.check("logGroupName", in.LogGroupName, true); aerr != nil {
		return nil, aerr
	}
	if strings.HasPrefix(strings.ToLower(*in.LogGroupName), "aws/") {
		return nil, awsjson.Errorf(codeInvalidParameter, "Log groups starting with AWS/ are reserved for AWS.")
	}
	if aerr := protocol.CheckLen("kmsKeyId", in.KmsKeyID, 0, 256); aerr != nil {
		return nil, aerr
	}
	if aerr := checkTags(in.Tags); aerr != nil {
		return nil, aerr
	}
	class := "STANDARD"
	if in.LogGroupClass != nil {
		class = *in.LogGroupClass
		if !contains(logGroupClasses, class) {
			return nil, protocol.Constraint(class, "logGroupClass", "Member must satisfy enum value set: ["+strings.Join(logGroupClasses, ", ")+"]")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groups[*in.LogGroupName] != nil {
		return nil, awsjson.Errorf(codeAlreadyExists, msgGroupExists)
	}
	g := &group{
		name:              *in.LogGroupName,
		created:           s.now().UnixMilli(),
		class:             class,
		deletionProtected: in.DeletionProtectionEnabled != nil && *in.DeletionProtectionEnabled,
		tags:              in.Tags,
		streams:           map[string]*stream{},
	}
	if in.KmsKeyID != nil {
		g.kmsKeyID = *in.KmsKeyID
	}
	s.groups[g.name] = g
	return struct{}{}, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// ---- DeleteLogGroup ----

type deleteLogGroupInput struct {
	LogGroupName *string `json:"logGroupName"`
}

func (s *Service) deleteLogGroup(in *deleteLogGroupInput) (any, *awsjson.Error) {
	if aerr := groupName.check("logGroupName", in.LogGroupName, true); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[*in.LogGroupName]
	if g == nil {
		return nil, errGroupNotFound()
	}
	if g.deletionProtected {
		return nil, awsjson.Errorf(codeValidation, "Log group %s has deletion protection enabled; disable it before deleting the log group.", g.name)
	}
	delete(s.groups, g.name)
	return struct{}{}, nil
}

// ---- DescribeLogGroups ----

type describeLogGroupsInput struct {
	LogGroupNamePrefix    *string  `json:"logGroupNamePrefix"`
	LogGroupNamePattern   *string  `json:"logGroupNamePattern"`
	LogGroupIdentifiers   []string `json:"logGroupIdentifiers"`
	LogGroupClass         *string  `json:"logGroupClass"`
	NextToken             *string  `json:"nextToken"`
	Limit                 *int32   `json:"limit"`
	IncludeLinkedAccounts *bool    `json:"includeLinkedAccounts"`
	AccountIdentifiers    []string `json:"accountIdentifiers"`
}

type logGroupOut struct {
	LogGroupName              string  `json:"logGroupName"`
	CreationTime              int64   `json:"creationTime"`
	MetricFilterCount         int     `json:"metricFilterCount"`
	Arn                       string  `json:"arn"`
	StoredBytes               *int64  `json:"storedBytes,omitempty"`
	KmsKeyID                  *string `json:"kmsKeyId,omitempty"`
	LogGroupClass             string  `json:"logGroupClass"`
	LogGroupArn               string  `json:"logGroupArn"`
	DeletionProtectionEnabled *bool   `json:"deletionProtectionEnabled,omitempty"`
}

type describeLogGroupsOutput struct {
	LogGroups []logGroupOut `json:"logGroups"`
	NextToken *string       `json:"nextToken,omitempty"`
}

func (s *Service) describeLogGroups(in *describeLogGroupsInput) (any, *awsjson.Error) {
	if in.LogGroupNamePrefix != nil && in.LogGroupNamePattern != nil {
		return nil, awsjson.Errorf(codeInvalidParameter, "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
	}
	if in.LogGroupIdentifiers != nil && (in.LogGroupNamePrefix != nil || in.LogGroupNamePattern != nil) {
		return nil, awsjson.Errorf(codeInvalidParameter, "logGroupIdentifiers cannot be combined with logGroupNamePrefix or logGroupNamePattern.")
	}
	if aerr := groupName.check("logGroupNamePrefix", in.LogGroupNamePrefix, false); aerr != nil {
		return nil, aerr
	}
	if in.LogGroupNamePattern != nil {
		if aerr := protocol.CheckLen("logGroupNamePattern", in.LogGroupNamePattern, 0, 512); aerr != nil {
			return nil, aerr
		}
		if !groupPatRE.MatchString(*in.LogGroupNamePattern) {
			return nil, protocol.Constraint(*in.LogGroupNamePattern, "logGroupNamePattern", `Member must satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]*`)
		}
	}
	if in.LogGroupIdentifiers != nil && (len(in.LogGroupIdentifiers) < 1 || len(in.LogGroupIdentifiers) > 50) {
		return nil, protocol.Constraint("[...]", "logGroupIdentifiers", "Member must have length between 1 and 50")
	}
	if in.LogGroupClass != nil && !contains(logGroupClasses, *in.LogGroupClass) {
		return nil, protocol.Constraint(*in.LogGroupClass, "logGroupClass", "Member must satisfy enum value set: ["+strings.Join(logGroupClasses, ", ")+"]")
	}
	if aerr := checkPage(in.Limit, 50, in.NextToken); aerr != nil {
		return nil, aerr
	}
	after, aerr := parsePageToken(in.NextToken, 1)
	if aerr != nil {
		return nil, aerr
	}
	limit := 50
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	var wanted map[string]bool
	if in.LogGroupIdentifiers != nil {
		wanted = map[string]bool{}
		prefix := "arn:aws:logs:" + s.region + ":" + s.account + ":log-group:"
		for _, id := range in.LogGroupIdentifiers {
			wanted[strings.TrimSuffix(strings.TrimPrefix(id, prefix), ":*")] = true
		}
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.groups))
	for n := range s.groups {
		names = append(names, n)
	}
	sort.Strings(names)
	out := describeLogGroupsOutput{LogGroups: []logGroupOut{}}
	for _, n := range names {
		if after != nil && n <= after[0] {
			continue
		}
		g := s.groups[n]
		switch {
		case in.LogGroupNamePrefix != nil && !strings.HasPrefix(n, *in.LogGroupNamePrefix):
			continue
		case in.LogGroupNamePattern != nil && !strings.Contains(n, *in.LogGroupNamePattern):
			continue
		case wanted != nil && !wanted[n]:
			continue
		case in.LogGroupClass != nil && g.class != *in.LogGroupClass:
			continue
		}
		if len(out.LogGroups) == limit {
			out.NextToken = pageToken(out.LogGroups[limit-1].LogGroupName)
			break
		}
		lg := logGroupOut{
			LogGroupName:  g.name,
			CreationTime:  g.created,
			Arn:           s.groupARN(g.name) + ":*",
			LogGroupClass: g.class,
			LogGroupArn:   s.groupARN(g.name),
		}
		if in.LogGroupNamePattern == nil { // AWS returns fewer fields for a pattern search
			stored := g.storedBytes
			protected := g.deletionProtected
			lg.StoredBytes = &stored
			lg.DeletionProtectionEnabled = &protected
			if g.kmsKeyID != "" {
				k := g.kmsKeyID
				lg.KmsKeyID = &k
			}
		}
		out.LogGroups = append(out.LogGroups, lg)
	}
	return out, nil
}

// ---- CreateLogStream / DeleteLogStream ----

type streamRefInput struct {
	LogGroupName  *string `json:"logGroupName"`
	LogStreamName *string `json:"logStreamName"`
}

func (s *Service) createLogStream(in *streamRefInput) (any, *awsjson.Error) {
	if aerr := checkStreamRef(in.LogGroupName, in.LogStreamName); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[*in.LogGroupName]
	if g == nil {
		return nil, errGroupNotFound()
	}
	if g.streams[*in.LogStreamName] != nil {
		return nil, awsjson.Errorf(codeAlreadyExists, msgStreamExists)
	}
	g.streams[*in.LogStreamName] = &stream{name: *in.LogStreamName, created: s.now().UnixMilli()}
	return struct{}{}, nil
}

func (s *Service) deleteLogStream(in *streamRefInput) (any, *awsjson.Error) {
	if aerr := checkStreamRef(in.LogGroupName, in.LogStreamName); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, st, aerr := s.streamLocked(*in.LogGroupName, *in.LogStreamName)
	if aerr != nil {
		return nil, aerr
	}
	for _, e := range st.events {
		g.storedBytes -= int64(len(e.msg))
	}
	delete(g.streams, st.name)
	return struct{}{}, nil
}

// ---- DescribeLogStreams ----

type describeLogStreamsInput struct {
	LogGroupName        *string `json:"logGroupName"`
	LogGroupIdentifier  *string `json:"logGroupIdentifier"`
	LogStreamNamePrefix *string `json:"logStreamNamePrefix"`
	OrderBy             *string `json:"orderBy"`
	Descending          *bool   `json:"descending"`
	NextToken           *string `json:"nextToken"`
	Limit               *int32  `json:"limit"`
}

type logStreamOut struct {
	LogStreamName       string  `json:"logStreamName"`
	CreationTime        int64   `json:"creationTime"`
	FirstEventTimestamp *int64  `json:"firstEventTimestamp,omitempty"`
	LastEventTimestamp  *int64  `json:"lastEventTimestamp,omitempty"`
	LastIngestionTime   *int64  `json:"lastIngestionTime,omitempty"`
	UploadSequenceToken *string `json:"uploadSequenceToken,omitempty"`
	Arn                 string  `json:"arn"`
	StoredBytes         int64   `json:"storedBytes"`
}

type describeLogStreamsOutput struct {
	LogStreams []logStreamOut `json:"logStreams"`
	NextToken  *string        `json:"nextToken,omitempty"`
}

func sequenceToken(n int64) string { return fmt.Sprintf("%056d", n) }

func (s *Service) streamOut(g *group, st *stream) logStreamOut {
	o := logStreamOut{LogStreamName: st.name, CreationTime: st.created, Arn: s.streamARN(g.name, st.name)}
	if n := len(st.events); n > 0 {
		first, last, ing := st.events[0].ts, st.events[n-1].ts, st.lastIngest
		o.FirstEventTimestamp, o.LastEventTimestamp, o.LastIngestionTime = &first, &last, &ing
	}
	if st.uploads > 0 {
		t := sequenceToken(st.uploads)
		o.UploadSequenceToken = &t
	}
	return o
}

func (st *stream) lastEventTS() int64 {
	if n := len(st.events); n > 0 {
		return st.events[n-1].ts
	}
	return 0
}

func (s *Service) describeLogStreams(in *describeLogStreamsInput) (any, *awsjson.Error) {
	if aerr := streamName.check("logStreamNamePrefix", in.LogStreamNamePrefix, false); aerr != nil {
		return nil, aerr
	}
	orderBy := "LogStreamName"
	if in.OrderBy != nil {
		orderBy = *in.OrderBy
		if orderBy != "LogStreamName" && orderBy != "LastEventTime" {
			return nil, protocol.Constraint(orderBy, "orderBy", "Member must satisfy enum value set: [LogStreamName, LastEventTime]")
		}
	}
	if orderBy == "LastEventTime" && in.LogStreamNamePrefix != nil {
		return nil, awsjson.Errorf(codeInvalidParameter, "Cannot order by LastEventTime with a logStreamNamePrefix.")
	}
	if aerr := checkPage(in.Limit, 50, in.NextToken); aerr != nil {
		return nil, aerr
	}
	after, aerr := parsePageToken(in.NextToken, 2)
	if aerr != nil {
		return nil, aerr
	}
	var afterTS int64
	if after != nil {
		v, err := strconv.ParseInt(after[0], 10, 64)
		if err != nil {
			return nil, awsjson.Errorf(codeInvalidParameter, msgBadToken)
		}
		afterTS = v
	}
	limit := 50
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	desc := in.Descending != nil && *in.Descending

	s.mu.RLock()
	defer s.mu.RUnlock()
	g, aerr := s.groupRefLocked(in.LogGroupName, in.LogGroupIdentifier)
	if aerr != nil {
		return nil, aerr
	}
	streams := make([]*stream, 0, len(g.streams))
	for _, st := range g.streams {
		if in.LogStreamNamePrefix == nil || strings.HasPrefix(st.name, *in.LogStreamNamePrefix) {
			streams = append(streams, st)
		}
	}
	// less orders streams in the requested order; the position of a page
	// boundary is (last event time, name), so pages stay stable while
	// other streams are added.
	less := func(aTS int64, aName string, bTS int64, bName string) bool {
		if orderBy == "LastEventTime" && aTS != bTS {
			return (aTS < bTS) != desc
		}
		return (aName < bName) != desc
	}
	sortTS := func(st *stream) int64 {
		if orderBy == "LastEventTime" {
			return st.lastEventTS()
		}
		return 0
	}
	sort.Slice(streams, func(i, j int) bool {
		return less(sortTS(streams[i]), streams[i].name, sortTS(streams[j]), streams[j].name)
	})
	out := describeLogStreamsOutput{LogStreams: []logStreamOut{}}
	for _, st := range streams {
		if after != nil && !less(afterTS, after[1], sortTS(st), st.name) {
			continue
		}
		if len(out.LogStreams) == limit {
			prev := g.streams[out.LogStreams[limit-1].LogStreamName]
			out.NextToken = pageToken(strconv.FormatInt(sortTS(prev), 10), prev.name)
			break
		}
		out.LogStreams = append(out.LogStreams, s.streamOut(g, st))
	}
	return out, nil
}
