package iamkey_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/iamemu"
	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/providers/iamkey"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

const user = "alice"

// clock is the tests' injected clock: the emulator's, the provider's and
// (in the conformance kit) the engine's. It stands still unless advanced;
// Sleep advances it instead of sleeping.
type clock struct {
	fc    *testutil.FakeClock
	mu    sync.Mutex
	slept []time.Duration
}

func clockOf(fc *testutil.FakeClock) *clock { return &clock{fc: fc} }

func frozenClock(at time.Time) *clock { return clockOf(testutil.NewFakeClock(at)) }

func (c *clock) Now() time.Time { return c.fc.Now() }

func (c *clock) Advance(d time.Duration) { c.fc.Advance(d) }

// Sleep is the provider's injected Sleep: it moves the clock, never waits.
func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.fc.Advance(d)
	c.mu.Lock()
	c.slept = append(c.slept, d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *clock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// world is a running IAM+STS emulator and what the tests know about it.
type world struct {
	t    testing.TB
	clk  *clock
	svc  *iamemu.Service
	url  string
	logs *testutil.SyncBuffer // the provider's own log lines

	mu      sync.Mutex
	secrets map[string]bool // every secret access key ever issued
}

func newWorld(t testing.TB, clk *clock) *world {
	t.Helper()
	svc := iamemu.New(iamemu.Config{
		BootstrapAccessKeyID:     awsemu.DefaultAccessKeyID,
		BootstrapSecretAccessKey: awsemu.DefaultSecretAccessKey,
		Now:                      clk.Now,
	})
	srv := httptest.NewServer(svc.Standalone())
	t.Cleanup(srv.Close)
	return &world{t: t, clk: clk, svc: svc, url: srv.URL, logs: &testutil.SyncBuffer{}, secrets: map[string]bool{awsemu.DefaultSecretAccessKey: true}}
}

func (w *world) remember(secret string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.secrets[secret] = true
}

// awsConfig is the Lambda's AWS configuration: the bootstrap key stands for
// its role.
func (w *world) awsConfig(hc *http.Client) aws.Config {
	cfg := awsemu.ClientConfig(w.url)
	cfg.RetryMaxAttempts = 1
	if hc != nil {
		cfg.HTTPClient = hc
	}
	return cfg
}

// admin is an IAM client with the bootstrap key, outside the kit's counted
// transport.
func (w *world) admin() *iam.Client { return iam.NewFromConfig(w.awsConfig(nil)) }

func (w *world) sts(id, secret string) *sts.Client {
	return sts.NewFromConfig(w.awsConfig(nil), func(o *sts.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider(id, secret, "")
	})
}

// recordingIAM remembers every secret access key the provider creates.
type recordingIAM struct {
	iamkey.IAMAPI
	w *world
}

func (r recordingIAM) CreateAccessKey(ctx context.Context, in *iam.CreateAccessKeyInput, optFns ...func(*iam.Options)) (*iam.CreateAccessKeyOutput, error) {
	out, err := r.IAMAPI.CreateAccessKey(ctx, in, optFns...)
	if err == nil && out.AccessKey != nil {
		r.w.remember(aws.ToString(out.AccessKey.SecretAccessKey))
	}
	return out, err
}

// provider builds the provider as functions/iamkey does, with every call
// through hc, the injected Sleep and a recording IAM client.
func (w *world) provider(hc *http.Client, cfg iamkey.Config) *iamkey.Provider {
	awsCfg := w.awsConfig(hc)
	if cfg.IAM == nil {
		cfg.IAM = recordingIAM{IAMAPI: iam.NewFromConfig(awsCfg), w: w}
	}
	if cfg.Sleep == nil {
		cfg.Sleep = w.clk.Sleep
	}
	if cfg.Now == nil {
		cfg.Now = w.clk.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(w.logs, nil))
	}
	return iamkey.NewFromAWSConfig(awsCfg, hc, cfg)
}

// createUser creates an IAM user tagged dualkey:managed=true.
func (w *world) createUser(name string) string {
	w.t.Helper()
	arn := w.createUnmanagedUser(name)
	w.tagUser(name, "true")
	return arn
}

// createUnmanagedUser creates an IAM user without dualkey's tag.
func (w *world) createUnmanagedUser(name string) string {
	w.t.Helper()
	out, err := w.admin().CreateUser(context.Background(), &iam.CreateUserInput{UserName: aws.String(name)})
	if err != nil {
		w.t.Fatalf("create user %s: %v", name, err)
	}
	return aws.ToString(out.User.Arn)
}

