package rotation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
)

// SecretsManagerAPI is the subset of *secretsmanager.Client the engine uses.
type SecretsManagerAPI interface {
	// DescribeSecret returns metadata and the version-to-stages map.
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	// GetSecretValue returns one version's value.
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	// PutSecretValue stores a new version; idempotent on ClientRequestToken.
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	// UpdateSecretVersionStage moves or removes a staging label.
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
	// ListSecretVersionIds lists versions with their creation dates.
	ListSecretVersionIds(ctx context.Context, in *secretsmanager.ListSecretVersionIdsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error)
	// GetRandomPassword generates a random string.
	GetRandomPassword(ctx context.Context, in *secretsmanager.GetRandomPasswordInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetRandomPasswordOutput, error)
}

// Config configures an Engine.
type Config struct {
	SecretsManager SecretsManagerAPI
	Provider       Provider
	// LogWriter receives JSON log lines (default os.Stdout).
	LogWriter io.Writer
	// LogLevel is the minimum level logged (default Info).
	LogLevel slog.Level
	// MetricsWriter receives EMF metric lines (default os.Stdout).
	MetricsWriter io.Writer
	// Redactor holds known secrets (default: a new one).
	Redactor *Redactor
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Engine runs the rotation steps for one provider. It is safe for concurrent
// use and is meant to live as long as the Lambda process.
type Engine struct {
	sm       SecretsManagerAPI
	provider Provider
	log      *slog.Logger
	metrics  *Metrics
	redactor *Redactor
	now      func() time.Time

	mu    sync.Mutex
	cache map[string]string // secret ARN + "|" + version id -> value
}

// maxCached bounds the version cache of a long-lived Lambda process.
const maxCached = 64

// New returns an Engine.
func New(cfg Config) (*Engine, error) {
	if cfg.SecretsManager == nil {
		return nil, errors.New("rotation: config has no Secrets Manager client")
	}
	if cfg.Provider == nil {
		return nil, errors.New("rotation: config has no provider")
	}
	if cfg.LogWriter == nil {
		cfg.LogWriter = os.Stdout
	}
	if cfg.MetricsWriter == nil {
		cfg.MetricsWriter = os.Stdout
	}
	if cfg.Redactor == nil {
		cfg.Redactor = NewRedactor()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := slog.NewJSONHandler(cfg.LogWriter, &slog.HandlerOptions{Level: cfg.LogLevel})
	return &Engine{
		sm:       cfg.SecretsManager,
		provider: cfg.Provider,
		log:      slog.New(cfg.Redactor.Handler(h)).With("provider", cfg.Provider.Name()),
		metrics:  NewMetrics(cfg.MetricsWriter, cfg.Now),
		redactor: cfg.Redactor,
		now:      cfg.Now,
		cache:    map[string]string{},
	}, nil
}

// Handle runs one rotation step. It is the Lambda handler.
func (e *Engine) Handle(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
	start := e.now()
	e.redactor.Add(ev.RotationToken) // sensitive: Secrets Manager keeps it out of CloudTrail
	log := e.log.With("secret", printable(ev.SecretID), "step", printable(ev.Step), "token", printable(ev.ClientRequestToken))
	outcome, name, err := e.handle(ctx, ev, log)
	if err != nil {
		outcome = OutcomeFailure
		err = e.wrap(ev, err)
		log.Error("rotation step failed", "error", err.Error())
	}
	e.metrics.step(e.provider.Name(), ev.Step, name, outcome, e.now().Sub(start))
	return err
}

func (e *Engine) wrap(ev events.SecretsManagerSecretRotationEvent, err error) error {
	msg := fmt.Sprintf("%s of secret %s: %v", printable(ev.Step), printable(ev.SecretID), err)
	return &RotationError{SecretID: ev.SecretID, Step: ev.Step, msg: e.redactor.Redact(msg), err: err}
}

// HandleJSON decodes a raw rotation event and runs it, for callers that
// invoke the engine in-process (the emulator's Invoker in tests).
func (e *Engine) HandleJSON(ctx context.Context, payload []byte) error {
	var ev events.SecretsManagerSecretRotationEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return e.wrap(ev, &FieldError{Field: "event", Issue: "is not a JSON rotation event", Kind: ErrInvalidEvent})
	}
	return e.Handle(ctx, ev)
}

// invocation is what one invocation knows about the secret.
type invocation struct {
	arn, name string
	token     string
	stages    map[string][]string
	tags      map[string]string
	reader    *Reader
}

func (e *Engine) handle(ctx context.Context, ev events.SecretsManagerSecretRotationEvent, log *slog.Logger) (outcome Outcome, name string, err error) {
	if err := ValidateEvent(ev); err != nil {
		return "", "", err
	}
	d, err := e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(ev.SecretID)})
	if err != nil {
		return "", "", fmt.Errorf("describe secret: %w: %w", ErrSecretsManager, err)
	}
	r := &invocation{
		arn:    aws.ToString(d.ARN),
		name:   aws.ToString(d.Name),
		token:  ev.ClientRequestToken,
		stages: d.VersionIdsToStages,
		tags:   map[string]string{},
	}
	for _, t := range d.Tags {
		r.tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	r.reader = &Reader{sm: e.sm, arn: r.arn, stages: r.stages, red: e.redactor, cache: e}
	if !aws.ToBool(d.RotationEnabled) {
		return "", r.name, fmt.Errorf("%w: enable it with aws secretsmanager rotate-secret --secret-id %s --rotation-lambda-arn ARN", ErrRotationNotEnabled, r.arn)
	}
	stages, ok := r.stages[r.token]
	if !ok {
		return "", r.name, fmt.Errorf("%w: version %s does not exist", ErrUnknownVersion, r.token)
	}
	if slices.Contains(stages, StageCurrent) {
		if ev.Step == StepFinish && slices.Contains(stages, StagePending) {
			if err := e.removePending(ctx, r); err != nil {
				return "", r.name, err
			}
		}
		log.Info("version is already AWSCURRENT; nothing to do")
		return OutcomeReplay, r.name, nil
	}
	if !slices.Contains(stages, StagePending) {
		if other := holder(r.stages, StagePending); other != "" {
			return "", r.name, fmt.Errorf("%w: version %s is not AWSPENDING; version %s holds AWSPENDING from an unfinished rotation; "+
				"clear it with: aws secretsmanager update-secret-version-stage --secret-id %s --version-stage AWSPENDING --remove-from-version-id %s",
				ErrNotPending, r.token, other, r.arn, other)
		}
		return "", r.name, fmt.Errorf("%w: version %s has stages %v; start a new rotation with aws secretsmanager rotate-secret --secret-id %s",
			ErrNotPending, r.token, stages, r.arn)
	}
	switch ev.Step {
	case StepCreate:
		outcome, err = e.create(ctx, r, ev.RotationToken, log)
	case StepSet:
		outcome, err = e.set(ctx, r, log)
	case StepTest:
		outcome, err = e.test(ctx, r, log)
	case StepFinish:
		outcome, err = e.finish(ctx, r, log)
	}
	return outcome, r.name, err
}

