// Package awsemu is a faithful local emulator of AWS Secrets Manager.
//
// A Server speaks the real AWS JSON 1.1 protocol (POST /, X-Amz-Target:
// secretsmanager.<Operation>) on a loopback address, so that the unmodified
// aws-sdk-go-v2 secretsmanager client (BaseEndpoint or
// AWS_ENDPOINT_URL_SECRETS_MANAGER) and the AWS CLI (--endpoint-url) work
// against it. Every AWS request is SigV4-verified through awsauth; requests
// whose credential scope names another service (for example "iam" or "sts")
// are handed to the handlers in Config.Services after verification.
//
// The emulator models secrets, versions and staging labels the way the real
// service does (AWSCURRENT/AWSPREVIOUS/AWSPENDING bookkeeping, idempotent
// ClientRequestToken handling, deprecated versions, scheduled deletion) and
// drives rotation Lambdas through the four rotation steps (createSecret,
// setSecret, testSecret, finishSecret) when RotateSecret is called. Rotation
// runs synchronously inside the RotateSecret request so tests are
// deterministic; the Lambda may call back into the emulator because the
// server never holds its lock while a Lambda runs.
//
// A few unauthenticated helper endpoints exist for tests and tooling:
// GET /_dualkey/stats, POST /_dualkey/stats/reset, GET /_dualkey/rotations
// and GET /_dualkey/health.
package awsemu
