package demosvc

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
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/shared/keyring"
)

// VersionLister is the part of *secretsmanager.Client that lists versions.
type VersionLister interface {
	// ListSecretVersionIds returns one page of the secret's versions with
	// their staging labels; NextToken is set when more pages follow.
	ListSecretVersionIds(ctx context.Context, in *secretsmanager.ListSecretVersionIdsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error)
}

// LabelsAPI is what PrintLabels needs: listing versions and reading each one.
type LabelsAPI interface {
	keyring.ValueGetter
	VersionLister
}

// PrintLabels prints every labelled version of secretID — short version id,
// staging labels and key fingerprint — reading the key from the default JSON
// field "api_key". See PrintLabelsField.
func PrintLabels(ctx context.Context, api LabelsAPI, secretID string, w io.Writer) error {
	return PrintLabelsField(ctx, api, secretID, keyring.DefaultField, w)
}

// PrintLabelsField is PrintLabels for a key held in JSON field field.
// Versions are ordered AWSCURRENT, AWSPENDING, AWSPREVIOUS, then others by
// creation date (newest first). A version whose value cannot be read is
// printed with fingerprint "?" and its error is returned (joined) after the
// table has been written.
func PrintLabelsField(ctx context.Context, api LabelsAPI, secretID, field string, w io.Writer) error {
	var versions []types.SecretVersionsListEntry
	in := &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(secretID)}
	for {
		out, err := api.ListSecretVersionIds(ctx, in)
		if err != nil {
			return fmt.Errorf("demosvc: list versions of secret %q: %w", secretID, err)
		}
		versions = append(versions, out.Versions...)
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	sort.SliceStable(versions, func(i, j int) bool {
		ri, rj := labelRank(versions[i].VersionStages), labelRank(versions[j].VersionStages)
		if ri != rj {
			return ri < rj
		}
		return aws.ToTime(versions[i].CreatedDate).After(aws.ToTime(versions[j].CreatedDate))
	})

	var errs []error
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "secret %q: %d labelled version(s)\n", secretID, len(versions))
	fmt.Fprintln(tw, "  VERSION\tLABELS\tKEY\tCREATED")
	for _, v := range versions {
		vid := aws.ToString(v.VersionId)
		fp := "?"
		out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID), VersionId: aws.String(vid)})
		if err == nil && out.SecretString == nil {
			err = errors.New("no SecretString")
		}
		if err == nil {
			var key string
			if key, err = keyring.ExtractKey(*out.SecretString, field); err == nil {
				fp = keyring.Fingerprint(key)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("demosvc: read version %s of secret %q: %w", vid, secretID, err))
		}
		labels := strings.Join(v.VersionStages, ",")
		if labels == "" {
			labels = "-"
		}
		created := "-"
		if v.CreatedDate != nil {
			created = v.CreatedDate.UTC().Format(time.TimeOnly)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", shortVersion(vid), labels, fp, created)
	}
	if err := tw.Flush(); err != nil {
		errs = append(errs, fmt.Errorf("demosvc: write labels: %w", err))
	}
	return errors.Join(errs...)
}

func labelRank(labels []string) int {
	best := 3
	for _, l := range labels {
		switch l {
		case keyring.StageCurrent:
			best = min(best, 0)
		case keyring.StagePending:
			best = min(best, 1)
		case keyring.StagePrevious:
			best = min(best, 2)
		}
	}
	return best
}

func shortVersion(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
