package awsemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/dualkey/dualkey/emulator/internal/awsjson"
	"github.com/dualkey/dualkey/shared/rotation"
)

// Rotation steps, in the order Secrets Manager runs them.
var rotationSteps = []string{"createSecret", "setSecret", "testSecret", "finishSecret"}

// lambdaTimeout is Lambda's maximum function timeout.
const lambdaTimeout = 15 * time.Minute

// RotationRecord is the history entry of one RotateSecret-driven rotation.
type RotationRecord struct {
	SecretARN  string    `json:"SecretARN"`
	Function   string    `json:"Function"`
	Token      string    `json:"Token"`
	Steps      []string  `json:"Steps"`                // steps invoked, in order (the failed one included)
	FailedStep string    `json:"FailedStep,omitempty"` // empty when the rotation succeeded
	Error      string    `json:"Error,omitempty"`
	Succeeded  bool      `json:"Succeeded"`
	Started    time.Time `json:"Started"`
	Finished   time.Time `json:"Finished"`
}

// Rotations returns the history of RotateSecret-driven rotations, oldest
// first. Every string in it has URL user info and query values redacted
// (rotation.RedactURLs), since a Lambda's error message may quote a URL that
// carries a password or a token.
func (s *Server) Rotations() []RotationRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RotationRecord, len(s.rotations))
	for i, r := range s.rotations {
		r.Steps = slices.Clone(r.Steps)
		out[i] = r
	}
	return out
}

type rotateSecretInput struct {
	SecretId                       *string
	ClientRequestToken             *string
	RotationLambdaARN              *string
	RotationRules                  *rotationRules
	RotateImmediately              *bool
	ExternalSecretRotationMetadata []json.RawMessage
	ExternalSecretRotationRoleArn  *string
}

func (s *Server) rotateSecret(ctx context.Context, in *rotateSecretInput) (any, *awsjson.Error) {
	for _, a := range []*awsjson.Error{
		validateToken(in.ClientRequestToken),
		protocol.CheckLen("rotationLambdaARN", in.RotationLambdaARN, 0, 2048),
	} {
		if a != nil {
			return nil, a
		}
	}
	var sched *schedule
	if in.RotationRules != nil {
		var aerr *awsjson.Error
		if sched, aerr = parseRules(in.RotationRules); aerr != nil {
			return nil, aerr
		}
	}
	immediate := in.RotateImmediately == nil || *in.RotateImmediately
	token := awsjson.UUID()
	if in.ClientRequestToken != nil {
		token = *in.ClientRequestToken
	}

	sec, aerr := s.lockedSecret(in.SecretId, false)
	if aerr != nil {
		return nil, aerr
	}
	unlocked := false
	defer func() {
		if !unlocked {
			s.mu.Unlock()
		}
	}()
	fn := sec.RotationLambdaARN
	if in.RotationLambdaARN != nil && *in.RotationLambdaARN != "" {
		fn = s.lambdaARN(*in.RotationLambdaARN)
	}
	if fn == "" {
		return nil, awsjson.Errorf(codeInvalidRequest, "No Lambda rotation function ARN is associated with this secret.")
	}
	if s.cfg.Invoker == nil {
		if _, ok := s.lambdaURL(fn); !ok {
			return nil, awsjson.Errorf(codeAccessDenied, "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.")
		}
	}
	rules := sec.RotationRules
	if in.RotationRules != nil {
		rules = in.RotationRules
	} else if rules != nil {
		sched, _ = parseRules(rules)
	}
	out := arnNameVersion{ARN: sec.ARN, Name: sec.Name}
	pending := sec.pendingInProgress()
	if pending != nil && pending.ID != token {
		return nil, awsjson.Errorf(codeInvalidRequest, msgRotationIncomplete)
	}
	now := s.now()
	runSteps := false
	if immediate {
		out.VersionId = ptr(token)
		switch v := sec.Versions[token]; {
		case v == nil:
			if sec.stageLimitExceeded([]string{stagePending}) {
				return nil, errLimit()
			}
			// The placeholder: version id = token, AWSPENDING, no value yet.
			v = &version{ID: token, Created: now, Seq: s.st.nextSeq()}
			sec.Versions[token] = v
			sec.moveStage(stagePending, v)
			sec.pruneVersions()
			runSteps = true
		case v == pending:
			runSteps = true // retry of an unfinished rotation with its own token
		default:
			// A replayed request for a rotation that already finished: nothing to do.
		}
	}
	sec.RotationEnabled = ptr(true)
	sec.RotationLambdaARN = fn
	sec.RotationRules = rules
	if !immediate || sec.NextRotation == nil {
		sec.NextRotation = sched.next(now)
	}
	sec.LastChanged = now
	s.commitLocked(ctx, sec.ARN)
	if !runSteps {
		return out, nil
	}
	arn := sec.ARN
	s.mu.Unlock()
	unlocked = true
	if err := s.flush(); err != nil {
		return nil, errSaveState(err)
	}

	s.runRotation(context.WithoutCancel(ctx), arn, fn, token)
	return out, nil
}

