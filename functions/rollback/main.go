// Command rollback is the Lambda fed CloudWatch "Alarm State Change" events
// (EventBridge). When an alarm linked to a secret by the dualkey:alarm tag
// enters ALARM after the secret's last promotion, within the rollback
// window or while the old credential is switched off but not deleted, it
// switches the old credential back on, holds retirement and, if
// configured, moves AWSCURRENT back. It acts only on the alarms
// DUALKEY_ROLLBACK_ALARM_PREFIX / DUALKEY_ROLLBACK_ALARMS select, never
// brings back a credential an emergency rotation switched off because it
// leaked, and logs and ignores every other alarm (see docs/lifecycle.md).
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
