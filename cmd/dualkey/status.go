package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/rotation"
)

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", stderr)
	var f lifecycleFlags
	f.register(fs)
	secret, lc, sm, err := f.parseSecret(ctx, fs, args, stderr)
	if err != nil {
		return err
	}
	tags, err := printStatus(ctx, sm, secret, stdout)
	if err != nil {
		return f.hint(err, "")
	}
	if tags[rotation.TagProvider] == "" {
		fmt.Fprintf(stdout, "lifecycle not managed by dualkey: no %s tag\n", rotation.TagProvider)
		return nil
	}
	// The next retire run, as a dry run: the path, the state and the plan.
	rep, err := lc.Retire(ctx, secret, lifecycle.Options{DryRun: true})
	if rep.Path != "" {
		fmt.Fprintf(stdout, "lifecycle %s\n", rep.Path)
	}
	if st := tags[lifecycle.TagState]; st != "" {
		fmt.Fprintf(stdout, "state     %s (version %s since %s): %s\n", st, tags[lifecycle.TagStateVersion], tags[lifecycle.TagStateSince], tags[lifecycle.TagStateNote])
	}
	if l := tags[lifecycle.TagStateLeaked]; l != "" {
		fmt.Fprintf(stdout, "leaked    %s (switched off by an emergency; no alarm brings these back)\n", l)
	}
	fmt.Fprintln(stdout, "next retire run (dry run):")
	for _, a := range rep.Actions {
		verb := string(a.Op)
		if a.Op.Changes() {
			verb = "would " + verb
		}
		who := ""
		if a.Fingerprint != "" {
			who = a.Fingerprint + ": "
		}
		fmt.Fprintf(stdout, "  %-18s %s%s\n", verb, who, a.Reason)
	}
	if err != nil {
		return f.hint(err, "")
	}
	return nil
}

// printStatus prints what DescribeSecret and ListSecretVersionIds say and
// returns the secret's tags.
func printStatus(ctx context.Context, sm *secretsmanager.Client, secret string, w io.Writer) (map[string]string, error) {
	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secret)})
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", secret, err)
	}
	fmt.Fprintf(w, "secret    %s\narn       %s\n", aws.ToString(d.Name), aws.ToString(d.ARN))
	if aws.ToBool(d.RotationEnabled) {
		fmt.Fprintf(w, "rotation  enabled via %s\n", aws.ToString(d.RotationLambdaARN))
		if d.RotationRules != nil {
			if n := aws.ToInt64(d.RotationRules.AutomaticallyAfterDays); n > 0 {
				fmt.Fprintf(w, "schedule  every %d days\n", n)
			}
			if s := aws.ToString(d.RotationRules.ScheduleExpression); s != "" {
				fmt.Fprintf(w, "schedule  %s\n", s)
			}
		}
	} else {
		fmt.Fprintln(w, "rotation  disabled")
	}
	fmt.Fprintf(w, "last      %s\nnext      %s\n", when(d.LastRotatedDate), when(d.NextRotationDate))
	tags := map[string]string{}
	var shown []string
	for _, t := range d.Tags {
		k, v := aws.ToString(t.Key), aws.ToString(t.Value)
		tags[k] = v
		if strings.HasPrefix(k, "dualkey:") {
			shown = append(shown, k+"="+v)
		}
	}
	sort.Strings(shown)
	if len(shown) > 0 {
		fmt.Fprintf(w, "tags      %s\n", strings.Join(shown, " "))
	}
	out, err := sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: d.ARN})
	if err != nil {
		return nil, fmt.Errorf("list versions of %s: %w", secret, err)
	}
	sort.Slice(out.Versions, func(i, j int) bool {
		return aws.ToTime(out.Versions[i].CreatedDate).Before(aws.ToTime(out.Versions[j].CreatedDate))
	})
	fmt.Fprintln(w, "versions:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, v := range out.Versions {
		fmt.Fprintf(tw, "  %s\t%s\tcreated %s\n", aws.ToString(v.VersionId), strings.Join(v.VersionStages, ","), when(v.CreatedDate))
	}
	if err := tw.Flush(); err != nil {
		return nil, err
	}
	if pend := rotation.Holder(d.VersionIdsToStages, rotation.StagePending); pend != "" && pend != rotation.Holder(d.VersionIdsToStages, rotation.StageCurrent) {
		fmt.Fprintf(w, "pending   version %s holds AWSPENDING: a rotation is running or did not finish\n", pend)
	}
	return tags, nil
}

func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
