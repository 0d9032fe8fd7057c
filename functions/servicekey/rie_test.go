package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/iamemu"
	"github.com/dualkey/dualkey/internal/demo"
	"github.com/dualkey/dualkey/internal/lambdarie"
	"github.com/dualkey/dualkey/shared/rotation"
)

// TestBootstrapUnderRIE builds this function exactly as it is deployed and
// rotates a secret through it under the Lambda Runtime Interface Emulator.
func TestBootstrapUnderRIE(t *testing.T) {
	ctx := context.Background()
	rie, err := lambdarie.FindRIE()
	if err != nil {
		t.Fatal(err)
	}
	bootstrap, err := lambdarie.Build(ctx, "servicekey", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	port, err := lambdarie.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	rieURL := "http://127.0.0.1:" + strconv.Itoa(port) + lambdarie.InvokePath
	emu, err := awsemu.NewFull(awsemu.Config{Lambdas: map[string]string{"dualkey-servicekey": rieURL}}, iamemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	proc, err := lambdarie.Start(ctx, rie, bootstrap, port, append(awsemu.FunctionEnv(url), "DUALKEY_KEY_LENGTH=40"))
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()

	sm := demo.Client(url)
	const initial = `{"api_key":"rie-initial-0123456789abcdefghijklmnopq"}`
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("rie/key"), SecretString: aws.String(initial), Tags: []types.Tag{
		{Key: aws.String(rotation.TagManaged), Value: aws.String("true")},
		{Key: aws.String(rotation.TagProvider), Value: aws.String("servicekey")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(created.ARN)

	// A secret that is not servicekey's is refused by the real binary, which
	// names the tag to set and the command that ends the failed rotation.
	other, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("rie/other"), SecretString: aws.String(initial), Tags: []types.Tag{
		{Key: aws.String(rotation.TagManaged), Value: aws.String("true")},
		{Key: aws.String(rotation.TagProvider), Value: aws.String("iamkey")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId:          other.ARN,
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:dualkey-servicekey"),
	}); err != nil {
		t.Fatal(err)
	}
	if recs := emu.Rotations(); recs[len(recs)-1].Succeeded || !strings.Contains(recs[len(recs)-1].Error, "is tagged dualkey:provider=iamkey") {
		t.Fatalf("the servicekey function rotated a secret tagged for iamkey: %+v", recs[len(recs)-1])
	}
	if !strings.Contains(proc.Logs(), `"fix":"dualkey cancel `+aws.ToString(other.ARN)+`"`) {
		t.Fatalf("the failure's log line does not carry the fix:\n%s", proc.Logs())
	}
	if v, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: other.ARN}); err != nil || aws.ToString(v.SecretString) != initial {
		t.Fatalf("the refused secret's AWSCURRENT changed: %v", err)
	}

	// A malformed event reaches the real binary and fails naming the field.
	_, err = proc.Invoke(ctx, []byte(`{"Step":"createSecret","SecretId":"`+arn+`","ClientRequestToken":""}`))
	var ie *lambdarie.InvokeError
	if !errors.As(err, &ie) || ie.Type != "RotationError" || !strings.Contains(ie.Message, `"ClientRequestToken"`) {
		t.Fatalf("malformed event: got %v, want a RotationError naming ClientRequestToken", err)
	}

	post := func(path string) *http.Response {
		resp, err := http.Post(url+path, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	post("/_dualkey/stats/reset").Body.Close()
	rot, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(arn),
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:dualkey-servicekey"),
		RotationRules:     &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(90)},
	})
	if err != nil {
		t.Fatal(err)
	}
	recs := emu.Rotations()
	if last := recs[len(recs)-1]; !last.Succeeded {
		t.Fatalf("rotation under the RIE failed at %s: %s\n%s", last.FailedStep, last.Error, proc.Logs())
	}
	resp, err := http.Get(url + "/_dualkey/stats")
	if err != nil {
		t.Fatal(err)
	}
	var stats map[string]int
	err = json.NewDecoder(resp.Body).Decode(&stats)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	for op, n := range stats {
		if op != "RotateSecret" {
			calls += n
		}
	}
	t.Logf("the deployed bootstrap made %d Secrets Manager calls: %v", calls, stats)
	if calls > 10 {
		t.Fatalf("a rotation made %d Secrets Manager calls, want at most 10 (AWS's Python reference makes 14)", calls)
	}
	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if st := d.VersionIdsToStages[aws.ToString(rot.VersionId)]; len(st) != 1 || st[0] != rotation.StageCurrent {
		t.Fatalf("new version has %v", st)
	}
	cur, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing secret in anything the function printed.
	red := rotation.NewRedactor()
	red.AddSecretValue(initial)
	red.AddSecretValue(aws.ToString(cur.SecretString))
	if red.Contains(proc.Logs()) {
		t.Fatal("the function logged a key")
	}
	var v struct {
		APIKey string `json:"api_key"`
	}
	if json.Unmarshal([]byte(aws.ToString(cur.SecretString)), &v) != nil || len(v.APIKey) != 40 {
		t.Fatalf("new key is %d characters, want DUALKEY_KEY_LENGTH=40", len(v.APIKey))
	}
	if !strings.Contains(proc.Logs(), `"msg":"promoted pending version to AWSCURRENT"`) {
		t.Fatalf("no structured promotion log line in:\n%s", proc.Logs())
	}
}
