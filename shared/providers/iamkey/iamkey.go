// Package iamkey rotates the access key of an IAM user with zero downtime.
//
// IAM lets a user hold two access keys, which is exactly what a dual-key
// rotation needs: createSecret creates a second key next to the current one,
// testSecret proves it works, finishSecret promotes it, and the old key keeps
// working (as AWSPREVIOUS) until dualkey's lifecycle retires it: it
// deactivates the key and labels its version DUALKEY_DEACTIVATED once the key
// is no longer used, and deletes it after a grace period. The next rotation
// deletes a retired key itself when the user is at IAM's limit of two keys,
// and refuses to touch any key it did not retire.
//
// Secret value (JSON):
//
//	{
//	  "user_name":         "ci-deployer",   required: the IAM user whose key the secret holds
//	  "access_key_id":     "AKIA...",       required
//	  "secret_access_key": "...",           required
//	  "propagation_budget_seconds": 90      optional: how long testSecret waits for IAM to propagate
//	                                        a new key (default DUALKEY_IAM_PROPAGATION_BUDGET or 60 s; at most 900)
//	}
//
// Every other field is copied unchanged to the new version.
//
// The rotation never makes a call signed with the AWSCURRENT or AWSPREVIOUS
// key: IAM would record it as a use, and "the old key is no longer used" is
// the evidence the lifecycle waits for before retiring it. Calls about a key
// (create, list, deactivate, delete, last used) are made with the Lambda's
// own credentials; only testSecret signs one call, sts:GetCallerIdentity,
// with the pending key.
//
// The Lambda's role needs iam:CreateAccessKey, iam:DeleteAccessKey,
// iam:UpdateAccessKey, iam:ListAccessKeys, iam:GetAccessKeyLastUsed and
// iam:GetUser on the users it rotates.
package iamkey

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/dualkey/dualkey/shared/rotation"
)

// IAMAPI is the subset of *iam.Client the provider uses. It is called with
// the Lambda's own credentials, never with a key the secret holds.
type IAMAPI interface {
	// CreateAccessKey creates a key for a user (createSecret).
	CreateAccessKey(ctx context.Context, in *iam.CreateAccessKeyInput, optFns ...func(*iam.Options)) (*iam.CreateAccessKeyOutput, error)
	// DeleteAccessKey deletes a key (a crash's orphan, a retired key, Delete).
	DeleteAccessKey(ctx context.Context, in *iam.DeleteAccessKeyInput, optFns ...func(*iam.Options)) (*iam.DeleteAccessKeyOutput, error)
	// UpdateAccessKey switches a key Active or Inactive.
	UpdateAccessKey(ctx context.Context, in *iam.UpdateAccessKeyInput, optFns ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error)
	// ListAccessKeys lists a user's keys with status and creation date.
	ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, optFns ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
	// GetAccessKeyLastUsed reports a key's last use.
	GetAccessKeyLastUsed(ctx context.Context, in *iam.GetAccessKeyLastUsedInput, optFns ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error)
	// GetUser returns a user's ARN, which testSecret compares with the
	// pending key's identity.
	GetUser(ctx context.Context, in *iam.GetUserInput, optFns ...func(*iam.Options)) (*iam.GetUserOutput, error)
}