func (e *Engine) create(ctx context.Context, r *invocation, rotationToken string, log *slog.Logger) (Outcome, error) {
	pending, err := r.reader.Version(ctx, r.token, StagePending)
	if err == nil {
		log.Info("pending version already has a value", "pending", e.provider.Fingerprint(pending.Value))
		return OutcomeReplay, nil
	}
	if !errors.Is(err, ErrNoVersion) {
		return "", err
	}
	current, err := r.reader.Stage(ctx, StageCurrent)
	if err != nil {
		if errors.Is(err, ErrNoVersion) {
			return "", fmt.Errorf("%w: the secret has no AWSCURRENT value to rotate from; store the initial credential with aws secretsmanager put-secret-value --secret-id %s --secret-string file://secret.json", err, r.arn)
		}
		return "", err
	}
	resp, err := e.provider.Create(ctx, &CreateRequest{
		SecretID:  r.arn,
		Token:     r.token,
		Current:   current,
		Versions:  r.reader,
		Passwords: passwords{e},
		Emergency: r.tags[TagEmergency] == "true",
	})
	if err != nil {
		return "", providerErr("create", err)
	}
	if resp == nil || !isJSONObject(resp.Value) {
		return "", fmt.Errorf("%w: provider %s returned a pending value that is not a JSON object", ErrProvider, e.provider.Name())
	}
	e.redactor.AddSecretValue(resp.Value)
	in := &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(r.arn),
		ClientRequestToken: aws.String(r.token),
		SecretString:       aws.String(resp.Value),
		VersionStages:      []string{StagePending},
	}
	if rotationToken != "" {
		in.RotationToken = aws.String(rotationToken)
	}
	if _, err := e.sm.PutSecretValue(ctx, in); err != nil {
		// The value may have been stored and only the reply lost: look
		// before throwing the new credential away.
		if stored, gerr := r.reader.Version(ctx, r.token, StagePending); gerr == nil && stored.Value == resp.Value {
			log.Warn("put pending version reported an error but the value was stored", "error", err.Error())
			e.remember(r.arn, r.token, resp.Value)
			return OutcomeSuccess, nil
		}
		if d, ok := e.provider.(Discarder); ok {
			if derr := d.Discard(ctx, &DiscardRequest{SecretID: r.arn, Token: r.token, Value: resp.Value, Versions: r.reader}); derr != nil {
				log.Error("could not discard the credential that was not stored", "pending", e.provider.Fingerprint(resp.Value), "error", derr)
			}
		}
		return "", fmt.Errorf("put pending version: %w: %w", ErrSecretsManager, err)
	}
	e.remember(r.arn, r.token, resp.Value)
	log.Info("created pending version", "current", e.provider.Fingerprint(current.Value), "pending", e.provider.Fingerprint(resp.Value))
	return OutcomeSuccess, nil
}

