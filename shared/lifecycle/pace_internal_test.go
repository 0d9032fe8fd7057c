package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/smithy-go"
)

func TestIsThrottled(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}, true},
		{fmt.Errorf("operation error: %w", &smithy.GenericAPIError{Code: "TooManyRequestsException"}), true},
		{fmt.Errorf("failed to get rate limit token, %w", ratelimit.QuotaExceededError{Available: 0, Requested: 5}), true},
		// LimitExceededException is a resource quota (versions, labels), not a rate.
		{&smithy.GenericAPIError{Code: "LimitExceededException"}, false},
		{&smithy.GenericAPIError{Code: "ResourceNotFoundException"}, false},
		{errors.New("connection refused"), false},
	}
	for _, c := range cases {
		if got := isThrottled(c.err); got != c.want {
			t.Errorf("isThrottled(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// A throttle halves the rate, down to a 32nd; successes bring it back in
// twentieths; an unlimited bucket stays unlimited.
func TestBucketRate(t *testing.T) {
	b := newBucket(64)
	for _, want := range []float64{32, 16, 8, 4, 2, 2} {
		b.throttled()
		if b.rate != want {
			t.Fatalf("rate %v after a throttle, want %v", b.rate, want)
		}
	}
	for range 25 {
		b.succeeded()
	}
	if b.rate != 64 {
		t.Fatalf("rate %v after successes, want 64", b.rate)
	}
	u := newBucket(0)
	u.throttled()
	if u.rate != 0 || u.wait(context.Background()) != nil {
		t.Fatalf("unlimited bucket: rate %v", u.rate)
	}
	// An empty bucket waits, and gives up when the context ends.
	e := newBucket(1)
	if err := e.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait on an empty bucket with a cancelled context: %v", err)
	}
}