// STSAPI is the subset of *sts.Client testSecret uses, signed with the
// pending key.
type STSAPI interface {
	// GetCallerIdentity returns the ARN of the identity that signed the call.
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// Defaults and bounds of the propagation budget.
const (
	DefaultPropagationBudget = 60 * time.Second
	// MaxPropagationBudget is Lambda's longest timeout.
	MaxPropagationBudget = 15 * time.Minute
)

// Retry schedule of testSecret while IAM propagates a new key.
const (
	firstBackoff = time.Second
	maxBackoff   = 8 * time.Second
)

// orphanSkew is how much earlier than the pending version an unreferenced
// key may have been created and still be recognised as left by a crashed
// attempt of the same rotation: IAM and Secrets Manager clocks differ a
// little, and IAM reports creation times to the second.
const orphanSkew = 5 * time.Second

// maxKeysPerUser is IAM's quota of access keys per user.
const maxKeysPerUser = 2

// Key statuses as IAM spells them.
const (
	statusActive   = string(types.StatusTypeActive)
	statusInactive = string(types.StatusTypeInactive)
)

// ErrNoSuchKey is wrapped by the errors of Deactivate, Reactivate and
// LastUsed when the access key no longer exists at IAM.
var ErrNoSuchKey = errors.New("access key does not exist")

// Config configures a Provider.
type Config struct {
	// IAM is the Lambda's own IAM client.
	IAM IAMAPI
	// NewSTS returns an STS client that signs with the given key (the real
	// one: sts.New with static credentials and the Lambda's HTTP client and
	// endpoint). testSecret uses it only with the pending key.
	NewSTS func(accessKeyID, secretAccessKey string) STSAPI
	// PropagationBudget is how long testSecret retries while IAM propagates
	// a new key (default DefaultPropagationBudget). A secret's
	// propagation_budget_seconds overrides it.
	PropagationBudget time.Duration
	// Sleep waits d or until ctx is done (default: a timer honouring ctx).
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives the provider's own log lines: orphaned and retired
	// keys it deletes, keys it deactivates or reactivates. They carry key
	// ids, never secrets. Default: discarded.
	Logger *slog.Logger
}

// Provider implements rotation.Provider and dualkey's lifecycle capabilities
// for IAM user access keys.
type Provider struct {
	cfg Config
	log *slog.Logger
}

var (
	_ rotation.Provider      = (*Provider)(nil)
	_ rotation.Discarder     = (*Provider)(nil)
	_ rotation.Deactivator   = (*Provider)(nil)
	_ rotation.Deleter       = (*Provider)(nil)
	_ rotation.UsageReporter = (*Provider)(nil)
	_ rotation.Auditor       = (*Provider)(nil)
)

// New returns a Provider. Zero fields of cfg get their defaults; a missing
// IAM client or NewSTS makes every call fail with an error saying so.
func New(cfg Config) *Provider {
	if cfg.PropagationBudget <= 0 {
		cfg.PropagationBudget = DefaultPropagationBudget
	}
	if cfg.Sleep == nil {
		cfg.Sleep = rotation.Sleep
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Provider{cfg: cfg, log: log.With("provider", "iamkey")}
}

// NewFromAWSConfig returns a Provider whose IAM client and STS clients are
// built from awsCfg (region, endpoints such as AWS_ENDPOINT_URL_IAM and
// AWS_ENDPOINT_URL_STS, retries). When httpClient is not nil every client
// uses it (a nil *http.Client counts as nil). Fields already set in cfg are
// kept.
func NewFromAWSConfig(awsCfg aws.Config, httpClient aws.HTTPClient, cfg Config) *Provider {
	if c, ok := httpClient.(*http.Client); ok && c == nil {
		httpClient = nil
	}
	if httpClient != nil {
		awsCfg.HTTPClient = httpClient
	}
	if cfg.IAM == nil {
		cfg.IAM = iam.NewFromConfig(awsCfg)
	}
	if cfg.NewSTS == nil {
		cfg.NewSTS = func(accessKeyID, secretAccessKey string) STSAPI {
			return sts.NewFromConfig(awsCfg, func(o *sts.Options) {
				o.Credentials = credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, "")
			})
		}
	}
	return New(cfg)
}

// PropagationBudgetFromEnv reads DUALKEY_IAM_PROPAGATION_BUDGET (a Go
// duration such as "90s" or "2m") through getenv; zero when unset.
func PropagationBudgetFromEnv(getenv func(string) string) (time.Duration, error) {
	v := getenv("DUALKEY_IAM_PROPAGATION_BUDGET")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > MaxPropagationBudget {
		return 0, fmt.Errorf("environment variable DUALKEY_IAM_PROPAGATION_BUDGET=%q: must be a duration such as 90s, more than 0 and at most %s", v, MaxPropagationBudget)
	}
	return d, nil
}

// Secret is the decoded secret value. Its String and GoString methods hide
// the secret access key.
type Secret struct {
	UserName                 string   `json:"user_name"`
	AccessKeyID              string   `json:"access_key_id"`
	SecretAccessKey          string   `json:"secret_access_key"`
	PropagationBudgetSeconds *float64 `json:"propagation_budget_seconds,omitempty"`
}

// String implements fmt.Stringer without the secret access key.
func (s Secret) String() string {
	return fmt.Sprintf("{UserName:%s AccessKeyID:%s SecretAccessKey:%s}", s.UserName, s.AccessKeyID, rotation.Redaction)
}

// GoString implements fmt.GoStringer without the secret access key.
func (s Secret) GoString() string { return "iamkey.Secret" + s.String() }

var (
	userNamePattern    = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	accessKeyIDPattern = regexp.MustCompile(`^\w{16,128}$`)
)

const secretShape = `store the credential as {"user_name": "...", "access_key_id": "AKIA...", "secret_access_key": "..."}`

// Parse decodes and validates a secret value. Errors name the field and
// never contain a value.
func Parse(value string) (*Secret, error) {
	s, err := parseRef(value)
	if err != nil {
		return nil, err
	}
	if s.SecretAccessKey == "" {
		return nil, rotation.SecretFieldError("secret_access_key", "is missing or empty", secretShape)
	}
	if b := s.PropagationBudgetSeconds; b != nil && (*b <= 0 || *b > MaxPropagationBudget.Seconds()) {
		return nil, rotation.SecretFieldError("propagation_budget_seconds", fmt.Sprintf("must be more than 0 and at most %g", MaxPropagationBudget.Seconds()), "fix or remove propagation_budget_seconds")
	}
	return s, nil
}

// parseRef decodes a secret value that must name a user and a key; the
// lifecycle operations need no more.
func parseRef(value string) (*Secret, error) {
	var s Secret
	if err := rotation.DecodeSecret(value, &s); err != nil {
		return nil, err
	}
	switch {
	case s.UserName == "":
		return nil, rotation.SecretFieldError("user_name", "is missing or empty", secretShape)
	case !userNamePattern.MatchString(s.UserName):
		return nil, rotation.SecretFieldError("user_name", "is not an IAM user name (1 to 64 of the characters A-Z a-z 0-9 _ + = , . @ -)", "set user_name to the name of the IAM user, not its ARN")
	case s.AccessKeyID == "":
		return nil, rotation.SecretFieldError("access_key_id", "is missing or empty", secretShape)
	case !accessKeyIDPattern.MatchString(s.AccessKeyID):
		return nil, rotation.SecretFieldError("access_key_id", "is not an access key id (16 to 128 letters and digits, such as AKIA...)", secretShape)
	}
	return &s, nil
}

// keyID returns the access key id of a secret value, or "" when it has none.
func keyID(value string) string {
	var s struct {
		AccessKeyID string `json:"access_key_id"`
	}
	if json.Unmarshal([]byte(value), &s) != nil || !accessKeyIDPattern.MatchString(s.AccessKeyID) {
		return ""
	}
	return s.AccessKeyID
}

// Name implements rotation.Provider.
func (p *Provider) Name() string { return "iamkey" }

// SwitchOff implements rotation.Provider: IAM keys are switched off with
// UpdateAccessKey Inactive and back on with Active.
func (p *Provider) SwitchOff() rotation.SwitchOff { return rotation.SwitchOffReversible }

// FromEnv is the provider's rotation.Factory: IAM and STS clients from
// env.AWS (and env.HTTPClient when set), the propagation budget from
// DUALKEY_IAM_PROPAGATION_BUDGET, log lines to env.Logger.
func FromEnv(_ context.Context, env rotation.Env) (rotation.Provider, error) {
	budget, err := PropagationBudgetFromEnv(env.Get)
	if err != nil {
		return nil, err
	}
	return NewFromAWSConfig(env.AWS, env.HTTPClient, Config{PropagationBudget: budget, Logger: env.Log()}), nil
}

var _ rotation.Factory = FromEnv

// Fingerprint implements rotation.Provider: the access key id.
func (p *Provider) Fingerprint(value string) string { return keyID(value) }

func (p *Provider) ready() error {
	if p.cfg.IAM == nil {
		return errors.New("iamkey: the provider has no IAM client (build it with iamkey.New(iamkey.Config{IAM: ...}))")
	}
	if p.cfg.NewSTS == nil {
		return errors.New("iamkey: the provider has no STS client factory (Config.NewSTS)")
	}
	return nil
}

// key is one access key of a user as IAM lists it.
type key struct {
	id, status string
	created    time.Time
}

func (k key) String() string { return k.id + " (" + k.status + ")" }

// listKeys returns the user's keys. A user that does not exist is a
// user_name field error.
func (p *Provider) listKeys(ctx context.Context, user string) ([]key, error) {
	var keys []key
	in := &iam.ListAccessKeysInput{UserName: aws.String(user)}
	for {
		out, err := p.cfg.IAM.ListAccessKeys(ctx, in)
		if err != nil {
			if rotation.IsErrorCode(err, "NoSuchEntity") {
				return nil, rotation.SecretFieldError("user_name", fmt.Sprintf("names IAM user %q, which does not exist", user), "set user_name to the IAM user the access key belongs to")
			}
			return nil, fmt.Errorf("list access keys of IAM user %q: %w", user, err)
		}
		for _, m := range out.AccessKeyMetadata {
			keys = append(keys, key{id: aws.ToString(m.AccessKeyId), status: string(m.Status), created: aws.ToTime(m.CreateDate)})
		}
		if !out.IsTruncated || out.Marker == nil {
			return keys, nil
		}
		in.Marker = out.Marker
	}
}

// refs finds which labelled versions reference a key. Versions are read
// lazily: a plain rotation of a user with one key reads none of them.
type refs struct {
	req    *rotation.CreateRequest
	loaded map[string]bool
	ids    map[string]string // stage -> access key id
	vers   map[string]string // stage -> version id
}

func newRefs(req *rotation.CreateRequest, current *Secret) *refs {
	r := &refs{
		req:    req,
		loaded: map[string]bool{rotation.StageCurrent: true},
		ids:    map[string]string{rotation.StageCurrent: current.AccessKeyID},
		vers:   map[string]string{},
	}
	if req.Current != nil {
		r.vers[rotation.StageCurrent] = req.Current.ID
	}
	return r
}

// id returns the access key id of the version holding stage ("" if none).
func (r *refs) id(ctx context.Context, stage string) (string, error) {
	if r.loaded[stage] {
		return r.ids[stage], nil
	}
	v, err := r.req.Versions.Stage(ctx, stage)
	switch {
	case errors.Is(err, rotation.ErrNoVersion):
	case err != nil:
		return "", fmt.Errorf("read the %s version: %w", stage, err)
	default:
		r.ids[stage] = keyID(v.Value)
		r.vers[stage] = v.ID
	}
	r.loaded[stage] = true
	return r.ids[stage], nil
}

// referenced reports whether a version labelled AWSPREVIOUS or
// DUALKEY_DEACTIVATED holds id, reading AWSPREVIOUS only when needed.
func (r *refs) referenced(ctx context.Context, id string) (bool, error) {
	for _, stage := range []string{rotation.StageDeactivated, rotation.StagePrevious} {
		got, err := r.id(ctx, stage)
		if err != nil {
			return false, err
		}
		if got == id {
			return true, nil
		}
	}
	return false, nil
}

// labels describes which labels reference id, for error messages.
func (r *refs) labels(ctx context.Context, id string) string {
	var out []string
	for _, stage := range []string{rotation.StageCurrent, rotation.StagePrevious, rotation.StageDeactivated} {
		if got, err := r.id(ctx, stage); err == nil && got == id {
			out = append(out, stage)
		}
	}
	if len(out) == 0 {
		return "referenced by no version of the secret"
	}
	return "held by " + strings.Join(out, " and ")
}

func (r *refs) describe(ctx context.Context, keys []key) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s (%s, %s)", k.id, k.status, r.labels(ctx, k.id))
	}
	return strings.Join(parts, ", ")
}

