package awsemu

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/dualkey/dualkey/emulator/awsauth"
)

// actionPattern is what an AWS API action name looks like. Anything else
// (an empty or garbage X-Amz-Target, a form without Action) is not counted,
// so a client cannot grow the table with arbitrary strings.
var actionPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{0,127}$`)

// recordCall counts one authenticated call by p to action, under the IAM
// action name "<credential-scope service>:<action>" (for example
// "secretsmanager:GetSecretValue", "iam:CreateAccessKey",
// "sts:GetCallerIdentity", "logs:FilterLogEvents"). Calls that fail after
// authentication count too: a refused call still needed the permission.
func (s *Server) recordCall(p awsauth.Principal, action string) {
	if p.AccessKeyID == "" || !actionPattern.MatchString(action) {
		return
	}
	name := p.Service + ":" + action
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	byKey := s.calls[p.AccessKeyID]
	if byKey == nil {
		byKey = map[string]int{}
		s.calls[p.AccessKeyID] = byKey
	}
	byKey[name]++
}

// actionOf returns the action a request names: the X-Amz-Target suffix for
// JSON-protocol services ("Logs_20140328.FilterLogEvents" is
// "FilterLogEvents"), the Action parameter of the query string or form body
// for query-protocol services (IAM, STS).
func actionOf(r *http.Request, body []byte, jsonProtocol bool) string {
	if jsonProtocol {
		t := r.Header.Get("X-Amz-Target")
		return t[strings.LastIndex(t, ".")+1:]
	}
	if a := r.URL.Query().Get("Action"); a != "" {
		return a
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return ""
	}
	return form.Get("Action")
}

// Calls returns, per access key id, the number of authenticated calls made
// with that key per IAM action name ("secretsmanager:DescribeSecret",
// "iam:CreateAccessKey", "sts:GetCallerIdentity", ...) since start or the
// last ResetCalls, across every service the emulator serves or mounts
// through Config.Services. Failed calls are counted once authenticated;
// requests refused by SigV4 are not. The result is a copy.
func (s *Server) Calls() map[string]map[string]int {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	out := make(map[string]map[string]int, len(s.calls))
	for id, byKey := range s.calls {
		m := make(map[string]int, len(byKey))
		for k, v := range byKey {
			m[k] = v
		}
		out[id] = m
	}
	return out
}

// ResetCalls forgets the calls counted by Calls.
func (s *Server) ResetCalls() {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	s.calls = map[string]map[string]int{}
}
