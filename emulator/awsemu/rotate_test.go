package awsemu_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
)

type rotationEvent struct {
	Step               string
	SecretId           string
	ClientRequestToken string
	RotationToken      string
}

// fakeRotationLambda stands in for the Lambda Runtime Interface Emulator. It
// behaves like the AWS rotation template: createSecret stores a new value
// under AWSPENDING, finishSecret moves AWSCURRENT, calling back into the
// emulator with the SDK. failStep makes one step answer like a failed RIE
// invocation (HTTP 200 with errorMessage).
type fakeRotationLambda struct {
	t        *testing.T
	sm       *secretsmanager.Client
	mu       sync.Mutex
	events   []rotationEvent
	failStep string
	problems []string // assertion failures seen inside the handler
	srv      *httptest.Server
}

func newFakeLambda(t *testing.T) *fakeRotationLambda {
	f := &fakeRotationLambda{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeRotationLambda) invokeURL() string {
	return f.srv.URL + "/2015-03-31/functions/function/invocations"
}

func (f *fakeRotationLambda) Events() []rotationEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

func (f *fakeRotationLambda) problem(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
}

func (f *fakeRotationLambda) check(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.problems {
		t.Error("inside the rotation lambda: " + p)
	}
}

func (f *fakeRotationLambda) serve(w http.ResponseWriter, r *http.Request) {
	var ev rotationEvent
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.events = append(f.events, ev)
	fail := f.failStep == ev.Step
	f.mu.Unlock()
	if fail {
		_, _ = w.Write([]byte(`{"errorMessage":"step failed on purpose","errorType":"RuntimeError"}`))
		return
	}
	if err := f.step(r, ev); err != nil {
		_ = json.NewEncoder(w).Encode(map[string]string{"errorMessage": err.Error(), "errorType": "Exception"})
		return
	}
	_, _ = w.Write([]byte("null"))
}

func (f *fakeRotationLambda) step(r *http.Request, ev rotationEvent) error {
	c := r.Context()
	d, err := f.sm.DescribeSecret(c, &secretsmanager.DescribeSecretInput{SecretId: aws.String(ev.SecretId)})
	if err != nil {
		return err
	}
	if !aws.ToBool(d.RotationEnabled) {
		f.problem("rotation not enabled during %s", ev.Step)
	}
	st, ok := d.VersionIdsToStages[ev.ClientRequestToken]
	if !ok {
		f.problem("token version missing during %s", ev.Step)
		return errors.New("version not found")
	}
	if slices.Contains(st, "AWSCURRENT") {
		return nil // already current: nothing to do
	}
	if !slices.Contains(st, "AWSPENDING") {
		f.problem("token version not AWSPENDING during %s", ev.Step)
		return errors.New("version not pending")
	}
	switch ev.Step {
	case "createSecret":
		if _, err := f.sm.GetSecretValue(c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(ev.SecretId), VersionStage: aws.String("AWSCURRENT")}); err != nil {
			return err
		}
		_, err := f.sm.GetSecretValue(c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(ev.SecretId), VersionId: aws.String(ev.ClientRequestToken), VersionStage: aws.String("AWSPENDING")})
		switch errCode(err) {
		case "":
			return nil // value already created by an earlier attempt (like the AWS template)
		case "ResourceNotFoundException":
		default:
			f.problem("placeholder GetSecretValue error = %q, want ResourceNotFoundException", errCode(err))
		}
		_, err = f.sm.PutSecretValue(c, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(ev.SecretId), ClientRequestToken: aws.String(ev.ClientRequestToken),
			SecretString: aws.String("rotated-" + ev.ClientRequestToken[:8]), VersionStages: []string{"AWSPENDING"},
			RotationToken: aws.String(ev.RotationToken),
		})
		return err
	case "setSecret", "testSecret":
		_, err := f.sm.GetSecretValue(c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(ev.SecretId), VersionId: aws.String(ev.ClientRequestToken), VersionStage: aws.String("AWSPENDING")})
		return err
	case "finishSecret":
		current := ""
		for id, s := range d.VersionIdsToStages {
			if slices.Contains(s, "AWSCURRENT") {
				current = id
			}
		}
		_, err := f.sm.UpdateSecretVersionStage(c, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(ev.SecretId), VersionStage: aws.String("AWSCURRENT"),
			MoveToVersionId: aws.String(ev.ClientRequestToken), RemoveFromVersionId: aws.String(current),
		})
		return err
	}
	return fmt.Errorf("unknown step %q", ev.Step)
}

