package awsemu_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
)

func TestListSecretsFilters(t *testing.T) {
	e := startEmu(t, awsemu.Config{})
	mk := func(name, desc string, tags map[string]string) {
		in := &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v")}
		if desc != "" {
			in.Description = aws.String(desc)
		}
		for k, v := range tags {
			in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		must(e.sm.CreateSecret(ctx, in)).ok(t)
		e.clock.Advance(time.Minute)
	}
	mk("prod/db", "Production database", map[string]string{"env": "prod", "team": "data"})
	mk("prod/api", "API keys", map[string]string{"env": "prod"})
	mk("dev/db", "development Database", map[string]string{"env": "dev", "team": "data"})
	mk("Prod-upper", "", nil)

	tests := []struct {
		name    string
		filters []types.Filter
		want    []string
	}{
		{"no filter", nil, []string{"prod/db", "prod/api", "dev/db", "Prod-upper"}},
		{"name prefix is case-sensitive", []types.Filter{{Key: "name", Values: []string{"prod"}}}, []string{"prod/db", "prod/api"}},
		{"name values are ORed", []types.Filter{{Key: "name", Values: []string{"dev", "Prod"}}}, []string{"dev/db", "Prod-upper"}},
		{"name negation", []types.Filter{{Key: "name", Values: []string{"!prod"}}}, []string{"dev/db", "Prod-upper"}},
		{"description prefix is case-insensitive", []types.Filter{{Key: "description", Values: []string{"production"}}}, []string{"prod/db"}},
		{"tag-key", []types.Filter{{Key: "tag-key", Values: []string{"team"}}}, []string{"prod/db", "dev/db"}},
		{"tag-value", []types.Filter{{Key: "tag-value", Values: []string{"pro"}}}, []string{"prod/db", "prod/api"}},
		{"filters are ANDed", []types.Filter{{Key: "tag-key", Values: []string{"team"}}, {Key: "name", Values: []string{"!dev"}}}, []string{"prod/db"}},
		{"all splits words case-insensitively", []types.Filter{{Key: "all", Values: []string{"database"}}}, []string{"prod/db", "dev/db"}},
		{"all matches names by word", []types.Filter{{Key: "all", Values: []string{"UPPER"}}}, []string{"Prod-upper"}},
		{"primary-region", []types.Filter{{Key: "primary-region", Values: []string{"us-east"}}}, []string{"prod/db", "prod/api", "dev/db", "Prod-upper"}},
		{"owning-service matches nothing", []types.Filter{{Key: "owning-service", Values: []string{"rds"}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := must(e.sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{Filters: tt.filters})).ok(t)
			var got []string
			for _, s := range out.SecretList {
				got = append(got, aws.ToString(s.Name))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}

	_, err := e.sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{Filters: []types.Filter{{Key: "bogus", Values: []string{"x"}}}})
	wantCode(t, err, "ValidationException")

	// Entries carry the describe fields.
	out := must(e.sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{Filters: []types.Filter{{Key: "name", Values: []string{"prod/db"}}}})).ok(t)
	s := out.SecretList[0]
	if len(s.SecretVersionsToStages) != 1 || aws.ToString(s.Description) != "Production database" || len(s.Tags) != 2 || s.CreatedDate == nil {
		t.Fatalf("entry = %+v", s)
	}
}

func TestListSecretsPaginationAndSort(t *testing.T) {
	e := startEmu(t, awsemu.Config{})
	var names []string
	for i := 0; i < 7; i++ {
		n := fmt.Sprintf("s%02d", 6-i) // created in reverse name order
		createSecret(t, e, n, "v")
		names = append(names, n)
		e.clock.Advance(time.Second)
	}
	collect := func(in *secretsmanager.ListSecretsInput) []string {
		var got []string
		p := secretsmanager.NewListSecretsPaginator(e.sm, in)
		pages := 0
		for p.HasMorePages() {
			page := must(p.NextPage(ctx)).ok(t)
			pages++
			for _, s := range page.SecretList {
				got = append(got, aws.ToString(s.Name))
			}
		}
		if in.MaxResults != nil && pages != (len(got)+int(*in.MaxResults)-1)/int(*in.MaxResults) {
			t.Fatalf("pages = %d for %d results of %d", pages, len(got), *in.MaxResults)
		}
		return got
	}
	if got := collect(&secretsmanager.ListSecretsInput{MaxResults: aws.Int32(3)}); !slices.Equal(got, names) {
		t.Fatalf("default (created asc) = %v, want %v", got, names)
	}
	rev := slices.Clone(names)
	slices.Reverse(rev)
	if got := collect(&secretsmanager.ListSecretsInput{MaxResults: aws.Int32(2), SortOrder: types.SortOrderTypeDesc}); !slices.Equal(got, rev) {
		t.Fatalf("desc = %v", got)
	}
	if got := collect(&secretsmanager.ListSecretsInput{SortBy: types.SortByTypeName}); !slices.Equal(got, rev) {
		t.Fatalf("by name = %v", got)
	}
	_, err := e.sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{NextToken: aws.String("nope")})
	wantCode(t, err, "InvalidNextTokenException")
	_, err = e.sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(101)})
	wantCode(t, err, "ValidationException")
}
