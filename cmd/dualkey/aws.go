package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/rotation"
)

// awsFlags are the flags every command that talks to AWS takes.
type awsFlags struct {
	endpoint string
	region   string
}

func (a *awsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.endpoint, "endpoint", os.Getenv("DUALKEY_ENDPOINT"), "AWS endpoint `URL`, e.g. the local emulator http://127.0.0.1:4566 (default: real AWS; env DUALKEY_ENDPOINT)")
	fs.StringVar(&a.region, "region", "", "AWS `REGION` (default: from the environment, or us-east-1 with --endpoint)")
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

// commandFlags are the flags to repeat in the commands dualkey prints, so
// they can be pasted as they are.
func (a *awsFlags) commandFlags() string {
	var parts []string
	if a.endpoint != "" {
		parts = append(parts, "--endpoint "+a.endpoint)
	}
	if a.region != "" {
		parts = append(parts, "--region "+a.region)
	}
	return strings.Join(parts, " ")
}

// cmd renders a dualkey command with these flags.
func (a *awsFlags) cmd(verb string, args ...string) string {
	parts := []string{"dualkey", verb}
	if f := a.commandFlags(); f != "" {
		parts = append(parts, f)
	}
	for _, a := range args {
		if a != "" {
			parts = append(parts, lifecycle.ShellWord(a))
		}
	}
	return strings.Join(parts, " ")
}

// awsCmd renders an aws CLI command aimed at the same endpoint.
func (a *awsFlags) awsCmd(args ...string) string {
	parts := []string{"aws"}
	for _, x := range args {
		parts = append(parts, lifecycle.ShellWord(x))
	}
	if a.endpoint != "" {
		parts = append(parts, "--endpoint-url", a.endpoint)
	}
	if a.region != "" {
		parts = append(parts, "--region", a.region)
	}
	return strings.Join(parts, " ")
}

// hint ends an error that names no way out with the command that shows
// more: missing secrets, denied calls, anything else.
func (a *awsFlags) hint(err error, secret string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if strings.Contains(msg, "dualkey ") || strings.Contains(msg, "aws ") {
		return err
	}
	switch rotation.ErrorCode(err) {
	case "ResourceNotFoundException":
		return fmt.Errorf("%w; list the secrets dualkey manages with: %s", err, a.awsCmd("secretsmanager", "list-secrets", "--filters", "Key=tag-key,Values="+rotation.TagManaged))
	case "AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException":
		return fmt.Errorf("%w; check which identity you are using with: %s", err, a.awsCmd("sts", "get-caller-identity"))
	}
	if secret == "" {
		return err
	}
	return fmt.Errorf("%w; see the secret's state with: %s", err, a.cmd("status", secret))
}

func (a *awsFlags) secretsManager(ctx context.Context) (*secretsmanager.Client, error) {
	cfg, err := a.config(ctx)
	if err != nil {
		return nil, err
	}
	return secretsmanager.NewFromConfig(cfg), nil
}