const lambdaARN = "arn:aws:lambda:us-east-1:123456789012:function:dualkey-rotator"

func startRotationEmu(t *testing.T) (*emu, *fakeRotationLambda) {
	f := newFakeLambda(t)
	e := startEmu(t, awsemu.Config{Lambdas: map[string]string{"dualkey-rotator": f.invokeURL()}})
	f.sm = e.sm
	return e, f
}

func rotate(e *emu, id string, tok int, rules *types.RotationRulesType) (*secretsmanager.RotateSecretOutput, error) {
	in := &secretsmanager.RotateSecretInput{SecretId: aws.String(id), RotationLambdaARN: aws.String(lambdaARN), RotationRules: rules}
	if tok != 0 {
		in.ClientRequestToken = aws.String(token(tok))
	}
	return e.sm.RotateSecret(ctx, in)
}

func TestRotateSecretRunsAllStepsThroughLambda(t *testing.T) {
	e, f := startRotationEmu(t)
	arn := createSecret(t, e, "db", "initial")
	out := must(rotate(e, "db", 10, &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)})).ok(t)
	if aws.ToString(out.VersionId) != token(10) || aws.ToString(out.ARN) != arn {
		t.Fatalf("RotateSecret output = %s %s", aws.ToString(out.ARN), aws.ToString(out.VersionId))
	}
	f.check(t)

	evs := f.Events()
	var steps []string
	for _, ev := range evs {
		steps = append(steps, ev.Step)
		if ev.SecretId != arn || ev.ClientRequestToken != token(10) || len(ev.RotationToken) < 36 || ev.RotationToken != evs[0].RotationToken {
			t.Fatalf("event %+v has wrong SecretId/ClientRequestToken/RotationToken", ev)
		}
	}
	if want := []string{"createSecret", "setSecret", "testSecret", "finishSecret"}; !slices.Equal(steps, want) {
		t.Fatalf("steps = %v, want %v", steps, want)
	}
	wantStages(t, e, "db", map[int][]string{1: {"AWSPREVIOUS"}, 10: {"AWSCURRENT", "AWSPENDING"}})
	g := must(e.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("db")})).ok(t)
	valueIs(t, g.SecretString, "rotated-"+token(10)[:8], "current after rotation")

	d := must(e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("db")})).ok(t)
	now := e.clock.Now()
	if !aws.ToBool(d.RotationEnabled) || aws.ToString(d.RotationLambdaARN) != lambdaARN || aws.ToInt64(d.RotationRules.AutomaticallyAfterDays) != 30 {
		t.Fatalf("rotation config not stored: %+v", d)
	}
	if d.LastRotatedDate == nil || !d.LastRotatedDate.Equal(now) {
		t.Fatalf("LastRotatedDate = %v, want %v", d.LastRotatedDate, now)
	}
	if want := now.Add(30 * 24 * time.Hour); d.NextRotationDate == nil || !d.NextRotationDate.Equal(want) {
		t.Fatalf("NextRotationDate = %v, want %v", d.NextRotationDate, want)
	}

	recs := e.srv.Rotations()
	if len(recs) != 1 || !recs[0].Succeeded || recs[0].FailedStep != "" || recs[0].Token != token(10) || recs[0].SecretARN != arn || len(recs[0].Steps) != 4 {
		t.Fatalf("rotation record = %+v", recs)
	}
}

