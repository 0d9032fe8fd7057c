package iamemu

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/dualkey/dualkey/emulator/awsauth"
	"github.com/dualkey/dualkey/emulator/internal/awsjson"
)

// Service names as they appear in a SigV4 credential scope.
const (
	ServiceIAM = "iam"
	ServiceSTS = "sts"
)

const (
	iamVersion   = "2010-05-08"
	stsVersion   = "2011-06-15"
	iamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"
	stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

	maxBodyBytes = 1 << 20
	// awsTime is how IAM and STS render timestamps.
	awsTime = "2006-01-02T15:04:05Z"
)

// apiError is an error response of the query protocol.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func noSuchUser(name string) *apiError {
	return &apiError{http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("The user with name %s cannot be found.", name)}
}

func noSuchKey(id string) *apiError {
	return &apiError{http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("The Access Key with id %s cannot be found.", id)}
}

func validationError(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "ValidationError", msg}
}

func constraintError(value, field, constraint string) *apiError {
	return validationError(fmt.Sprintf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, field, constraint))
}

func missingError(field string) *apiError {
	return validationError(fmt.Sprintf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field))
}

var (
	errMissingToken = &apiError{http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token"}
	errInvalidToken = &apiError{http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid."}
	errSignature    = &apiError{http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
	errTooLarge     = &apiError{http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", fmt.Sprintf("Request must be smaller than %d bytes.", maxBodyBytes)}
	errInternal     = &apiError{http.StatusInternalServerError, "InternalFailure", "The request processing has failed because of an unknown error, exception or failure."}
)

// authError maps an error from awsauth.Verifier.Verify to the response IAM
// and STS give.
func authError(err error) *apiError {
	switch {
	case errors.Is(err, awsauth.ErrMissingAuth):
		return errMissingToken
	case errors.Is(err, awsauth.ErrMalformedAuth):
		return &apiError{http.StatusBadRequest, "IncompleteSignature", "The request signature does not conform to AWS standards: " + err.Error()}
	case errors.Is(err, awsauth.ErrUnknownKey), errors.Is(err, awsauth.ErrInactiveKey):
		return errInvalidToken
	case errors.Is(err, awsauth.ErrSignatureMismatch):
		return errSignature
	case errors.Is(err, awsauth.ErrRequestTime), errors.Is(err, awsauth.ErrCredentialScope):
		// The error's text is AWS's message ("Signature expired: ...").
		return &apiError{http.StatusForbidden, "SignatureDoesNotMatch", err.Error()}
	default:
		return errInternal
	}
}

// WriteAuthError writes the error response that IAM (service "iam") or STS
// (service "sts") gives for err, an error returned by
// awsauth.Verifier.Verify: MissingAuthenticationToken, IncompleteSignature,
// InvalidClientTokenId (unknown, deleted, unpropagated or inactive key) or
// SignatureDoesNotMatch (wrong signature, expired or not yet current
// signature, credential scope of another day or region).
func WriteAuthError(w http.ResponseWriter, service string, err error) {
	writeError(w, service, authError(err))
}

// call is one operation invocation.
type call struct {
	principal awsauth.Principal
	form      url.Values
	now       time.Time
}

// operation runs with Service.mu held. A nil result means the response has
// no Result element.
type operation func(s *Service, c *call) (any, *apiError)

var iamOps = map[string]operation{
	"CreateUser":           (*Service).createUser,
	"GetUser":              (*Service).getUser,
	"ListUsers":            (*Service).listUsers,
	"DeleteUser":           (*Service).deleteUser,
	"CreateAccessKey":      (*Service).createAccessKey,
	"UpdateAccessKey":      (*Service).updateAccessKey,
	"DeleteAccessKey":      (*Service).deleteAccessKey,
	"ListAccessKeys":       (*Service).listAccessKeys,
	"GetAccessKeyLastUsed": (*Service).getAccessKeyLastUsed,
	"TagUser":              (*Service).tagUser,
	"UntagUser":            (*Service).untagUser,
	"ListUserTags":         (*Service).listUserTags,
}

// readOnly lists the operations that change nothing.
var readOnly = map[string]bool{
	"GetUser": true, "ListUsers": true, "ListAccessKeys": true, "GetAccessKeyLastUsed": true,
	"ListUserTags": true, "GetCallerIdentity": true,
}

var stsOps = map[string]operation{
	"GetCallerIdentity": (*Service).getCallerIdentity,
}

// pickService decides which API a request addresses: the credential-scope
// service when it names IAM or STS, otherwise the one that has the action.
func pickService(scope, action string) string {
	switch scope {
	case ServiceIAM, ServiceSTS:
		return scope
	}
	if _, ok := stsOps[action]; ok {
		return ServiceSTS
	}
	return ServiceIAM
}

// Handler serves IAM and STS query-protocol requests whose signature a front
// end has already verified: the principal must be in the request context
// (awsauth.WithPrincipal), otherwise the request is refused with
// MissingAuthenticationToken. The API is chosen by the principal's
// credential-scope service ("iam" or "sts"), or by the Action for any other.
func (s *Service) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// Standalone returns a handler that verifies each request's SigV4 signature
// against Keys (recording the use of the key) and then serves it like
// Handler. Authentication failures get IAM's and STS's error responses.
func (s *Service) Standalone() http.Handler {
	v := &awsauth.Verifier{Keys: s.Keys(), Now: s.now}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The headers are checked before the body is read, so an
		// unauthenticated client cannot make the server buffer one.
		pending, p, err := v.Authenticate(r)
		if err != nil {
			service := p.Service
			if service != ServiceIAM && service != ServiceSTS {
				service = pickService("", peekAction(r))
			}
			WriteAuthError(w, service, err)
			return
		}
		if r.ContentLength > maxBodyBytes {
			writeError(w, p.Service, errTooLarge)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
		if err != nil || len(body) > maxBodyBytes {
			writeError(w, pickService(p.Service, ""), errTooLarge)
			return
		}
		if p, err = pending.Verify(body); err != nil {
			service := p.Service
			if service != ServiceIAM && service != ServiceSTS {
				form, _ := parseForm(r, body)
				service = pickService("", form.Get("Action"))
			}
			WriteAuthError(w, service, err)
			return
		}
		r = r.WithContext(awsauth.WithPrincipal(r.Context(), p))
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.serve(w, r)
	})
}

// peekAction returns the Action of an unauthenticated request from its query
// string or the first few KiB of its body, only to answer in the right
// service's XML namespace: the rest of the body is never read.
func peekAction(r *http.Request) string {
	if a := r.URL.Query().Get("Action"); a != "" {
		return a
	}
	head, _ := io.ReadAll(io.LimitReader(r.Body, 4<<10))
	for _, kv := range strings.Split(string(head), "&") {
		if v, ok := strings.CutPrefix(kv, "Action="); ok {
			return v
		}
	}
	return ""
}

func parseForm(r *http.Request, body []byte) (url.Values, error) {
	form := url.Values{}
	for k, v := range r.URL.Query() {
		form[k] = append(form[k], v...)
	}
	if len(body) == 0 {
		return form, nil
	}
	fromBody, err := url.ParseQuery(string(body))
	if err != nil {
		return form, fmt.Errorf("parse form body: %w", err)
	}
	for k, v := range fromBody {
		form[k] = append(form[k], v...)
	}
	return form, nil
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	p, authed := awsauth.PrincipalFrom(r.Context())
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil || len(body) > maxBodyBytes {
		writeError(w, pickService(p.Service, ""), validationError("The request body could not be read or is too large."))
		return
	}
	form, formErr := parseForm(r, body)
	action := form.Get("Action")
	service := pickService(p.Service, action)
	if !authed {
		writeError(w, service, errMissingToken)
		return
	}
	if formErr != nil {
		writeError(w, service, &apiError{http.StatusBadRequest, "MalformedQueryString", "The query string or body is not valid form encoding."})
		return
	}
	ops, version := iamOps, iamVersion
	if service == ServiceSTS {
		ops, version = stsOps, stsVersion
	}
	if action == "" {
		writeError(w, service, &apiError{http.StatusBadRequest, "MissingAction", "Missing Action"})
		return
	}
	op, ok := ops[action]
	if !ok {
		writeError(w, service, &apiError{http.StatusBadRequest, "InvalidAction", fmt.Sprintf("Could not find operation %s for version %s", action, version)})
		return
	}
	c := &call{principal: p, form: form, now: s.now()}
	s.mu.Lock()
	result, aerr := op(s, c)
	if aerr == nil && !readOnly[action] {
		s.gen++
	}
	s.mu.Unlock()
	if aerr != nil {
		writeError(w, service, aerr)
		return
	}
	writeResult(w, service, action, result)
}

func namespace(service string) string {
	if service == ServiceSTS {
		return stsNamespace
	}
	return iamNamespace
}

func writeResult(w http.ResponseWriter, service, action string, result any) {
	reqID := awsjson.UUID()
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `<%sResponse xmlns="%s">`, action, namespace(service))
	if result != nil {
		enc := xml.NewEncoder(&buf)
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			writeError(w, service, errInternal)
			return
		}
	}
	fmt.Fprintf(&buf, `<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>`, reqID, action)
	writeXML(w, http.StatusOK, reqID, buf.Bytes())
}

type errorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

func writeError(w http.ResponseWriter, service string, e *apiError) {
	reqID := awsjson.UUID()
	resp := errorResponse{Xmlns: namespace(service), Type: "Sender", Code: e.code, Message: e.message, RequestID: reqID}
	if e.status >= 500 {
		resp.Type = "Receiver"
	}
	out, err := xml.Marshal(resp)
	if err != nil {
		out = []byte("<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code></Error></ErrorResponse>")
	}
	writeXML(w, e.status, reqID, out)
}

func writeXML(w http.ResponseWriter, status int, reqID string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Set("X-Amzn-Requestid", reqID)
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// XML shapes of the results.

type xmlUser struct {
	Path       string   `xml:"Path"`
	UserName   string   `xml:"UserName"`
	UserID     string   `xml:"UserId"`
	Arn        string   `xml:"Arn"`
	CreateDate string   `xml:"CreateDate"`
	Tags       *xmlTags `xml:"Tags,omitempty"` // GetUser and CreateUser only, as at AWS
}

type userResult struct {
	User xmlUser `xml:"User"`
}

type listUsersResult struct {
	Users struct {
		Member []xmlUser `xml:"member"`
	} `xml:"Users"`
	IsTruncated bool `xml:"IsTruncated"`
}

type xmlAccessKey struct {
	UserName        string `xml:"UserName"`
	AccessKeyID     string `xml:"AccessKeyId"`
	Status          string `xml:"Status"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	CreateDate      string `xml:"CreateDate"`
}

type createAccessKeyResult struct {
	AccessKey xmlAccessKey `xml:"AccessKey"`
}

type xmlAccessKeyMetadata struct {
	UserName    string `xml:"UserName"`
	AccessKeyID string `xml:"AccessKeyId"`
	Status      string `xml:"Status"`
	CreateDate  string `xml:"CreateDate"`
}

type listAccessKeysResult struct {
	AccessKeyMetadata struct {
		Member []xmlAccessKeyMetadata `xml:"member"`
	} `xml:"AccessKeyMetadata"`
	IsTruncated bool `xml:"IsTruncated"`
}

type getAccessKeyLastUsedResult struct {
	UserName          string `xml:"UserName"`
	AccessKeyLastUsed struct {
		LastUsedDate string `xml:"LastUsedDate,omitempty"`
		ServiceName  string `xml:"ServiceName"`
		Region       string `xml:"Region"`
	} `xml:"AccessKeyLastUsed"`
}

type getCallerIdentityResult struct {
	Arn     string `xml:"Arn"`
	UserID  string `xml:"UserId"`
	Account string `xml:"Account"`
}

func formatTime(t time.Time) string { return t.UTC().Format(awsTime) }

func (s *Service) userXML(u *user) xmlUser {
	return xmlUser{Path: u.path, UserName: u.name, UserID: u.id, Arn: s.arn(u), CreateDate: formatTime(u.created)}
}

func (s *Service) sortedUsersLocked() []*user {
	out := make([]*user, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].name) < strings.ToLower(out[j].name) })
	return out
}

// Parameter helpers.

// userNameParam returns the UserName parameter, validated; ok is false when
// it is absent.
func userNameParam(c *call, maxLen int) (name string, ok bool, aerr *apiError) {
	if !c.form.Has("UserName") {
		return "", false, nil
	}
	name = c.form.Get("UserName")
	switch {
	case name == "":
		return "", true, constraintError(name, "userName", "Member must have length greater than or equal to 1")
	case len(name) > maxLen:
		return "", true, constraintError(name, "userName", fmt.Sprintf("Member must have length less than or equal to %d", maxLen))
	case !userNamePattern.MatchString(name):
		return "", true, constraintError(name, "userName", `Member must satisfy regular expression pattern: [\w+=,.@-]+`)
	}
	return name, true, nil
}

func accessKeyIDParam(c *call) (string, *apiError) {
	if !c.form.Has("AccessKeyId") {
		return "", missingError("accessKeyId")
	}
	id := c.form.Get("AccessKeyId")
	switch {
	case len(id) < 16:
		return "", constraintError(id, "accessKeyId", "Member must have length greater than or equal to 16")
	case len(id) > 128:
		return "", constraintError(id, "accessKeyId", "Member must have length less than or equal to 128")
	case !accessKeyIDPattern.MatchString(id):
		return "", constraintError(id, "accessKeyId", `Member must satisfy regular expression pattern: [\w]+`)
	}
	return id, nil
}

// callerLocked returns the IAM user whose key signed the request.
func (s *Service) callerLocked(c *call) (*user, *apiError) {
	k, ok := s.keys[c.principal.AccessKeyID]
	if !ok {
		return nil, validationError("Must specify userName when calling with non-User credentials")
	}
	u, ok := s.userLocked(k.user)
	if !ok {
		return nil, validationError("Must specify userName when calling with non-User credentials")
	}
	return u, nil
}

// targetUserLocked returns the user named by UserName, or the caller when
// UserName is absent.
func (s *Service) targetUserLocked(c *call) (*user, *apiError) {
	name, given, aerr := userNameParam(c, 128)
	if aerr != nil {
		return nil, aerr
	}
	if !given {
		return s.callerLocked(c)
	}
	u, ok := s.userLocked(name)
	if !ok {
		return nil, noSuchUser(name)
	}
	return u, nil
}

// keyOfLocked returns the access key AccessKeyId of the target user.
func (s *Service) keyOfLocked(c *call) (*accessKey, *apiError) {
	id, aerr := accessKeyIDParam(c)
	if aerr != nil {
		return nil, aerr
	}
	u, aerr := s.targetUserLocked(c)
	if aerr != nil {
		return nil, aerr
	}
	k, ok := s.keys[id]
	if !ok || k.user != u.name {
		return nil, noSuchKey(id)
	}
	return k, nil
}

// IAM operations.

func (s *Service) createUser(c *call) (any, *apiError) {
	name, given, aerr := userNameParam(c, 64)
	if aerr != nil {
		return nil, aerr
	}
	if !given {
		return nil, missingError("userName")
	}
	path := "/"
	if c.form.Has("Path") {
		path = c.form.Get("Path")
		if validPath(path) != nil {
			return nil, constraintError(path, "path", `Member must satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)`)
		}
	}
	// A bad tag fails the whole request and creates nothing.
	tags, _, aerr := tagsParam(c)
	if aerr != nil {
		return nil, aerr
	}
	if _, exists := s.userLocked(name); exists {
		return nil, &apiError{http.StatusConflict, "EntityAlreadyExists", fmt.Sprintf("User with name %s already exists.", name)}
	}
	u := &user{name: name, id: s.newUserIDLocked(), path: path, created: c.now, tags: mergeTags(nil, tags)}
	s.users[strings.ToLower(name)] = u
	out := s.userXML(u)
	out.Tags = tagsXML(u.tags)
	return userResult{User: out}, nil
}

func (s *Service) getUser(c *call) (any, *apiError) {
	u, aerr := s.targetUserLocked(c)
	if aerr != nil {
		return nil, aerr
	}
	out := s.userXML(u)
	out.Tags = tagsXML(u.tags)
	return userResult{User: out}, nil
}

func (s *Service) listUsers(c *call) (any, *apiError) {
	prefix := c.form.Get("PathPrefix")
	var res listUsersResult
	for _, u := range s.sortedUsersLocked() {
		if strings.HasPrefix(u.path, prefix) {
			res.Users.Member = append(res.Users.Member, s.userXML(u))
		}
	}
	return res, nil
}

func (s *Service) deleteUser(c *call) (any, *apiError) {
	u, aerr := s.namedUserLocked(c)
	if aerr != nil {
		return nil, aerr
	}
	if len(s.keysOfLocked(u.name)) > 0 {
		return nil, &apiError{http.StatusConflict, "DeleteConflict", "Cannot delete entity, must delete access keys first."}
	}
	delete(s.users, strings.ToLower(u.name))
	return nil, nil
}

func (s *Service) createAccessKey(c *call) (any, *apiError) {
	u, aerr := s.targetUserLocked(c)
	if aerr != nil {
		return nil, aerr
	}
	if len(s.keysOfLocked(u.name)) >= MaxAccessKeysPerUser {
		return nil, &apiError{http.StatusConflict, "LimitExceeded", fmt.Sprintf("Cannot exceed quota for AccessKeysPerUser: %d", MaxAccessKeysPerUser)}
	}
	k := &accessKey{
		id:      s.newAccessKeyIDLocked(),
		secret:  randomString(secretABC, 40),
		user:    u.name,
		status:  StatusActive,
		created: c.now,
	}
	s.keys[k.id] = k
	return createAccessKeyResult{AccessKey: xmlAccessKey{
		UserName:        k.user,
		AccessKeyID:     k.id,
		Status:          k.status,
		SecretAccessKey: k.secret,
		CreateDate:      formatTime(k.created),
	}}, nil
}

func (s *Service) updateAccessKey(c *call) (any, *apiError) {
	if !c.form.Has("Status") {
		return nil, missingError("status")
	}
	status := c.form.Get("Status")
	switch status {
	case StatusActive, StatusInactive:
	case "Expired":
		return nil, validationError("Access key status cannot be set to Expired.")
	default:
		return nil, constraintError(status, "status", "Member must satisfy enum value set: [Active, Inactive, Expired]")
	}
	k, aerr := s.keyOfLocked(c)
	if aerr != nil {
		return nil, aerr
	}
	k.status = status
	return nil, nil
}

func (s *Service) deleteAccessKey(c *call) (any, *apiError) {
	k, aerr := s.keyOfLocked(c)
	if aerr != nil {
		return nil, aerr
	}
	delete(s.keys, k.id)
	return nil, nil
}

func (s *Service) listAccessKeys(c *call) (any, *apiError) {
	u, aerr := s.targetUserLocked(c)
	if aerr != nil {
		return nil, aerr
	}
	var res listAccessKeysResult
	for _, k := range s.keysOfLocked(u.name) {
		res.AccessKeyMetadata.Member = append(res.AccessKeyMetadata.Member, xmlAccessKeyMetadata{
			UserName:    k.user,
			AccessKeyID: k.id,
			Status:      k.status,
			CreateDate:  formatTime(k.created),
		})
	}
	return res, nil
}

func (s *Service) getAccessKeyLastUsed(c *call) (any, *apiError) {
	id, aerr := accessKeyIDParam(c)
	if aerr != nil {
		return nil, aerr
	}
	k, ok := s.keys[id]
	if !ok {
		return nil, noSuchKey(id)
	}
	var res getAccessKeyLastUsedResult
	res.UserName = k.user
	if k.lastUsed.IsZero() {
		res.AccessKeyLastUsed.ServiceName = "N/A"
		res.AccessKeyLastUsed.Region = "N/A"
		return res, nil
	}
	// IAM reports the last use with minute granularity.
	res.AccessKeyLastUsed.LastUsedDate = formatTime(k.lastUsed.UTC().Truncate(time.Minute))
	res.AccessKeyLastUsed.ServiceName = k.lastService
	res.AccessKeyLastUsed.Region = k.lastRegion
	return res, nil
}

// STS operations.

func (s *Service) getCallerIdentity(c *call) (any, *apiError) {
	k, ok := s.keys[c.principal.AccessKeyID]
	if !ok {
		return nil, errInvalidToken
	}
	u, ok := s.userLocked(k.user)
	if !ok {
		return nil, errInvalidToken
	}
	return getCallerIdentityResult{Arn: s.arn(u), UserID: u.id, Account: s.account}, nil
}
