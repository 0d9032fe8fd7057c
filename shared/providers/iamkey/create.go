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

// Create implements rotation.Provider: it creates a second access key for
// the user and returns the current value with the new key id and secret.
//
// It refuses a user that is not tagged dualkey:managed=true before any IAM
// write. Before creating, it makes room, touching only keys it can prove are
// its own:
//
//   - a key that no version references, created during this rotation, never
//     used and older than rotation.OrphanAge is the orphan of an earlier
//     attempt whose value was never stored (the engine stores a value
//     within rotation.StoreWithin of Create or never) and is deleted; a
//     younger one may belong to a concurrent delivery of this step that is
//     still storing it, so Create fails with ErrConcurrentDelivery and
//     changes nothing;
//   - when the user is at IAM's limit of two keys, the key other than the
//     current one is deleted only if it is Inactive and held by the version
//     labelled DUALKEY_DEACTIVATED (dualkey retired it).
//
// Any other key stops the rotation with an error that says what to do. The
// response's Retired names the DUALKEY_DEACTIVATED version whose key is
// gone, whether this call deleted it or an earlier attempt did, so the
// engine ends that version's lifecycle.
func (p *Provider) Create(ctx context.Context, req *rotation.CreateRequest) (*rotation.CreateResponse, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	cur, err := Parse(req.Current.Value)
	if err != nil {
		return nil, fmt.Errorf("current version: %w", err)
	}
	user := cur.UserName
	if _, err := p.managedUser(ctx, user); err != nil {
		return nil, err
	}
	keys, err := p.listKeys(ctx, user)
	if err != nil {
		return nil, err
	}
	r := newRefs(req, cur)
	haveCurrent := false
	var others []key
	for _, k := range keys {
		if k.id == cur.AccessKeyID {
			haveCurrent = true
		} else {
			others = append(others, k)
		}
	}
	if !haveCurrent && !req.Emergency {
		return nil, fmt.Errorf("the current access key %s is not a key of IAM user %q (its keys: %s); "+
			"check user_name and access_key_id of AWSCURRENT, or, if the key was deleted on purpose, tag the secret %s=true to rotate anyway",
			cur.AccessKeyID, user, listOrNone(keys), rotation.TagEmergency)
	}

	// The retired key an earlier attempt deleted already.
	var retired []rotation.RetiredCredential
	if id, err := r.id(ctx, rotation.StageDeactivated); err != nil {
		return nil, err
	} else if id != "" && id != cur.AccessKeyID && strings.EqualFold(r.users[rotation.StageDeactivated], user) && !hasKey(keys, id) &&
		r.vers[rotation.StageDeactivated] != r.vers[rotation.StageCurrent] {
		retired = append(retired, rotation.RetiredCredential{
			VersionID:   r.vers[rotation.StageDeactivated],
			Fingerprint: id,
			Reason:      fmt.Sprintf("access key %s of IAM user %s no longer exists: an earlier attempt of this rotation or the retire function deleted it", id, user),
		})
	}

	// Keys no version references: an orphan, a concurrent delivery's, or someone else's.
	var remaining []key
	for _, k := range others {
		ok, err := r.referenced(ctx, k.id)
		if err != nil {
			return nil, err
		}
		if ok {
			remaining = append(remaining, k)
			continue
		}
		if err := p.unreferenced(ctx, req, r, user, k, keys); err != nil {
			return nil, err
		}
		if err := p.deleteKey(ctx, user, k.id); err != nil {
			return nil, fmt.Errorf("delete access key %s of IAM user %q, left by an earlier attempt of this rotation: %w", k.id, user, err)
		}
		p.log.Info("deleted the access key left by an earlier attempt of this rotation; its secret was never stored",
			"secret", req.SecretID, "token", req.Token, "user", user, "access_key_id", k.id)
	}

	// IAM's limit of two keys.
	if n := len(remaining) + boolInt(haveCurrent); n >= maxKeysPerUser {
		deactivated, err := r.id(ctx, rotation.StageDeactivated)
		if err != nil {
			return nil, err
		}
		var victim *key
		for i, k := range remaining {
			if k.status == statusInactive && k.id == deactivated {
				victim = &remaining[i]
				break
			}
		}
		if victim == nil {
			all := remaining
			if haveCurrent {
				all = append([]key{{id: cur.AccessKeyID, status: statusOf(keys, cur.AccessKeyID)}}, remaining...)
			}
			return nil, fmt.Errorf("IAM user %q already has %d access keys, the most IAM allows, and none of them was retired by dualkey: %s; "+
				"dualkey deletes only a key that is Inactive and held by the version labelled %s, so no new key was created: %s",
				user, n, r.describe(ctx, all), rotation.StageDeactivated, p.limitFixes(ctx, r, req.SecretID, user, remaining))
		}
		if err := p.deleteKey(ctx, user, victim.id); err != nil {
			return nil, fmt.Errorf("delete retired access key %s of IAM user %q to make room for a new key: %w", victim.id, user, err)
		}
		p.log.Info("deleted the retired access key to make room for the new one",
			"secret", req.SecretID, "token", req.Token, "user", user, "access_key_id", victim.id, "version", r.vers[rotation.StageDeactivated])
		retired = append(retired, rotation.RetiredCredential{
			VersionID:   r.vers[rotation.StageDeactivated],
			Fingerprint: victim.id,
			Reason:      fmt.Sprintf("access key %s of IAM user %s deleted to make room for a new key: IAM allows two per user", victim.id, user),
		})
	}

	out, err := p.cfg.IAM.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		if rotation.IsErrorCode(err, "LimitExceeded") {
			return nil, fmt.Errorf("create access key for IAM user %q: %w: the user has two keys again, probably one made by a concurrent delivery of this step; "+
				"the rotation succeeds when retried: %w", user, ErrConcurrentDelivery, err)
		}
		return nil, fmt.Errorf("create access key for IAM user %q: %w", user, err)
	}
	if out.AccessKey == nil || aws.ToString(out.AccessKey.AccessKeyId) == "" || aws.ToString(out.AccessKey.SecretAccessKey) == "" {
		return nil, fmt.Errorf("create access key for IAM user %q: IAM returned no key", user)
	}
	id := aws.ToString(out.AccessKey.AccessKeyId)
	value, err := rotation.MergeSecret(req.Current.Value, map[string]any{
		"access_key_id":     id,
		"secret_access_key": aws.ToString(out.AccessKey.SecretAccessKey),
	})
	if err != nil {
		if derr := p.deleteKey(ctx, user, id); derr != nil {
			return nil, fmt.Errorf("build the pending value: %w (and delete the new access key %s of IAM user %q: %v)", err, id, user, derr)
		}
		return nil, fmt.Errorf("build the pending value: %w", err)
	}
	p.log.Info("created access key", "secret", req.SecretID, "token", req.Token, "user", user, "access_key_id", id)
	return &rotation.CreateResponse{Value: value, Retired: retired}, nil
}