// Create implements rotation.Provider: it creates a second access key for
// the user and returns the current value with the new key id and secret.
//
// Before that it makes room, touching only keys it can prove are its own: a
// key that no version references, created during this rotation and never
// used, is the orphan of a crashed earlier attempt (its secret was never
// stored) and is deleted; when the user is at IAM's limit of two keys, the
// key other than the current one is deleted only if it is Inactive and held
// by the version labelled DUALKEY_DEACTIVATED. Any other key stops the
// rotation with an error that says what to do.
func (p *Provider) Create(ctx context.Context, req *rotation.CreateRequest) (*rotation.CreateResponse, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	cur, err := Parse(req.Current.Value)
	if err != nil {
		return nil, fmt.Errorf("current version: %w", err)
	}
	user := cur.UserName
	keys, err := p.listKeys(ctx, user)
	if err != nil {
		return nil, err
	}
	r := newRefs(req, cur)
	haveCurrent := false
	var others []key
	for _, k := range keys {
		if k.id == cur.AccessKeyID {
			haveCurrent = true
		} else {
			others = append(others, k)
		}
	}
	if !haveCurrent && !req.Emergency {
		return nil, fmt.Errorf("the current access key %s is not a key of IAM user %q (its keys: %s); "+
			"check user_name and access_key_id of AWSCURRENT, or, if the key was deleted on purpose, tag the secret %s=true to rotate anyway",
			cur.AccessKeyID, user, listOrNone(keys), rotation.TagEmergency)
	}

	// Keys no version references: a crash's orphan, or someone else's.
	var remaining []key
	for _, k := range others {
		ok, err := r.referenced(ctx, k.id)
		if err != nil {
			return nil, err
		}
		if ok {
			remaining = append(remaining, k)
			continue
		}
		orphan, err := p.isOrphan(ctx, req, user, k)
		if err != nil {
			return nil, err
		}
		if !orphan {
			return nil, fmt.Errorf("IAM user %q has access key %s that no version of the secret references and that was not created by this rotation "+
				"(keys of the user: %s); dualkey does not touch keys it does not manage: if nothing uses %s (a leftover of an abandoned rotation is never used), "+
				"delete it with \"aws iam delete-access-key --user-name %s --access-key-id %s\" and rotate again, otherwise give the secret an IAM user of its own",
				user, k.id, r.describe(ctx, keys), k.id, user, k.id)
		}
		if err := p.deleteKey(ctx, user, k.id); err != nil {
			return nil, fmt.Errorf("delete access key %s of IAM user %q, left by a crashed attempt of this rotation: %w", k.id, user, err)
		}
		p.log.Info("deleted the access key left by a crashed attempt of this rotation; its secret was never stored",
			"secret", req.SecretID, "token", req.Token, "user", user, "access_key_id", k.id)
	}

	// IAM's limit of two keys.
	if n := len(remaining) + boolInt(haveCurrent); n >= maxKeysPerUser {
		deactivated, err := r.id(ctx, rotation.StageDeactivated)
		if err != nil {
			return nil, err
		}
		var retired *key
		for i, k := range remaining {
			if k.status == statusInactive && k.id == deactivated {
				retired = &remaining[i]
				break
			}
		}
		if retired == nil {
			all := remaining
			if haveCurrent {
				all = append([]key{{id: cur.AccessKeyID, status: statusOf(keys, cur.AccessKeyID)}}, remaining...)
			}
			return nil, fmt.Errorf("IAM user %q already has %d access keys, the most IAM allows, and none of them was retired by dualkey: %s; "+
				"dualkey deletes only a key that is Inactive and held by the version labelled %s, so no new key was created: %s",
				user, n, r.describe(ctx, all), rotation.StageDeactivated, p.limitFixes(ctx, r, req.SecretID, user, remaining))
		}
		if err := p.deleteKey(ctx, user, retired.id); err != nil {
			return nil, fmt.Errorf("delete retired access key %s of IAM user %q to make room for a new key: %w", retired.id, user, err)
		}
		p.log.Info("deleted the retired access key to make room for the new one",
			"secret", req.SecretID, "token", req.Token, "user", user, "access_key_id", retired.id, "version", r.vers[rotation.StageDeactivated])
	}

	out, err := p.cfg.IAM.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		if rotation.IsErrorCode(err, "LimitExceeded") {
			return nil, fmt.Errorf("create access key for IAM user %q: the user has two keys again (was one created concurrently?); rotate again: %w", user, err)
		}
		return nil, fmt.Errorf("create access key for IAM user %q: %w", user, err)
	}
	if out.AccessKey == nil || aws.ToString(out.AccessKey.AccessKeyId) == "" || aws.ToString(out.AccessKey.SecretAccessKey) == "" {
		return nil, fmt.Errorf("create access key for IAM user %q: IAM returned no key", user)
	}
	id := aws.ToString(out.AccessKey.AccessKeyId)
	value, err := rotation.MergeSecret(req.Current.Value, map[string]any{
		"access_key_id":     id,
		"secret_access_key": aws.ToString(out.AccessKey.SecretAccessKey),
	})
	if err != nil {
		if derr := p.deleteKey(ctx, user, id); derr != nil {
			return nil, fmt.Errorf("build the pending value: %w (and delete the new access key %s of IAM user %q: %v)", err, id, user, derr)
		}
		return nil, fmt.Errorf("build the pending value: %w", err)
	}
	p.log.Info("created access key", "secret", req.SecretID, "token", req.Token, "user", user, "access_key_id", id)
	return &rotation.CreateResponse{Value: value}, nil
}

