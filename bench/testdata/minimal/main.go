// Command minimal is the floor BenchmarkColdStart measures dualkey's
// functions against: an aws-lambda-go bootstrap that loads the AWS SDK's
// default configuration and, per invocation, makes the one Secrets Manager
// call (DescribeSecret) a replayed finishSecret makes, with nothing else.
// It lives under testdata so that go build ./... leaves it alone; the
// benchmark builds it with the same flags as the functions.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

func main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		lambda.Start(func(context.Context, json.RawMessage) error { return err })
		return
	}
	sm := secretsmanager.NewFromConfig(cfg)
	lambda.Start(func(ctx context.Context, ev struct{ SecretId string }) error {
		_, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(ev.SecretId)})
		return err
	})
}
