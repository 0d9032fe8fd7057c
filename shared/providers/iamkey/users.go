package iamkey

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/dualkey/dualkey/shared/rotation"
)

// Key statuses as IAM spells them.
const (
	statusActive   = string(types.StatusTypeActive)
	statusInactive = string(types.StatusTypeInactive)
)

// managedUser returns the IAM user named user when it is tagged
// dualkey:managed=true; every operation on a user's keys asks first.
func (p *Provider) managedUser(ctx context.Context, user string) (*types.User, error) {
	out, err := p.cfg.IAM.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(user)})
	if err != nil {
		switch rotation.ErrorCode(err) {
		case "NoSuchEntity":
			return nil, rotation.SecretFieldError("user_name", fmt.Sprintf("names IAM user %q, which does not exist", user), "set user_name to the IAM user the access key belongs to")
		case "AccessDenied", "AccessDeniedException":
			return nil, fmt.Errorf("%w: the function may not read IAM user %q; its policy allows only users tagged %s=true: "+
				"if this secret should rotate that user's key, tag the user with: aws iam tag-user --user-name %s --tags Key=%s,Value=true: %w",
				ErrUnmanagedUser, user, rotation.TagManaged, user, rotation.TagManaged, err)
		}
		return nil, fmt.Errorf("get IAM user %q: %w", user, err)
	}
	if out.User == nil || aws.ToString(out.User.Arn) == "" {
		return nil, fmt.Errorf("get IAM user %q: IAM returned no user", user)
	}
	for _, t := range out.User.Tags {
		if aws.ToString(t.Key) == rotation.TagManaged {
			if aws.ToString(t.Value) == "true" {
				return out.User, nil
			}
			return nil, fmt.Errorf("%w: IAM user %q is tagged %s=%s, not true, so dualkey does not touch its access keys: "+
				"if this secret should rotate that user's key, tag the user with: aws iam tag-user --user-name %s --tags Key=%s,Value=true",
				ErrUnmanagedUser, user, rotation.TagManaged, printable(aws.ToString(t.Value)), user, rotation.TagManaged)
		}
	}
	return nil, fmt.Errorf("%w: IAM user %q is not tagged %s=true, so dualkey does not touch its access keys: "+
		"if this secret should rotate that user's key, tag the user with: aws iam tag-user --user-name %s --tags Key=%s,Value=true",
		ErrUnmanagedUser, user, rotation.TagManaged, user, rotation.TagManaged)
}

// key is one access key of a user as IAM lists it.
type key struct {
	id, status string
	created    time.Time
}

func (k key) String() string { return k.id + " (" + k.status + ")" }

// listKeys returns the user's keys. A user that does not exist is a
// user_name field error.
func (p *Provider) listKeys(ctx context.Context, user string) ([]key, error) {
	var keys []key
	in := &iam.ListAccessKeysInput{UserName: aws.String(user)}
	for {
		out, err := p.cfg.IAM.ListAccessKeys(ctx, in)
		if err != nil {
			if rotation.IsErrorCode(err, "NoSuchEntity") {
				return nil, rotation.SecretFieldError("user_name", fmt.Sprintf("names IAM user %q, which does not exist", user), "set user_name to the IAM user the access key belongs to")
			}
			return nil, fmt.Errorf("list access keys of IAM user %q: %w", user, err)
		}
		for _, m := range out.AccessKeyMetadata {
			keys = append(keys, key{id: aws.ToString(m.AccessKeyId), status: string(m.Status), created: aws.ToTime(m.CreateDate)})
		}
		if !out.IsTruncated || out.Marker == nil {
			return keys, nil
		}
		in.Marker = out.Marker
	}
}

func (p *Provider) deleteKey(ctx context.Context, user, id string) error {
	_, err := p.cfg.IAM.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(user), AccessKeyId: aws.String(id)})
	if err != nil && !rotation.IsErrorCode(err, "NoSuchEntity") {
		return err
	}
	return nil
}

func hasKey(keys []key, id string) bool {
	for _, k := range keys {
		if k.id == id {
			return true
		}
	}
	return false
}

func statusOf(keys []key, id string) string {
	for _, k := range keys {
		if k.id == id {
			return k.status
		}
	}
	return "unknown"
}

func listOrNone(keys []key) string {
	if len(keys) == 0 {
		return "none"
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.String()
	}
	return strings.Join(parts, ", ")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
