package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/emulator/awsemu"
)

// awsFlags are the flags every command that talks to AWS takes.
type awsFlags struct {
	endpoint string
	region   string
}

func (a *awsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.endpoint, "endpoint", os.Getenv("DUALKEY_ENDPOINT"), "AWS endpoint URL, e.g. the local emulator http://127.0.0.1:4566 (default: real AWS; env DUALKEY_ENDPOINT)")
	fs.StringVar(&a.region, "region", "", "AWS region (default: from the environment, or us-east-1 with --endpoint)")
}

// config loads the AWS configuration. With an endpoint and no credentials in
// the environment it uses the emulator's bootstrap key.
func (a *awsFlags) config(ctx context.Context) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if a.region != "" {
		opts = append(opts, config.WithRegion(a.region))
	}
	if a.endpoint != "" {
		opts = append(opts, config.WithBaseEndpoint(a.endpoint))
		if a.region == "" && os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
			opts = append(opts, config.WithRegion(awsemu.DefaultRegion))
		}
		if os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
			opts = append(opts, config.WithCredentialsProvider(
				credentials.NewStaticCredentialsProvider(awsemu.DefaultAccessKeyID, awsemu.DefaultSecretAccessKey, "")))
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, fmt.Errorf("load aws configuration: %w", err)
	}
	return cfg, nil
}

func (a *awsFlags) secretsManager(ctx context.Context) (*secretsmanager.Client, error) {
	cfg, err := a.config(ctx)
	if err != nil {
		return nil, err
	}
	return secretsmanager.NewFromConfig(cfg), nil
}