func TestRotateSecretRepeatedly(t *testing.T) {
	e, f := startRotationEmu(t)
	createSecret(t, e, "db", "initial")
	must(rotate(e, "db", 0, &types.RotationRulesType{ScheduleExpression: aws.String("rate(10 days)")})).ok(t)
	for i := 0; i < 3; i++ {
		e.clock.Advance(24 * time.Hour)
		out := must(e.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("db")})).ok(t) // reuses stored ARN and rules
		st := stages(t, e, "db")
		if got := sorted(st[aws.ToString(out.VersionId)]); !slices.Equal(got, []string{"AWSCURRENT", "AWSPENDING"}) {
			t.Fatalf("rotation %d: new version stages = %v", i, got)
		}
		if len(st) != 2 {
			t.Fatalf("rotation %d: labelled versions = %v", i, st)
		}
	}
	f.check(t)
	recs := e.srv.Rotations()
	if len(recs) != 4 {
		t.Fatalf("rotations recorded = %d, want 4", len(recs))
	}
	for _, r := range recs {
		if !r.Succeeded {
			t.Fatalf("rotation failed: %+v", r)
		}
	}
	d := must(e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("db")})).ok(t)
	if want := e.clock.Now().Add(10 * 24 * time.Hour); !d.NextRotationDate.Equal(want) {
		t.Fatalf("NextRotationDate = %v, want %v", d.NextRotationDate, want)
	}
}

func TestRotateSecretStopsAtFirstFailure(t *testing.T) {
	for _, failStep := range []string{"createSecret", "setSecret", "testSecret", "finishSecret"} {
		t.Run(failStep, func(t *testing.T) {
			e, f := startRotationEmu(t)
			createSecret(t, e, "db", "initial")
			f.failStep = failStep
			out := must(rotate(e, "db", 10, &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(7)})).ok(t)
			if aws.ToString(out.VersionId) != token(10) {
				t.Fatalf("VersionId = %s", aws.ToString(out.VersionId))
			}
			var steps []string
			for _, ev := range f.Events() {
				steps = append(steps, ev.Step)
			}
			all := []string{"createSecret", "setSecret", "testSecret", "finishSecret"}
			want := all[:slices.Index(all, failStep)+1]
			if !slices.Equal(steps, want) {
				t.Fatalf("steps = %v, want %v", steps, want)
			}
			// AWSPENDING stays on the new version; AWSCURRENT is untouched.
			wantStages(t, e, "db", map[int][]string{1: {"AWSCURRENT"}, 10: {"AWSPENDING"}})
			g := must(e.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("db")})).ok(t)
			valueIs(t, g.SecretString, "initial", "current after failed rotation")
			d := must(e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("db")})).ok(t)
			if d.LastRotatedDate != nil {
				t.Fatal("LastRotatedDate set by a failed rotation")
			}
			recs := e.srv.Rotations()
			if len(recs) != 1 || recs[0].Succeeded || recs[0].FailedStep != failStep || !strings.Contains(recs[0].Error, "step failed on purpose") {
				t.Fatalf("record = %+v", recs)
			}

			// The unfinished rotation blocks a new one.
			_, err := rotate(e, "db", 11, nil)
			wantCode(t, err, "InvalidRequestException")
			if !strings.Contains(err.Error(), "A previous rotation isn't complete. That rotation will be reattempted.") {
				t.Fatalf("message = %v", err)
			}
			// Retrying with the pending token reruns the rotation.
			f.mu.Lock()
			f.failStep = ""
			f.mu.Unlock()
			must(rotate(e, "db", 10, nil)).ok(t)
			wantStages(t, e, "db", map[int][]string{1: {"AWSPREVIOUS"}, 10: {"AWSCURRENT", "AWSPENDING"}})
			f.check(t)
		})
	}
}