// limitFixes says how to free a slot for each key other than the current one.
func (p *Provider) limitFixes(ctx context.Context, r *refs, secretID, user string, keys []key) string {
	deactivatedID, _ := r.id(ctx, rotation.StageDeactivated)
	deactivatedVer := r.vers[rotation.StageDeactivated]
	label := func(version string) string {
		cmd := fmt.Sprintf("aws secretsmanager update-secret-version-stage --secret-id %s --version-stage %s --move-to-version-id %s",
			secretID, rotation.StageDeactivated, version)
		if deactivatedVer != "" && deactivatedVer != version {
			cmd += " --remove-from-version-id " + deactivatedVer
		}
		return "\"" + cmd + "\""
	}
	deactivate := func(id string) string {
		return fmt.Sprintf("\"aws iam update-access-key --user-name %s --access-key-id %s --status Inactive\"", user, id)
	}
	var fixes []string
	for _, k := range keys {
		previousID, _ := r.id(ctx, rotation.StagePrevious)
		switch {
		case k.id == deactivatedID:
			fixes = append(fixes, fmt.Sprintf("%s is labelled %s but %s: if nothing uses it any more, deactivate it with %s and rotate again",
				k.id, rotation.StageDeactivated, k.status, deactivate(k.id)))
		case k.id == previousID && k.status == statusInactive:
			fixes = append(fixes, fmt.Sprintf("%s is Inactive but its version %s is not labelled %s: run \"dualkey retire %s\", or label it with %s, and rotate again",
				k.id, r.vers[rotation.StagePrevious], rotation.StageDeactivated, secretID, label(r.vers[rotation.StagePrevious])))
		case k.id == previousID:
			fixes = append(fixes, fmt.Sprintf("%s is still Active: once nothing uses it any more (the drain window), run \"dualkey retire %s\", "+
				"or deactivate it with %s and label its version with %s, and rotate again",
				k.id, secretID, deactivate(k.id), label(r.vers[rotation.StagePrevious])))
		default:
			fixes = append(fixes, fmt.Sprintf("delete %s with \"aws iam delete-access-key --user-name %s --access-key-id %s\" once nothing uses it, and rotate again",
				k.id, user, k.id))
		}
	}
	return strings.Join(fixes, "; ")
}