func (e *Engine) set(ctx context.Context, r *invocation, log *slog.Logger) (Outcome, error) {
	pending, err := r.reader.Version(ctx, r.token, StagePending)
	if err != nil {
		return "", fmt.Errorf("pending version: %w (run createSecret first)", err)
	}
	if err := e.provider.Set(ctx, &SetRequest{SecretID: r.arn, Token: r.token, Pending: pending, Versions: r.reader}); err != nil {
		return "", providerErr("set", err)
	}
	log.Info("pending credential set at provider", "pending", e.provider.Fingerprint(pending.Value))
	return OutcomeSuccess, nil
}

func (e *Engine) test(ctx context.Context, r *invocation, log *slog.Logger) (Outcome, error) {
	pending, err := r.reader.Version(ctx, r.token, StagePending)
	if err != nil {
		return "", fmt.Errorf("pending version: %w (run createSecret first)", err)
	}
	if err := e.provider.Test(ctx, &TestRequest{SecretID: r.arn, Token: r.token, Pending: pending, Versions: r.reader}); err != nil {
		return "", providerErr("test", err)
	}
	log.Info("pending credential verified", "pending", e.provider.Fingerprint(pending.Value))
	return OutcomeSuccess, nil
}

func (e *Engine) finish(ctx context.Context, r *invocation, log *slog.Logger) (Outcome, error) {
	in := &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:        aws.String(r.arn),
		VersionStage:    aws.String(StageCurrent),
		MoveToVersionId: aws.String(r.token),
	}
	old := holder(r.stages, StageCurrent)
	if old != "" {
		in.RemoveFromVersionId = aws.String(old)
	}
	if _, err := e.sm.UpdateSecretVersionStage(ctx, in); err != nil {
		return "", fmt.Errorf("move AWSCURRENT to %s: %w: %w", r.token, ErrSecretsManager, err)
	}
	if err := e.removePending(ctx, r); err != nil {
		return "", err
	}
	log.Info("promoted pending version to AWSCURRENT", "previous_version", old)
	return OutcomeSuccess, nil
}

