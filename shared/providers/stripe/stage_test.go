package stripe_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/providers/stripe"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

// The 30-day class must not slip silently: within the stage lead (seven
// days by default, tag dualkey:stage-lead) before NextRotationDate, a
// retire run with nothing newer than AWSCURRENT staged raises KeyNotStaged
// with a log line naming the secret and the dualkey stage command, and the
// sweep does not skip the secret as idle; earlier it stays quiet, and once
// the rolled key is staged the run says what is staged instead.
func TestKeyNotStagedBeforeTheRotation(t *testing.T) {
	ctx := context.Background()
	b, arn := newBed(t, setup{})
	b.rollAndStage(ctx, arn)
	if _, err := b.rotate(ctx, arn); err != nil { // every 30 days from now
		t.Fatal(err)
	}
	logs := &bytes.Buffer{} // the lifecycle serializes its writes
	lc, err := lifecycle.New(lifecycle.Config{SecretsManager: b.env.SM, Providers: map[string]rotation.Provider{stripe.Name: stripe.New(stripe.Config{APIURL: b.url})},
		Now: b.env.Clock.Now, LogWriter: logs, MetricsWriter: logs, CommandFlags: "--region us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	retire := func() *lifecycle.Report {
		t.Helper()
		logs.Reset()
		rep, err := lc.Retire(ctx, arn, lifecycle.Options{})
		if err != nil {
			t.Fatalf("retire: %v\n%s", err, rep)
		}
		return rep
	}
	alerted := func(rep *lifecycle.Report) bool {
		for _, a := range rep.Actions {
			if a.Op == lifecycle.OpAlert && strings.Contains(a.Reason, "key not staged") {
				return true
			}
		}
		return false
	}

	b.env.Clock.Advance(22 * 24 * time.Hour) // due in 8 days
	if rep := retire(); alerted(rep) || strings.Contains(logs.String(), "KeyNotStaged") {
		t.Fatalf("8 days before the rotation (lead 7 days):\n%s", rep)
	}

	b.env.Clock.Advance(2 * 24 * time.Hour) // due in 6 days
	rep := retire()
	if !alerted(rep) || !strings.Contains(rep.String(), "dualkey stage --region us-east-1 "+rotationtest.SecretName) || !strings.Contains(rep.String(), "the rotation is due") {
		t.Fatalf("6 days before the rotation with nothing staged:\n%s", rep)
	}
	for _, want := range []string{`"KeyNotStaged":1`, `"msg":"new credential not staged before the rotation is due"`, `"secret":"` + arn + `"`, `"fix":"dualkey stage --region us-east-1 ` + rotationtest.SecretName + `"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	logs.Reset()
	var reps []*lifecycle.Report
	res, err := lc.Sweep(ctx, lifecycle.Options{}, func(r *lifecycle.Report) { reps = append(reps, r) })
	if err != nil || res.Idle != 0 || res.Worked != 1 || len(reps) != 1 || !alerted(reps[0]) || !strings.Contains(logs.String(), `"KeyNotStaged":1`) {
		t.Fatalf("sweep within the lead: %v %+v %v\n%s", err, res, reps, logs)
	}

	lc2, err := lifecycle.New(lifecycle.Config{SecretsManager: b.env.SM, Providers: map[string]rotation.Provider{stripe.Name: stripe.New(stripe.Config{APIURL: b.url})},
		Now: b.env.Clock.Now, LogWriter: logs, MetricsWriter: logs})
	if err != nil {
		t.Fatal(err)
	}
	b.env.Tag(ctx, arn, map[string]string{lifecycle.TagStageLead: "24h"})
	if rep, err := lc2.Retire(ctx, arn, lifecycle.Options{}); err != nil || alerted(rep) {
		t.Fatalf("with %s=24h, 6 days before: %v\n%s", lifecycle.TagStageLead, err, rep)
	}
	b.env.Untag(ctx, arn, lifecycle.TagStageLead)

	newKey := b.rollAndStage(ctx, arn)
	rep = retire()
	if alerted(rep) || strings.Contains(logs.String(), "KeyNotStaged") || !strings.Contains(rep.String(), "is staged in version") {
		t.Fatalf("after staging:\n%s", rep)
	}
	noSecret(t, "the logs", logs.String()+rep.String(), b.key.Secret, newKey.Secret)
}