func TestRotatePlaceholderVersion(t *testing.T) {
	// A Lambda that does nothing leaves RotateSecret's placeholder in place.
	inv := &recordingInvoker{}
	e := startEmu(t, awsemu.Config{Invoker: inv})
	createSecret(t, e, "db", "initial")
	must(rotate(e, "db", 10, nil)).ok(t)
	wantStages(t, e, "db", map[int][]string{1: {"AWSCURRENT"}, 10: {"AWSPENDING"}})
	_, err := e.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("db"), VersionStage: aws.String("AWSPENDING")})
	wantCode(t, err, "ResourceNotFoundException")
	if !strings.Contains(err.Error(), "for staging label: AWSPENDING") {
		t.Fatalf("message = %v", err)
	}
	_, err = e.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("db"), VersionId: aws.String(token(10))})
	wantCode(t, err, "ResourceNotFoundException")
	// The invoker saw every step with the full Lambda ARN.
	if len(inv.calls) != 4 || inv.calls[0] != lambdaARN {
		t.Fatalf("invoker calls = %v", inv.calls)
	}
	recs := e.srv.Rotations()
	if len(recs) != 1 || recs[0].Succeeded || !strings.Contains(recs[0].Error, "AWSCURRENT") {
		t.Fatalf("a rotation whose finishSecret left AWSCURRENT alone must not count as success: %+v", recs)
	}
	// Filling the placeholder with its token (as createSecret does) works.
	must(put(e, "db", 10, "new", "AWSPENDING")).ok(t)
	g := must(e.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("db"), VersionStage: aws.String("AWSPENDING")})).ok(t)
	valueIs(t, g.SecretString, "new", "filled placeholder")
	// Pending elsewhere refuses a new rotation.
	_, err = rotate(e, "db", 11, nil)
	wantCode(t, err, "InvalidRequestException")
	// CancelRotateSecret disables rotation but keeps the labels.
	c := must(e.sm.CancelRotateSecret(ctx, &secretsmanager.CancelRotateSecretInput{SecretId: aws.String("db")})).ok(t)
	if aws.ToString(c.VersionId) != token(10) {
		t.Fatalf("CancelRotateSecret VersionId = %s", aws.ToString(c.VersionId))
	}
	d := must(e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("db")})).ok(t)
	if d.RotationEnabled == nil || *d.RotationEnabled || d.NextRotationDate != nil {
		t.Fatalf("after cancel: RotationEnabled %v NextRotationDate %v", d.RotationEnabled, d.NextRotationDate)
	}
	wantStages(t, e, "db", map[int][]string{1: {"AWSCURRENT"}, 10: {"AWSPENDING"}})
}

type recordingInvoker struct {
	mu    sync.Mutex
	calls []string
}

func (r *recordingInvoker) Invoke(_ context.Context, function string, _ []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, function)
	return nil
}

func TestRotateSecretValidation(t *testing.T) {
	f := newFakeLambda(t)
	e := startEmu(t, awsemu.Config{Lambdas: map[string]string{lambdaARN: f.invokeURL()}})
	f.sm = e.sm
	createSecret(t, e, "db", "initial")

	_, err := e.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("db")})
	wantCode(t, err, "InvalidRequestException") // no Lambda configured

	_, err = e.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("db"), RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:unknown")})
	wantCode(t, err, "AccessDeniedException")

	bad := []*types.RotationRulesType{
		{AutomaticallyAfterDays: aws.Int64(0)},
		{AutomaticallyAfterDays: aws.Int64(1001)},
		{AutomaticallyAfterDays: aws.Int64(5), ScheduleExpression: aws.String("rate(5 days)")},
		{ScheduleExpression: aws.String("rate(1 hours)")},
		{ScheduleExpression: aws.String("every day")},
		{ScheduleExpression: aws.String("cron(0 12 * * ?)")},
		{ScheduleExpression: aws.String("rate(1 days)"), Duration: aws.String("3d")},
	}
	for i, r := range bad {
		_, err = rotate(e, "db", 0, r)
		if c := errCode(err); c != "InvalidParameterException" && c != "ValidationException" {
			t.Fatalf("rules %d: code %q", i, c)
		}
	}
	if len(f.Events()) != 0 {
		t.Fatal("Lambda invoked by a refused RotateSecret")
	}

	// RotateImmediately=false stores the schedule without invoking anything.
	out := must(e.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId: aws.String("db"), RotationLambdaARN: aws.String(lambdaARN), RotateImmediately: aws.Bool(false),
		RotationRules: &types.RotationRulesType{ScheduleExpression: aws.String("cron(0 16 1,15 * ? *)"), Duration: aws.String("2h")},
	})).ok(t)
	if out.VersionId != nil || len(f.Events()) != 0 {
		t.Fatal("RotateImmediately=false rotated")
	}
	d := must(e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("db")})).ok(t)
	// The clock is 2030-03-14 10:30 UTC; the next 1st/15th at 16:00 is the 15th.
	if want := time.Date(2030, 3, 15, 16, 0, 0, 0, time.UTC); d.NextRotationDate == nil || !d.NextRotationDate.Equal(want) {
		t.Fatalf("NextRotationDate = %v, want %v", d.NextRotationDate, want)
	}
	if aws.ToString(d.RotationRules.Duration) != "2h" || !aws.ToBool(d.RotationEnabled) {
		t.Fatalf("rules = %+v", d.RotationRules)
	}

	// Deleted secrets cannot be rotated.
	must(e.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("db")})).ok(t)
	_, err = rotate(e, "db", 0, nil)
	wantCode(t, err, "InvalidRequestException")
}

