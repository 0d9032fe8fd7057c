package awsemu_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/emulator/awsemu"
)

func put(e *emu, id string, tok int, value string, stages ...string) (*secretsmanager.PutSecretValueOutput, error) {
	in := &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), ClientRequestToken: aws.String(token(tok)), SecretString: aws.String(value)}
	if len(stages) > 0 {
		in.VersionStages = stages
	}
	return e.sm.PutSecretValue(ctx, in)
}

// wantStages compares the labels of every version (given by token number);
// versions absent from want must have no labels.
func wantStages(t *testing.T, e *emu, id string, want map[int][]string) {
	t.Helper()
	got := stages(t, e, id)
	wantByID := map[string][]string{}
	for n, s := range want {
		if len(s) > 0 {
			wantByID[token(n)] = sorted(s)
		}
	}
	if len(got) != len(wantByID) {
		t.Fatalf("VersionIdsToStages = %v, want %v", got, wantByID)
	}
	for id, s := range wantByID {
		if !slices.Equal(sorted(got[id]), s) {
			t.Fatalf("VersionIdsToStages = %v, want %v", got, wantByID)
		}
	}
}

func TestPutSecretValueLabels(t *testing.T) {
	type step struct {
		tok    int
		value  string
		stages []string
		code   string
	}
	tests := []struct {
		name  string
		steps []step
		want  map[int][]string
	}{
		{
			name:  "no stages moves AWSCURRENT and AWSPREVIOUS follows",
			steps: []step{{tok: 2, value: "v2"}},
			want:  map[int][]string{1: {"AWSPREVIOUS"}, 2: {"AWSCURRENT"}},
		},
		{
			name:  "third version deprecates the oldest",
			steps: []step{{tok: 2, value: "v2"}, {tok: 3, value: "v3"}},
			want:  map[int][]string{2: {"AWSPREVIOUS"}, 3: {"AWSCURRENT"}},
		},
		{
			name:  "AWSPENDING only leaves AWSCURRENT in place",
			steps: []step{{tok: 2, value: "v2", stages: []string{"AWSPENDING"}}},
			want:  map[int][]string{1: {"AWSCURRENT"}, 2: {"AWSPENDING"}},
		},
		{
			name:  "AWSPENDING moves off the previous pending version",
			steps: []step{{tok: 2, value: "v2", stages: []string{"AWSPENDING"}}, {tok: 3, value: "v3", stages: []string{"AWSPENDING"}}},
			want:  map[int][]string{1: {"AWSCURRENT"}, 3: {"AWSPENDING"}},
		},
		{
			name:  "explicit AWSCURRENT behaves like no stages",
			steps: []step{{tok: 2, value: "v2", stages: []string{"AWSCURRENT"}}},
			want:  map[int][]string{1: {"AWSPREVIOUS"}, 2: {"AWSCURRENT"}},
		},
		{
			name:  "custom labels move between versions",
			steps: []step{{tok: 2, value: "v2", stages: []string{"blue", "green"}}, {tok: 3, value: "v3", stages: []string{"blue"}}},
			want:  map[int][]string{1: {"AWSCURRENT"}, 2: {"green"}, 3: {"blue"}},
		},
		{
			name:  "same token and value is idempotent",
			steps: []step{{tok: 2, value: "v2"}, {tok: 2, value: "v2"}, {tok: 2, value: "v2", stages: []string{"AWSPENDING"}}},
			want:  map[int][]string{1: {"AWSPREVIOUS"}, 2: {"AWSCURRENT"}},
		},
		{
			name:  "same token different value is ResourceExistsException",
			steps: []step{{tok: 2, value: "v2"}, {tok: 2, value: "other", code: "ResourceExistsException"}},
			want:  map[int][]string{1: {"AWSPREVIOUS"}, 2: {"AWSCURRENT"}},
		},
		{
			name:  "token of the original version with a new value is refused",
			steps: []step{{tok: 1, value: "changed", code: "ResourceExistsException"}},
			want:  map[int][]string{1: {"AWSCURRENT"}},
		},
		{
			name:  "AWSCURRENT back onto the AWSPREVIOUS version swaps them",
			steps: []step{{tok: 2, value: "v2"}, {tok: 3, value: "v3", stages: []string{"AWSPENDING"}}, {tok: 4, value: "v4"}},
			want:  map[int][]string{2: {"AWSPREVIOUS"}, 3: {"AWSPENDING"}, 4: {"AWSCURRENT"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startEmu(t, awsemu.Config{})
			createSecret(t, e, "s", "v1")
			for i, st := range tt.steps {
				out, err := put(e, "s", st.tok, st.value, st.stages...)
				wantCode(t, err, st.code)
				if err == nil && aws.ToString(out.VersionId) != token(st.tok) {
					t.Fatalf("step %d: VersionId = %s", i, aws.ToString(out.VersionId))
				}
			}
			wantStages(t, e, "s", tt.want)
		})
	}
}

func TestPutSecretValueOutputAndCurrentValue(t *testing.T) {
	e := startEmu(t, awsemu.Config{})
	createSecret(t, e, "s", "v1")
	out := must(put(e, "s", 2, "v2", "AWSPENDING")).ok(t)
	if !slices.Equal(out.VersionStages, []string{"AWSPENDING"}) {
		t.Fatalf("VersionStages = %v", out.VersionStages)
	}
	g := must(e.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})).ok(t)
	valueIs(t, g.SecretString, "v1", "AWSCURRENT after pending put")
	g = must(e.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionStage: aws.String("AWSPENDING")})).ok(t)
	valueIs(t, g.SecretString, "v2", "AWSPENDING")
	// Idempotent replay reports the version's current labels.
	out = must(put(e, "s", 2, "v2")).ok(t)
	if !slices.Equal(out.VersionStages, []string{"AWSPENDING"}) {
		t.Fatalf("replayed VersionStages = %v", out.VersionStages)
	}
	_, err := e.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s")})
	wantCode(t, err, "InvalidRequestException")
	_, err = e.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("a"), SecretBinary: []byte("b")})
	wantCode(t, err, "InvalidParameterException")
}

