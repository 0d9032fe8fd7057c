package awsemu_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/dualkey/dualkey/emulator/awsemu"
)

// The full emulator serves CloudWatch Logs, EventBridge and ECS behind the
// same SigV4 check as the other services: a key IAM issued works for them,
// a deactivated one is refused, and each call is recorded for its caller.
func TestFullEmulatorServesLogsEventsAndECS(t *testing.T) {
	ctx := context.Background()
	f, url := startFull(t, awsemu.Config{})
	_, iamc, _ := fullClients(url, awsemu.DefaultAccessKeyID, awsemu.DefaultSecretAccessKey)
	if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	k, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	id, secret := aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""), RetryMaxAttempts: 1}
	logs, events, ecsc := cloudwatchlogs.NewFromConfig(cfg), eventbridge.NewFromConfig(cfg), ecs.NewFromConfig(cfg)

	if _, err := logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/app")}); err != nil {
		t.Fatalf("CreateLogGroup: %v", err)
	}
	if _, err := logs.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("/app"), LogStreamName: aws.String("s")}); err != nil {
		t.Fatalf("CreateLogStream: %v", err)
	}
	now := time.Now().UnixMilli()
	if _, err := logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String("/app"), LogStreamName: aws.String("s"),
		LogEvents: []logstypes.InputLogEvent{{Message: aws.String("call dualkey_fp=dkfp_0123456789abcdef"), Timestamp: aws.Int64(now)}}}); err != nil {
		t.Fatalf("PutLogEvents: %v", err)
	}
	got, err := logs.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/app"), FilterPattern: aws.String(`"dkfp_0123456789abcdef"`), StartTime: aws.Int64(now - 1000)})
	if err != nil || len(got.Events) != 1 {
		t.Fatalf("FilterLogEvents: %v, %d events", err, len(got.Events))
	}
	if _, err := events.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{Source: aws.String("dualkey"), DetailType: aws.String("Secret Rotated"), Detail: aws.String(`{"secret":"s"}`)}}}); err != nil {
		t.Fatalf("PutEvents: %v", err)
	}
	if n := len(f.Events.Events()); n != 1 {
		t.Fatalf("EventBridge holds %d events, want 1", n)
	}
	resp, err := http.Get(url + "/_dualkey/events")
	if err != nil {
		t.Fatal(err)
	}
	var listed []json.RawMessage
	err = json.NewDecoder(resp.Body).Decode(&listed)
	resp.Body.Close()
	if err != nil || len(listed) != 1 {
		t.Fatalf("/_dualkey/events: %v, %d events", err, len(listed))
	}
	if _, err := ecsc.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}); err != nil {
		t.Fatalf("CreateCluster: %v", err)
	}
	if _, err := ecsc.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("api"), TaskDefinition: aws.String("api:1"), DesiredCount: aws.Int32(1)}); err != nil {
		t.Fatalf("CreateService: %v", err)
	}
	if _, err := ecsc.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("api"), ForceNewDeployment: true}); err != nil {
		t.Fatalf("UpdateService: %v", err)
	}
	if n := f.ECS.ForcedDeployments("prod", "api"); n != 1 {
		t.Fatalf("forced deployments = %d, want 1", n)
	}
	calls := f.Calls()[id]
	for _, action := range []string{"logs:FilterLogEvents", "events:PutEvents", "ecs:UpdateService"} {
		if calls[action] != 1 {
			t.Errorf("calls of %s by %s = %d, want 1 (all: %v)", action, id, calls[action], calls)
		}
	}
	// A deactivated key is refused by these services too.
	if _, err := iamc.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("app"), AccessKeyId: aws.String(id), Status: "Inactive"}); err != nil {
		t.Fatal(err)
	}
	_, err = logs.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnrecognizedClientException" {
		t.Fatalf("inactive key against CloudWatch Logs: %v, want UnrecognizedClientException", err)
	}
}
