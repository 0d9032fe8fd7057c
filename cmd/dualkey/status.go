package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", stderr)
	var a awsFlags
	a.register(fs)
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() != 1 {
		return errors.New("want exactly one SECRET (name or ARN)")
	}
	sm, err := a.secretsManager(ctx)
	if err != nil {
		return err
	}
	return printStatus(ctx, sm, fs.Arg(0), stdout)
}

func printStatus(ctx context.Context, sm *secretsmanager.Client, secret string, w io.Writer) error {
	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secret)})
	if err != nil {
		return fmt.Errorf("describe %s: %w", secret, err)
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
	var tags []string
	for _, t := range d.Tags {
		if strings.HasPrefix(aws.ToString(t.Key), "dualkey:") {
			tags = append(tags, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
		}
	}
	sort.Strings(tags)
	if len(tags) > 0 {
		fmt.Fprintf(w, "tags      %s\n", strings.Join(tags, " "))
	}
	out, err := sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: d.ARN})
	if err != nil {
		return fmt.Errorf("list versions of %s: %w", secret, err)
	}
	sort.Slice(out.Versions, func(i, j int) bool {
		return aws.ToTime(out.Versions[i].CreatedDate).Before(aws.ToTime(out.Versions[j].CreatedDate))
	})
	fmt.Fprintln(w, "versions:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, v := range out.Versions {
		fmt.Fprintf(tw, "  %s\t%s\tcreated %s\n", aws.ToString(v.VersionId), strings.Join(v.VersionStages, ","), when(v.CreatedDate))
	}
	return tw.Flush()
}

func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
