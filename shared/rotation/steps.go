package rotation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/shared/notify"
)

// minPutTime is the least time the engine leaves PutSecretValue within
// StoreWithin; with less left it discards the credential instead.
const minPutTime = 5 * time.Second

// pending reads the value of the pending version; every step after
// createSecret needs one (RotateSecret's placeholder has none). It reads
// by version id alone: the guards established that the token's version
// holds AWSPENDING, and a concurrent delivery of finishSecret may have
// moved the label since (a version's value never changes).
func (e *Engine) pending(ctx context.Context, r *invocation) (*Version, error) {
	v, err := r.reader.Version(ctx, r.token, "")
	if err != nil {
		if errors.Is(err, ErrNoVersion) {
			return nil, fmt.Errorf("the pending version has no value yet: %w (run createSecret first)", err)
		}
		return nil, fmt.Errorf("pending version: %w", err)
	}
	return v, nil
}

// create runs createSecret. Order matters for crash safety:
//
//  1. Provider.Create makes the credential (and may destroy retired ones).
//  2. The retired credentials' lifecycle is ended (tags, then label), so a
//     crash before the put leaves the bookkeeping to the retry, whose Create
//     reports the same retired credentials again (it finds them gone).
//  3. PutSecretValue with the token stores the value, within StoreWithin of
//     step 1 or never. A failed put is resolved by reading the version back.
func (e *Engine) create(ctx context.Context, r *invocation, rotationToken string, log *slog.Logger) (Outcome, error) {
	pending, err := r.reader.Version(ctx, r.token, StagePending)
	if err == nil {
		log.Info("pending version already has a value", "pending", e.provider.Fingerprint(pending.Value))
		return OutcomeReplay, nil
	}
	if !errors.Is(err, ErrNoVersion) {
		return "", err
	}
	current, err := r.reader.Stage(ctx, StageCurrent)
	if err != nil {
		if errors.Is(err, ErrNoVersion) {
			return "", fmt.Errorf("%w: the secret has no AWSCURRENT value to rotate from; store the initial credential with aws secretsmanager put-secret-value --secret-id %s --secret-string file://secret.json", err, r.arn)
		}
		return "", err
	}
	emergency := r.tags[TagEmergency] == "true"
	if emergency {
		if err := e.recordLeaked(ctx, r, current, log); err != nil {
			return "", err
		}
	}
	start := e.now()
	resp, err := e.provider.Create(ctx, &CreateRequest{
		SecretID:  r.arn,
		Token:     r.token,
		Current:   current,
		Versions:  r.reader,
		Passwords: passwords{e},
		Emergency: emergency,
	})
	if err != nil {
		if errors.Is(err, ErrConcurrentDelivery) {
			if v := e.awaitPending(ctx, r); v != nil {
				log.Info("a concurrent delivery of createSecret stored the pending version", "pending", e.provider.Fingerprint(v.Value), "cause", err.Error())
				return OutcomeReplay, nil
			}
		}
		return "", providerErr("create", err)
	}
	if resp == nil || !isJSONObject(resp.Value) {
		return "", fmt.Errorf("%w: provider %s returned a pending value that is not a JSON object", ErrProvider, e.provider.Name())
	}
	e.redactor.AddSecretValue(resp.Value)
	fp := e.provider.Fingerprint(resp.Value)
	for _, rc := range resp.Retired {
		if err := e.retire(ctx, r, rc, log); err != nil {
			// The new credential was never stored: nothing can reference it.
			e.discard(ctx, r, resp.Value, true, log)
			return "", err
		}
	}
	elapsed := e.now().Sub(start)
	if elapsed > StoreWithin-minPutTime {
		e.discard(ctx, r, resp.Value, true, log)
		return "", fmt.Errorf("%w: creating pending credential %s took %s; the engine stores a credential within %s of creating it or never "+
			"(a concurrent delivery of this step may treat an older unstored credential as an orphan), so it was discarded: retry the rotation",
			ErrProvider, fp, elapsed.Round(time.Millisecond), StoreWithin)
	}
	in := &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(r.arn),
		ClientRequestToken: aws.String(r.token),
		SecretString:       aws.String(resp.Value),
		VersionStages:      []string{StagePending},
	}
	if rotationToken != "" {
		in.RotationToken = aws.String(rotationToken)
	}
	putCtx, cancel := context.WithTimeout(ctx, StoreWithin-elapsed)
	_, err = e.sm.PutSecretValue(putCtx, in)
	cancel()
	if err != nil {
		return e.putFailed(ctx, r, resp.Value, err, log)
	}
	e.remember(r.arn, r.token, resp.Value)
	log.Info("created pending version", "current", e.provider.Fingerprint(current.Value), "pending", fp)
	return OutcomeSuccess, nil
}

