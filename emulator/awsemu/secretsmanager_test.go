package awsemu_test

import (
	"bytes"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
)

func sorted(s []string) []string {
	c := slices.Clone(s)
	sort.Strings(c)
	return c
}

func TestCreateDescribeGet(t *testing.T) {
	e := startEmu(t, awsemu.Config{})
	out := must(e.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:               aws.String("app/db"),
		Description:        aws.String("database creds"),
		SecretString:       aws.String("s3cr3t"),
		ClientRequestToken: aws.String(token(1)),
		KmsKeyId:           aws.String("alias/ignored"),
		Tags:               []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}},
	})).ok(t)
	arn := aws.ToString(out.ARN)
	if !regexp.MustCompile(`^arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-[A-Za-z0-9]{6}$`).MatchString(arn) {
		t.Fatalf("ARN = %q", arn)
	}
	if aws.ToString(out.VersionId) != token(1) || aws.ToString(out.Name) != "app/db" {
		t.Fatalf("CreateSecret output = %s %s", aws.ToString(out.Name), aws.ToString(out.VersionId))
	}

	d := must(e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("app/db")})).ok(t)
	if aws.ToString(d.ARN) != arn || aws.ToString(d.Description) != "database creds" {
		t.Fatalf("describe = %+v", d)
	}
	if d.CreatedDate == nil || !d.CreatedDate.Equal(e.clock.Now()) || d.LastChangedDate == nil {
		t.Fatalf("dates: created %v changed %v", d.CreatedDate, d.LastChangedDate)
	}
	if d.LastAccessedDate != nil || d.RotationEnabled != nil || d.NextRotationDate != nil || d.DeletedDate != nil {
		t.Fatalf("unexpected fields on a fresh secret: %+v", d)
	}
	if len(d.Tags) != 1 || aws.ToString(d.Tags[0].Key) != "env" {
		t.Fatalf("tags = %+v", d.Tags)
	}
	if got := d.VersionIdsToStages[token(1)]; !slices.Equal(got, []string{"AWSCURRENT"}) {
		t.Fatalf("stages = %v", d.VersionIdsToStages)
	}

	// Name, full ARN and partial ARN all resolve.
	partial := arn[:len(arn)-7]
	for _, id := range []string{"app/db", arn, partial} {
		g := must(e.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})).ok(t)
		valueIs(t, g.SecretString, "s3cr3t", id)
		if aws.ToString(g.VersionId) != token(1) || !slices.Equal(g.VersionStages, []string{"AWSCURRENT"}) || aws.ToString(g.ARN) != arn {
			t.Fatalf("GetSecretValue(%s) metadata wrong", id)
		}
	}
	// LastAccessedDate is date-only.
	d = must(e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})).ok(t)
	if want := time.Date(2030, 3, 14, 0, 0, 0, 0, time.UTC); d.LastAccessedDate == nil || !d.LastAccessedDate.Equal(want) {
		t.Fatalf("LastAccessedDate = %v, want %v", d.LastAccessedDate, want)
	}

	// Binary secrets round-trip.
	bin := []byte{0, 1, 2, 250, 255}
	must(e.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("bin"), SecretBinary: bin})).ok(t)
	g := must(e.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("bin")})).ok(t)
	if !bytes.Equal(g.SecretBinary, bin) || g.SecretString != nil {
		t.Fatal("binary value did not round-trip")
	}
}

func TestCreateSecretErrors(t *testing.T) {
	e := startEmu(t, awsemu.Config{})
	createSecret(t, e, "exists", "v")
	tests := []struct {
		name string
		in   secretsmanager.CreateSecretInput
		code string
	}{
		{"duplicate name", secretsmanager.CreateSecretInput{Name: aws.String("exists"), SecretString: aws.String("other")}, "ResourceExistsException"},
		{"both values", secretsmanager.CreateSecretInput{Name: aws.String("b"), SecretString: aws.String("x"), SecretBinary: []byte("y")}, "InvalidParameterException"},
		{"bad name", secretsmanager.CreateSecretInput{Name: aws.String("bad name!")}, "InvalidParameterException"},
		{"short token", secretsmanager.CreateSecretInput{Name: aws.String("c"), ClientRequestToken: aws.String("short")}, "ValidationException"},
		{"too big", secretsmanager.CreateSecretInput{Name: aws.String("d"), SecretString: aws.String(strings.Repeat("x", 65537))}, "ValidationException"},
		{"duplicate tag", secretsmanager.CreateSecretInput{Name: aws.String("e"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("1")}, {Key: aws.String("k"), Value: aws.String("2")}}}, "InvalidParameterException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.sm.CreateSecret(ctx, &tt.in)
			wantCode(t, err, tt.code)
		})
	}
	// A retried CreateSecret with the same token and value is idempotent.
	out := must(e.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("exists"), SecretString: aws.String("v"), ClientRequestToken: aws.String(token(1))})).ok(t)
	if aws.ToString(out.VersionId) != token(1) {
		t.Fatalf("idempotent create returned version %s", aws.ToString(out.VersionId))
	}
}