func TestUpdateSecretVersionStage(t *testing.T) {
	type call struct {
		stage        string
		move, remove int // token numbers; 0 = omitted
		code         string
	}
	// Every case starts from: v1 AWSPREVIOUS, v2 AWSCURRENT, v3 AWSPENDING, v4 (deprecated).
	tests := []struct {
		name  string
		calls []call
		want  map[int][]string
	}{
		{
			name:  "finishSecret-style move of AWSCURRENT",
			calls: []call{{stage: "AWSCURRENT", move: 3, remove: 2}},
			want:  map[int][]string{2: {"AWSPREVIOUS"}, 3: {"AWSCURRENT", "AWSPENDING"}},
		},
		{
			name:  "moving an attached label without RemoveFromVersionId",
			calls: []call{{stage: "AWSCURRENT", move: 3, code: "InvalidParameterException"}},
			want:  map[int][]string{1: {"AWSPREVIOUS"}, 2: {"AWSCURRENT"}, 3: {"AWSPENDING"}},
		},
		{
			name:  "RemoveFromVersionId not the current holder",
			calls: []call{{stage: "AWSCURRENT", move: 3, remove: 1, code: "InvalidParameterException"}},
			want:  map[int][]string{1: {"AWSPREVIOUS"}, 2: {"AWSCURRENT"}, 3: {"AWSPENDING"}},
		},
		{
			name:  "removing AWSCURRENT without moving it",
			calls: []call{{stage: "AWSCURRENT", remove: 2, code: "InvalidParameterException"}},
			want:  map[int][]string{1: {"AWSPREVIOUS"}, 2: {"AWSCURRENT"}, 3: {"AWSPENDING"}},
		},
		{
			name:  "removing AWSPENDING",
			calls: []call{{stage: "AWSPENDING", remove: 3}},
			want:  map[int][]string{1: {"AWSPREVIOUS"}, 2: {"AWSCURRENT"}},
		},
		{
			name:  "rollback: AWSCURRENT onto the AWSPREVIOUS version",
			calls: []call{{stage: "AWSCURRENT", move: 1, remove: 2}},
			want:  map[int][]string{1: {"AWSCURRENT"}, 2: {"AWSPREVIOUS"}, 3: {"AWSPENDING"}},
		},
		{
			name:  "AWSCURRENT onto a deprecated version",
			calls: []call{{stage: "AWSCURRENT", move: 4, remove: 2}},
			want:  map[int][]string{2: {"AWSPREVIOUS"}, 3: {"AWSPENDING"}, 4: {"AWSCURRENT"}},
		},
		{
			name:  "new custom label needs no RemoveFromVersionId",
			calls: []call{{stage: "canary", move: 4}},
			want:  map[int][]string{1: {"AWSPREVIOUS"}, 2: {"AWSCURRENT"}, 3: {"AWSPENDING"}, 4: {"canary"}},
		},
		{
			name:  "moving a label to its holder is a no-op",
			calls: []call{{stage: "AWSCURRENT", move: 2}},
			want:  map[int][]string{1: {"AWSPREVIOUS"}, 2: {"AWSCURRENT"}, 3: {"AWSPENDING"}},
		},
		{
			name:  "RemoveFromVersionId that lacks the label",
			calls: []call{{stage: "AWSPENDING", remove: 2, code: "InvalidParameterException"}},
			want:  map[int][]string{1: {"AWSPREVIOUS"}, 2: {"AWSCURRENT"}, 3: {"AWSPENDING"}},
		},
		{
			name:  "unknown MoveToVersionId",
			calls: []call{{stage: "AWSCURRENT", move: 77, remove: 2, code: "ResourceNotFoundException"}},
			want:  map[int][]string{1: {"AWSPREVIOUS"}, 2: {"AWSCURRENT"}, 3: {"AWSPENDING"}},
		},
		{
			name:  "neither move nor remove",
			calls: []call{{stage: "AWSPENDING", code: "InvalidParameterException"}},
			want:  map[int][]string{1: {"AWSPREVIOUS"}, 2: {"AWSCURRENT"}, 3: {"AWSPENDING"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startEmu(t, awsemu.Config{})
			createSecret(t, e, "s", "v1")
			must(put(e, "s", 2, "v2")).ok(t)
			must(put(e, "s", 3, "v3", "AWSPENDING")).ok(t)
			must(put(e, "s", 4, "v4", "tmp")).ok(t)
			must(e.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("s"), VersionStage: aws.String("tmp"), RemoveFromVersionId: aws.String(token(4))})).ok(t)
			for _, c := range tt.calls {
				in := &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("s"), VersionStage: aws.String(c.stage)}
				if c.move != 0 {
					in.MoveToVersionId = aws.String(token(c.move))
				}
				if c.remove != 0 {
					in.RemoveFromVersionId = aws.String(token(c.remove))
				}
				_, err := e.sm.UpdateSecretVersionStage(ctx, in)
				wantCode(t, err, c.code)
			}
			wantStages(t, e, "s", tt.want)
		})
	}
}