func (e *Engine) removePending(ctx context.Context, r *invocation) error {
	_, err := e.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(r.arn),
		VersionStage:        aws.String(StagePending),
		RemoveFromVersionId: aws.String(r.token),
	})
	if err != nil {
		return fmt.Errorf("remove AWSPENDING from %s: %w: %w", r.token, ErrSecretsManager, err)
	}
	return nil
}

func providerErr(op string, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, ErrProvider, err)
}

func (e *Engine) remember(arn, id, value string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.cache) >= maxCached {
		clear(e.cache)
	}
	e.cache[arn+"|"+id] = value
}

func (e *Engine) cached(arn, id string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.cache[arn+"|"+id]
	return v, ok
}

// VersionAPI is what a VersionReader needs from Secrets Manager.
type VersionAPI interface {
	// GetSecretValue returns one version's value.
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	// ListSecretVersionIds lists versions with their creation dates.
	ListSecretVersionIds(ctx context.Context, in *secretsmanager.ListSecretVersionIdsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error)
}

// valueCache caches version values; versions are immutable.
type valueCache interface {
	remember(arn, id, value string)
	cached(arn, id string) (string, bool)
}

type mapCache struct {
	mu sync.Mutex
	m  map[string]string
}

func (c *mapCache) remember(arn, id, value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[arn+"|"+id] = value
}

func (c *mapCache) cached(arn, id string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[arn+"|"+id]
	return v, ok
}

// NewReader returns a VersionReader for the secret arn whose version-to-stages
// map is stages (from DescribeSecret). Values it reads are registered with
// red (when not nil) so they are redacted from logs.
func NewReader(api VersionAPI, arn string, stages map[string][]string, red *Redactor) *Reader {
	return &Reader{sm: api, arn: arn, stages: stages, red: red, cache: &mapCache{m: map[string]string{}}}
}

// Reader implements VersionReader over DescribeSecret's stage map. It is
// meant for one invocation and is not safe for concurrent use.
type Reader struct {
	sm      VersionAPI
	arn     string
	stages  map[string][]string
	red     *Redactor
	cache   valueCache
	created map[string]time.Time

	adminRead bool
	admin     *Admin
	adminErr  error
}

// Admin implements VersionReader.
func (r *Reader) Admin(ctx context.Context) (*Admin, error) {
	if !r.adminRead {
		r.admin, r.adminErr = r.readAdmin(ctx)
		r.adminRead = true
	}
	return r.admin, r.adminErr
}

func (r *Reader) readAdmin(ctx context.Context) (*Admin, error) {
	cur, err := r.Stage(ctx, StageCurrent)
	if err != nil {
		return nil, fmt.Errorf("read AWSCURRENT to find its admin secret: %w", err)
	}
	field, ref, err := AdminRef(cur.Value)
	if err != nil || ref == "" {
		return nil, err
	}
	if ref == r.arn || (!strings.HasPrefix(ref, "arn:") && secretNameOf(r.arn) == ref) {
		return nil, SecretFieldError(field, "names this secret itself", "set it to the ARN of the separate secret that holds the admin credential")
	}
	out, err := r.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(ref), VersionStage: aws.String(StageCurrent)})
	if err != nil {
		switch ErrorCode(err) {
		case "ResourceNotFoundException":
			return nil, SecretFieldError(field, fmt.Sprintf("names secret %s, which does not exist or has no AWSCURRENT value", printable(ref)),
				"set it to the ARN of the secret that holds the admin credential")
		case "AccessDeniedException":
			return nil, fmt.Errorf("%w: the function may not read admin secret %s named by field %q: add its ARN to the template's AdminSecretArns parameter: %w",
				ErrSecretsManager, printable(ref), field, err)
		}
		return nil, fmt.Errorf("read admin secret %s named by field %q: %w: %w", printable(ref), field, ErrSecretsManager, err)
	}
	if out.SecretString == nil {
		return nil, SecretFieldError(field, fmt.Sprintf("names secret %s, whose value is binary", printable(ref)), "store the admin credential as a JSON SecretString")
	}
	v := aws.ToString(out.SecretString)
	if r.red != nil {
		r.red.AddSecretValue(v)
	}
	return &Admin{SecretARN: aws.ToString(out.ARN), Version: &Version{ID: aws.ToString(out.VersionId), Stages: out.VersionStages, Value: v}}, nil
}

