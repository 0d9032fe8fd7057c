package lifecycle_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/eventsemu"
	"github.com/dualkey/dualkey/emulator/logsemu"
	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/fingerprint"
	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/notify"
	"github.com/dualkey/dualkey/shared/providers/servicekey"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
	"github.com/dualkey/dualkey/shared/usagelogs"
)

// With dualkey:usage-logs, the old credential's fingerprint in a consumer's
// log group holds retirement and the note names the group and the time;
// the new fingerprint in every group is positive evidence; deactivation
// and rollback publish their events; a bad tag is refused by name.
func TestUsageLogsEvidenceAndEvents(t *testing.T) {
	ctx := context.Background()
	clock := testutil.NewFakeClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	logs := logsemu.New(logsemu.Config{Now: clock.Now})
	evs := eventsemu.New(eventsemu.Config{Now: clock.Now})
	env := rotationtest.NewEnv(t, rotationtest.Subject{
		Emulator: &awsemu.Config{Now: clock.Now, Services: map[string]http.Handler{logsemu.SigningName: logs, eventsemu.SigningName: evs}},
		Setup: func(testing.TB, *rotationtest.Env) *rotationtest.Fixture {
			return &rotationtest.Fixture{Initial: `{"api_key":"` + oldKey + `"}`,
				NewProvider: func(c *http.Client) rotation.Provider { return servicekey.New(servicekey.DefaultSettings, c) },
				Works:       func(context.Context, string) error { return nil }}
		},
	})
	arn := env.CreateSecret(ctx)
	tagSecret(t, env.SM, arn, map[string]string{lifecycle.TagManaged: "true", lifecycle.TagProvider: "servicekey", lifecycle.TagDrain: "1h", usagelogs.Tag: "/app/api"})
	if _, err := env.Rotate(ctx, arn); err != nil {
		t.Fatal(err)
	}
	newKey := strings.TrimSuffix(strings.TrimPrefix(env.Value(ctx, arn, rotation.StageCurrent), `{"api_key":"`), `"}`)
	cfg := awsemu.ClientConfig(env.URL)
	rep, err := usagelogs.New(usagelogs.Config{Logs: cloudwatchlogs.NewFromConfig(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := notify.NewPublisher(notify.Config{Events: eventbridge.NewFromConfig(cfg), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	out := &bytes.Buffer{}
	lc, err := lifecycle.New(lifecycle.Config{SecretsManager: env.SM, Providers: map[string]rotation.Provider{"servicekey": servicekey.New(servicekey.DefaultSettings, nil)},
		Now: clock.Now, LogWriter: out, MetricsWriter: out, Logs: rep, Events: pub})
	if err != nil {
		t.Fatal(err)
	}
	logs.Put("/app/api", "web-1", clock.Now().Add(30*time.Minute), "GET /x "+fingerprint.Token(oldKey))
	clock.Advance(61 * time.Minute)
	r, err := lc.Retire(ctx, arn, lifecycle.Options{})
	if err != nil || r.State != lifecycle.StateInUse || !strings.Contains(r.String(), "logged in /app/api at 2026-11-23T10:30:00Z") {
		t.Fatalf("old fingerprint logged during the quiet period: %v\n%s", err, r)
	}
	logs.Put("/app/api", "web-1", clock.Now(), "GET /x "+fingerprint.Token(newKey))
	clock.Advance(34 * time.Minute)
	r, err = lc.Retire(ctx, arn, lifecycle.Options{DryRun: true})
	if err != nil || !strings.Contains(r.String(), "its consumers switched") {
		t.Errorf("dry run shows no positive evidence: %v\n%s", err, r)
	}
	r, err = lc.Retire(ctx, arn, lifecycle.Options{})
	if err != nil || r.State != lifecycle.StateDeactivated {
		t.Fatalf("%v %s", err, r)
	}
	if _, err := lc.Rollback(ctx, arn, lifecycle.RollbackOptions{Reason: "api 401s"}); err != nil {
		t.Fatal(err)
	}
	got := evs.Events()
	var types []string
	for _, e := range got {
		types = append(types, e.DetailType)
	}
	if strings.Join(types, ",") != "Credential Deactivated,Rollback Performed" {
		t.Errorf("events %v", types)
	}
	tagSecret(t, env.SM, arn, map[string]string{usagelogs.Tag: "bad group!"})
	if _, err = lc.Retire(ctx, arn, lifecycle.Options{}); err == nil || !strings.Contains(err.Error(), "dualkey:usage-logs") {
		t.Errorf("a bad dualkey:usage-logs tag: %v, want an error naming the tag", err)
	}
	if strings.Contains(out.String(), oldKey) || strings.Contains(out.String(), newKey) {
		t.Error("secret leaked")
	}
}
