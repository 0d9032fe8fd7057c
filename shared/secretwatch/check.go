package secretwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// check describes the secret, reads the labelled versions never read
// before, and installs the new set. started is when the check began; it
// becomes lastSuccess on success. On error nothing changes.
func (w *Watcher[T]) check(ctx context.Context, started time.Time) error {
	id := w.cfg.SecretID
	w.mu.Lock()
	w.stats.DescribeCalls++
	w.mu.Unlock()
	out, err := w.api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		return fmt.Errorf("describe secret %q: %w", id, err)
	}
	if out == nil {
		return fmt.Errorf("describe secret %q: empty response", id)
	}
	if out.DeletedDate != nil {
		return fmt.Errorf("secret %q is scheduled for deletion (since %s): restore it with RestoreSecret or point Config.SecretID at a live secret",
			id, out.DeletedDate.UTC().Format(time.RFC3339))
	}
	labels, err := w.labelMap(out.VersionIdsToStages)
	if err != nil {
		return fmt.Errorf("secret %q: %w", id, err)
	}
	first := w.cfg.Stages[0]
	if labels[0] == "" {
		return fmt.Errorf("secret %q has no %s version", id, first)
	}

	var missing []string
	w.mu.RLock()
	for _, vid := range labels {
		if vid != "" && w.versions[vid] == nil && !slices.Contains(missing, vid) {
			missing = append(missing, vid)
		}
	}
	w.mu.RUnlock()
	read, err := w.readVersions(ctx, labels, missing)
	if err != nil {
		return err
	}
	w.mu.RLock()
	cur := read[labels[0]]
	if cur == nil {
		cur = w.versions[labels[0]]
	}
	w.mu.RUnlock()
	if cur == nil {
		return fmt.Errorf("%s version %s of secret %q has no value (it moved during the check?); retrying at the next check", first, labels[0], id)
	}
	if cur.problem != "" {
		return fmt.Errorf("%s version %s of secret %q: %s", first, labels[0], id, cur.problem)
	}
	w.install(labels, read, aws.ToString(out.Name), started)
	return nil
}

// labelMap turns DescribeSecret's VersionIdsToStages into the version id
// per kept stage ("" where no version carries the label).
func (w *Watcher[T]) labelMap(m map[string][]string) ([]string, error) {
	labels := make([]string, len(w.cfg.Stages))
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, st := range m[id] {
			for i, want := range w.cfg.Stages {
				if st != want {
					continue
				}
				if labels[i] != "" && labels[i] != id {
					return labels, fmt.Errorf("label %s is on two versions (%s and %s)", st, shortID(labels[i]), shortID(id))
				}
				labels[i] = id
			}
		}
	}
	return labels, nil
}

// readVersions reads the given versions concurrently. A version whose
// value Decode refuses is returned with its problem set (and never read
// again); a version without a value is left out (and read again next
// time); any other error fails the whole check, so a transient error
// cannot change the set, except for a version after Stages[0] with
// SkipUnreadable, which is left out and logged.
func (w *Watcher[T]) readVersions(ctx context.Context, labels, ids []string) (map[string]*version[T], error) {
	read := make(map[string]*version[T], len(ids))
	if len(ids) == 0 {
		return read, nil
	}
	w.mu.Lock()
	w.stats.GetValueCalls += uint64(len(ids))
	w.mu.Unlock()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, id := range ids {
		stage := w.cfg.Stages[slices.Index(labels, id)]
		wg.Go(func() {
			v, err := w.readVersion(ctx, id, stage)
			if err != nil && w.cfg.SkipUnreadable && id != labels[0] {
				if w.cfg.Messages.Unusable != "" {
					w.log.Warn(w.cfg.Messages.Unusable, "stage", stage, "version", shortID(id), "problem", err.Error())
				}
				v, err = nil, nil
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err)
			case v != nil:
				read[id] = v
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return read, nil
}

// readVersion reads one version; (nil, nil) means it has no value.
func (w *Watcher[T]) readVersion(ctx context.Context, id, stage string) (*version[T], error) {
	out, err := w.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:  aws.String(w.cfg.SecretID),
		VersionId: aws.String(id),
	})
	if err != nil {
		if IsNotFound(err) {
			// RotateSecret's placeholder: labelled AWSPENDING before
			// createSecret stores a value (or left behind by a failed
			// createSecret). Also a version deleted since DescribeSecret.
			// Either way it holds nothing now; it is read again next check.
			return nil, nil
		}
		return nil, fmt.Errorf("get version %s of secret %q: %w", id, w.cfg.SecretID, err)
	}
	if out == nil || aws.ToString(out.VersionId) != id {
		return nil, fmt.Errorf("get version %s of secret %q: response is for version %q", id, w.cfg.SecretID, aws.ToString(out.VersionId))
	}
	v := &version[T]{id: id}
	switch {
	case out.SecretString == nil:
		v.problem = "no SecretString (binary secrets are not supported)"
	default:
		value, err := w.cfg.Decode(*out.SecretString)
		if err != nil {
			v.problem = err.Error()
			break
		}
		v.value = value
		if w.cfg.Describe != nil {
			v.describe = w.cfg.Describe(value)
		}
	}
	if v.problem != "" && w.cfg.Messages.Unusable != "" {
		w.log.Warn(w.cfg.Messages.Unusable, "stage", stage, "version", shortID(id), "problem", v.problem)
	}
	return v, nil
}

// install makes labels (with the newly read versions) the set.
func (w *Watcher[T]) install(labels []string, read map[string]*version[T], name string, now time.Time) {
	stages := w.cfg.Stages
	w.mu.Lock()
	for id, v := range read {
		w.versions[id] = v
	}
	stageOf := make(map[string]string, len(stages))
	entries := make([]Entry[T], 0, len(stages))
	for i, id := range labels {
		v := w.versions[id]
		if id == "" || v == nil || stageOf[id] != "" {
			continue
		}
		stageOf[id] = stages[i]
		if v.problem != "" {
			continue
		}
		entries = append(entries, Entry[T]{VersionID: id, Stage: stages[i], Value: v.value, v: v})
	}
	var retired []*version[T]
	for id, v := range w.versions {
		if st := stageOf[id]; st != "" {
			v.stage, v.retiredAt = st, time.Time{}
			continue
		}
		if v.stage != "" || v.retiredAt.IsZero() {
			v.stage, v.retiredAt = "", now
		}
		retired = append(retired, v)
	}
	if len(retired) > maxRetired {
		sort.Slice(retired, func(i, j int) bool { return retired[i].retiredAt.After(retired[j].retiredAt) })
		for _, v := range retired[maxRetired:] {
			delete(w.versions, v.id)
		}
	}
	changed := !slices.Equal(labels, w.labels)
	w.labels = labels
	w.entries = entries
	w.lastSuccess = now
	if name != "" {
		w.secretName = name
	}
	w.mu.Unlock()

	attrs := make([]any, 0, len(entries))
	for _, e := range entries {
		attrs = append(attrs, slog.String(e.Stage, shortID(e.VersionID)+" "+e.v.describe))
	}
	switch {
	case changed && w.cfg.Messages.Updated != "":
		w.log.Info(w.cfg.Messages.Updated, attrs...)
	case !changed && w.cfg.Messages.Unchanged != "":
		w.log.Debug(w.cfg.Messages.Unchanged, attrs...)
	}
}