// tagUser sets the user's dualkey:managed tag.
func (w *world) tagUser(name, managed string) {
	w.t.Helper()
	if _, err := w.admin().TagUser(context.Background(), &iam.TagUserInput{UserName: aws.String(name), Tags: []iamtypes.Tag{
		{Key: aws.String(rotation.TagManaged), Value: aws.String(managed)},
	}}); err != nil {
		w.t.Fatalf("tag user %s: %v", name, err)
	}
}

// accessKey is a key the test made; String hides the secret.
type accessKey struct{ id, secret string }

func (k accessKey) String() string { return k.id }

func (w *world) createKey(userName string) accessKey {
	w.t.Helper()
	out, err := w.admin().CreateAccessKey(context.Background(), &iam.CreateAccessKeyInput{UserName: aws.String(userName)})
	if err != nil {
		w.t.Fatalf("create access key for %s: %v", userName, err)
	}
	k := accessKey{aws.ToString(out.AccessKey.AccessKeyId), aws.ToString(out.AccessKey.SecretAccessKey)}
	w.remember(k.secret)
	return k
}

// createKeyAt creates a key as if at now+d.
func (w *world) createKeyAt(userName string, d time.Duration) accessKey {
	w.t.Helper()
	w.clk.Advance(d)
	defer w.clk.Advance(-d)
	return w.createKey(userName)
}

func (w *world) setStatus(userName, id, status string) {
	w.t.Helper()
	_, err := w.admin().UpdateAccessKey(context.Background(), &iam.UpdateAccessKeyInput{
		UserName: aws.String(userName), AccessKeyId: aws.String(id), Status: iamStatus(status),
	})
	if err != nil {
		w.t.Fatalf("update access key %s: %v", id, err)
	}
}

// keys returns the user's keys as "id=Status", sorted.
func (w *world) keys(userName string) []string {
	w.t.Helper()
	out, err := w.admin().ListAccessKeys(context.Background(), &iam.ListAccessKeysInput{UserName: aws.String(userName)})
	if err != nil {
		w.t.Fatalf("list access keys of %s: %v", userName, err)
	}
	var ks []string
	for _, m := range out.AccessKeyMetadata {
		ks = append(ks, aws.ToString(m.AccessKeyId)+"="+string(m.Status))
	}
	sort.Strings(ks)
	return ks
}

func (w *world) keyIDs(ctx context.Context, userName string) ([]string, error) {
	out, err := w.admin().ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(userName)})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, m := range out.AccessKeyMetadata {
		ids = append(ids, aws.ToString(m.AccessKeyId))
	}
	return ids, nil
}

// works signs sts:GetCallerIdentity with a key and returns the caller ARN.
func (w *world) works(ctx context.Context, id, secret string) (string, error) {
	out, err := w.sts(id, secret).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.Arn), nil
}

func (w *world) lastUsed(id string) *time.Time {
	w.t.Helper()
	out, err := w.admin().GetAccessKeyLastUsed(context.Background(), &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(id)})
	if err != nil {
		w.t.Fatalf("last used of %s: %v", id, err)
	}
	return out.AccessKeyLastUsed.LastUsedDate
}

// assertNoSecrets fails when any text holds any secret access key ever
// issued by the emulator.
func (w *world) assertNoSecrets(t testing.TB, what string, texts ...string) {
	t.Helper()
	for _, k := range w.svc.Snapshot().AccessKeys {
		w.remember(k.SecretAccessKey)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, text := range texts {
		for s := range w.secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("%s contains a secret access key", what)
				return
			}
		}
	}
}

type secretJSON struct {
	UserName        string `json:"user_name"`
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
}

