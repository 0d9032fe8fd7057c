package rotation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/notify"
)

// SecretsManagerAPI is the subset of *secretsmanager.Client the engine uses.
type SecretsManagerAPI interface {
	// DescribeSecret returns metadata, tags and the version-to-stages map.
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	// GetSecretValue returns one version's value.
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	// PutSecretValue stores a new version; idempotent on ClientRequestToken
	// (the same token with another value fails with ResourceExistsException).
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	// UpdateSecretVersionStage moves or removes a staging label.
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
	// ListSecretVersionIds lists versions with their creation dates.
	ListSecretVersionIds(ctx context.Context, in *secretsmanager.ListSecretVersionIdsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error)
	// GetRandomPassword generates a random string.
	GetRandomPassword(ctx context.Context, in *secretsmanager.GetRandomPasswordInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetRandomPasswordOutput, error)
	// TagResource sets the dualkey:state* tags when createSecret retires a
	// credential (see CreateResponse.Retired) or records the current
	// version as leaked before an emergency rotation.
	TagResource(ctx context.Context, in *secretsmanager.TagResourceInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error)
	// UntagResource removes dualkey:state-deactivated-at when createSecret
	// retires the deactivated credential.
	UntagResource(ctx context.Context, in *secretsmanager.UntagResourceInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UntagResourceOutput, error)
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
	// Now is the clock (default time.Now). The engine measures StoreWithin
	// with it and stamps the dualkey:state-since tag.
	Now func() time.Time
	// Sleep waits between polls of the pending version while a concurrent
	// delivery of createSecret stores it (default Sleep).
	Sleep func(ctx context.Context, d time.Duration) error
	// Events publishes "Secret Rotated" after each promotion; nil
	// publishes nothing.
	Events *notify.Publisher
	// Refresher redeploys the ECS services a secret's dualkey:refresh tag
	// names after each promotion; nil refreshes nothing.
	Refresher *notify.Refresher
}

// Engine runs the rotation steps for one provider. It is safe for concurrent
// use and is meant to live as long as the Lambda process.
type Engine struct {
	sm        SecretsManagerAPI
	provider  Provider
	log       *slog.Logger
	metrics   *Metrics
	redactor  *Redactor
	now       func() time.Time
	sleep     func(ctx context.Context, d time.Duration) error
	events    *notify.Publisher
	refresher *notify.Refresher

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
	if cfg.Sleep == nil {
		cfg.Sleep = Sleep
	}
	h := slog.NewJSONHandler(cfg.LogWriter, &slog.HandlerOptions{Level: cfg.LogLevel})
	return &Engine{
		sm:        cfg.SecretsManager,
		provider:  cfg.Provider,
		log:       slog.New(cfg.Redactor.Handler(h)).With("provider", cfg.Provider.Name()),
		metrics:   NewMetrics(cfg.MetricsWriter, cfg.Now),
		redactor:  cfg.Redactor,
		now:       cfg.Now,
		sleep:     cfg.Sleep,
		events:    cfg.Events,
		refresher: cfg.Refresher,
		cache:     map[string]string{},
	}, nil
}

// Handle runs one rotation step. It is the Lambda handler.
func (e *Engine) Handle(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
	start := e.now()
	e.redactor.Add(ev.RotationToken) // sensitive: Secrets Manager keeps it out of CloudTrail
	log := e.log.With("secret", printable(ev.SecretID), "step", printable(ev.Step), "token", printable(ev.ClientRequestToken))
	r := &invocation{}
	outcome, err := e.handle(ctx, ev, r, log)
	fix := ""
	if err != nil {
		outcome = OutcomeFailure
		err = e.wrap(ev, err)
		ref := r.arn
		if ref == "" && validSecretID(ev.SecretID) {
			ref = ev.SecretID
		}
		if ref != "" {
			fix = CancelCommand(ref)
			log.Error("rotation step failed", "error", err.Error(), "fix", fix)
		} else {
			log.Error("rotation step failed", "error", err.Error())
		}
	}
	e.metrics.step(e.provider.Name(), ev.Step, r.name, outcome, e.now().Sub(start), fix)
	return err
}