func TestSecretWithoutValue(t *testing.T) {
	e := startEmu(t, awsemu.Config{})
	out := must(e.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("empty")})).ok(t)
	if out.VersionId != nil {
		t.Fatalf("no-value secret has version %s", aws.ToString(out.VersionId))
	}
	_, err := e.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("empty")})
	wantCode(t, err, "ResourceNotFoundException")
	if !strings.Contains(err.Error(), "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT") {
		t.Fatalf("message = %v", err)
	}
	// The first version always gets AWSCURRENT, even if only AWSPENDING was asked.
	must(e.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("empty"), SecretString: aws.String("v"), ClientRequestToken: aws.String(token(2)), VersionStages: []string{"AWSPENDING"}})).ok(t)
	if got := sorted(stages(t, e, "empty")[token(2)]); !slices.Equal(got, []string{"AWSCURRENT", "AWSPENDING"}) {
		t.Fatalf("first version stages = %v", got)
	}
}

func TestGetSecretValueErrors(t *testing.T) {
	e := startEmu(t, awsemu.Config{})
	createSecret(t, e, "s", "v")
	tests := []struct {
		name string
		in   secretsmanager.GetSecretValueInput
		code string
		msg  string
	}{
		{"unknown secret", secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")}, "ResourceNotFoundException", "Secrets Manager can't find the specified secret."},
		{"unknown version", secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionId: aws.String(token(99))}, "ResourceNotFoundException", "for VersionId: " + token(99)},
		{"unknown stage", secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionStage: aws.String("AWSPREVIOUS")}, "ResourceNotFoundException", "for staging label: AWSPREVIOUS"},
		{"stage not on version", secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionId: aws.String(token(1)), VersionStage: aws.String("AWSPENDING")}, "InvalidRequestException", ""},
		{"unknown partial arn", secretsmanager.GetSecretValueInput{SecretId: aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:zz")}, "ResourceNotFoundException", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.sm.GetSecretValue(ctx, &tt.in)
			wantCode(t, err, tt.code)
			if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("message %q does not contain %q", err.Error(), tt.msg)
			}
		})
	}
	// VersionId plus the matching stage works.
	g := must(e.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionId: aws.String(token(1)), VersionStage: aws.String("AWSCURRENT")})).ok(t)
	valueIs(t, g.SecretString, "v", "by id and stage")
}

func TestUpdateSecretAndTags(t *testing.T) {
	e := startEmu(t, awsemu.Config{})
	createSecret(t, e, "u", "v1")
	out := must(e.sm.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: aws.String("u"), Description: aws.String("new desc"), KmsKeyId: aws.String("alias/x")})).ok(t)
	if out.VersionId != nil {
		t.Fatal("metadata-only UpdateSecret returned a VersionId")
	}
	out = must(e.sm.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: aws.String("u"), SecretString: aws.String("v2"), ClientRequestToken: aws.String(token(2))})).ok(t)
	if aws.ToString(out.VersionId) != token(2) {
		t.Fatalf("UpdateSecret version = %s", aws.ToString(out.VersionId))
	}
	st := stages(t, e, "u")
	if !slices.Equal(st[token(2)], []string{"AWSCURRENT"}) || !slices.Equal(st[token(1)], []string{"AWSPREVIOUS"}) {
		t.Fatalf("stages after UpdateSecret = %v", st)
	}
	// Same token + same value: no-op; different value: ResourceExistsException.
	must(e.sm.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: aws.String("u"), SecretString: aws.String("v2"), ClientRequestToken: aws.String(token(2))})).ok(t)
	_, err := e.sm.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: aws.String("u"), SecretString: aws.String("v3"), ClientRequestToken: aws.String(token(2))})
	wantCode(t, err, "ResourceExistsException")
	d := must(e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("u")})).ok(t)
	if aws.ToString(d.Description) != "new desc" || aws.ToString(d.KmsKeyId) != "alias/x" {
		t.Fatalf("describe after update = %+v", d)
	}

	must(e.sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("u"), Tags: []types.Tag{
		{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("b"), Value: aws.String("2")},
	}})).ok(t)
	must(e.sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("u"), Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("9")}}})).ok(t)
	must(e.sm.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String("u"), TagKeys: []string{"b", "absent"}})).ok(t)
	d = must(e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("u")})).ok(t)
	if len(d.Tags) != 1 || aws.ToString(d.Tags[0].Key) != "a" || aws.ToString(d.Tags[0].Value) != "9" {
		t.Fatalf("tags = %+v", d.Tags)
	}
	_, err = e.sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("missing"), Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}}})
	wantCode(t, err, "ResourceNotFoundException")
}