// isOrphan reports whether k, a key no version references, was created by
// a crashed earlier attempt of this rotation: created no earlier than the
// pending version (less clock skew) and never used.
func (p *Provider) isOrphan(ctx context.Context, req *rotation.CreateRequest, user string, k key) (bool, error) {
	if k.created.IsZero() {
		return false, nil
	}
	created, err := req.Versions.Created(ctx, req.Token)
	if err != nil {
		return false, fmt.Errorf("IAM user %q has access key %s that no version references; to tell whether a crashed attempt of this rotation left it, read when the pending version was created: %w", user, k.id, err)
	}
	if k.created.Before(created.Add(-orphanSkew)) {
		return false, nil
	}
	out, err := p.cfg.IAM.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(k.id)})
	if err != nil {
		if rotation.IsErrorCode(err, "NoSuchEntity") {
			return true, nil // gone already: deleting it again succeeds
		}
		return false, fmt.Errorf("last use of access key %s of IAM user %q: %w", k.id, user, err)
	}
	return out.AccessKeyLastUsed == nil || out.AccessKeyLastUsed.LastUsedDate == nil, nil
}

func (p *Provider) deleteKey(ctx context.Context, user, id string) error {
	_, err := p.cfg.IAM.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(user), AccessKeyId: aws.String(id)})
	if err != nil && !rotation.IsErrorCode(err, "NoSuchEntity") {
		return err
	}
	return nil
}