// AdminRef returns which field of a secret value names an admin secret
// (master_secret_arn, or AWS's masterarn) and the reference it holds; both
// are "" when the value names none. Errors name the field.
func AdminRef(value string) (field, ref string, err error) {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(value), &m) != nil {
		return "", "", nil
	}
	for _, f := range []string{FieldMasterSecretARN, FieldMasterARN} {
		raw, ok := m[f]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) != nil || strings.TrimSpace(s) == "" || len(s) > 2048 || !cleanToken(s) {
			return f, "", SecretFieldError(f, "must be the ARN of the secret holding the admin credential", "set it to that secret's ARN or remove it")
		}
		if ref != "" && s != ref {
			return f, "", SecretFieldError(f, fmt.Sprintf("differs from %s", FieldMasterSecretARN), "keep one of master_secret_arn and masterarn")
		}
		if field == "" {
			field = f
		}
		ref = s
	}
	return field, ref, nil
}

// secretNameOf returns the name part of a Secrets Manager ARN (without the
// random six-character suffix), or the input when it is not an ARN.
func secretNameOf(arn string) string {
	_, name, ok := strings.Cut(arn, ":secret:")
	if !ok {
		return arn
	}
	if i := strings.LastIndex(name, "-"); i > 0 && len(name)-i == 7 {
		return name[:i]
	}
	return name
}

// Created implements VersionReader.
func (r *Reader) Created(ctx context.Context, id string) (time.Time, error) {
	if r.created == nil {
		r.created = map[string]time.Time{}
		in := &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(r.arn), IncludeDeprecated: aws.Bool(true)}
		for {
			out, err := r.sm.ListSecretVersionIds(ctx, in)
			if err != nil {
				r.created = nil
				return time.Time{}, fmt.Errorf("list versions: %w: %w", ErrSecretsManager, err)
			}
			for _, v := range out.Versions {
				r.created[aws.ToString(v.VersionId)] = aws.ToTime(v.CreatedDate)
			}
			if out.NextToken == nil {
				break
			}
			in.NextToken = out.NextToken
		}
	}
	t, ok := r.created[id]
	if !ok {
		return time.Time{}, fmt.Errorf("version %s: %w", id, ErrNoVersion)
	}
	return t, nil
}

// Stage implements VersionReader.
func (r *Reader) Stage(ctx context.Context, stage string) (*Version, error) {
	id := holder(r.stages, stage)
	if id == "" {
		return nil, fmt.Errorf("%s: %w", stage, ErrNoVersion)
	}
	return r.Version(ctx, id, stage)
}

// Version returns the version id (stage, when not empty, must be one of its
// labels).
func (r *Reader) Version(ctx context.Context, id, stage string) (*Version, error) {
	if v, ok := r.cache.cached(r.arn, id); ok {
		return &Version{ID: id, Stages: r.stages[id], Value: v}, nil
	}
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(r.arn), VersionId: aws.String(id)}
	if stage != "" {
		in.VersionStage = aws.String(stage)
	}
	out, err := r.sm.GetSecretValue(ctx, in)
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "ResourceNotFoundException" {
			return nil, fmt.Errorf("%s (version %s): %w", stage, id, ErrNoVersion)
		}
		return nil, fmt.Errorf("get %s value: %w: %w", stage, ErrSecretsManager, err)
	}
	if out.SecretString == nil {
		return nil, SecretFieldError("SecretString", "is empty (binary secrets are not supported)", "store the credential as a JSON SecretString")
	}
	v := aws.ToString(out.SecretString)
	if r.red != nil {
		r.red.AddSecretValue(v)
	}
	r.cache.remember(r.arn, id, v)
	return &Version{ID: id, Stages: r.stages[id], Value: v}, nil
}