// recordLeaked adds the AWSCURRENT version to dualkey:state-leaked before
// an emergency rotation (tag dualkey:emergency=true) replaces it, so that
// the retire run switches off exactly that credential once it is
// AWSPREVIOUS, whether it runs before or after the rotation, and no alarm
// ever brings it back. dualkey rotate --emergency records it before the
// rotation starts: then this makes no call.
func (e *Engine) recordLeaked(ctx context.Context, r *invocation, current *Version, log *slog.Logger) error {
	list := LeakedVersions(r.tags)
	if slices.Contains(list, current.ID) {
		return nil
	}
	value := WithLeaked(list, current.ID)
	if _, err := e.sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(r.arn), Tags: []types.Tag{
		{Key: aws.String(TagStateLeaked), Value: aws.String(value)},
	}}); err != nil {
		return fmt.Errorf("record the leaked current version %s in tag %s before the emergency rotation (nothing was made; the function's role needs secretsmanager:TagResource on that tag key, "+
			"or record it with your own credentials and rotate: dualkey rotate --emergency %s): %w: %w", current.ID, TagStateLeaked, shellWord(r.name), ErrSecretsManager, err)
	}
	r.tags[TagStateLeaked] = value
	log.Warn("emergency rotation: the current credential is recorded as leaked", "version", current.ID, "current", e.provider.Fingerprint(current.Value), "tag", TagStateLeaked)
	return nil
}

// pollPending is how often awaitPending looks at the pending version.
const pollPending = time.Second

// awaitPending waits up to StoreWithin for a concurrent delivery of
// createSecret to store the pending version, and returns it; nil when none
// appeared (or it could not be read).
func (e *Engine) awaitPending(ctx context.Context, r *invocation) *Version {
	for waited := time.Duration(0); ; waited += pollPending {
		v, err := r.reader.Version(ctx, r.token, "")
		if err == nil {
			return v
		}
		if !errors.Is(err, ErrNoVersion) || waited >= StoreWithin {
			return nil
		}
		if e.sleep(ctx, pollPending) != nil {
			return nil
		}
	}
}

// putFailed resolves a PutSecretValue that reported an error by reading the
// pending version back. PutSecretValue with the token is the one atomic
// commit Secrets Manager offers: the version holds exactly one value.
func (e *Engine) putFailed(ctx context.Context, r *invocation, value string, putErr error, log *slog.Logger) (Outcome, error) {
	stored, err := r.reader.Version(ctx, r.token, StagePending)
	switch {
	case err == nil && stored.Value == value:
		// Only the reply was lost.
		log.Warn("put pending version reported an error but the value was stored", "error", putErr.Error())
		return OutcomeSuccess, nil
	case err == nil:
		// A concurrent delivery of this step stored its value first. Ours
		// can never be referenced: destroy it; the step is done.
		log.Warn("a concurrent delivery of createSecret stored the pending version first; destroying this delivery's credential",
			"pending", e.provider.Fingerprint(stored.Value), "discarded", e.provider.Fingerprint(value))
		e.discard(ctx, r, value, true, log)
		return OutcomeReplay, nil
	}
	// Nothing readable: the value may still have been stored, so the
	// credential must stay recoverable.
	e.discard(ctx, r, value, false, log)
	return "", fmt.Errorf("put pending version: %w: %w", ErrSecretsManager, putErr)
}

// discard asks the provider, when it is a Discarder, to remove a credential
// its Create made that the engine did not store.
func (e *Engine) discard(ctx context.Context, r *invocation, value string, destroy bool, log *slog.Logger) {
	d, ok := e.provider.(Discarder)
	if !ok {
		return
	}
	fp := e.provider.Fingerprint(value)
	if err := d.Discard(ctx, &DiscardRequest{SecretID: r.arn, Token: r.token, Value: value, Versions: r.reader, Destroy: destroy}); err != nil {
		log.Error("could not discard the credential that was not stored", "pending", fp, "destroy", destroy, "error", err)
		return
	}
	log.Info("discarded the credential that was not stored", "pending", fp, "destroy", destroy)
}