// Discard implements rotation.Discarder for a key whose pending value the
// engine failed to store. It deactivates the key rather than deleting it:
// when PutSecretValue's reply is lost the value may have been stored after
// all, and a deleted key's secret could never be recovered. A stored key is
// switched on again by Set; an unstored one is unreferenced, new and never
// used, so the retry's Create deletes it as a crash's orphan. A key that is
// already gone is success.
func (p *Provider) Discard(ctx context.Context, req *rotation.DiscardRequest) error {
	if err := p.ready(); err != nil {
		return err
	}
	secretID := req.SecretID
	s, err := parseRef(req.Value)
	if err != nil {
		return fmt.Errorf("discarded value: %w", err)
	}
	_, err = p.cfg.IAM.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
		UserName: aws.String(s.UserName), AccessKeyId: aws.String(s.AccessKeyID), Status: types.StatusTypeInactive,
	})
	if err != nil {
		if rotation.IsErrorCode(err, "NoSuchEntity") {
			return nil
		}
		return fmt.Errorf("deactivate access key %s of IAM user %q that could not be stored: %w", s.AccessKeyID, s.UserName, err)
	}
	p.log.Warn("deactivated the new access key whose pending version could not be stored; a retry deletes it, or reactivates it if it was stored after all",
		"secret", secretID, "user", s.UserName, "access_key_id", s.AccessKeyID)
	return nil
}

// Set implements rotation.Provider. An IAM key is usable when created, so
// Set only checks that the pending key exists, and reactivates it when
// Discard deactivated it after a PutSecretValue whose reply was lost.
func (p *Provider) Set(ctx context.Context, req *rotation.SetRequest) error {
	if err := p.ready(); err != nil {
		return err
	}
	s, err := Parse(req.Pending.Value)
	if err != nil {
		return fmt.Errorf("pending version: %w", err)
	}
	keys, err := p.listKeys(ctx, s.UserName)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.id != s.AccessKeyID {
			continue
		}
		if k.status == statusActive {
			return nil
		}
		if _, err := p.cfg.IAM.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
			UserName: aws.String(s.UserName), AccessKeyId: aws.String(s.AccessKeyID), Status: types.StatusTypeActive,
		}); err != nil {
			return fmt.Errorf("reactivate pending access key %s of IAM user %q: %w", s.AccessKeyID, s.UserName, err)
		}
		p.log.Info("reactivated the pending access key", "secret", req.SecretID, "token", req.Token, "user", s.UserName, "access_key_id", s.AccessKeyID)
		return nil
	}
	return fmt.Errorf("pending access key %s is not a key of IAM user %q (its keys: %s); it was deleted or belongs to another user, so this rotation cannot finish: "+
		"remove the label with \"aws secretsmanager update-secret-version-stage --secret-id %s --version-stage AWSPENDING --remove-from-version-id %s\" and rotate again",
		s.AccessKeyID, s.UserName, listOrNone(keys), req.SecretID, req.Token)
}

// propagating lists the STS error codes a new or just reactivated key gets
// until IAM has propagated it.
var propagating = []string{"InvalidClientTokenId", "SignatureDoesNotMatch", "AccessDenied", "AccessDeniedException", "UnrecognizedClientException"}

