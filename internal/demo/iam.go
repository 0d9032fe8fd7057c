package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/providers/iamkey"
	"github.com/dualkey/dualkey/shared/rotation"
)

// IAMLambdaName is the IAM key rotation function the emulator invokes.
const IAMLambdaName = "dualkey-iamkey"

// IAMSecretName is the demo's IAM key secret.
const IAMSecretName = "demo/ci-deployer-key"

// IAMResult is what the IAM part of the demo observed: key id -> status
// after each lifecycle step ("deleted" when gone).
type IAMResult struct {
	OldKey, NewKey string
	States         []map[string]string
}

// offsetClock is the emulator's clock: real time plus an offset the demo
// moves forward to show hours of lifecycle in seconds.
type offsetClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *offsetClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// runIAM rotates an IAM user's access key through the real iamkey bootstrap
// under the RIE, then walks the old key through the lifecycle with the
// retire logic, printing the keys' states and the evidence at each step.
func runIAM(ctx context.Context, out io.Writer, url string, clock *offsetClock) (*IAMResult, error) {
	fmt.Fprintln(out, "\n==> part 2: an IAM user's access key, and the whole dual-key lifecycle")
	cfg := awsemu.ClientConfig(url)
	sm, iamc := secretsmanager.NewFromConfig(cfg), iam.NewFromConfig(cfg)
	const user = "ci-deployer"
	// dualkey rotates only the keys of users tagged dualkey:managed=true.
	if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user),
		Tags: []iamtypes.Tag{{Key: aws.String("dualkey:managed"), Value: aws.String("true")}}}); err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	k, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		return nil, fmt.Errorf("create key: %w", err)
	}
	res := &IAMResult{OldKey: aws.ToString(k.AccessKey.AccessKeyId)}
	oldSecret := aws.ToString(k.AccessKey.SecretAccessKey)
	value, _ := json.Marshal(map[string]string{"user_name": user, "access_key_id": res.OldKey, "secret_access_key": oldSecret})
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(IAMSecretName), SecretString: aws.String(string(value)),
		Tags: []types.Tag{
			{Key: aws.String(lifecycle.TagManaged), Value: aws.String("true")},
			{Key: aws.String(lifecycle.TagProvider), Value: aws.String("iamkey")},
			{Key: aws.String(lifecycle.TagDrain), Value: aws.String("1h")},
			{Key: aws.String(lifecycle.TagGrace), Value: aws.String("48h")},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("create secret: %w", err)
	}
	arn := aws.ToString(created.ARN)
	fmt.Fprintf(out, "IAM user %s has key %s; secret %s (drain 1h, grace 48h)\n", user, res.OldKey, IAMSecretName)

	rot, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(arn),
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:" + awsemu.DefaultAccountID + ":function:" + IAMLambdaName),
		RotationRules:     &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)},
	})
	if err != nil {
		return nil, fmt.Errorf("rotate: %w", err)
	}
	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		return nil, err
	}
	if rotation.Holder(d.VersionIdsToStages, rotation.StageCurrent) != aws.ToString(rot.VersionId) {
		return nil, errors.New("the IAM key rotation did not complete; run with the emulator logs to see why")
	}
	cur, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return nil, err
	}
	var s struct {
		ID string `json:"access_key_id"`
	}
	_ = json.Unmarshal([]byte(aws.ToString(cur.SecretString)), &s)
	res.NewKey = s.ID
	states := func(step string) error {
		keys, err := iamc.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
		if err != nil {
			return err
		}
		st := map[string]string{res.OldKey: "deleted", res.NewKey: "deleted"}
		for _, k := range keys.AccessKeyMetadata {
			st[aws.ToString(k.AccessKeyId)] = string(k.Status)
		}
		res.States = append(res.States, st)
		fmt.Fprintf(out, "  %-44s %s\n", step, stateWords(st, res.NewKey, "key "))
		return nil
	}
	fmt.Fprintf(out, "rotated by the real functions/iamkey bootstrap under the RIE: new key %s verified with STS as the same user\n", res.NewKey)
	if err := states("after promotion (dual-key window):"); err != nil {
		return res, err
	}

	lc, err := lifecycle.New(lifecycle.Config{
		SecretsManager: sm,
		Providers:      map[string]rotation.Provider{"iamkey": iamkey.NewFromAWSConfig(cfg, nil, iamkey.Config{})},
		Now:            clock.Now, LogWriter: io.Discard, MetricsWriter: io.Discard,
	})
	if err != nil {
		return res, err
	}
	retire := func(title string) error {
		if _, err := retireRun(ctx, out, lc, arn, title); err != nil {
			return err
		}
		return states("  keys now:")
	}
	oldClient := sts.New(sts.Options{Region: awsemu.DefaultRegion, BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(res.OldKey, oldSecret, "")})

	clock.Advance(90 * time.Minute)
	fmt.Fprintln(out, "\n⏩ emulator clock +90m (drain window over); a forgotten CI job still signs with the old key")
	if _, err := oldClient.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		return res, fmt.Errorf("old key during drain: %w", err)
	}
	if err := retire("old key still in use"); err != nil {
		return res, err
	}
	clock.Advance(2 * time.Hour)
	fmt.Fprintln(out, "\n⏩ emulator clock +2h; the CI job was fixed and uses AWSCURRENT")
	if err := retire("old key quiet"); err != nil {
		return res, err
	}
	_, err = oldClient.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return res, fmt.Errorf("the deactivated old key still works")
	}
	fmt.Fprintf(out, "  the old key is now refused by AWS: %s\n", ae.ErrorCode())
	clock.Advance(49 * time.Hour)
	fmt.Fprintln(out, "\n⏩ emulator clock +49h (grace period over; rollback was possible until now)")
	if err := retire("grace over"); err != nil {
		return res, err
	}
	return res, nil
}

// stateWords lists the credentials of st by id, each as "<role> <noun><id>
// <state>" (role "new" for newID, "old" for the others), joined by ", ".
func stateWords(st map[string]string, newID, noun string) string {
	ids := make([]string, 0, len(st))
	for id := range st {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	parts := make([]string, 0, len(ids))
	for _, id := range ids {
		role := "old"
		if id == newID {
			role = "new"
		}
		parts = append(parts, fmt.Sprintf("%s %s%s %s", role, noun, id, st[id]))
	}
	return strings.Join(parts, ", ")
}

// retireRun runs the lifecycle's retire on arn and prints its actions
// under "retire run, <title>:".
func retireRun(ctx context.Context, out io.Writer, lc *lifecycle.Lifecycle, arn, title string) (*lifecycle.Report, error) {
	rep, err := lc.Retire(ctx, arn, lifecycle.Options{})
	if err != nil {
		return nil, fmt.Errorf("retire: %w", err)
	}
	fmt.Fprintf(out, "retire run, %s:\n", title)
	for _, a := range rep.Actions {
		fmt.Fprintf(out, "    %-10s %s\n", a.Op, a.Reason)
	}
	return rep, nil
}