// runRotation invokes the four rotation steps without holding the lock,
// stopping at the first failure, then records the outcome.
func (s *Server) runRotation(ctx context.Context, arn, fn, token string) {
	ctx, cancel := context.WithTimeout(ctx, lambdaTimeout)
	defer cancel()
	rec := RotationRecord{SecretARN: arn, Function: fn, Token: token, Started: s.now()}
	rotationToken := awsjson.UUID()
	for _, step := range rotationSteps {
		payload, _ := json.Marshal(map[string]string{
			"Step":               step,
			"SecretId":           arn,
			"ClientRequestToken": token,
			"RotationToken":      rotationToken,
		})
		rec.Steps = append(rec.Steps, step)
		if err := s.invoke(ctx, fn, payload); err != nil {
			rec.FailedStep = step
			rec.Error = rotation.RedactURLs(err.Error())
			break
		}
	}

	s.mu.Lock()
	now := s.now()
	rec.Finished = now
	if rec.FailedStep == "" {
		sec := s.st.Secrets[arn]
		var v *version
		if sec != nil {
			v = sec.Versions[token]
		}
		switch {
		case sec == nil:
			rec.Error = "the secret no longer exists after finishSecret"
		case v == nil || !v.hasStage(stageCurrent):
			rec.Error = fmt.Sprintf("finishSecret succeeded but AWSCURRENT is not on version %s", token)
		default:
			rec.Succeeded = true
			sec.LastRotated = ptr(now)
			if sched, aerr := parseRules(sec.RotationRules); aerr == nil {
				sec.NextRotation = sched.next(now)
			}
			s.markDirtyLocked(arn)
		}
	}
	rec.SecretARN = rotation.RedactURLs(rec.SecretARN)
	rec.Function = rotation.RedactURLs(rec.Function)
	rec.Token = rotation.RedactURLs(rec.Token)
	s.rotations = append(s.rotations, rec)
	s.mu.Unlock()
	_ = s.flush() // a failure to save is reported by /_dualkey/health and retried by the next write
}

// lambdaARN expands a bare function name to a full Lambda ARN.
func (s *Server) lambdaARN(fn string) string {
	if strings.HasPrefix(fn, "arn:") {
		return fn
	}
	return "arn:aws:lambda:" + s.cfg.Region + ":" + s.cfg.AccountID + ":function:" + fn
}

// functionName extracts the function name from a Lambda ARN (dropping any
// version or alias qualifier); a bare name is returned as is.
func functionName(fn string) string {
	if _, after, ok := strings.Cut(fn, ":function:"); ok {
		name, _, _ := strings.Cut(after, ":")
		return name
	}
	if i := strings.LastIndex(fn, ":"); i >= 0 {
		return fn[i+1:]
	}
	return fn
}

// lambdaURL finds the invoke URL of fn in Config.Lambdas by full ARN or by
// function name.
func (s *Server) lambdaURL(fn string) (string, bool) {
	if u, ok := s.cfg.Lambdas[fn]; ok {
		return u, true
	}
	name := functionName(fn)
	if u, ok := s.cfg.Lambdas[name]; ok {
		return u, true
	}
	for k, u := range s.cfg.Lambdas {
		if functionName(k) == name {
			return u, true
		}
	}
	return "", false
}

// invoke runs one rotation step on fn.
func (s *Server) invoke(ctx context.Context, fn string, payload []byte) error {
	if s.cfg.Invoker != nil {
		if err := s.cfg.Invoker.Invoke(ctx, fn, payload); err != nil {
			return fmt.Errorf("invoke %s: %w", fn, err)
		}
		return nil
	}
	url, ok := s.lambdaURL(fn)
	if !ok {
		return fmt.Errorf("no invoke url configured for lambda %s", fn)
	}
	q := s.queueFor(url)
	if err := q.acquire(ctx); err != nil {
		return fmt.Errorf("invoke lambda %s: waiting for earlier invocations of the same url: %w", fn, err)
	}
	defer q.release()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("build lambda request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("invoke lambda %s: %w", fn, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 6<<20))
	if err != nil {
		return fmt.Errorf("read lambda response: %w", err)
	}
	return lambdaResult(resp.StatusCode, resp.Header.Get("X-Amz-Function-Error"), body)
}

var errLambdaFailed = errors.New("lambda function failed")

// lambdaResult interprets a Lambda (or RIE) response: any non-2xx status, an
// X-Amz-Function-Error header, or a body carrying errorMessage is a failure.
func lambdaResult(status int, fnErr string, body []byte) error {
	var e struct {
		ErrorMessage *string `json:"errorMessage"`
		ErrorType    string  `json:"errorType"`
	}
	_ = json.Unmarshal(body, &e) // a non-object body (e.g. null) carries no error
	msg := ""
	if e.ErrorMessage != nil {
		msg = *e.ErrorMessage
		if e.ErrorType != "" {
			msg = e.ErrorType + ": " + msg
		}
	}
	switch {
	case status < 200 || status > 299:
		if msg == "" {
			msg = strings.TrimSpace(string(body))
			if len(msg) > 200 {
				msg = msg[:200]
			}
		}
		return fmt.Errorf("%w: http status %d: %s", errLambdaFailed, status, msg)
	case e.ErrorMessage != nil:
		return fmt.Errorf("%w: %s", errLambdaFailed, msg)
	case fnErr != "":
		return fmt.Errorf("%w: %s", errLambdaFailed, fnErr)
	}
	return nil
}

// ---- CancelRotateSecret ----

func (s *Server) cancelRotateSecret(ctx context.Context, in *secretIDInput) (any, *awsjson.Error) {
	sec, aerr := s.lockedSecret(in.SecretId, false)
	if aerr != nil {
		return nil, aerr
	}
	defer s.mu.Unlock()
	out := arnNameVersion{ARN: sec.ARN, Name: sec.Name}
	if p := sec.pendingInProgress(); p != nil {
		out.VersionId = ptr(p.ID)
	}
	sec.RotationEnabled = ptr(false)
	sec.NextRotation = nil
	sec.LastChanged = s.now()
	s.commitLocked(ctx, sec.ARN)
	return out, nil
}