// retire ends the lifecycle of a credential Create destroyed to make room:
// the state tags first (dualkey:state=deleted for its version, no
// deactivation time), then the DUALKEY_DEACTIVATED label. A crash in
// between leaves the label, so the retry's Create reports the credential
// again and this runs again; writes already made are skipped.
func (e *Engine) retire(ctx context.Context, r *invocation, rc RetiredCredential, log *slog.Logger) error {
	st, ok := r.stages[rc.VersionID]
	if !ok || rc.VersionID == r.token || slices.Contains(st, StageCurrent) || slices.Contains(st, StagePending) {
		return fmt.Errorf("%w: provider %s reports that it destroyed the credential of version %s, which is not a retired version of the secret (stages %v)",
			ErrProvider, e.provider.Name(), printable(rc.VersionID), st)
	}
	reason := rc.Reason
	if reason == "" {
		reason = "deleted by createSecret to make room for the new credential"
	}
	if r.tags[TagState] != StateDeleted || r.tags[TagStateVersion] != rc.VersionID {
		tags := map[string]string{
			TagState:        StateDeleted,
			TagStateVersion: rc.VersionID,
			TagStateSince:   e.now().UTC().Format(time.RFC3339),
			TagStateNote:    TagValue(reason),
		}
		in := &secretsmanager.TagResourceInput{SecretId: aws.String(r.arn)}
		for _, k := range []string{TagState, TagStateVersion, TagStateSince, TagStateNote} {
			in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
		}
		if _, err := e.sm.TagResource(ctx, in); err != nil {
			return fmt.Errorf("record that credential %s of version %s was deleted (tag %s=%s): %w: %w",
				rc.Fingerprint, rc.VersionID, TagState, StateDeleted, ErrSecretsManager, err)
		}
		for k, v := range tags {
			r.tags[k] = v
		}
	}
	if slices.Contains(st, StageDeactivated) {
		if _, ok := r.tags[TagDeactivatedAt]; ok {
			if _, err := e.sm.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String(r.arn), TagKeys: []string{TagDeactivatedAt}}); err != nil {
				return fmt.Errorf("remove tag %s after credential %s of version %s was deleted: %w: %w", TagDeactivatedAt, rc.Fingerprint, rc.VersionID, ErrSecretsManager, err)
			}
			delete(r.tags, TagDeactivatedAt)
		}
		if _, err := e.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(r.arn), VersionStage: aws.String(StageDeactivated), RemoveFromVersionId: aws.String(rc.VersionID),
		}); err != nil {
			return fmt.Errorf("remove %s from version %s, whose credential %s was deleted: %w: %w", StageDeactivated, rc.VersionID, rc.Fingerprint, ErrSecretsManager, err)
		}
		r.stages[rc.VersionID] = slices.DeleteFunc(slices.Clone(st), func(s string) bool { return s == StageDeactivated })
	}
	log.Warn("createSecret deleted a retired credential to make room; its rollback window is over",
		"version", rc.VersionID, "retired", rc.Fingerprint, "reason", reason, "state", StateDeleted)
	e.metrics.Emit(map[string]string{"Provider": e.provider.Name(), "SecretName": r.name}, [][]string{{"SecretName"}},
		MetricDatum{Name: "CredentialDeleted", Unit: "Count", Value: 1})
	return nil
}

func (e *Engine) set(ctx context.Context, r *invocation, log *slog.Logger) (Outcome, error) {
	pending, err := e.pending(ctx, r)
	if err != nil {
		return "", err
	}
	if err := e.provider.Set(ctx, &SetRequest{SecretID: r.arn, Token: r.token, Pending: pending, Versions: r.reader}); err != nil {
		return "", providerErr("set", err)
	}
	log.Info("pending credential set at provider", "pending", e.provider.Fingerprint(pending.Value))
	return OutcomeSuccess, nil
}

func (e *Engine) test(ctx context.Context, r *invocation, log *slog.Logger) (Outcome, error) {
	pending, err := e.pending(ctx, r)
	if err != nil {
		return "", err
	}
	if err := e.provider.Test(ctx, &TestRequest{SecretID: r.arn, Token: r.token, Pending: pending, Versions: r.reader}); err != nil {
		return "", providerErr("test", err)
	}
	log.Info("pending credential verified", "pending", e.provider.Fingerprint(pending.Value))
	return OutcomeSuccess, nil
}

// finish moves AWSCURRENT to the pending version (AWSPREVIOUS follows) and
// removes AWSPENDING. A concurrent delivery may have done either already:
// a failed move is success when the token holds AWSCURRENT after all.
func (e *Engine) finish(ctx context.Context, r *invocation, log *slog.Logger) (Outcome, error) {
	pending, err := e.pending(ctx, r)
	if err != nil {
		return "", err
	}
	in := &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:        aws.String(r.arn),
		VersionStage:    aws.String(StageCurrent),
		MoveToVersionId: aws.String(r.token),
	}
	old := holder(r.stages, StageCurrent)
	if old != "" {
		in.RemoveFromVersionId = aws.String(old)
	}
	if _, err := e.sm.UpdateSecretVersionStage(ctx, in); err != nil {
		stages, derr := e.stagesNow(ctx, r)
		if derr != nil || !slices.Contains(stages[r.token], StageCurrent) {
			return "", fmt.Errorf("move AWSCURRENT to %s: %w: %w", r.token, ErrSecretsManager, err)
		}
		r.stages = stages
		if slices.Contains(stages[r.token], StagePending) {
			if err := e.removePending(ctx, r); err != nil {
				return "", err
			}
		}
		log.Info("a concurrent delivery of finishSecret promoted the pending version already", "current", e.provider.Fingerprint(pending.Value))
		return OutcomeReplay, nil
	}
	if err := e.removePending(ctx, r); err != nil {
		return "", err
	}
	log.Info("promoted pending version to AWSCURRENT", "previous_version", old, "current", e.provider.Fingerprint(pending.Value))
	e.afterPromotion(ctx, r, old, pending, log)
	return OutcomeSuccess, nil
}

