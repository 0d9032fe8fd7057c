package rotationtest

import (
	"context"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/rotation"
)

// CheckInvariants asserts what must hold at any moment.
func (env *Env) CheckInvariants(ctx context.Context, arn string) {
	env.t.Helper()
	labels := env.Labels(ctx, arn)
	pending := 0
	for _, st := range labels {
		if slices.Contains(st, rotation.StagePending) {
			pending++
		}
	}
	if pending > 1 {
		env.t.Fatalf("%d versions hold AWSPENDING", pending)
	}
	cur := env.Value(ctx, arn, rotation.StageCurrent)
	if cur == "" {
		env.t.Fatalf("no AWSCURRENT value")
	}
	if err := env.Fixture.Works(ctx, cur); err != nil {
		env.t.Fatalf("AWSCURRENT credential does not work at the provider: %v", err)
	}
}

// CheckFinal asserts the state after a completed rotation to token from old.
func (env *Env) CheckFinal(ctx context.Context, arn, old, token string) {
	env.t.Helper()
	env.CheckInvariants(ctx, arn)
	labels := env.Labels(ctx, arn)
	if got := labels[token]; len(got) != 1 || got[0] != rotation.StageCurrent {
		env.t.Fatalf("new version %s has labels %v, want [AWSCURRENT] (no AWSPENDING left)", token, got)
	}
	if got := labels[old]; !slices.Contains(got, rotation.StagePrevious) || slices.Contains(got, rotation.StageCurrent) || slices.Contains(got, rotation.StagePending) {
		env.t.Fatalf("old version %s has labels %v, want AWSPREVIOUS", old, got)
	}
	if env.s.OldStaysValid {
		if err := env.Fixture.Works(ctx, env.Value(ctx, arn, rotation.StagePrevious)); err != nil {
			env.t.Fatalf("previous credential stopped working at promotion (dual-key window broken): %v", err)
		}
	}
	env.CheckNoOrphans(ctx, arn)
	env.CheckDeactivatedLive(ctx, arn)
	env.CheckLogs(ctx, arn)
}

// CheckNoOrphans asserts that every live credential at the provider is
// referenced by a labelled version of the secret.
func (env *Env) CheckNoOrphans(ctx context.Context, arn string) {
	env.t.Helper()
	if env.Fixture.Live == nil {
		return
	}
	live, err := env.Fixture.Live(ctx)
	if err != nil {
		env.t.Fatalf("list live credentials: %v", err)
	}
	p := env.Fixture.NewProvider(nil)
	known := map[string]bool{}
	for id := range env.Labels(ctx, arn) {
		if v := env.VersionValue(ctx, arn, id); v != "" {
			known[p.Fingerprint(v)] = true
		}
	}
	for _, fp := range live {
		if !known[fp] {
			env.t.Fatalf("orphaned credential %s at the provider: no version of the secret references it", fp)
		}
	}
}

// CheckDeactivatedLive asserts that the version labelled
// DUALKEY_DEACTIVATED, if any, references a credential that still exists at
// the provider: a rotation that destroys it must also end its lifecycle
// (otherwise status says "deactivated" and rollback fails).
func (env *Env) CheckDeactivatedLive(ctx context.Context, arn string) {
	env.t.Helper()
	if env.Fixture.Live == nil {
		return
	}
	id := holder(env.Labels(ctx, arn), rotation.StageDeactivated)
	if id == "" {
		return
	}
	live, err := env.Fixture.Live(ctx)
	if err != nil {
		env.t.Fatalf("list live credentials: %v", err)
	}
	fp := env.Fixture.NewProvider(nil).Fingerprint(env.VersionValue(ctx, arn, id))
	if !slices.Contains(live, fp) {
		env.t.Fatalf("version %s is labelled %s but its credential %s no longer exists at the provider", id, rotation.StageDeactivated, fp)
	}
}

// CheckRetired asserts the bookkeeping of a rotation that retired
// credentials: every version that held DUALKEY_DEACTIVATED in before and no
// longer does is recorded in the secret's tags as deleted, and the
// deactivation time is gone.
func (env *Env) CheckRetired(ctx context.Context, arn string, before map[string][]string) {
	env.t.Helper()
	after := env.Labels(ctx, arn)
	tags := env.Tags(ctx, arn)
	for id, st := range before {
		if !slices.Contains(st, rotation.StageDeactivated) || slices.Contains(after[id], rotation.StageDeactivated) {
			continue
		}
		if tags[rotation.TagState] != rotation.StateDeleted || tags[rotation.TagStateVersion] != id {
			env.t.Fatalf("the rotation removed %s from version %s but the tags say %s=%q %s=%q, want %q for that version",
				rotation.StageDeactivated, id, rotation.TagState, tags[rotation.TagState], rotation.TagStateVersion, tags[rotation.TagStateVersion], rotation.StateDeleted)
		}
		if tags[rotation.TagStateSince] == "" || tags[rotation.TagStateNote] == "" {
			env.t.Fatalf("the deletion of version %s's credential has no %s or %s tag", id, rotation.TagStateSince, rotation.TagStateNote)
		}
		if v, ok := tags[rotation.TagDeactivatedAt]; ok {
			env.t.Fatalf("tag %s=%s is left after the deactivated version %s was deleted", rotation.TagDeactivatedAt, v, id)
		}
	}
}

// CheckLogs asserts that no secret field of any version reached the logs.
func (env *Env) CheckLogs(ctx context.Context, arn string) {
	env.t.Helper()
	logs := env.Logs.String()
	out, err := env.SM.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(arn), IncludeDeprecated: aws.Bool(true)})
	if err != nil {
		env.t.Fatalf("list versions: %v", err)
	}
	for _, v := range out.Versions {
		val := env.VersionValue(ctx, arn, aws.ToString(v.VersionId))
		if val == "" {
			continue
		}
		r := rotation.NewRedactor()
		r.AddSecretValue(val)
		if r.Contains(logs) {
			env.t.Fatalf("a secret value of version %s appears in the logs", aws.ToString(v.VersionId))
		}
	}
}