// unreferenced decides about k, a key of the user that no version
// references. It returns nil when k is provably the orphan of an earlier
// attempt of this rotation (created after the pending version, never used,
// older than rotation.OrphanAge, and still not stored): Create deletes it.
// Otherwise it returns the error that stops the rotation.
func (p *Provider) unreferenced(ctx context.Context, req *rotation.CreateRequest, r *refs, user string, k key, keys []key) error {
	foreign := func() error {
		return fmt.Errorf("IAM user %q has access key %s that no version of the secret references and that was not created by this rotation "+
			"(keys of the user: %s); dualkey does not touch keys it does not manage: if nothing uses %s (a leftover of an abandoned rotation is never used), "+
			"delete it with \"aws iam delete-access-key --user-name %s --access-key-id %s\" and rotate again, otherwise give the secret an IAM user of its own",
			user, k.id, r.describe(ctx, keys), k.id, user, k.id)
	}
	if k.created.IsZero() {
		return foreign()
	}
	pendingCreated, err := req.Versions.Created(ctx, req.Token)
	if err != nil {
		return fmt.Errorf("IAM user %q has access key %s that no version references; to tell whether an earlier attempt of this rotation left it, "+
			"read when the pending version was created: %w", user, k.id, err)
	}
	if k.created.Before(pendingCreated.Add(-orphanSkew)) {
		return foreign()
	}
	out, err := p.cfg.IAM.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(k.id)})
	switch {
	case rotation.IsErrorCode(err, "NoSuchEntity"):
		return nil // gone already: deleting it again succeeds
	case err != nil:
		return fmt.Errorf("last use of access key %s of IAM user %q: %w", k.id, user, err)
	case out.AccessKeyLastUsed != nil && out.AccessKeyLastUsed.LastUsedDate != nil:
		return foreign()
	}
	if age := p.cfg.Now().Sub(k.created); age < rotation.OrphanAge {
		retry := k.created.Add(rotation.OrphanAge).UTC()
		return fmt.Errorf("%w: another delivery of this step created access key %s of IAM user %q at %s and may still store it "+
			"(a delivery stores its key within %s or never); nothing was changed: retry after %s, when the key is either stored or provably an orphan",
			ErrConcurrentDelivery, k.id, user, k.created.UTC().Format(time.RFC3339), rotation.StoreWithin, retry.Format(time.RFC3339))
	}
	// Old enough to be an orphan, unless the pending version was stored
	// meanwhile (a delivery slower than this one).
	if v, err := req.Versions.Stage(ctx, rotation.StagePending); err == nil && keyID(v.Value) == k.id {
		return fmt.Errorf("%w: access key %s of IAM user %q was stored as the pending version by another delivery of this step; "+
			"nothing was changed: retry, and createSecret finds its work done", ErrConcurrentDelivery, k.id, user)
	} else if err != nil && !errors.Is(err, rotation.ErrNoVersion) {
		return fmt.Errorf("read the pending version before deleting access key %s of IAM user %q: %w", k.id, user, err)
	}
	return nil
}

