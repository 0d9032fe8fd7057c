// Package rietest is the harness of the functions/<name>/rie_test.go tests:
// it builds a function's bootstrap exactly as it is deployed, runs it under
// aws-lambda-rie on loopback wired to the AWS emulator, and holds the steps
// and checks those tests share (create a tagged secret, rotate through the
// emulator's RotateSecret, count Secrets Manager calls, look for secrets and
// log lines in what the function printed). It imports testing, so only tests
// import it; internal/lambdarie itself stays free of it for the demo and
// benchmarks.
package rietest

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/iamemu"
	"github.com/dualkey/dualkey/internal/lambdarie"
	"github.com/dualkey/dualkey/shared/rotation"
)

// Config says which function to run and how.
type Config struct {
	// Function is the folder under functions/; the emulator knows the
	// Lambda as "dualkey-"+Function.
	Function string
	// Full runs awsemu.NewFull (Secrets Manager, IAM, STS, every request's
	// signature verified against the keys IAM knows) instead of awsemu.New.
	Full bool
	// Env is added to awsemu.FunctionEnv for the function.
	Env []string
}

// Function is a deployed bootstrap running under the RIE, wired to a
// running AWS emulator. Both stop when the test ends.
type Function struct {
	T    testing.TB
	Ctx  context.Context
	Proc *lambdarie.Process
	Emu  *awsemu.Server
	// Full is the complete emulator when Config.Full was set, else nil.
	Full *awsemu.Full
	// URL is the emulator's endpoint.
	URL string
	// AWS is an SDK configuration for the emulator, signed with the
	// bootstrap key.
	AWS aws.Config
	SM  *secretsmanager.Client
	// LambdaARN is the ARN RotateSecret names to reach the function.
	LambdaARN string
}

// Start builds functions/<cfg.Function>, starts the AWS emulator with the
// function registered under "dualkey-"+cfg.Function, and runs the bootstrap
// under the RIE against it. It fails the test when aws-lambda-rie is missing
// (with the command that installs it) or anything does not start.
func Start(t testing.TB, cfg Config) *Function {
	t.Helper()
	ctx := context.Background()
	rie, bootstrap, port := prepare(t, ctx, cfg.Function)
	name := "dualkey-" + cfg.Function
	ecfg := awsemu.Config{Lambdas: map[string]string{name: "http://127.0.0.1:" + strconv.Itoa(port) + lambdarie.InvokePath}}
	f := &Function{T: t, Ctx: ctx, LambdaARN: "arn:aws:lambda:us-east-1:123456789012:function:" + name}
	var closeEmu func() error
	if cfg.Full {
		full, err := awsemu.NewFull(ecfg, iamemu.Config{})
		if err != nil {
			t.Fatal(err)
		}
		f.Full, f.Emu, closeEmu = full, full.Server, full.Close
	} else {
		emu, err := awsemu.New(ecfg)
		if err != nil {
			t.Fatal(err)
		}
		f.Emu, closeEmu = emu, emu.Close
	}
	url, err := f.Emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeEmu() })
	f.URL, f.AWS = url, awsemu.ClientConfig(url)
	f.SM = secretsmanager.NewFromConfig(f.AWS)
	f.Proc = run(t, ctx, rie, bootstrap, port, append(awsemu.FunctionEnv(url), cfg.Env...))
	return f
}

// StartBare builds functions/<function> and runs it under the RIE with env
// and no emulator; the process stops when the test ends.
func StartBare(t testing.TB, function string, env ...string) *lambdarie.Process {
	t.Helper()
	ctx := context.Background()
	rie, bootstrap, port := prepare(t, ctx, function)
	return run(t, ctx, rie, bootstrap, port, env)
}