func TestListSecretVersionIDs(t *testing.T) {
	e := startEmu(t, awsemu.Config{})
	createSecret(t, e, "s", "v1")
	for i := 2; i <= 5; i++ {
		must(put(e, "s", i, fmt.Sprint("v", i))).ok(t)
	}
	ids := func(in *secretsmanager.ListSecretVersionIdsInput) []string {
		var out []string
		p := secretsmanager.NewListSecretVersionIdsPaginator(e.sm, in)
		for p.HasMorePages() {
			page := must(p.NextPage(ctx)).ok(t)
			for _, v := range page.Versions {
				out = append(out, aws.ToString(v.VersionId))
			}
		}
		return out
	}
	if got := ids(&secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("s")}); !slices.Equal(sorted(got), []string{token(4), token(5)}) {
		t.Fatalf("without deprecated: %v", got)
	}
	got := ids(&secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("s"), IncludeDeprecated: aws.Bool(true), MaxResults: aws.Int32(2)})
	if len(got) != 5 {
		t.Fatalf("with deprecated, paged by 2: %v", got)
	}
	page := must(e.sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("s"), MaxResults: aws.Int32(1)})).ok(t)
	if len(page.Versions) != 1 || page.NextToken == nil {
		t.Fatalf("MaxResults=1 page: %d versions, token %v", len(page.Versions), page.NextToken)
	}
	_, err := e.sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("s"), NextToken: aws.String("garbage")})
	wantCode(t, err, "InvalidNextTokenException")
}

func TestVersionQuotaDropsOldestDeprecated(t *testing.T) {
	e := startEmu(t, awsemu.Config{})
	createSecret(t, e, "s", "v1")
	must(put(e, "s", 2, "keep", "keeper")).ok(t) // labelled: never dropped
	for i := 3; i <= 110; i++ {
		must(put(e, "s", i, fmt.Sprint("v", i))).ok(t)
	}
	var all []string
	p := secretsmanager.NewListSecretVersionIdsPaginator(e.sm, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("s"), IncludeDeprecated: aws.Bool(true)})
	for p.HasMorePages() {
		for _, v := range must(p.NextPage(ctx)).ok(t).Versions {
			all = append(all, aws.ToString(v.VersionId))
		}
	}
	if len(all) != 100 {
		t.Fatalf("versions kept = %d, want 100", len(all))
	}
	if slices.Contains(all, token(1)) || !slices.Contains(all, token(2)) || !slices.Contains(all, token(110)) {
		t.Fatal("wrong versions dropped: the oldest deprecated should go, labelled ones stay")
	}
	_, err := e.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionId: aws.String(token(1))})
	wantCode(t, err, "ResourceNotFoundException")
}

func TestStagingLabelQuota(t *testing.T) {
	e := startEmu(t, awsemu.Config{})
	createSecret(t, e, "s", "v1")
	labels := []string{}
	for i := 0; i < 19; i++ { // plus AWSCURRENT = 20
		labels = append(labels, fmt.Sprint("l", i))
	}
	must(put(e, "s", 2, "v2", labels...)).ok(t)
	_, err := put(e, "s", 3, "v3", "one-too-many")
	wantCode(t, err, "LimitExceededException")
}
