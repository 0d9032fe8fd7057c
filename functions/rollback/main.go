// Command rollback is the Lambda fed CloudWatch "Alarm State Change" events
// (EventBridge). When an alarm linked to a secret by the dualkey:alarm tag
// enters ALARM within the rollback window, it reactivates the old
// credential, holds retirement and, if configured, moves AWSCURRENT back.
package main

import (
	"context"
	_ "time/tzdata" // deactivation windows name time zones; provided.al2023 has no zoneinfo

	"github.com/aws/aws-lambda-go/events"

	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/lifecyclemain"
)

func main() {
	lifecyclemain.Start(func(ctx context.Context, lc *lifecycle.Lifecycle, ev events.CloudWatchEvent) error {
		_, err := lc.HandleAlarm(ctx, ev)
		return err
	})
}