func prepare(t testing.TB, ctx context.Context, function string) (rie, bootstrap string, port int) {
	t.Helper()
	rie, err := lambdarie.FindRIE()
	if err != nil {
		t.Fatal(err)
	}
	if bootstrap, err = lambdarie.Build(ctx, function, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if port, err = lambdarie.FreePort(); err != nil {
		t.Fatal(err)
	}
	return rie, bootstrap, port
}

func run(t testing.TB, ctx context.Context, rie, bootstrap string, port int, env []string) *lambdarie.Process {
	t.Helper()
	p, err := lambdarie.Start(ctx, rie, bootstrap, port, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// Logs returns everything the RIE and the function printed so far.
func (f *Function) Logs() string { return f.Proc.Logs() }

// CreateSecret creates a secret holding value and returns its ARN. With a
// provider it is tagged dualkey:managed=true and dualkey:provider=provider;
// with "" it carries no tags (an admin or master secret).
func (f *Function) CreateSecret(name, value, provider string) string {
	f.T.Helper()
	in := &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}
	if provider != "" {
		in.Tags = []types.Tag{
			{Key: aws.String(rotation.TagManaged), Value: aws.String("true")},
			{Key: aws.String(rotation.TagProvider), Value: aws.String(provider)},
		}
	}
	out, err := f.SM.CreateSecret(f.Ctx, in)
	if err != nil {
		f.T.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

// CreateJSONSecret is CreateSecret with v marshalled to JSON.
func (f *Function) CreateJSONSecret(name string, v any, provider string) string {
	f.T.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		f.T.Fatal(err)
	}
	return f.CreateSecret(name, string(raw), provider)
}

// Rotate asks the emulator to rotate arn through the function and returns
// the emulator's record of that rotation, successful or not.
func (f *Function) Rotate(arn string) awsemu.RotationRecord {
	f.T.Helper()
	return f.RotateWith(&secretsmanager.RotateSecretInput{SecretId: aws.String(arn)})
}

// RotateWith is Rotate with a full request; its RotationLambdaARN is set to
// the function's.
func (f *Function) RotateWith(in *secretsmanager.RotateSecretInput) awsemu.RotationRecord {
	f.T.Helper()
	in.RotationLambdaARN = aws.String(f.LambdaARN)
	if _, err := f.SM.RotateSecret(f.Ctx, in); err != nil {
		f.T.Fatal(err)
	}
	recs := f.Emu.Rotations()
	return recs[len(recs)-1]
}

// MustRotate is Rotate that fails the test, with the failed step, the error
// and the function's output, unless the rotation succeeded.
func (f *Function) MustRotate(arn string) awsemu.RotationRecord {
	f.T.Helper()
	return f.mustSucceed(f.Rotate(arn))
}

// MustRotateWith is RotateWith that fails the test unless the rotation
// succeeded.
func (f *Function) MustRotateWith(in *secretsmanager.RotateSecretInput) awsemu.RotationRecord {
	f.T.Helper()
	return f.mustSucceed(f.RotateWith(in))
}

func (f *Function) mustSucceed(rec awsemu.RotationRecord) awsemu.RotationRecord {
	f.T.Helper()
	if !rec.Succeeded {
		f.T.Fatalf("rotation under the RIE failed at %s: %s\n%s", rec.FailedStep, rec.Error, f.Logs())
	}
	return rec
}

// CountedRotation resets the emulator's call counts, rotates arn (which must
// succeed) and returns how many Secrets Manager calls the rotation made
// besides RotateSecret itself, with the counts by operation.
func (f *Function) CountedRotation(arn string) (int, map[string]int) {
	f.T.Helper()
	return f.CountedRotationWith(&secretsmanager.RotateSecretInput{SecretId: aws.String(arn)})
}

// CountedRotationWith is CountedRotation with a full request.
func (f *Function) CountedRotationWith(in *secretsmanager.RotateSecretInput) (int, map[string]int) {
	f.T.Helper()
	f.Emu.ResetStats()
	f.MustRotateWith(in)
	stats := f.Emu.Stats()
	calls := 0
	for op, n := range stats {
		if op != "RotateSecret" {
			calls += n
		}
	}
	return calls, stats
}

// Value returns arn's SecretString at stage (AWSCURRENT when "").
func (f *Function) Value(arn, stage string) string {
	f.T.Helper()
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)}
	if stage != "" {
		in.VersionStage = aws.String(stage)
	}
	out, err := f.SM.GetSecretValue(f.Ctx, in)
	if err != nil {
		f.T.Fatal(err)
	}
	return aws.ToString(out.SecretString)
}

// RedactAllVersions adds every version's value of each secret to red.
func (f *Function) RedactAllVersions(red *rotation.Redactor, arns ...string) {
	f.T.Helper()
	for _, arn := range arns {
		out, err := f.SM.ListSecretVersionIds(f.Ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(arn)})
		if err != nil {
			f.T.Fatal(err)
		}
		for _, v := range out.Versions {
			gv, err := f.SM.GetSecretValue(f.Ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionId: v.VersionId})
			if err == nil {
				red.AddSecretValue(aws.ToString(gv.SecretString))
			}
		}
	}
}

// MustNotLog fails the test ("the function logged <what>") when anything
// the function printed contains a secret red knows.
func (f *Function) MustNotLog(red *rotation.Redactor, what string) {
	f.T.Helper()
	if red.Contains(f.Logs()) {
		f.T.Fatal("the function logged " + what)
	}
}

// MustLog fails the test ("no <what> in: <logs>") unless what the function
// printed contains every one of parts.
func (f *Function) MustLog(what string, parts ...string) {
	f.T.Helper()
	logs := f.Logs()
	for _, p := range parts {
		if !strings.Contains(logs, p) {
			f.T.Fatalf("no %s in:\n%s", what, logs)
		}
	}
}

// MustRefuseMalformedEvent sends the function a createSecret event for arn
// with an empty ClientRequestToken and fails the test unless the real
// binary answers with a RotationError naming that field.
func (f *Function) MustRefuseMalformedEvent(arn string) {
	f.T.Helper()
	_, err := f.Proc.Invoke(f.Ctx, []byte(`{"Step":"createSecret","SecretId":"`+arn+`","ClientRequestToken":""}`))
	var ie *lambdarie.InvokeError
	if !errors.As(err, &ie) || ie.Type != "RotationError" || !strings.Contains(ie.Message, `"ClientRequestToken"`) {
		f.T.Fatalf("malformed event: got %v, want a RotationError naming ClientRequestToken", err)
	}
}
