// Command retire is the scheduled Lambda (EventBridge, e.g. every 15
// minutes) that walks every secret tagged dualkey:managed=true and moves its
// old credential along its provider's path: drain, usage check, then
// deactivation and grace (reversible, label-gated) or a confirmation period
// (delete-only), and deletion (see docs/lifecycle.md).
package main

import (
	"context"
	_ "time/tzdata" // deactivation windows name time zones; provided.al2023 has no zoneinfo

	"github.com/aws/aws-lambda-go/events"

	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/lifecyclemain"
)

func main() {
	lifecyclemain.Start(func(ctx context.Context, lc *lifecycle.Lifecycle, _ events.CloudWatchEvent) error {
		// Sweep streams its reports (RunAll keeps them all) and resumes
		// from its cursor when the previous run ran out of time.
		_, err := lc.Sweep(ctx, lifecycle.Options{}, nil)
		return err
	})
}
