package sqlcredtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/rotation"
)

// AWSConn is a session AWS's documented multi-user function opens, in the
// engine's own driver (it shares no code with dualkey's provider).
type AWSConn interface {
	// Close ends the session.
	Close()
	// Now runs SELECT NOW() (AWS's test_secret).
	Now(ctx context.Context) error
	// SetUser, on the master's session, gives pend's user pend's password
	// and cur's privileges, as AWS's set_secret does for the engine.
	SetUser(ctx context.Context, cur, pend map[string]any) error
}

// AWSMultiUser is a second implementation of the rotation, written from
// AWS's documented multi-user steps (SecretsManagerRDS<Engine>RotationMultiUser
// in aws-samples/aws-secrets-manager-rotation-lambdas): it shares no code
// with dualkey's provider or engine, so a secret rotated alternately by
// both proves the secret format and the alternating users are compatible.
// The engine hands in its "engine" value and its connection (get_connection).
type AWSMultiUser struct {
	SM *secretsmanager.Client
	// Engine is the "engine" value AWS's function requires.
	Engine string
	// Connect logs in with a secret's fields as get_connection does.
	Connect func(ctx context.Context, d map[string]any) (AWSConn, error)
}

// Handle runs one rotation step, as AWS's lambda_handler does.
func (a *AWSMultiUser) Handle(ctx context.Context, payload []byte) error {
	var ev events.SecretsManagerSecretRotationEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return err
	}
	d, err := a.SM.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(ev.SecretID)})
	if err != nil {
		return err
	}
	if !aws.ToBool(d.RotationEnabled) {
		return fmt.Errorf("secret %s is not enabled for rotation", ev.SecretID)
	}
	stages, ok := d.VersionIdsToStages[ev.ClientRequestToken]
	if !ok {
		return fmt.Errorf("secret version %s has no stage for rotation", ev.ClientRequestToken)
	}
	if slices.Contains(stages, rotation.StageCurrent) {
		return nil
	}
	if !slices.Contains(stages, rotation.StagePending) {
		return fmt.Errorf("secret version %s not set as AWSPENDING", ev.ClientRequestToken)
	}
	switch ev.Step {
	case "createSecret":
		return a.create(ctx, ev.SecretID, ev.ClientRequestToken)
	case "setSecret":
		return a.set(ctx, ev.SecretID, ev.ClientRequestToken)
	case "testSecret":
		return a.test(ctx, ev.SecretID, ev.ClientRequestToken)
	case "finishSecret":
		return a.finish(ctx, ev.SecretID, ev.ClientRequestToken)
	}
	return fmt.Errorf("invalid step %q", ev.Step)
}

// dict reads one version as AWS's function does (get_secret_dict).
func (a *AWSMultiUser) dict(ctx context.Context, id, stage, token string) (map[string]any, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionStage: aws.String(stage)}
	if token != "" {
		in.VersionId = aws.String(token)
	}
	out, err := a.SM.GetSecretValue(ctx, in)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &m); err != nil {
		return nil, fmt.Errorf("invalid secret value json: %w", err)
	}
	for _, f := range []string{"engine", "host", "username", "password"} {
		if _, ok := m[f]; !ok {
			return nil, fmt.Errorf("%s key is missing from secret JSON", f)
		}
	}
	if m["engine"] != a.Engine {
		return nil, fmt.Errorf("database engine must be set to '%s' in order to use this rotation lambda", a.Engine)
	}
	return m, nil
}

func altUsername(user string) string {
	if base, ok := strings.CutSuffix(user, "_clone"); ok {
		return base
	}
	return user + "_clone"
}