func TestRotateSecretHTTPLambdaFailureModes(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"non-2xx", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) }},
		{"function error header", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			_, _ = w.Write([]byte(`"oops"`))
		}},
		{"errorMessage body", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"errorMessage":"bad","errorType":"ValueError","stackTrace":[]}`))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := httptest.NewServer(tt.handler)
			defer l.Close()
			e := startEmu(t, awsemu.Config{Lambdas: map[string]string{"dualkey-rotator": l.URL}})
			createSecret(t, e, "db", "initial")
			must(rotate(e, "db", 10, nil)).ok(t)
			recs := e.srv.Rotations()
			if len(recs) != 1 || recs[0].Succeeded || recs[0].FailedStep != "createSecret" || !slices.Equal(recs[0].Steps, []string{"createSecret"}) {
				t.Fatalf("record = %+v", recs)
			}
		})
	}
}

// TestConcurrentRotationsQueuePerLambdaURL: 100 concurrent RotateSecret
// calls through one invoke URL reach the Lambda one at a time (an RIE crashes
// on a second concurrent invocation), and every rotation completes.
func TestConcurrentRotationsQueuePerLambdaURL(t *testing.T) {
	f := &fakeRotationLambda{t: t}
	var mu sync.Mutex
	inFlight, maxInFlight, invocations := 0, 0, 0
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		invocations++
		maxInFlight = max(maxInFlight, inFlight)
		overlap := inFlight > 1
		mu.Unlock()
		defer func() {
			mu.Lock()
			inFlight--
			mu.Unlock()
		}()
		if overlap {
			// What an RIE does with a second concurrent invocation.
			http.Error(w, "runtime busy: concurrent invocation", http.StatusInternalServerError)
			return
		}
		f.serve(w, r)
	}))
	t.Cleanup(f.srv.Close)
	e := startEmu(t, awsemu.Config{Lambdas: map[string]string{"dualkey-rotator": f.invokeURL()}})
	f.sm = e.sm
	const n = 100
	for i := 0; i < n; i++ {
		createSecret(t, e, fmt.Sprintf("s%03d", i), "v")
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := rotate(e, fmt.Sprintf("s%03d", i), 1000+i, nil)
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	f.check(t)
	if maxInFlight != 1 || invocations != 4*n {
		t.Fatalf("the Lambda saw up to %d concurrent invocations, %d in all; want 1 and %d", maxInFlight, invocations, 4*n)
	}
	for _, rec := range e.srv.Rotations() {
		if !rec.Succeeded {
			t.Fatalf("rotation failed: %+v", rec)
		}
	}
}
