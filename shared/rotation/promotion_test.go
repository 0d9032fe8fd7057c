package rotation_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/ecsemu"
	"github.com/dualkey/dualkey/emulator/eventsemu"
	"github.com/dualkey/dualkey/shared/notify"
	"github.com/dualkey/dualkey/shared/providers/servicekey"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

// After promotion the engine redeploys the ECS services the secret's
// dualkey:refresh tag names and publishes "Secret Rotated"; a failed
// refresh is recorded and alerted, never undoes the rotation, and a
// repeated finishSecret neither redeploys nor publishes again.
func TestPromotionRefreshesAndPublishes(t *testing.T) {
	ctx := context.Background()
	evs := eventsemu.New(eventsemu.Config{})
	ecsSvc := ecsemu.New(ecsemu.Config{})
	s := subject(`{"api_key":"`+initialKey+`"}`, false)
	s.Emulator = &awsemu.Config{Services: map[string]http.Handler{eventsemu.SigningName: evs, ecsemu.SigningName: ecsSvc}}
	env := rotationtest.NewEnv(t, s)
	ecsSvc.AddService("prod", "api", "api:1", 2)
	ecsSvc.AddService("prod", "worker", "w:1", 1)
	ecsSvc.FailUpdates("prod", "worker", "AccessDeniedException", "denied")
	cfg := awsemu.ClientConfig(env.URL)
	pub, err := notify.NewPublisher(notify.Config{Events: eventbridge.NewFromConfig(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := notify.NewRefresher(notify.RefresherConfig{ECS: ecs.NewFromConfig(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rotation.New(rotation.Config{SecretsManager: rotationtest.NewSecretsManagerClient(env.URL, nil),
		Provider: servicekey.New(servicekey.DefaultSettings, nil), LogWriter: env.Logs, MetricsWriter: env.Logs, Now: env.Clock.Now,
		Events: pub, Refresher: ref})
	if err != nil {
		t.Fatal(err)
	}
	env.SetInvoke(func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
		return eng.Handle(ctx, ev)
	})
	arn := env.CreateSecret(ctx)
	env.Tag(ctx, arn, map[string]string{notify.TagRefresh: "ecs:prod/api,ecs:prod/worker"})
	token := env.MustRotate(ctx, arn)
	if ecsSvc.ForcedDeployments("prod", "api") != 1 {
		t.Errorf("prod/api was not redeployed after promotion")
	}
	got := evs.Events()
	if len(got) != 1 || got[0].DetailType != notify.SecretRotated {
		t.Fatalf("events %+v", got)
	}
	var d notify.Detail
	if err := json.Unmarshal([]byte(got[0].Detail), &d); err != nil {
		t.Fatalf("event detail: %v", err)
	}
	if d.Versions["current"] != token || len(d.Refresh) != 2 {
		t.Errorf("detail %+v", d)
	}
	note := env.Tags(ctx, arn)[notify.TagRefreshState]
	if notify.RefreshedVersion(note) != token || !strings.Contains(note, "ecs:prod/worker=failed:AccessDeniedException") {
		t.Errorf("note %q", note)
	}
	if !strings.Contains(env.Logs.String(), `"RefreshFailed":1`) || strings.Contains(env.Logs.String(), `"RotationFailed":1`) {
		t.Errorf("metrics: %s", env.Logs.String())
	}
	if strings.Contains(env.Logs.String(), initialKey) {
		t.Error("secret in logs")
	}
	// A repeated finishSecret does nothing more.
	if err := env.Step(ctx, arn, token, rotation.StepFinish); err != nil {
		t.Fatal(err)
	}
	if ecsSvc.ForcedDeployments("prod", "api") != 1 || len(evs.Events()) != 1 {
		t.Errorf("replay refreshed or published again: %d %d", ecsSvc.ForcedDeployments("prod", "api"), len(evs.Events()))
	}
}