func TestDeleteAndRestore(t *testing.T) {
	e := startEmu(t, awsemu.Config{})
	createSecret(t, e, "d", "v")

	_, err := e.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("d"), RecoveryWindowInDays: aws.Int64(7), ForceDeleteWithoutRecovery: aws.Bool(true)})
	wantCode(t, err, "InvalidParameterException")
	for _, days := range []int64{6, 31} {
		_, err = e.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("d"), RecoveryWindowInDays: aws.Int64(days)})
		wantCode(t, err, "InvalidParameterException")
	}

	del := must(e.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("d")})).ok(t)
	if want := e.clock.Now().Add(30 * 24 * time.Hour); del.DeletionDate == nil || !del.DeletionDate.Equal(want) {
		t.Fatalf("DeletionDate = %v, want %v (default 30 days)", del.DeletionDate, want)
	}
	d := must(e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("d")})).ok(t)
	if d.DeletedDate == nil {
		t.Fatal("DescribeSecret of a deleted secret has no DeletedDate")
	}
	// A secret scheduled for deletion refuses most operations.
	_, err = e.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("d")})
	wantCode(t, err, "InvalidRequestException")
	if !strings.Contains(err.Error(), "You can't perform this operation on the secret because it was marked for deletion.") {
		t.Fatalf("message = %v", err)
	}
	_, err = e.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("d"), SecretString: aws.String("x")})
	wantCode(t, err, "InvalidRequestException")
	_, err = e.sm.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: aws.String("d"), Description: aws.String("x")})
	wantCode(t, err, "InvalidRequestException")
	_, err = e.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("d")})
	wantCode(t, err, "InvalidRequestException")
	_, err = e.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("d")})
	wantCode(t, err, "InvalidRequestException")
	// Hidden from ListSecrets unless IncludePlannedDeletion.
	l := must(e.sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{})).ok(t)
	if len(l.SecretList) != 0 {
		t.Fatalf("deleted secret listed: %d", len(l.SecretList))
	}
	l = must(e.sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{IncludePlannedDeletion: aws.Bool(true)})).ok(t)
	if len(l.SecretList) != 1 || l.SecretList[0].DeletedDate == nil {
		t.Fatalf("IncludePlannedDeletion list = %+v", l.SecretList)
	}

	must(e.sm.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String("d")})).ok(t)
	g := must(e.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("d")})).ok(t)
	valueIs(t, g.SecretString, "v", "after restore")
	// Restoring a secret that is not deleted is a no-op success.
	must(e.sm.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String("d")})).ok(t)

	// The recovery window elapses: the secret is gone.
	must(e.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("d"), RecoveryWindowInDays: aws.Int64(7)})).ok(t)
	e.clock.Advance(7 * 24 * time.Hour)
	_, err = e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("d")})
	wantCode(t, err, "ResourceNotFoundException")

	// Force delete removes immediately and frees the name.
	createSecret(t, e, "f", "v")
	must(e.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("f"), ForceDeleteWithoutRecovery: aws.Bool(true)})).ok(t)
	_, err = e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("f")})
	wantCode(t, err, "ResourceNotFoundException")
	createSecret(t, e, "f", "again")
}
