// Package rotation is dualkey's rotation engine. It turns the four steps that
// AWS Secrets Manager asks a rotation Lambda to perform (createSecret,
// setSecret, testSecret, finishSecret) into calls on a Provider, and owns
// everything that is the same for every provider: event validation, the
// Secrets Manager protocol guards, stage-label moves, idempotency, structured
// logs without secrets, and CloudWatch Embedded Metric Format metrics.
//
// Providers never call Secrets Manager; the engine does, and hands them the
// versions they ask for through a VersionReader.
package rotation

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Staging labels Secrets Manager gives meaning to.
const (
	StageCurrent  = "AWSCURRENT"
	StagePending  = "AWSPENDING"
	StagePrevious = "AWSPREVIOUS"
	// StageDeactivated marks the version whose credential dualkey's retire
	// function deactivated and will delete after the grace period. The label
	// keeps the version (and its credential id) readable after later
	// rotations move AWSPREVIOUS on.
	StageDeactivated = "DUALKEY_DEACTIVATED"
)

// Steps of the Secrets Manager rotation protocol.
const (
	StepCreate = "createSecret"
	StepSet    = "setSecret"
	StepTest   = "testSecret"
	StepFinish = "finishSecret"
)

// Version is one version of a secret and its value (a SecretString).
type Version struct {
	ID     string
	Stages []string
	Value  string
}

// VersionReader gives providers read access to the versions of the secret
// being rotated. Values are fetched lazily and cached by version id (versions
// are immutable), so asking twice costs one Secrets Manager call.
type VersionReader interface {
	// Stage returns the version that holds the staging label. It returns an
	// error wrapping ErrNoVersion when no version holds the label, or when the
	// version holding it has no value yet (RotateSecret's placeholder).
	Stage(ctx context.Context, stage string) (*Version, error)
	// Created returns when a version was created. The first call in an
	// invocation costs one ListSecretVersionIds call; use it only on rare
	// paths (such as recognising a credential left by a crash).
	Created(ctx context.Context, versionID string) (time.Time, error)
	// Admin returns the admin credential the secret's AWSCURRENT value names
	// in master_secret_arn (or AWS's masterarn): the AWSCURRENT version of
	// that other secret. It returns nil and no error when the secret names
	// none. The first call costs one GetSecretValue call (two when
	// AWSCURRENT was not read yet); ask only when the step needs it. Errors
	// name the field and the fix.
	Admin(ctx context.Context) (*Admin, error)
}

// PasswordSpec describes a random string, mirroring Secrets Manager's
// GetRandomPassword options.
type PasswordSpec struct {
	Length                  int64
	ExcludeCharacters       string
	ExcludeNumbers          bool
	ExcludePunctuation      bool
	ExcludeUppercase        bool
	ExcludeLowercase        bool
	IncludeSpace            bool
	RequireEachIncludedType bool
}

// PasswordGenerator makes random strings.
type PasswordGenerator interface {
	// RandomPassword returns a new random string that satisfies spec. The
	// result is registered as a secret, so it never appears in logs.
	RandomPassword(ctx context.Context, spec PasswordSpec) (string, error)
}

// Admin is the admin credential a secret names with master_secret_arn (or
// AWS's masterarn for database secrets): a Twilio Main key, a database
// master user. The engine and the lifecycle read its AWSCURRENT version
// through VersionReader.Admin and hand it to the provider; providers never
// call Secrets Manager.
type Admin struct {
	// SecretARN is the ARN (or name) the secret named.
	SecretARN string
	// Version is the admin secret's AWSCURRENT version.
	Version *Version
}

// CreateRequest asks a provider to build the value of the pending version.
type CreateRequest struct {
	SecretID  string // ARN of the secret
	Token     string // version id the pending version will get
	Current   *Version
	Versions  VersionReader
	Passwords PasswordGenerator
	// Emergency is true when the rotation was asked for because the current
	// credential leaked; providers may skip niceties but never a safety check.
	Emergency bool
}