func (a *AWSMultiUser) create(ctx context.Context, arn, token string) error {
	cur, err := a.dict(ctx, arn, rotation.StageCurrent, "")
	if err != nil {
		return err
	}
	_, err = a.dict(ctx, arn, rotation.StagePending, token)
	var ae smithy.APIError
	if err == nil || !errors.As(err, &ae) || ae.ErrorCode() != "ResourceNotFoundException" {
		return err
	}
	cur["username"] = altUsername(cur["username"].(string))
	pw, err := a.SM.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordInput{ExcludeCharacters: aws.String(`/@"'\`), PasswordLength: aws.Int64(32)})
	if err != nil {
		return err
	}
	cur["password"] = aws.ToString(pw.RandomPassword)
	b, _ := json.Marshal(cur)
	_, err = a.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn), ClientRequestToken: aws.String(token),
		SecretString: aws.String(string(b)), VersionStages: []string{rotation.StagePending}})
	return err
}

func (a *AWSMultiUser) set(ctx context.Context, arn, token string) error {
	cur, err := a.dict(ctx, arn, rotation.StageCurrent, "")
	if err != nil {
		return err
	}
	pend, err := a.dict(ctx, arn, rotation.StagePending, token)
	if err != nil {
		return err
	}
	if conn, err := a.Connect(ctx, pend); err == nil {
		conn.Close()
		return nil
	}
	if altUsername(cur["username"].(string)) != pend["username"] {
		return errors.New("attempting to modify user other than current user or clone")
	}
	if cur["host"] != pend["host"] {
		return errors.New("attempting to modify user for host other than current host")
	}
	conn, err := a.Connect(ctx, cur)
	if err != nil {
		return errors.New("unable to log into database using current credentials")
	}
	conn.Close()
	master, err := a.dict(ctx, cur["masterarn"].(string), rotation.StageCurrent, "")
	if err != nil {
		return err
	}
	master["dbname"] = cur["dbname"]
	if cur["host"] != master["host"] {
		return errors.New("current database host is not the same host as master")
	}
	conn, err = a.Connect(ctx, master)
	if err != nil {
		return errors.New("unable to log into database using credentials in master secret")
	}
	defer conn.Close()
	return conn.SetUser(ctx, cur, pend)
}

func (a *AWSMultiUser) test(ctx context.Context, arn, token string) error {
	pend, err := a.dict(ctx, arn, rotation.StagePending, token)
	if err != nil {
		return err
	}
	conn, err := a.Connect(ctx, pend)
	if err != nil {
		return errors.New("unable to log into database with pending secret")
	}
	defer conn.Close()
	return conn.Now(ctx)
}

func (a *AWSMultiUser) finish(ctx context.Context, arn, token string) error {
	d, err := a.SM.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		return err
	}
	current := ""
	for id, st := range d.VersionIdsToStages {
		if slices.Contains(st, rotation.StageCurrent) {
			if id == token {
				return nil
			}
			current = id
			break
		}
	}
	_, err = a.SM.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(arn),
		VersionStage: aws.String(rotation.StageCurrent), MoveToVersionId: aws.String(token), RemoveFromVersionId: aws.String(current)})
	return err
}

// TestInteropWithAWSMultiUser: one secret, one server, rotated alternately
// by dualkey and by AWS's documented multi-user steps (awsImpl, on the
// world's secret), with dualkey's switch-off in between: every rotation
// logs in. dualkey locks the previous user and AWS's function never
// unlocks one, so the handback procedure is "dualkey rollback" first
// (which unlocks it); a forgotten rollback makes AWS's rotation fail at
// testSecret while AWSCURRENT keeps working, and retrying that rotation
// with dualkey's function recovers.
func TestInteropWithAWSMultiUser(t *testing.T, w *World, awsImpl *AWSMultiUser, errLocked error) {
	ctx := context.Background()
	useAWS := func() { *w.Invoke = awsImpl.Handle }
	useDualkey := func() { *w.Invoke = nil }
	// check asserts what holds after every completed rotation.
	check := func(step string, previousLocked bool) {
		t.Helper()
		if err := w.Works(rotation.StageCurrent); err != nil {
			t.Fatalf("%s: AWSCURRENT: %v", step, err)
		}
		err := w.Works(rotation.StagePrevious)
		if previousLocked {
			if !errors.Is(err, errLocked) {
				t.Fatalf("%s: AWSPREVIOUS should be switched off: %v", step, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: AWSPREVIOUS (dual-key window): %v", step, err)
		}
	}
	retireAfterDrain := func(step string) {
		t.Helper()
		w.Clock.Advance(90 * time.Minute)
		if rep := w.Retire(); rep.State != lifecycle.StateDeactivated {
			t.Fatalf("%s: retire state %q, want %q:\n%s", step, rep.State, lifecycle.StateDeactivated, Reasons(rep))
		}
		check(step, true)
	}

	useAWS()
	w.MustRotate() // AWS creates <app>_clone
	check("1: AWS's rotation creates the clone", false)
	useDualkey()
	w.MustRotate() // dualkey accepts AWS's clone as the alternate user
	check("2: dualkey's rotation after AWS's", false)
	retireAfterDrain("3: dualkey's switch-off")

	// 4: handed back to AWS without the rollback: AWS's setSecret only
	// changes the password, so its testSecret meets the locked user.
	useAWS()
	token, rec := w.Rotate("")
	if rec.Succeeded || rec.FailedStep != rotation.StepTest {
		t.Fatalf("4: AWS's rotation of the locked user: %+v, want a failure at testSecret", rec)
	}
	if err := w.Works(rotation.StageCurrent); err != nil {
		t.Fatalf("4: AWSCURRENT while AWS's rotation is stuck: %v", err)
	}
	// 5: recovery: Secrets Manager's retry of that rotation with dualkey's
	// function, whose setSecret unlocks the user as it sets the password.
	useDualkey()
	if _, rec := w.Rotate(token); !rec.Succeeded {
		t.Fatalf("5: dualkey's retry of the stuck rotation: %s: %s", rec.FailedStep, rec.Error)
	}
	check("5: dualkey finished AWS's stuck rotation", false)

	// 6: the documented handback: switch-off, then dualkey rollback
	// (unlock), then AWS's function.
	retireAfterDrain("6: dualkey's switch-off")
	if _, err := w.LC.Rollback(ctx, w.ARN, lifecycle.RollbackOptions{Reason: "hand the secret back to AWS's rotation function"}); err != nil {
		t.Fatalf("6: rollback: %v", err)
	}
	check("6: after the rollback", false)
	useAWS()
	w.MustRotate()
	check("7: AWS's rotation after the rollback", false)
	useDualkey()
	w.MustRotate()
	check("8: dualkey's rotation", false)
	useAWS()
	w.MustRotate()
	check("9: AWS's rotation", false)
	w.NoSecretsIn("the logs", w.Logs.String())
}