// limitFixes says how to free a slot for each key other than the current one.
func (p *Provider) limitFixes(ctx context.Context, r *refs, secretID, user string, keys []key) string {
	deactivatedID, _ := r.id(ctx, rotation.StageDeactivated)
	deactivatedVer := r.vers[rotation.StageDeactivated]
	label := func(version string) string {
		cmd := fmt.Sprintf("aws secretsmanager update-secret-version-stage --secret-id %s --version-stage %s --move-to-version-id %s",
			secretID, rotation.StageDeactivated, version)
		if deactivatedVer != "" && deactivatedVer != version {
			cmd += " --remove-from-version-id " + deactivatedVer
		}
		return "\"" + cmd + "\""
	}
	deactivate := func(id string) string {
		return fmt.Sprintf("\"aws iam update-access-key --user-name %s --access-key-id %s --status Inactive\"", user, id)
	}
	var fixes []string
	for _, k := range keys {
		previousID, _ := r.id(ctx, rotation.StagePrevious)
		switch {
		case k.id == deactivatedID:
			fixes = append(fixes, fmt.Sprintf("%s is labelled %s but %s: if nothing uses it any more, deactivate it with %s and rotate again",
				k.id, rotation.StageDeactivated, k.status, deactivate(k.id)))
		case k.id == previousID && k.status == statusInactive:
			fixes = append(fixes, fmt.Sprintf("%s is Inactive but its version %s is not labelled %s: run \"dualkey retire %s\", or label it with %s, and rotate again",
				k.id, r.vers[rotation.StagePrevious], rotation.StageDeactivated, secretID, label(r.vers[rotation.StagePrevious])))
		case k.id == previousID:
			fixes = append(fixes, fmt.Sprintf("%s is still Active: once nothing uses it any more (the drain window), run \"dualkey retire %s\", "+
				"or deactivate it with %s and label its version with %s, and rotate again",
				k.id, secretID, deactivate(k.id), label(r.vers[rotation.StagePrevious])))
		default:
			fixes = append(fixes, fmt.Sprintf("delete %s with \"aws iam delete-access-key --user-name %s --access-key-id %s\" once nothing uses it, and rotate again",
				k.id, user, k.id))
		}
	}
	return strings.Join(fixes, "; ")
}

