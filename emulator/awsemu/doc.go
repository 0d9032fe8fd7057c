// Package awsemu is a faithful local emulator of AWS Secrets Manager.
//
// A Server speaks the real AWS JSON 1.1 protocol (POST /, X-Amz-Target:
// secretsmanager.<Operation>) on a loopback address, so that the unmodified
// aws-sdk-go-v2 secretsmanager client (BaseEndpoint or
// AWS_ENDPOINT_URL_SECRETS_MANAGER) and the AWS CLI (--endpoint-url) work
// against it. Every AWS request is SigV4-verified through awsauth (key,
// signature, a 15-minute window around the real clock, credential-scope date
// and region), its headers before its body, which is capped at
// Config.MaxBodyBytes; requests whose credential scope names another service
// (for example "iam" or "sts") are handed to the handlers in Config.Services
// after verification. Server.Calls counts every authenticated call per
// access key and IAM action name ("secretsmanager:GetSecretValue").
//
// The emulator models secrets, versions and staging labels the way the real
// service does (AWSCURRENT/AWSPREVIOUS/AWSPENDING bookkeeping, idempotent
// ClientRequestToken handling, deprecated versions, scheduled deletion) and
// drives rotation Lambdas through the four rotation steps (createSecret,
// setSecret, testSecret, finishSecret) when RotateSecret is called. Rotation
// runs synchronously inside the RotateSecret request so tests are
// deterministic; the Lambda may call back into the emulator because the
// server never holds its lock while a Lambda runs. Invocations of one invoke
// URL are queued one at a time, as a Lambda Runtime Interface Emulator
// handles them.
//
// A request's cost does not depend on the number of secrets (name and
// deletion-deadline indexes); with Config.StateFile each change is written
// before it is answered, re-encoding only the secret that changed.
//
// A few unauthenticated helper endpoints exist for tests and tooling:
// GET /_dualkey/stats, POST /_dualkey/stats/reset, GET /_dualkey/calls,
// POST /_dualkey/calls/reset, GET /_dualkey/rotations and
// GET /_dualkey/health. Every string they serve has URL user info and query
// values redacted.
package awsemu