// CreateResponse carries the pending value the engine stores as AWSPENDING.
type CreateResponse struct {
	// Value is the complete SecretString of the new version (a JSON object).
	Value string
	// Retired lists credentials of other versions that Create destroyed to
	// make room for the new one (IAM's limit of two keys per user). The
	// engine ends their lifecycle in the same run: it removes their
	// DUALKEY_DEACTIVATED label, records the state in the dualkey:state tags,
	// logs and counts it.
	Retired []RetiredCredential
}

// Time bounds of createSecret, the contract that lets a provider tell a
// crash's orphan from a credential a concurrent delivery of the same step is
// about to store (Lambda may deliver a step twice at once).
const (
	// StoreWithin bounds the time from the engine's call to Provider.Create
	// to the moment the value it returned is stored: the engine stores the
	// value within StoreWithin (measured with its clock) or never. When
	// Create and the store would take longer, the engine discards the
	// credential (DiscardRequest.Destroy) instead of storing it.
	StoreWithin = 30 * time.Second
	// OrphanAge is the age beyond which a credential that Create made and
	// no version references is provably an orphan (a crashed attempt's, or
	// one whose store failed) and may be destroyed. A younger unreferenced
	// credential may belong to a concurrent delivery that has not stored it
	// yet: Create must not touch it and fails with a retryable error
	// instead. OrphanAge is StoreWithin plus a margin for clock skew
	// between the provider and the engine and for a request in flight.
	OrphanAge = 2 * StoreWithin
)

// RetiredCredential is one credential Create destroyed.
type RetiredCredential struct {
	VersionID   string
	Fingerprint string
	Reason      string
}

// SetRequest asks a provider to make the pending credential valid at the
// provider (for example ALTER ROLE ... PASSWORD).
type SetRequest struct {
	SecretID string
	Token    string
	Pending  *Version
	Versions VersionReader
}

// TestRequest asks a provider to prove the pending credential works.
type TestRequest struct {
	SecretID string
	Token    string
	Pending  *Version
	Versions VersionReader
}

// SwitchOff says how a provider switches an old credential off; the
// lifecycle takes a different path for each and never claims a step the
// provider did not take.
type SwitchOff string

const (
	// SwitchOffReversible: the provider can disable a credential and enable
	// it again (IAM Inactive, database NOLOGIN, a disabled webhook
	// endpoint). Path: drain → usage check → deactivate → grace → delete
	// (when the provider is also a Deleter); rollback reactivates. The
	// provider must implement Deactivator.
	SwitchOffReversible SwitchOff = "reversible"
	// SwitchOffLabelGated: a credential is valid exactly while its version
	// holds AWSCURRENT, AWSPENDING or AWSPREVIOUS (keys services verify with
	// shared/keyring). Removing AWSPREVIOUS is the switch-off; rollback puts
	// it back.
	SwitchOffLabelGated SwitchOff = "label-gated"
	// SwitchOffDeleteOnly: the vendor has no way to disable a credential
	// (Twilio API keys, SendGrid keys, a Twilio auth token promotion). Path:
	// drain → usage check → confirmation period → delete; rollback is
	// possible until the delete. The provider must implement Deleter.
	SwitchOffDeleteOnly SwitchOff = "delete-only"
	// SwitchOffNone: nothing is left to switch off, because the old
	// credential stopped working when setSecret replaced it in place (a
	// single-user database secret, whose user changes its own password).
	// It is only ever a per-secret answer (SwitchOffPerSecret): a provider
	// whose every secret worked so would have no dual-key window at all.
	// Path: the lifecycle records the state "replaced" at once (no drain,
	// no usage check, nothing deactivated, no CredentialDeactivated; the
	// version keeps its labels) and refuses a rollback, which could not
	// bring the old credential back.
	SwitchOffNone SwitchOff = "none"
)