// Test implements rotation.Provider: sts:GetCallerIdentity signed with the
// pending key must succeed, retried with exponential backoff while IAM
// propagates the key, and name the IAM user of user_name. It never signs
// with the current or previous key.
func (p *Provider) Test(ctx context.Context, req *rotation.TestRequest) error {
	if err := p.ready(); err != nil {
		return err
	}
	s, err := Parse(req.Pending.Value)
	if err != nil {
		return fmt.Errorf("pending version: %w", err)
	}
	if cur, err := req.Versions.Stage(ctx, rotation.StageCurrent); err == nil && keyID(cur.Value) == s.AccessKeyID {
		return fmt.Errorf("pending access key %s is the same as the current one; start a new rotation", s.AccessKeyID)
	}
	u, err := p.cfg.IAM.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(s.UserName)})
	if err != nil {
		if rotation.IsErrorCode(err, "NoSuchEntity") {
			return rotation.SecretFieldError("user_name", fmt.Sprintf("names IAM user %q, which does not exist", s.UserName), "set user_name to the IAM user the access key belongs to")
		}
		return fmt.Errorf("get IAM user %q: %w", s.UserName, err)
	}
	if u.User == nil || aws.ToString(u.User.Arn) == "" {
		return fmt.Errorf("get IAM user %q: IAM returned no ARN", s.UserName)
	}
	want := aws.ToString(u.User.Arn)
	budget := p.cfg.PropagationBudget
	if s.PropagationBudgetSeconds != nil {
		budget = time.Duration(*s.PropagationBudgetSeconds * float64(time.Second))
	}
	client := p.cfg.NewSTS(s.AccessKeyID, s.SecretAccessKey)
	var waited time.Duration
	delay := firstBackoff
	for {
		out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err == nil {
			got := aws.ToString(out.Arn)
			if got != want {
				return fmt.Errorf("pending access key %s signs as %s, not as %s, the IAM user %q named by user_name; the key belongs to another identity",
					s.AccessKeyID, printable(got), want, s.UserName)
			}
			return nil
		}
		code := rotation.ErrorCode(err)
		if !rotation.IsErrorCode(err, propagating...) {
			return fmt.Errorf("sts:GetCallerIdentity signed with pending access key %s of IAM user %q: %w", s.AccessKeyID, s.UserName, err)
		}
		if waited >= budget {
			return fmt.Errorf("STS still refuses pending access key %s of IAM user %q with %s after %s (the propagation budget): "+
				"IAM did not propagate the new key in time, or it is not Active; check it with \"aws iam list-access-keys --user-name %s\", "+
				"then raise propagation_budget_seconds in the secret or DUALKEY_IAM_PROPAGATION_BUDGET and retry: %w",
				s.AccessKeyID, s.UserName, code, budget, s.UserName, err)
		}
		d := min(delay, budget-waited)
		if err := p.cfg.Sleep(ctx, d); err != nil {
			return fmt.Errorf("waiting for IAM to propagate pending access key %s of IAM user %q: %w", s.AccessKeyID, s.UserName, err)
		}
		waited += d
		delay = min(2*delay, maxBackoff)
	}
}

// credential decodes the version of a lifecycle request.
func credential(req *rotation.CredentialRequest) (*Secret, error) {
	if req == nil || req.Version == nil {
		return nil, errors.New("iamkey: the request names no version")
	}
	s, err := parseRef(req.Version.Value)
	if err != nil {
		return nil, fmt.Errorf("version %s: %w", req.Version.ID, err)
	}
	return s, nil
}

// refuseLive stops an operation that would switch off the key of the
// version that is AWSCURRENT or AWSPENDING.
func refuseLive(op string, req *rotation.CredentialRequest, s *Secret) error {
	for _, st := range req.Version.Stages {
		if st == rotation.StageCurrent || st == rotation.StagePending {
			return fmt.Errorf("refusing to %s access key %s of IAM user %q: its version %s is %s", op, s.AccessKeyID, s.UserName, req.Version.ID, st)
		}
	}
	return nil
}

func (p *Provider) setStatus(ctx context.Context, s *Secret, status types.StatusType) error {
	_, err := p.cfg.IAM.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
		UserName: aws.String(s.UserName), AccessKeyId: aws.String(s.AccessKeyID), Status: status,
	})
	return err
}

// Deactivate implements rotation.Deactivator: the key becomes Inactive
// (already Inactive is success). It refuses the key of an AWSCURRENT or
// AWSPENDING version, and fails with ErrNoSuchKey when the key is gone.
func (p *Provider) Deactivate(ctx context.Context, req *rotation.CredentialRequest) error {
	if err := p.ready(); err != nil {
		return err
	}
	s, err := credential(req)
	if err != nil {
		return err
	}
	if err := refuseLive("deactivate", req, s); err != nil {
		return err
	}
	if err := p.setStatus(ctx, s, types.StatusTypeInactive); err != nil {
		if rotation.IsErrorCode(err, "NoSuchEntity") {
			return fmt.Errorf("deactivate access key %s of IAM user %q: %w (it was deleted already)", s.AccessKeyID, s.UserName, ErrNoSuchKey)
		}
		return fmt.Errorf("deactivate access key %s of IAM user %q: %w", s.AccessKeyID, s.UserName, err)
	}
	p.log.Info("deactivated access key", "secret", req.SecretID, "version", req.Version.ID, "user", s.UserName, "access_key_id", s.AccessKeyID)
	return nil
}