// CancelCommand is the operator command that ends a failed rotation of
// secret: "dualkey cancel SECRET" discards the pending credential at the
// provider and removes the stray AWSPENDING label. The engine puts it in the
// "rotation step failed" log line (field fix) and in the EMF line of the
// RotationFailed metric (property Fix).
func CancelCommand(secret string) string { return "dualkey cancel " + shellWord(secret) }

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9:/_+=.,@%-]+$`)

// shellWord quotes s for a POSIX shell unless it needs none.
func shellWord(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func validSecretID(id string) bool { return id != "" && len(id) <= 2048 && cleanToken(id) }

func (e *Engine) wrap(ev events.SecretsManagerSecretRotationEvent, err error) error {
	msg := fmt.Sprintf("%s of secret %s: %v", printable(ev.Step), printable(ev.SecretID), err)
	return &RotationError{SecretID: ev.SecretID, Step: ev.Step, msg: e.redactor.Redact(msg), err: err}
}

// HandleJSON decodes a raw rotation event and runs it, for callers that
// invoke the engine in-process (the emulator's Invoker in tests).
func (e *Engine) HandleJSON(ctx context.Context, payload []byte) error {
	var ev events.SecretsManagerSecretRotationEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		ev = events.SecretsManagerSecretRotationEvent{}
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

func (e *Engine) handle(ctx context.Context, ev events.SecretsManagerSecretRotationEvent, r *invocation, log *slog.Logger) (Outcome, error) {
	if err := ValidateEvent(ev); err != nil {
		return "", err
	}
	d, err := e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(ev.SecretID)})
	if err != nil {
		return "", fmt.Errorf("describe secret: %w: %w", ErrSecretsManager, err)
	}
	r.arn = aws.ToString(d.ARN)
	r.name = aws.ToString(d.Name)
	r.token = ev.ClientRequestToken
	r.stages = d.VersionIdsToStages
	r.tags = map[string]string{}
	for _, t := range d.Tags {
		r.tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	r.reader = &Reader{sm: e.sm, arn: r.arn, stages: r.stages, red: e.redactor, cache: e}
	if err := e.checkOwner(r); err != nil {
		return "", err
	}
	if !aws.ToBool(d.RotationEnabled) {
		return "", fmt.Errorf("%w: enable it with aws secretsmanager rotate-secret --secret-id %s --rotation-lambda-arn ARN", ErrRotationNotEnabled, r.arn)
	}
	stages, ok := r.stages[r.token]
	if !ok {
		return "", fmt.Errorf("%w: version %s does not exist", ErrUnknownVersion, r.token)
	}
	if slices.Contains(stages, StageCurrent) {
		if ev.Step == StepFinish && slices.Contains(stages, StagePending) {
			if err := e.removePending(ctx, r); err != nil {
				return "", err
			}
		}
		if ev.Step == StepFinish {
			// A repeated finishSecret (a crash or a timeout after the move)
			// finishes telling the consumers, unless dualkey:state-refresh
			// says it was done.
			e.afterPromotion(ctx, r, holder(r.stages, StagePrevious), nil, log)
		}
		log.Info("version is already AWSCURRENT; nothing to do")
		return OutcomeReplay, nil
	}
	if !slices.Contains(stages, StagePending) {
		if other := holder(r.stages, StagePending); other != "" {
			return "", fmt.Errorf("%w: version %s is not AWSPENDING; version %s holds AWSPENDING from an unfinished rotation; "+
				"clear it with: aws secretsmanager update-secret-version-stage --secret-id %s --version-stage AWSPENDING --remove-from-version-id %s",
				ErrNotPending, r.token, other, r.arn, other)
		}
		return "", fmt.Errorf("%w: version %s has stages %v; start a new rotation with aws secretsmanager rotate-secret --secret-id %s",
			ErrNotPending, r.token, stages, r.arn)
	}
	switch ev.Step {
	case StepCreate:
		return e.create(ctx, r, ev.RotationToken, log)
	case StepSet:
		return e.set(ctx, r, log)
	case StepTest:
		return e.test(ctx, r, log)
	default: // StepFinish; ValidateEvent allows no other
		return e.finish(ctx, r, log)
	}
}

// checkOwner refuses a secret that is not this function's: its
// dualkey:provider tag must name the provider and its dualkey:managed tag
// must be "true" (the IAM policies of dualkey's functions are conditioned
// on it). Nothing has been changed when it refuses.
func (e *Engine) checkOwner(r *invocation) error {
	name := e.provider.Name()
	got, tagged := r.tags[TagProvider]
	if tagged && got != name {
		return fmt.Errorf("%w: secret %s is tagged %s=%s, but this function rotates %s secrets: make dualkey's %s function the secret's rotation function, "+
			"or, if the secret really holds a %s credential, retag it with: aws secretsmanager tag-resource --secret-id %s --tags Key=%s,Value=%s",
			ErrNotManaged, r.arn, TagProvider, printable(got), name, printable(got), name, r.arn, TagProvider, name)
	}
	var problems, fixes []string
	if !tagged {
		problems = append(problems, "has no "+TagProvider+" tag")
		fixes = append(fixes, "Key="+TagProvider+",Value="+name)
	}
	if v, ok := r.tags[TagManaged]; v != "true" {
		if ok {
			problems = append(problems, fmt.Sprintf("is tagged %s=%s, not true", TagManaged, printable(v)))
		} else {
			problems = append(problems, "has no "+TagManaged+" tag")
		}
		fixes = append(fixes, "Key="+TagManaged+",Value=true")
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: secret %s %s; this function rotates only secrets tagged %s=true and %s=%s (its IAM policy allows no other): "+
		"if the secret is one, tag it with: aws secretsmanager tag-resource --secret-id %s --tags %s",
		ErrNotManaged, r.arn, strings.Join(problems, " and "), TagManaged, TagProvider, name, r.arn, strings.Join(fixes, " "))
}

// stagesNow reads the secret's version-to-stages map again, after a label
// move failed because a concurrent delivery may have made it.
func (e *Engine) stagesNow(ctx context.Context, r *invocation) (map[string][]string, error) {
	d, err := e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(r.arn)})
	if err != nil {
		return nil, fmt.Errorf("describe secret: %w: %w", ErrSecretsManager, err)
	}
	return d.VersionIdsToStages, nil
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
