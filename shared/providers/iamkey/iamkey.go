// Package iamkey rotates the access key of an IAM user with zero downtime.
//
// IAM lets a user hold two access keys, which is exactly what a dual-key
// rotation needs: createSecret creates a second key next to the current one,
// testSecret proves it works, finishSecret promotes it, and the old key keeps
// working (as AWSPREVIOUS) until dualkey's lifecycle retires it: it
// deactivates the key and labels its version DUALKEY_DEACTIVATED once the key
// is no longer used, and deletes it after a grace period. The next rotation
// deletes a retired key itself when the user is at IAM's limit of two keys
// (and reports it, so the engine ends that version's lifecycle), and refuses
// to touch any key it did not retire.
//
// dualkey manages only the keys of IAM users tagged dualkey:managed=true:
// every operation that changes or reads a user's keys checks the tag first
// (iam:GetUser returns the user's tags), and the template's IAM statements
// carry the same condition (iam:ResourceTag/dualkey:managed), so a secret
// naming another user (an administrator, say) cannot make the function mint
// keys for it.
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
// The Lambda's role needs iam:GetUser, iam:CreateAccessKey,
// iam:DeleteAccessKey, iam:UpdateAccessKey, iam:ListAccessKeys and
// iam:GetAccessKeyLastUsed on the users it rotates.
//
// Files: iamkey.go (provider and settings), secret.go (secret format),
// users.go (IAM users and their keys), create.go (createSecret and
// Discard), verify.go (setSecret and testSecret), lifecycle.go (retire,
// rollback and audit capabilities).
package iamkey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/dualkey/dualkey/shared/fingerprint"
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
	// pending key's identity, and its tags (dualkey:managed).
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
// key may have been created and still be recognised as left by an earlier
// attempt of the same rotation: IAM and Secrets Manager clocks differ a
// little, and IAM reports creation times to the second.
const orphanSkew = 5 * time.Second

// maxKeysPerUser is IAM's quota of access keys per user.
const maxKeysPerUser = 2

// ErrNoSuchKey is wrapped by the errors of Deactivate, Reactivate and
// LastUsed when the access key no longer exists at IAM.
var ErrNoSuchKey = errors.New("access key does not exist")

// ErrUnmanagedUser is wrapped by every error about an IAM user that is not
// tagged dualkey:managed=true; nothing was changed.
var ErrUnmanagedUser = errors.New("IAM user is not managed by dualkey")

// ErrConcurrentDelivery is rotation.ErrConcurrentDelivery, wrapped by
// createSecret's error when the user has a key that no version references
// and that is younger than rotation.OrphanAge (another delivery of the step
// may still store it), or when IAM refuses a new key because a concurrent
// delivery took the user's second slot. Nothing was changed; the engine
// waits for the other delivery's value, and the step succeeds when retried
// later.
var ErrConcurrentDelivery = rotation.ErrConcurrentDelivery

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
	// Now is the clock createSecret compares IAM's key creation times with
	// (default time.Now).
	Now func() time.Time
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
	_ rotation.Provider           = (*Provider)(nil)
	_ rotation.Discarder          = (*Provider)(nil)
	_ rotation.Deactivator        = (*Provider)(nil)
	_ rotation.Deleter            = (*Provider)(nil)
	_ rotation.UsageReporter      = (*Provider)(nil)
	_ rotation.Auditor            = (*Provider)(nil)
	_ rotation.CredentialLimit    = (*Provider)(nil)
	_ rotation.UsageFingerprinter = (*Provider)(nil)
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
	if cfg.Now == nil {
		cfg.Now = time.Now
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

// Name implements rotation.Provider.
func (p *Provider) Name() string { return "iamkey" }

// SwitchOff implements rotation.Provider: IAM keys are switched off with
// UpdateAccessKey Inactive and back on with Active.
func (p *Provider) SwitchOff() rotation.SwitchOff { return rotation.SwitchOffReversible }

// MaxLive implements rotation.CredentialLimit: IAM allows two access keys
// per user, so a rotation while the old key is deactivated deletes it.
func (p *Provider) MaxLive() int { return maxKeysPerUser }

// Fingerprint implements rotation.Provider: the access key id.
func (p *Provider) Fingerprint(value string) string { return keyID(value) }

// UsageFingerprint implements rotation.UsageFingerprinter: SigV4 sends the
// access key id, never the secret key, so consumers fingerprint the access
// key id. IAM's GetAccessKeyLastUsed stays the primary evidence.
func (p *Provider) UsageFingerprint(value string) string { return fingerprint.Of(keyID(value)) }

func (p *Provider) ready() error {
	if p.cfg.IAM == nil {
		return errors.New("iamkey: the provider has no IAM client (build it with iamkey.New(iamkey.Config{IAM: ...}))")
	}
	if p.cfg.NewSTS == nil {
		return errors.New("iamkey: the provider has no STS client factory (Config.NewSTS)")
	}
	return nil
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