// Holder returns the version id that holds stage in a DescribeSecret
// VersionIdsToStages map, or "".
func Holder(stages map[string][]string, stage string) string { return holder(stages, stage) }

type passwords struct{ e *Engine }

// RandomPassword implements PasswordGenerator with GetRandomPassword.
func (p passwords) RandomPassword(ctx context.Context, s PasswordSpec) (string, error) {
	in := &secretsmanager.GetRandomPasswordInput{
		ExcludeCharacters:       aws.String(s.ExcludeCharacters),
		ExcludeLowercase:        aws.Bool(s.ExcludeLowercase),
		ExcludeNumbers:          aws.Bool(s.ExcludeNumbers),
		ExcludePunctuation:      aws.Bool(s.ExcludePunctuation),
		ExcludeUppercase:        aws.Bool(s.ExcludeUppercase),
		IncludeSpace:            aws.Bool(s.IncludeSpace),
		RequireEachIncludedType: aws.Bool(s.RequireEachIncludedType),
	}
	if s.ExcludeCharacters == "" {
		in.ExcludeCharacters = nil
	}
	if s.Length > 0 {
		in.PasswordLength = aws.Int64(s.Length)
	}
	out, err := p.e.sm.GetRandomPassword(ctx, in)
	if err != nil {
		return "", fmt.Errorf("get random password: %w: %w", ErrSecretsManager, err)
	}
	v := aws.ToString(out.RandomPassword)
	p.e.redactor.Add(v)
	return v, nil
}

// ValidateEvent checks a rotation event and names the first bad field.
func ValidateEvent(ev events.SecretsManagerSecretRotationEvent) error {
	bad := func(field, issue, fix string) error {
		return &FieldError{Field: field, Issue: issue, Fix: fix, Kind: ErrInvalidEvent}
	}
	switch ev.Step {
	case StepCreate, StepSet, StepTest, StepFinish:
	case "":
		return bad("Step", "is empty", "expected one of createSecret, setSecret, testSecret, finishSecret")
	default:
		return bad("Step", fmt.Sprintf("has unknown value %q", printable(ev.Step)), "expected one of createSecret, setSecret, testSecret, finishSecret")
	}
	if ev.SecretID == "" {
		return bad("SecretId", "is empty", "pass the secret's ARN")
	}
	if len(ev.SecretID) > 2048 || !cleanToken(ev.SecretID) {
		return bad("SecretId", "has non-printable characters or is longer than 2048", "pass the secret's ARN")
	}
	if ev.ClientRequestToken == "" {
		return bad("ClientRequestToken", "is empty", "pass the version id of the pending version")
	}
	if len(ev.ClientRequestToken) < 32 || len(ev.ClientRequestToken) > 64 || !cleanToken(ev.ClientRequestToken) {
		return bad("ClientRequestToken", "must be 32 to 64 printable characters", "pass the version id of the pending version")
	}
	if ev.RotationToken != "" && (len(ev.RotationToken) > 4096 || !cleanToken(ev.RotationToken)) {
		return bad("RotationToken", "has non-printable characters", "pass the RotationToken Secrets Manager sent unchanged")
	}
	return nil
}

func cleanToken(s string) bool {
	for _, c := range s {
		if !unicode.IsPrint(c) || unicode.IsSpace(c) {
			return false
		}
	}
	return true
}

// printable makes an untrusted event field safe to log.
func printable(s string) string {
	if len(s) > 256 {
		s = s[:256] + "..."
	}
	if cleanToken(s) {
		return s
	}
	return strings.Trim(fmt.Sprintf("%q", s), `"`)
}

func isJSONObject(s string) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal([]byte(s), &m) == nil
}

// holder returns the version id that holds stage, or "".
func holder(stages map[string][]string, stage string) string {
	for id, st := range stages {
		if slices.Contains(st, stage) {
			return id
		}
	}
	return ""
}
