package iamkey

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/dualkey/dualkey/shared/rotation"
)

// credential decodes the version of a lifecycle request.
func credential(req *rotation.CredentialRequest) (*Secret, error) {
	if req == nil || req.Version == nil {
		return nil, errors.New("iamkey: the request names no version")
	}
	s, err := parseRef(req.Version.Value)
	if err != nil {
		return nil, fmt.Errorf("version %s: %w", req.Version.ID, err)
	}
	return s, nil
}

// refuseLive stops an operation that would switch off the key of the
// version that is AWSCURRENT or AWSPENDING.
func refuseLive(op string, req *rotation.CredentialRequest, s *Secret) error {
	for _, st := range req.Version.Stages {
		if st == rotation.StageCurrent || st == rotation.StagePending {
			return fmt.Errorf("refusing to %s access key %s of IAM user %q: its version %s is %s", op, s.AccessKeyID, s.UserName, req.Version.ID, st)
		}
	}
	return nil
}

func (p *Provider) setStatus(ctx context.Context, s *Secret, status types.StatusType) error {
	_, err := p.cfg.IAM.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
		UserName: aws.String(s.UserName), AccessKeyId: aws.String(s.AccessKeyID), Status: status,
	})
	return err
}

// Deactivate implements rotation.Deactivator: the key becomes Inactive
// (already Inactive is success). It refuses the key of an AWSCURRENT or
// AWSPENDING version, and fails with ErrNoSuchKey when the key is gone.
func (p *Provider) Deactivate(ctx context.Context, req *rotation.CredentialRequest) error {
	s, err := p.managedCredential(ctx, req)
	if err != nil {
		return err
	}
	if err := refuseLive("deactivate", req, s); err != nil {
		return err
	}
	if err := p.setStatus(ctx, s, types.StatusTypeInactive); err != nil {
		if rotation.IsErrorCode(err, "NoSuchEntity") {
			return fmt.Errorf("deactivate access key %s of IAM user %q: %w (it was deleted already)", s.AccessKeyID, s.UserName, ErrNoSuchKey)
		}
		return fmt.Errorf("deactivate access key %s of IAM user %q: %w", s.AccessKeyID, s.UserName, err)
	}
	p.log.Info("deactivated access key", "secret", req.SecretID, "version", req.Version.ID, "user", s.UserName, "access_key_id", s.AccessKeyID)
	return nil
}

// Reactivate implements rotation.Deactivator: the key becomes Active again
// (already Active is success); a deleted key fails with ErrNoSuchKey.
func (p *Provider) Reactivate(ctx context.Context, req *rotation.CredentialRequest) error {
	s, err := p.managedCredential(ctx, req)
	if err != nil {
		return err
	}
	if err := p.setStatus(ctx, s, types.StatusTypeActive); err != nil {
		if rotation.IsErrorCode(err, "NoSuchEntity") {
			return fmt.Errorf("reactivate access key %s of IAM user %q: %w: it was deleted and cannot come back; rotate the secret to get a new key", s.AccessKeyID, s.UserName, ErrNoSuchKey)
		}
		return fmt.Errorf("reactivate access key %s of IAM user %q: %w", s.AccessKeyID, s.UserName, err)
	}
	p.log.Info("reactivated access key", "secret", req.SecretID, "version", req.Version.ID, "user", s.UserName, "access_key_id", s.AccessKeyID)
	return nil
}

// Delete implements rotation.Deleter: the key is deleted (already gone is
// success). It refuses the key of an AWSCURRENT or AWSPENDING version.
func (p *Provider) Delete(ctx context.Context, req *rotation.CredentialRequest) error {
	s, err := p.managedCredential(ctx, req)
	if err != nil {
		return err
	}
	if err := refuseLive("delete", req, s); err != nil {
		return err
	}
	if err := p.deleteKey(ctx, s.UserName, s.AccessKeyID); err != nil {
		return fmt.Errorf("delete access key %s of IAM user %q: %w", s.AccessKeyID, s.UserName, err)
	}
	p.log.Info("deleted access key", "secret", req.SecretID, "version", req.Version.ID, "user", s.UserName, "access_key_id", s.AccessKeyID)
	return nil
}

// LastUsed implements rotation.UsageReporter with IAM's record of the key's
// last use. IAM keeps it to the minute (Usage.Granularity) and may lag by
// hours.
func (p *Provider) LastUsed(ctx context.Context, req *rotation.CredentialRequest) (*rotation.Usage, error) {
	s, err := p.managedCredential(ctx, req)
	if err != nil {
		return nil, err
	}
	out, err := p.cfg.IAM.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(s.AccessKeyID)})
	if err != nil {
		if rotation.IsErrorCode(err, "NoSuchEntity") {
			return nil, fmt.Errorf("last use of access key %s of IAM user %q: %w", s.AccessKeyID, s.UserName, ErrNoSuchKey)
		}
		return nil, fmt.Errorf("last use of access key %s of IAM user %q: %w", s.AccessKeyID, s.UserName, err)
	}
	if owner := aws.ToString(out.UserName); owner != "" && !strings.EqualFold(owner, s.UserName) {
		return nil, fmt.Errorf("access key %s belongs to IAM user %q, not to %q named by user_name", s.AccessKeyID, printable(owner), s.UserName)
	}
	u := out.AccessKeyLastUsed
	if u == nil || u.LastUsedDate == nil {
		return &rotation.Usage{Known: true, Detail: "never used", Granularity: time.Minute}, nil
	}
	at := aws.ToTime(u.LastUsedDate).UTC()
	return &rotation.Usage{
		Known:       true,
		LastUsed:    at,
		Granularity: time.Minute, // IAM keeps the minute: a use at 04:05 stands for 04:05:00-04:05:59
		Detail:      fmt.Sprintf("last used %s via %s in %s", at.Format(time.RFC3339), printable(aws.ToString(u.ServiceName)), printable(aws.ToString(u.Region))),
	}, nil
}

// Credentials implements rotation.Auditor: every access key of the user the
// version names, with IAM's status and creation time.
func (p *Provider) Credentials(ctx context.Context, req *rotation.CredentialRequest) ([]rotation.Credential, error) {
	s, err := p.managedCredential(ctx, req)
	if err != nil {
		return nil, err
	}
	keys, err := p.listKeys(ctx, s.UserName)
	if err != nil {
		return nil, err
	}
	out := make([]rotation.Credential, len(keys))
	for i, k := range keys {
		out[i] = rotation.Credential{Fingerprint: k.id, Status: k.status, Created: k.created}
	}
	return out, nil
}

// managedCredential decodes the version of a lifecycle request and checks
// that its user is tagged dualkey:managed=true.
func (p *Provider) managedCredential(ctx context.Context, req *rotation.CredentialRequest) (*Secret, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	s, err := credential(req)
	if err != nil {
		return nil, err
	}
	if _, err := p.managedUser(ctx, s.UserName); err != nil {
		return nil, err
	}
	return s, nil
}