// SwitchOffPerSecret is implemented by providers whose switch-off depends
// on the secret (postgres and mysql: alternating users are reversible, a
// single user has nothing left to switch off). The lifecycle asks it
// wherever it would ask SwitchOff and takes the path of the answer.
type SwitchOffPerSecret interface {
	// SwitchOffFor says how the credential of version v is switched off
	// once a rotation has replaced it: the provider's SwitchOff(), or
	// SwitchOffNone with why (in words, no secrets) for the status, the
	// dry run and the state note. v is the old version the lifecycle
	// retires or rolls back to (AWSPREVIOUS), or AWSCURRENT when it asks
	// what a rotation would do to the current credential (status, cancel).
	// It reads only v.Value, makes no call and must not fail: a value it
	// cannot read gets SwitchOff().
	SwitchOffFor(v *Version) (off SwitchOff, why string)
}

// Provider creates, installs and verifies credentials for one kind of
// service. Implementations must be safe to call again after a crash at any
// point: the engine re-invokes a step that failed. They must also be safe
// for concurrent use on different secrets: the retire sweep calls one
// provider for up to DUALKEY_SWEEP_CONCURRENCY (default 8) secrets at once,
// so a provider keeps no mutable state between calls other than behind a
// lock (clients and settings fixed at construction are fine). Concurrent
// calls for the same secret (a step Lambda delivers twice) are the
// engine's and Create's concern (ErrConcurrentDelivery).
type Provider interface {
	// Name is a short, stable identifier ("servicekey", "iamkey") used in logs,
	// metrics and tags.
	Name() string
	// Create returns the value of the new version. It must not disturb the
	// current credential. If it creates a credential at the provider and the
	// engine fails to store it, the next Create call must adopt or remove that
	// credential so that no orphan is left behind, but only once the
	// credential is older than OrphanAge: a younger one may belong to a
	// concurrent delivery of createSecret that is still storing it, and
	// Create must then change nothing and return an error wrapping
	// ErrConcurrentDelivery.
	Create(ctx context.Context, req *CreateRequest) (*CreateResponse, error)
	// Set makes the pending credential usable at the provider. It must succeed
	// without change when the pending credential is already set, and must keep
	// the current credential working. Providers whose Create already makes the
	// credential usable return nil.
	Set(ctx context.Context, req *SetRequest) error
	// Test proves that the pending credential works at the provider and, where
	// the provider has identities, that it belongs to the same identity as the
	// current one. It must not change anything.
	Test(ctx context.Context, req *TestRequest) error
	// Fingerprint returns a non-secret identifier for a secret value (an
	// access key id, a SID, or the last four characters), for logs. It must
	// never return secret material and must not fail: return "" when unsure.
	Fingerprint(value string) string
	// SwitchOff declares how the provider's old credentials are switched
	// off (see SwitchOff). It is a constant of the provider; a provider
	// whose secrets differ implements SwitchOffPerSecret as well.
	SwitchOff() SwitchOff
}

// UsageFingerprinter is implemented by providers that say which credential
// of a secret value their consumers send, so that the lifecycle can search
// the consumers' logs for its use (tag dualkey:usage-logs, package
// shared/usagelogs) and events can name it (usageFingerprints). Every
// provider whose consumers authenticate with the secret's credential
// should implement it.
type UsageFingerprinter interface {
	// UsageFingerprint returns the usage fingerprint consumers log for the
	// credential in a secret value: shared/fingerprint's Of ("dkfp_…") of
	// the exact string a consumer sends to authenticate (a bearer token, a
	// basic-auth password, an API-key header's value; for AWS SigV4 the
	// access key id, since the secret key is never sent). It returns ""
	// when the value holds no such credential or consumers never send it.
	// It must not fail and never returns secret material.
	UsageFingerprint(value string) string
}

// CredentialRequest names one version's credential for the lifecycle
// capabilities below.
type CredentialRequest struct {
	SecretID string
	Version  *Version
	Versions VersionReader
}

// DiscardRequest asks a provider to remove a credential its Create made but
// the engine could not store.
type DiscardRequest struct {
	SecretID string
	Token    string
	// Value is the pending value Create returned.
	Value    string
	Versions VersionReader
	// Destroy is true when no version will ever reference the credential
	// (the token already holds another value because a concurrent delivery
	// won, or an operator cancels the rotation), so it can be destroyed;
	// false when the value may have been stored after all (a lost reply),
	// so the credential must stay recoverable.
	Destroy bool
}

