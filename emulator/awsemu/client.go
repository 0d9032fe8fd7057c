package awsemu

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// ClientConfig returns an AWS SDK configuration for the emulator at url,
// signed with the bootstrap key, good for every service the emulator serves
// (secretsmanager.NewFromConfig, iam.NewFromConfig, sts.NewFromConfig).
func ClientConfig(url string) aws.Config {
	return aws.Config{
		Region:       DefaultRegion,
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider(DefaultAccessKeyID, DefaultSecretAccessKey, ""),
	}
}

// FunctionEnv returns the environment a Lambda bootstrap needs to run
// against the emulator at url as the bootstrap key: AWS_ENDPOINT_URL covers
// Secrets Manager, IAM and STS alike.
func FunctionEnv(url string) []string {
	return []string{
		"AWS_ENDPOINT_URL=" + url,
		"AWS_ACCESS_KEY_ID=" + DefaultAccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + DefaultSecretAccessKey,
		"AWS_REGION=" + DefaultRegion,
	}
}
