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

// TestListSecretsNextTokenSurvivesChanges: a NextToken names a place in the
// order, not an offset. Secrets deleted from the listing's pages, including
// the very one the token names, and secrets created while the listing is
// paged make it neither skip nor repeat a secret that stays; a new secret
// is listed when it falls after the listing's place.
func TestListSecretsNextTokenSurvivesChanges(t *testing.T) {
	tests := []struct {
		name   string
		sortBy types.SortByType
		order  types.SortOrderType
	}{
		{"created-date asc (the default)", "", ""},
		{"created-date desc", types.SortByTypeCreatedDate, types.SortOrderTypeDesc},
		{"name asc", types.SortByTypeName, types.SortOrderTypeAsc},
		{"name desc", types.SortByTypeName, types.SortOrderTypeDesc},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startEmu(t, awsemu.Config{})
			for i := 0; i < 10; i++ {
				createSecret(t, e, fmt.Sprintf("s%02d", i*7%10), "v") // creation order is not name order
				e.clock.Advance(time.Second)
			}
			list := func(in secretsmanager.ListSecretsInput) ([]string, *string) {
				in.SortBy, in.SortOrder = tt.sortBy, tt.order
				out := must(e.sm.ListSecrets(ctx, &in)).ok(t)
				var got []string
				for _, s := range out.SecretList {
					got = append(got, aws.ToString(s.Name))
				}
				return got, out.NextToken
			}
			before, _ := list(secretsmanager.ListSecretsInput{})
			page1, token := list(secretsmanager.ListSecretsInput{MaxResults: aws.Int32(3)})
			if !slices.Equal(page1, before[:3]) || token == nil {
				t.Fatalf("first page %v (token %v), want %v", page1, token, before[:3])
			}
			// While the listing is paged: a listed secret is deleted for
			// good, the next one (the token's place) and a later one are
			// scheduled for deletion, and two secrets are created, one
			// first by name and one last.
			must(e.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(page1[1]), ForceDeleteWithoutRecovery: aws.Bool(true)})).ok(t)
			for _, n := range []string{before[3], before[6]} {
				must(e.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(n)})).ok(t)
			}
			createSecret(t, e, "a-new", "v")
			e.clock.Advance(time.Second)
			createSecret(t, e, "z-new", "v")

			var rest []string
			for token != nil {
				var page []string
				page, token = list(secretsmanager.ListSecretsInput{MaxResults: aws.Int32(3), NextToken: token})
				rest = append(rest, page...)
			}
			after, _ := list(secretsmanager.ListSecretsInput{})
			i := slices.Index(after, page1[2])
			if want := after[i+1:]; !slices.Equal(rest, want) {
				t.Fatalf("after the first page %v and the changes, the listing went on with %v, want %v (the whole listing is now %v)", page1, rest, want, after)
			}
			for _, n := range before[4:] {
				if n != before[6] && !slices.Contains(rest, n) {
					t.Fatalf("secret %s, listed after the first page before the changes, was skipped: %v", n, rest)
				}
			}
		})
	}
}

// TestListSecretsNextTokenBelongsToItsOrder: a NextToken is refused with
// another SortBy or SortOrder, and one whose place is past every secret
// (they were all deleted meanwhile) gives an empty last page.
func TestListSecretsNextTokenBelongsToItsOrder(t *testing.T) {
	e := startEmu(t, awsemu.Config{})
	for _, n := range []string{"b", "a", "c"} {
		createSecret(t, e, n, "v")
		e.clock.Advance(time.Second)
	}
	first := must(e.sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(1), SortBy: types.SortByTypeName})).ok(t)
	if len(first.SecretList) != 1 || aws.ToString(first.SecretList[0].Name) != "a" || first.NextToken == nil {
		t.Fatalf("first page = %+v", first)
	}
	for _, in := range []secretsmanager.ListSecretsInput{
		{NextToken: first.NextToken},
		{NextToken: first.NextToken, SortBy: types.SortByTypeCreatedDate},
		{NextToken: first.NextToken, SortBy: types.SortByTypeName, SortOrder: types.SortOrderTypeDesc},
		{NextToken: first.NextToken, SortBy: types.SortByTypeLastChangedDate},
	} {
		_, err := e.sm.ListSecrets(ctx, &in)
		wantCode(t, err, "InvalidNextTokenException")
	}
	for _, n := range []string{"b", "c"} {
		must(e.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(n), ForceDeleteWithoutRecovery: aws.Bool(true)})).ok(t)
	}
	last := must(e.sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{NextToken: first.NextToken, SortBy: types.SortByTypeName})).ok(t)
	if len(last.SecretList) != 0 || last.NextToken != nil {
		t.Fatalf("past the end: %+v", last)
	}
}

// TestListSecretsWhileSecretsChangeConcurrently pages through the default
// order (CreatedDate, which no change moves) while other clients create,
// tag, read and delete secrets as fast as they can: every listing ends,
// lists no secret twice, and lists every secret that exists throughout.
// Run with -race, it also checks the orders' locking.
func TestListSecretsWhileSecretsChangeConcurrently(t *testing.T) {
	e := startEmu(t, awsemu.Config{})
	var stay []string
	for i := 0; i < 40; i++ {
		n := fmt.Sprintf("stay/%02d", i)
		createSecret(t, e, n, "v")
		stay = append(stay, n)
		e.clock.Advance(time.Second)
	}
	done := make(chan struct{})
	errs := make(chan error, 3)
	for w := 0; w < 3; w++ {
		go func(w int) {
			for i := 0; ; i++ {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				n := fmt.Sprintf("churn/%d-%d", w, i)
				steps := []func() error{
					func() error {
						_, err := e.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(n), SecretString: aws.String("v")})
						return err
					},
					func() error {
						_, err := e.sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(stay[i%len(stay)]), Tags: []types.Tag{{Key: aws.String("n"), Value: aws.String(n)}}})
						return err
					},
					func() error {
						_, err := e.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(stay[(i+w)%len(stay)])})
						return err
					},
					func() error {
						_, err := e.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(n), ForceDeleteWithoutRecovery: aws.Bool(i%2 == 0)})
						return err
					},
				}
				for _, step := range steps {
					if err := step(); err != nil {
						errs <- err
						return
					}
				}
			}
		}(w)
	}
	for round := 0; round < 5; round++ {
		seen := map[string]bool{}
		p := secretsmanager.NewListSecretsPaginator(e.sm, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(7)})
		for p.HasMorePages() {
			page := must(p.NextPage(ctx)).ok(t)
			for _, s := range page.SecretList {
				n := aws.ToString(s.Name)
				if seen[n] {
					t.Fatalf("round %d: %s listed twice", round, n)
				}
				seen[n] = true
			}
		}
		for _, n := range stay {
			if !seen[n] {
				t.Fatalf("round %d: %s was not listed", round, n)
			}
		}
	}
	close(done)
	for w := 0; w < 3; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