// Discarder is implemented by providers whose Create makes a credential at
// the provider, so the engine can remove it when it cannot be stored.
type Discarder interface {
	// Discard removes or disables the credential in req.Value. It must
	// succeed when the credential is already gone, and must keep it
	// recoverable (disabled, not destroyed) unless req.Destroy.
	Discard(ctx context.Context, req *DiscardRequest) error
}

// Usage is evidence about whether a credential is still used.
type Usage struct {
	// Known is false when the provider has no usage evidence at all.
	Known bool
	// LastUsed is the last time the provider saw the credential used; zero
	// when never used.
	LastUsed time.Time
	// Detail is a human-readable, non-secret description of the evidence.
	Detail string
	// Granularity is the resolution of LastUsed (IAM reports minutes): a
	// reported time stands for any moment up to LastUsed+Granularity. Zero
	// means exact.
	Granularity time.Duration
}

// Deactivator is implemented by providers that can switch a credential off
// without destroying it, so that it can be switched on again on rollback.
type Deactivator interface {
	// Deactivate makes the credential unusable but recoverable. It must
	// succeed when the credential is already inactive.
	Deactivate(ctx context.Context, req *CredentialRequest) error
	// Reactivate makes a deactivated credential usable again. It must succeed
	// when the credential is already active, and fail when it was deleted.
	Reactivate(ctx context.Context, req *CredentialRequest) error
}

// Deleter is implemented by providers that can destroy a credential.
type Deleter interface {
	// Delete destroys the credential. It must succeed when the credential no
	// longer exists.
	Delete(ctx context.Context, req *CredentialRequest) error
}

// UsageReporter is implemented by providers that can tell whether a
// credential is still in use.
type UsageReporter interface {
	// LastUsed reports the provider's evidence of use of the credential.
	LastUsed(ctx context.Context, req *CredentialRequest) (*Usage, error)
}

// CredentialLimit is implemented by providers that allow only a few live
// credentials per identity (IAM: two access keys per user), so that a new
// rotation may have to destroy a deactivated credential (ending its
// rollback window) to make room. Operator tools warn before that happens.
type CredentialLimit interface {
	// MaxLive is the most credentials one identity may hold at once.
	MaxLive() int
}

// Credential is one credential as it exists at the provider.
type Credential struct {
	Fingerprint string
	Status      string
	Created     time.Time
}

// Auditor is implemented by providers that can list the credentials that
// exist at the provider for the identity a secret manages.
type Auditor interface {
	// Credentials lists the live credentials of the identity in current.
	Credentials(ctx context.Context, req *CredentialRequest) ([]Credential, error)
}

// Sleep waits for d or until ctx is done, whichever comes first. Providers
// that retry while a new credential propagates use it as their default
// (injectable) wait.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Env is what a provider's constructor gets from the process that runs it:
// its rotation Lambda, the retire and rollback Lambdas (through the
// registry) or the CLI.
type Env struct {
	// Getenv reads the provider's settings (os.Getenv in a Lambda).
	Getenv func(string) string
	// AWS is the loaded AWS configuration (region, endpoints, credentials).
	AWS aws.Config
	// HTTPClient, when not nil, carries every call the provider makes to
	// the outside world (tests inject crashes through it).
	HTTPClient *http.Client
	// Logger receives the provider's own log lines (key ids and other
	// fingerprints, never secrets); never nil when built by dualkey.
	Logger *slog.Logger
}

// Factory builds a provider from its environment. Every provider package
// exports one, named FromEnv, used by its function and by the registry
// alike.
type Factory func(ctx context.Context, env Env) (Provider, error)

// Get reads one setting through Getenv ("" when Getenv is nil).
func (env Env) Get(name string) string {
	if env.Getenv == nil {
		return ""
	}
	return env.Getenv(name)
}

// Log returns env.Logger, or a logger that discards everything.
func (env Env) Log() *slog.Logger {
	if env.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return env.Logger
}