// Discard implements rotation.Discarder for a key whose pending value the
// engine did not store. With req.Destroy (no version can ever reference the
// key: a concurrent delivery stored another value, or the engine gave up
// storing it) the key is deleted. Otherwise it is deactivated rather than
// deleted: when PutSecretValue's reply is lost the value may have been
// stored after all, and a deleted key's secret could never be recovered. A
// stored key is switched on again by Set; an unstored one is unreferenced,
// new and never used, so a later Create deletes it as an orphan. A key that
// is already gone is success.
func (p *Provider) Discard(ctx context.Context, req *rotation.DiscardRequest) error {
	if err := p.ready(); err != nil {
		return err
	}
	s, err := parseRef(req.Value)
	if err != nil {
		return fmt.Errorf("discarded value: %w", err)
	}
	if req.Destroy {
		if err := p.deleteKey(ctx, s.UserName, s.AccessKeyID); err != nil {
			return fmt.Errorf("delete access key %s of IAM user %q that can never be stored: %w", s.AccessKeyID, s.UserName, err)
		}
		p.log.Info("deleted the new access key that no version can reference",
			"secret", req.SecretID, "token", req.Token, "user", s.UserName, "access_key_id", s.AccessKeyID)
		return nil
	}
	_, err = p.cfg.IAM.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
		UserName: aws.String(s.UserName), AccessKeyId: aws.String(s.AccessKeyID), Status: types.StatusTypeInactive,
	})
	if err != nil {
		if rotation.IsErrorCode(err, "NoSuchEntity") {
			return nil
		}
		return fmt.Errorf("deactivate access key %s of IAM user %q that could not be stored: %w", s.AccessKeyID, s.UserName, err)
	}
	p.log.Warn("deactivated the new access key whose pending version could not be stored; a retry deletes it, or reactivates it if it was stored after all",
		"secret", req.SecretID, "token", req.Token, "user", s.UserName, "access_key_id", s.AccessKeyID)
	return nil
}

// refs finds which labelled versions reference a key. Versions are read
// lazily: a plain rotation of a user with one key reads none of them.
type refs struct {
	req    *rotation.CreateRequest
	loaded map[string]bool
	ids    map[string]string // stage -> access key id
	users  map[string]string // stage -> user_name
	vers   map[string]string // stage -> version id
}

func newRefs(req *rotation.CreateRequest, current *Secret) *refs {
	r := &refs{
		req:    req,
		loaded: map[string]bool{rotation.StageCurrent: true},
		ids:    map[string]string{rotation.StageCurrent: current.AccessKeyID},
		users:  map[string]string{rotation.StageCurrent: current.UserName},
		vers:   map[string]string{},
	}
	if req.Current != nil {
		r.vers[rotation.StageCurrent] = req.Current.ID
	}
	return r
}

// id returns the access key id of the version holding stage ("" if none).
func (r *refs) id(ctx context.Context, stage string) (string, error) {
	if r.loaded[stage] {
		return r.ids[stage], nil
	}
	v, err := r.req.Versions.Stage(ctx, stage)
	switch {
	case errors.Is(err, rotation.ErrNoVersion):
	case err != nil:
		return "", fmt.Errorf("read the %s version: %w", stage, err)
	default:
		r.ids[stage] = keyID(v.Value)
		r.users[stage] = userName(v.Value)
		r.vers[stage] = v.ID
	}
	r.loaded[stage] = true
	return r.ids[stage], nil
}

// referenced reports whether a version labelled AWSPREVIOUS or
// DUALKEY_DEACTIVATED holds id, reading AWSPREVIOUS only when needed.
func (r *refs) referenced(ctx context.Context, id string) (bool, error) {
	for _, stage := range []string{rotation.StageDeactivated, rotation.StagePrevious} {
		got, err := r.id(ctx, stage)
		if err != nil {
			return false, err
		}
		if got == id {
			return true, nil
		}
	}
	return false, nil
}

// labels describes which labels reference id, for error messages.
func (r *refs) labels(ctx context.Context, id string) string {
	var out []string
	for _, stage := range []string{rotation.StageCurrent, rotation.StagePrevious, rotation.StageDeactivated} {
		if got, err := r.id(ctx, stage); err == nil && got == id {
			out = append(out, stage)
		}
	}
	if len(out) == 0 {
		return "referenced by no version of the secret"
	}
	return "held by " + strings.Join(out, " and ")
}

func (r *refs) describe(ctx context.Context, keys []key) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s (%s, %s)", k.id, k.status, r.labels(ctx, k.id))
	}
	return strings.Join(parts, ", ")
}
