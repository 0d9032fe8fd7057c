package rotation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
)

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
	if aws.ToString(out.ARN) == r.arn {
		// A partial ARN or another spelling of this secret's own name.
		return nil, SecretFieldError(field, "names this secret itself", "set it to the ARN of the separate secret that holds the admin credential")
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
		what := "version " + id
		if stage != "" {
			what = stage + " (version " + id + ")"
		}
		if errors.As(err, &ae) && ae.ErrorCode() == "ResourceNotFoundException" {
			return nil, fmt.Errorf("%s: %w", what, ErrNoVersion)
		}
		return nil, fmt.Errorf("get the value of %s: %w: %w", what, ErrSecretsManager, err)
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
