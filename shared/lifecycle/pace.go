package lifecycle

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/rotation"
)

// Pace limits the Secrets Manager requests per second the lifecycle allows
// itself, per quota group of AWS's published request quotas (per account
// and Region, shared with every other caller: the rotation functions, the
// keyrings, the operators). A zero rate is unlimited. Whatever the rates,
// a request Secrets Manager throttles is retried after a growing, jittered
// wait, and the rate of its group is halved, then recovers step by step.
type Pace struct {
	// List: ListSecrets (AWS quota: 100 per second).
	List float64
	// Read: DescribeSecret and GetSecretValue (AWS quota: 10,000 per
	// second combined).
	Read float64
	// Versions: ListSecretVersionIds (not listed with its own quota; paced
	// like the control-plane calls).
	Versions float64
	// Stage: UpdateSecretVersionStage (AWS quota: 50 per second, combined
	// with PutSecretValue, UpdateSecret and the replication calls).
	Stage float64
	// Tag: TagResource and UntagResource (AWS quota: 50 per second
	// combined).
	Tag float64
	// Backoff is the first wait after a throttled request (default 250ms);
	// it doubles with each further throttle of the same request, up to
	// 20 s, for at most 8 retries.
	Backoff time.Duration
}

// DefaultPace takes at most half of each of AWS's published Secrets Manager
// quotas, leaving the rest to the rotation functions, the keyrings and the
// operators.
var DefaultPace = Pace{List: 50, Read: 5000, Versions: 25, Stage: 25, Tag: 25, Backoff: 250 * time.Millisecond}

// Unpaced sets no rate; throttled requests are still retried with backoff.
var Unpaced = Pace{Backoff: 250 * time.Millisecond}

const (
	maxThrottleRetries = 8
	maxBackoff         = 20 * time.Second
)

// bucket is a token bucket whose rate drops on throttling and recovers on
// success (additive increase, multiplicative decrease).
type bucket struct {
	mu     sync.Mutex
	max    float64 // configured rate; 0: unlimited
	rate   float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64) *bucket {
	return &bucket{max: rate, rate: rate, tokens: max(1, rate)}
}

// wait takes one token, sleeping until it is there.
func (b *bucket) wait(ctx context.Context) error {
	if b.max <= 0 {
		return ctx.Err()
	}
	b.mu.Lock()
	now := time.Now()
	if !b.last.IsZero() {
		b.tokens = min(max(1, b.rate), b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	b.tokens--
	var d time.Duration
	if b.tokens < 0 {
		d = time.Duration(-b.tokens / b.rate * float64(time.Second))
	}
	b.mu.Unlock()
	return sleep(ctx, d)
}

// throttled halves the rate (not below 1/32 of the configured one).
func (b *bucket) throttled() {
	if b.max <= 0 {
		return
	}
	b.mu.Lock()
	b.rate = max(b.max/32, b.rate/2)
	b.tokens = min(b.tokens, 0)
	b.mu.Unlock()
}

// succeeded raises the rate by a twentieth of the configured one.
func (b *bucket) succeeded() {
	if b.max <= 0 {
		return
	}
	b.mu.Lock()
	b.rate = min(b.max, b.rate+b.max/20)
	b.mu.Unlock()
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// isThrottled reports whether Secrets Manager (or the SDK's own retry
// budget, which gives up when throttling goes on) refused a request for its
// rate: the request was not carried out, so sending it again is safe.
func isThrottled(err error) bool {
	if err == nil {
		return false
	}
	var q ratelimit.QuotaExceededError
	if errors.As(err, &q) {
		return true
	}
	return rotation.IsErrorCode(err, "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded")
}

// paced is a SecretsAPI that keeps to a Pace.
type paced struct {
	api                              SecretsAPI
	list, read, versions, stage, tag *bucket
	backoff                          time.Duration
}

var _ SecretsAPI = (*paced)(nil)

func newPaced(api SecretsAPI, p Pace) *paced {
	if p.Backoff <= 0 {
		p.Backoff = DefaultPace.Backoff
	}
	return &paced{api: api, list: newBucket(p.List), read: newBucket(p.Read), versions: newBucket(p.Versions),
		stage: newBucket(p.Stage), tag: newBucket(p.Tag), backoff: p.Backoff}
}

// do sends one request at b's pace, retrying it while it is throttled.
func do[T any](ctx context.Context, p *paced, b *bucket, call func() (T, error)) (T, error) {
	wait := p.backoff
	for attempt := 0; ; attempt++ {
		if err := b.wait(ctx); err != nil {
			var zero T
			return zero, err
		}
		out, err := call()
		if !isThrottled(err) {
			if err == nil {
				b.succeeded()
			}
			return out, err
		}
		b.throttled()
		if attempt == maxThrottleRetries {
			return out, err
		}
		// Full jitter: anywhere between half the wait and the wait.
		d := wait/2 + time.Duration(rand.Int64N(int64(wait/2)+1))
		if err := sleep(ctx, d); err != nil {
			return out, err
		}
		wait = min(2*wait, maxBackoff)
	}
}

// GetSecretValue implements SecretsAPI.
func (p *paced) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return do(ctx, p, p.read, func() (*secretsmanager.GetSecretValueOutput, error) { return p.api.GetSecretValue(ctx, in, optFns...) })
}

// ListSecretVersionIds implements SecretsAPI.
func (p *paced) ListSecretVersionIds(ctx context.Context, in *secretsmanager.ListSecretVersionIdsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error) {
	return do(ctx, p, p.versions, func() (*secretsmanager.ListSecretVersionIdsOutput, error) {
		return p.api.ListSecretVersionIds(ctx, in, optFns...)
	})
}

// DescribeSecret implements SecretsAPI.
func (p *paced) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	return do(ctx, p, p.read, func() (*secretsmanager.DescribeSecretOutput, error) { return p.api.DescribeSecret(ctx, in, optFns...) })
}

// ListSecrets implements SecretsAPI.
func (p *paced) ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error) {
	return do(ctx, p, p.list, func() (*secretsmanager.ListSecretsOutput, error) { return p.api.ListSecrets(ctx, in, optFns...) })
}

// TagResource implements SecretsAPI.
func (p *paced) TagResource(ctx context.Context, in *secretsmanager.TagResourceInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error) {
	return do(ctx, p, p.tag, func() (*secretsmanager.TagResourceOutput, error) { return p.api.TagResource(ctx, in, optFns...) })
}

// UntagResource implements SecretsAPI.
func (p *paced) UntagResource(ctx context.Context, in *secretsmanager.UntagResourceInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UntagResourceOutput, error) {
	return do(ctx, p, p.tag, func() (*secretsmanager.UntagResourceOutput, error) { return p.api.UntagResource(ctx, in, optFns...) })
}

// UpdateSecretVersionStage implements SecretsAPI.
func (p *paced) UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	return do(ctx, p, p.stage, func() (*secretsmanager.UpdateSecretVersionStageOutput, error) {
		return p.api.UpdateSecretVersionStage(ctx, in, optFns...)
	})
}