// Reactivate implements rotation.Deactivator: the key becomes Active again
// (already Active is success); a deleted key fails with ErrNoSuchKey.
func (p *Provider) Reactivate(ctx context.Context, req *rotation.CredentialRequest) error {
	if err := p.ready(); err != nil {
		return err
	}
	s, err := credential(req)
	if err != nil {
		return err
	}
	if err := p.setStatus(ctx, s, types.StatusTypeActive); err != nil {
		if rotation.IsErrorCode(err, "NoSuchEntity") {
			return fmt.Errorf("reactivate access key %s of IAM user %q: %w: it was deleted and cannot come back; rotate the secret to get a new key", s.AccessKeyID, s.UserName, ErrNoSuchKey)
		}
		return fmt.Errorf("reactivate access key %s of IAM user %q: %w", s.AccessKeyID, s.UserName, err)
	}
	p.log.Info("reactivated access key", "secret", req.SecretID, "version", req.Version.ID, "user", s.UserName, "access_key_id", s.AccessKeyID)
	return nil
}

// Delete implements rotation.Deleter: the key is deleted (already gone is
// success). It refuses the key of an AWSCURRENT or AWSPENDING version.
func (p *Provider) Delete(ctx context.Context, req *rotation.CredentialRequest) error {
	if err := p.ready(); err != nil {
		return err
	}
	s, err := credential(req)
	if err != nil {
		return err
	}
	if err := refuseLive("delete", req, s); err != nil {
		return err
	}
	if err := p.deleteKey(ctx, s.UserName, s.AccessKeyID); err != nil {
		return fmt.Errorf("delete access key %s of IAM user %q: %w", s.AccessKeyID, s.UserName, err)
	}
	p.log.Info("deleted access key", "secret", req.SecretID, "version", req.Version.ID, "user", s.UserName, "access_key_id", s.AccessKeyID)
	return nil
}

// LastUsed implements rotation.UsageReporter with IAM's record of the key's
// last use (IAM keeps it to the minute, and may lag by hours).
func (p *Provider) LastUsed(ctx context.Context, req *rotation.CredentialRequest) (*rotation.Usage, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	s, err := credential(req)
	if err != nil {
		return nil, err
	}
	out, err := p.cfg.IAM.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(s.AccessKeyID)})
	if err != nil {
		if rotation.IsErrorCode(err, "NoSuchEntity") {
			return nil, fmt.Errorf("last use of access key %s of IAM user %q: %w", s.AccessKeyID, s.UserName, ErrNoSuchKey)
		}
		return nil, fmt.Errorf("last use of access key %s of IAM user %q: %w", s.AccessKeyID, s.UserName, err)
	}
	if owner := aws.ToString(out.UserName); owner != "" && !strings.EqualFold(owner, s.UserName) {
		return nil, fmt.Errorf("access key %s belongs to IAM user %q, not to %q named by user_name", s.AccessKeyID, printable(owner), s.UserName)
	}
	u := out.AccessKeyLastUsed
	if u == nil || u.LastUsedDate == nil {
		return &rotation.Usage{Known: true, Detail: "never used"}, nil
	}
	at := aws.ToTime(u.LastUsedDate).UTC()
	return &rotation.Usage{
		Known:    true,
		LastUsed: at,
		Detail:   fmt.Sprintf("last used %s via %s in %s", at.Format(time.RFC3339), printable(aws.ToString(u.ServiceName)), printable(aws.ToString(u.Region))),
	}, nil
}

// Credentials implements rotation.Auditor: every access key of the user the
// version names, with IAM's status and creation time.
func (p *Provider) Credentials(ctx context.Context, req *rotation.CredentialRequest) ([]rotation.Credential, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	s, err := credential(req)
	if err != nil {
		return nil, err
	}
	keys, err := p.listKeys(ctx, s.UserName)
	if err != nil {
		return nil, err
	}
	out := make([]rotation.Credential, len(keys))
	for i, k := range keys {
		out[i] = rotation.Credential{Fingerprint: k.id, Status: k.status, Created: k.created}
	}
	return out, nil
}

func statusOf(keys []key, id string) string {
	for _, k := range keys {
		if k.id == id {
			return k.status
		}
	}
	return "unknown"
}

func listOrNone(keys []key) string {
	if len(keys) == 0 {
		return "none"
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.String()
	}
	return strings.Join(parts, ", ")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// printable bounds a string IAM or STS returned before it goes into an error.
func printable(s string) string {
	if len(s) > 256 {
		s = s[:256] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
