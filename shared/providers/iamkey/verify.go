package iamkey

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/dualkey/dualkey/shared/rotation"
)

// Set implements rotation.Provider. An IAM key is usable when created, so
// Set only checks that the pending key exists, and reactivates it (for a
// user tagged dualkey:managed=true only) when Discard deactivated it after a
// PutSecretValue whose reply was lost.
func (p *Provider) Set(ctx context.Context, req *rotation.SetRequest) error {
	if err := p.ready(); err != nil {
		return err
	}
	s, err := Parse(req.Pending.Value)
	if err != nil {
		return fmt.Errorf("pending version: %w", err)
	}
	keys, err := p.listKeys(ctx, s.UserName)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.id != s.AccessKeyID {
			continue
		}
		if k.status == statusActive {
			return nil
		}
		if _, err := p.managedUser(ctx, s.UserName); err != nil {
			return err
		}
		if _, err := p.cfg.IAM.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
			UserName: aws.String(s.UserName), AccessKeyId: aws.String(s.AccessKeyID), Status: types.StatusTypeActive,
		}); err != nil {
			return fmt.Errorf("reactivate pending access key %s of IAM user %q: %w", s.AccessKeyID, s.UserName, err)
		}
		p.log.Info("reactivated the pending access key", "secret", req.SecretID, "token", req.Token, "user", s.UserName, "access_key_id", s.AccessKeyID)
		return nil
	}
	return fmt.Errorf("pending access key %s is not a key of IAM user %q (its keys: %s); it was deleted or belongs to another user, so this rotation cannot finish: "+
		"remove the label with \"aws secretsmanager update-secret-version-stage --secret-id %s --version-stage AWSPENDING --remove-from-version-id %s\" and rotate again",
		s.AccessKeyID, s.UserName, listOrNone(keys), req.SecretID, req.Token)
}

// propagating lists the STS error codes a new or just reactivated key gets
// until IAM has propagated it.
var propagating = []string{"InvalidClientTokenId", "SignatureDoesNotMatch", "AccessDenied", "AccessDeniedException", "UnrecognizedClientException"}

// Test implements rotation.Provider: the user must be tagged
// dualkey:managed=true, and sts:GetCallerIdentity signed with the pending
// key must succeed, retried with exponential backoff while IAM propagates
// the key, and name the IAM user of user_name. It never signs with the
// current or previous key.
func (p *Provider) Test(ctx context.Context, req *rotation.TestRequest) error {
	if err := p.ready(); err != nil {
		return err
	}
	s, err := Parse(req.Pending.Value)
	if err != nil {
		return fmt.Errorf("pending version: %w", err)
	}
	u, err := p.managedUser(ctx, s.UserName)
	if err != nil {
		return err
	}
	if cur, err := req.Versions.Stage(ctx, rotation.StageCurrent); err == nil && keyID(cur.Value) == s.AccessKeyID {
		return fmt.Errorf("pending access key %s is the same as the current one; start a new rotation", s.AccessKeyID)
	}
	want := aws.ToString(u.Arn)
	budget := p.cfg.PropagationBudget
	if s.PropagationBudgetSeconds != nil {
		budget = time.Duration(*s.PropagationBudgetSeconds * float64(time.Second))
	}
	client := p.cfg.NewSTS(s.AccessKeyID, s.SecretAccessKey)
	var waited time.Duration
	delay := firstBackoff
	for {
		out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err == nil {
			got := aws.ToString(out.Arn)
			if got != want {
				return fmt.Errorf("pending access key %s signs as %s, not as %s, the IAM user %q named by user_name; the key belongs to another identity",
					s.AccessKeyID, printable(got), want, s.UserName)
			}
			return nil
		}
		code := rotation.ErrorCode(err)
		if !rotation.IsErrorCode(err, propagating...) {
			return fmt.Errorf("sts:GetCallerIdentity signed with pending access key %s of IAM user %q: %w", s.AccessKeyID, s.UserName, err)
		}
		if waited >= budget {
			return fmt.Errorf("STS still refuses pending access key %s of IAM user %q with %s after %s (the propagation budget): "+
				"IAM did not propagate the new key in time, or it is not Active; check it with \"aws iam list-access-keys --user-name %s\", "+
				"then raise propagation_budget_seconds in the secret or DUALKEY_IAM_PROPAGATION_BUDGET and retry: %w",
				s.AccessKeyID, s.UserName, code, budget, s.UserName, err)
		}
		d := min(delay, budget-waited)
		if err := p.cfg.Sleep(ctx, d); err != nil {
			return fmt.Errorf("waiting for IAM to propagate pending access key %s of IAM user %q: %w", s.AccessKeyID, s.UserName, err)
		}
		waited += d
		delay = min(2*delay, maxBackoff)
	}
}
