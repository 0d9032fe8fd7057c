package demo

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/iamemu"
	"github.com/dualkey/dualkey/internal/lambdarie"
)

// function is one rotation function of a demo part: functions/<dir>, which
// the AWS emulator knows as the Lambda named lambda.
type function struct{ dir, lambda string }

// rieFunctions are a demo part's rotation functions, built as static
// bootstraps with a loopback port reserved for each one's RIE, and the AWS
// emulator that invokes them through RotateSecret. Close stops everything
// it started.
type rieFunctions struct {
	rie   string
	dir   string
	bins  map[string]string // by Lambda name
	ports map[string]int    // by Lambda name
	emu   *awsemu.Server
	url   string
	close []func() error
}

// buildFunctions builds each function's bootstrap (rie "" means
// lambdarie.FindRIE) into a temporary directory named after prefix and
// reserves a port for each. It closes what it made when it fails.
func buildFunctions(ctx context.Context, rie, prefix string, fns ...function) (_ *rieFunctions, err error) {
	if rie == "" {
		if rie, err = lambdarie.FindRIE(); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	r := &rieFunctions{rie: rie, dir: dir, bins: map[string]string{}, ports: map[string]int{}}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	for _, f := range fns {
		if r.bins[f.lambda], err = lambdarie.Build(ctx, f.dir, dir); err != nil {
			return nil, err
		}
	}
	for _, f := range fns {
		if r.ports[f.lambda], err = lambdarie.FreePort(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// invokeURL is the RIE invoke URL of the function named lambda.
func (r *rieFunctions) invokeURL(lambda string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", r.ports[lambda], lambdarie.InvokePath)
}

// startEmulator starts the AWS emulator on a loopback port with clock and
// every function registered, the complete one (Secrets Manager, IAM, STS,
// ...) when full, and returns its URL. Close stops it.
func (r *rieFunctions) startEmulator(clock *offsetClock, full bool) (string, error) {
	cfg := awsemu.Config{Now: clock.Now, Lambdas: map[string]string{}}
	for lambda := range r.bins {
		cfg.Lambdas[lambda] = r.invokeURL(lambda)
	}
	if full {
		f, err := awsemu.NewFull(cfg, iamemu.Config{})
		if err != nil {
			return "", err
		}
		r.emu = f.Server
		r.close = append(r.close, f.Close)
	} else {
		s, err := awsemu.New(cfg)
		if err != nil {
			return "", err
		}
		r.emu = s
		r.close = append(r.close, s.Close)
	}
	url, err := r.emu.Start("127.0.0.1:0")
	if err != nil {
		return "", err
	}
	r.url = url
	return url, nil
}

// start runs the function named lambda under the RIE against the emulator,
// as AWS_LAMBDA_FUNCTION_NAME=lambda, with env added. Close stops it.
func (r *rieFunctions) start(ctx context.Context, lambda string, env ...string) (*lambdarie.Process, error) {
	env = append(append(awsemu.FunctionEnv(r.url), "AWS_LAMBDA_FUNCTION_NAME="+lambda), env...)
	p, err := lambdarie.Start(ctx, r.rie, r.bins[lambda], r.ports[lambda], env)
	if err != nil {
		return nil, err
	}
	r.close = append(r.close, p.Close)
	return p, nil
}

// Close stops the functions, then the emulator, and removes the bootstraps.
func (r *rieFunctions) Close() {
	for i := len(r.close) - 1; i >= 0; i-- {
		_ = r.close[i]()
	}
	r.close = nil
	_ = os.RemoveAll(r.dir)
}

// rotateNow asks the emulator to rotate arn through the function named
// lambda now, with a schedule of days, and returns the rotation's record
// (nil when it left none) and the new version's id. The error is
// RotateSecret's own.
func (r *rieFunctions) rotateNow(ctx context.Context, sm *secretsmanager.Client, arn, lambda string, days int64) (*awsemu.RotationRecord, string, error) {
	rot, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(arn),
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:" + awsemu.DefaultAccountID + ":function:" + lambda),
		RotationRules:     &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(days)},
	})
	if err != nil {
		return nil, "", err
	}
	version := aws.ToString(rot.VersionId)
	return lastRotation(r.emu, version), version, nil
}

// failure says why a rotation did not succeed: "no record", or the failed
// step and its error.
func failure(rec *awsemu.RotationRecord) string {
	if rec == nil {
		return "no record"
	}
	return rec.FailedStep + ": " + rec.Error
}