// afterPromotion tells the consumers that AWSCURRENT moved: it redeploys
// the ECS services the dualkey:refresh tag names (recording the outcome in
// dualkey:state-refresh) and publishes "Secret Rotated". Neither undoes
// the rotation: a failure is logged with the fix and counted
// (RefreshFailed, EventPublishFailed). Once dualkey:state-refresh names
// the token, a repeated finishSecret does neither again.
func (e *Engine) afterPromotion(ctx context.Context, r *invocation, previous string, current *Version, log *slog.Logger) {
	if notify.RefreshedVersion(r.tags[notify.TagRefreshState]) == r.token {
		return
	}
	dims := map[string]string{"Provider": e.provider.Name(), "SecretName": r.name}
	refresh, err := e.refresher.FromTags(ctx, r.token, r.tags)
	if refresh != nil {
		if _, terr := e.sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(r.arn), Tags: []types.Tag{
			{Key: aws.String(notify.TagRefreshState), Value: aws.String(refresh.Note())},
		}}); terr != nil {
			log.Warn("could not record the refresh", "tag", notify.TagRefreshState, "error", terr.Error())
		}
	}
	if err != nil {
		log.Error("refresh after promotion failed; the rotation stands", "error", e.redactor.Redact(err.Error()))
		e.metrics.Emit(dims, [][]string{{"SecretName"}}, MetricDatum{Name: "RefreshFailed", Unit: "Count", Value: 1})
	} else if refresh != nil {
		log.Info("refreshed consumers after promotion", "refresh", refresh.Note())
	}
	ev := notify.Event{
		DetailType: notify.SecretRotated, SecretARN: r.arn, SecretName: r.name, Provider: e.provider.Name(),
		Versions:     map[string]string{notify.RoleCurrent: r.token, notify.RolePrevious: previous},
		Fingerprints: map[string]string{}, UsageFingerprints: map[string]string{},
		Reason: "rotation", Refresh: refresh, Time: e.now(),
	}
	if r.tags[TagEmergency] == "true" {
		ev.Reason = "emergency rotation: the previous credential leaked"
	}
	add := func(role, value string) {
		ev.Fingerprints[role] = e.provider.Fingerprint(value)
		if f, ok := e.provider.(UsageFingerprinter); ok {
			ev.UsageFingerprints[role] = f.UsageFingerprint(value)
		}
	}
	if current != nil {
		add(notify.RoleCurrent, current.Value)
	} else if v, ok := e.cached(r.arn, r.token); ok {
		add(notify.RoleCurrent, v)
	}
	if v, ok := e.cached(r.arn, previous); ok && previous != "" {
		add(notify.RolePrevious, v)
	}
	if _, err := e.events.Publish(ctx, ev); err != nil {
		log.Error("event not published; the rotation stands", "detail_type", notify.SecretRotated, "error", e.redactor.Redact(err.Error()))
		e.metrics.Emit(dims, [][]string{{"SecretName"}}, MetricDatum{Name: "EventPublishFailed", Unit: "Count", Value: 1})
	}
}

// removePending removes AWSPENDING from the token's version; it is success
// when a concurrent delivery removed it first.
func (e *Engine) removePending(ctx context.Context, r *invocation) error {
	_, err := e.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(r.arn),
		VersionStage:        aws.String(StagePending),
		RemoveFromVersionId: aws.String(r.token),
	})
	if err == nil {
		return nil
	}
	if stages, derr := e.stagesNow(ctx, r); derr == nil && !slices.Contains(stages[r.token], StagePending) {
		return nil
	}
	return fmt.Errorf("remove AWSPENDING from %s: %w: %w", r.token, ErrSecretsManager, err)
}

// TagValue makes s fit a Secrets Manager tag value: the characters tags
// allow (letters, digits, spaces and _ . : / = + - @), at most 256.
func TagValue(s string) string {
	b := make([]rune, 0, len(s))
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.ContainsRune(" _.:/=+-@", c):
			b = append(b, c)
		default:
			b = append(b, ' ')
		}
	}
	out := strings.Join(strings.Fields(string(b)), " ")
	if len(out) > 256 {
		out = out[:256]
	}
	return out
}