func value(userName string, k accessKey, extra map[string]any) string {
	m := map[string]any{"user_name": userName, "access_key_id": k.id, "secret_access_key": k.secret}
	for n, v := range extra {
		m[n] = v
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func decode(t testing.TB, v string) secretJSON {
	t.Helper()
	var s secretJSON
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		t.Fatalf("secret value is not JSON")
	}
	return s
}

// fixtureOpts tune the conformance fixture.
type fixtureOpts struct {
	clk     *clock
	initial func(w *world, k accessKey) string // default value(user, k, owner)
	config  iamkey.Config
}

// newSubject returns the kit subject; *got receives each environment's world.
func newSubject(got **world, o fixtureOpts) rotationtest.Subject {
	return rotationtest.Subject{
		OldStaysValid: true,
		Setup: func(t testing.TB, env *rotationtest.Env) *rotationtest.Fixture {
			clk := o.clk
			if clk == nil {
				clk = clockOf(env.Clock)
			}
			w := newWorld(t, clk)
			if got != nil {
				*got = w
			}
			w.createUser(user)
			k := w.createKey(user)
			initial := value(user, k, map[string]any{"owner": "team-a"})
			if o.initial != nil {
				initial = o.initial(w, k)
			}
			t.Cleanup(func() {
				var errs []string
				for _, r := range env.Emu.Rotations() {
					errs = append(errs, r.Error)
				}
				w.assertNoSecrets(t, "the engine's logs", env.Logs.String())
				w.assertNoSecrets(t, "the provider's logs", w.logs.String())
				w.assertNoSecrets(t, "a rotation error", errs...)
			})
			return &rotationtest.Fixture{
				Initial:     initial,
				NewProvider: func(c *http.Client) rotation.Provider { return w.provider(c, o.config) },
				Works: func(ctx context.Context, v string) error {
					s := decode(t, v)
					_, err := w.works(ctx, s.AccessKeyID, s.SecretAccessKey)
					return err
				},
				Live:             func(ctx context.Context) ([]string, error) { return w.keyIDs(ctx, user) },
				BetweenRotations: func(ctx context.Context, env *rotationtest.Env, arn string) { retirePrevious(t, w, env, arn) },
				Propagation:      w.svc.SetPropagationDelay,
			}
		},
	}
}

// retirePrevious does what dualkey's retire function does once the
// previous key is no longer used: deactivate it and label its version
// DUALKEY_DEACTIVATED.
func retirePrevious(t testing.TB, w *world, env *rotationtest.Env, arn string) {
	t.Helper()
	ctx := context.Background()
	prev := holder(env.Labels(ctx, arn), rotation.StagePrevious)
	if prev == "" {
		t.Fatalf("no AWSPREVIOUS version to retire")
	}
	v := &rotation.Version{ID: prev, Stages: []string{rotation.StagePrevious}, Value: env.Value(ctx, arn, rotation.StagePrevious)}
	if err := w.provider(nil, iamkey.Config{}).Deactivate(ctx, &rotation.CredentialRequest{SecretID: arn, Version: v}); err != nil {
		t.Fatalf("deactivate the previous key: %v", err)
	}
	label(t, env, arn, rotation.StageDeactivated, prev)
}

// label moves a staging label to version id.
func label(t testing.TB, env *rotationtest.Env, arn, stage, id string) {
	t.Helper()
	ctx := context.Background()
	in := &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(arn), VersionStage: aws.String(stage), MoveToVersionId: aws.String(id)}
	if from := holder(env.Labels(ctx, arn), stage); from != "" && from != id {
		in.RemoveFromVersionId = aws.String(from)
	}
	if _, err := env.SM.UpdateSecretVersionStage(ctx, in); err != nil {
		t.Fatalf("label %s: %v", stage, err)
	}
}

func holder(labels map[string][]string, stage string) string {
	for id, st := range labels {
		for _, s := range st {
			if s == stage {
				return id
			}
		}
	}
	return ""
}

// lastRotation returns the outcome of the emulator's last rotation ("" when it succeeded).
func lastRotation(t testing.TB, env *rotationtest.Env) string {
	t.Helper()
	recs := env.Emu.Rotations()
	if len(recs) == 0 {
		t.Fatalf("no rotation recorded")
	}
	return recs[len(recs)-1].Error
}

// hold makes the emulator's RotateSecret create the placeholder version
// and stop, as if the Lambda were down; it returns the token.
func hold(t testing.TB, env *rotationtest.Env, arn string) string {
	t.Helper()
	env.SetInvoke(func(context.Context, events.SecretsManagerSecretRotationEvent) error { return errors.New("held") })
	defer env.SetInvoke(nil)
	token, err := env.Rotate(context.Background(), arn)
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	return token
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func iamStatus(s string) iamtypes.StatusType { return iamtypes.StatusType(s) }

// fixedTime is a clock start for tests that do not run the kit.
var fixedTime = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
