package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/internal/lambdarie/rietest"
	"github.com/dualkey/dualkey/shared/rotation"
)

// TestBootstrapUnderRIE builds this function exactly as it is deployed and
// rotates a secret through it under the Lambda Runtime Interface Emulator.
func TestBootstrapUnderRIE(t *testing.T) {
	ctx := context.Background()
	f := rietest.Start(t, rietest.Config{Function: "servicekey", Full: true, Env: []string{"DUALKEY_KEY_LENGTH=40"}})
	const initial = `{"api_key":"rie-initial-0123456789abcdefghijklmnopq"}`
	arn := f.CreateSecret("rie/key", initial, "servicekey")

	// A secret that is not servicekey's is refused by the real binary, which
	// names the tag to set and the command that ends the failed rotation.
	other := f.CreateSecret("rie/other", initial, "iamkey")
	if rec := f.Rotate(other); rec.Succeeded || !strings.Contains(rec.Error, "is tagged dualkey:provider=iamkey") {
		t.Fatalf("the servicekey function rotated a secret tagged for iamkey: %+v", rec)
	}
	if !strings.Contains(f.Logs(), `"fix":"dualkey cancel `+other+`"`) {
		t.Fatalf("the failure's log line does not carry the fix:\n%s", f.Logs())
	}
	if v, err := f.SM.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(other)}); err != nil || aws.ToString(v.SecretString) != initial {
		t.Fatalf("the refused secret's AWSCURRENT changed: %v", err)
	}

	// A malformed event reaches the real binary and fails naming the field.
	f.MustRefuseMalformedEvent(arn)

	calls, stats := f.CountedRotationWith(&secretsmanager.RotateSecretInput{
		SecretId:      aws.String(arn),
		RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(90)},
	})
	t.Logf("the deployed bootstrap made %d Secrets Manager calls: %v", calls, stats)
	if calls > 10 {
		t.Fatalf("a rotation made %d Secrets Manager calls, want at most 10 (AWS's Python reference makes 14)", calls)
	}
	recs := f.Emu.Rotations()
	d, err := f.SM.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if st := d.VersionIdsToStages[recs[len(recs)-1].Token]; len(st) != 1 || st[0] != rotation.StageCurrent {
		t.Fatalf("new version has %v", st)
	}
	cur := f.Value(arn, "")
	// Nothing secret in anything the function printed.
	red := rotation.NewRedactor()
	red.AddSecretValue(initial)
	red.AddSecretValue(cur)
	f.MustNotLog(red, "a key")
	var v struct {
		APIKey string `json:"api_key"`
	}
	if json.Unmarshal([]byte(cur), &v) != nil || len(v.APIKey) != 40 {
		t.Fatalf("new key is %d characters, want DUALKEY_KEY_LENGTH=40", len(v.APIKey))
	}
	f.MustLog("structured promotion log line", `"msg":"promoted pending version to AWSCURRENT"`)
}
