package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/internal/dbtest"
	"github.com/dualkey/dualkey/internal/lambdarie"
	"github.com/dualkey/dualkey/shared/providers/postgres"
	"github.com/dualkey/dualkey/shared/rotation"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

const lambdaName = "dualkey-postgres"

// TestBootstrapUnderRIE builds this function exactly as it is deployed and
// rotates PostgreSQL secrets of both strategies through it under the
// Lambda Runtime Interface Emulator, against a real server it verifies with
// the CA bundle DUALKEY_DB_CA_BUNDLE names.
func TestBootstrapUnderRIE(t *testing.T) {
	ctx := context.Background()
	rie, err := lambdarie.FindRIE()
	if err != nil {
		t.Fatal(err)
	}
	srv := dbtest.SharedPostgres(t)
	bootstrap, err := lambdarie.Build(ctx, "postgres", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	port, err := lambdarie.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	rieURL := "http://127.0.0.1:" + strconv.Itoa(port) + lambdarie.InvokePath
	emu, err := awsemu.New(awsemu.Config{Lambdas: map[string]string{lambdaName: rieURL}})
	if err != nil {
		t.Fatal(err)
	}
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	proc, err := lambdarie.Start(ctx, rie, bootstrap, port, append(awsemu.FunctionEnv(url), postgres.EnvCABundle+"="+srv.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()

	db, app, master := dbtest.UniqueName("rie"), dbtest.UniqueName("app"), dbtest.UniqueName("m")
	appPW, masterPW := "Rie-app-0123456789abcdefghij", "Rie-master-0123456789abcdefgh"
	single, singlePW := dbtest.UniqueName("one"), "Rie-one-0123456789abcdefghijk"
	srv.MustExec(t, "", "CREATE DATABASE "+db)
	srv.MustExec(t, db,
		"CREATE ROLE "+master+" LOGIN CREATEROLE PASSWORD '"+masterPW+"'",
		"CREATE ROLE "+app+" LOGIN PASSWORD '"+appPW+"'",
		"CREATE ROLE "+single+" LOGIN PASSWORD '"+singlePW+"'",
	)
	sm := secretsmanager.NewFromConfig(awsemu.ClientConfig(url))
	value := func(m map[string]any) string {
		m["engine"], m["host"], m["port"], m["dbname"] = "postgres", srv.Host, srv.Port, db
		b, _ := json.Marshal(m)
		return string(b)
	}
	create := func(name, v string, tags bool) string {
		in := &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(v)}
		if tags {
			in.Tags = []types.Tag{
				{Key: aws.String(rotation.TagManaged), Value: aws.String("true")},
				{Key: aws.String(rotation.TagProvider), Value: aws.String(postgres.Name)},
			}
		}
		out, err := sm.CreateSecret(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.ARN)
	}
	masterARN := create("rie/master", value(map[string]any{"username": master, "password": masterPW}), false)
	multi := create("rie/app", value(map[string]any{"username": app, "password": appPW, "masterarn": masterARN}), true)
	one := create("rie/single", value(map[string]any{"username": single, "password": singlePW}), true)

	// A malformed event reaches the real binary and fails naming the field.
	_, err = proc.Invoke(ctx, []byte(`{"Step":"createSecret","SecretId":"`+multi+`","ClientRequestToken":""}`))
	var ie *lambdarie.InvokeError
	if !errors.As(err, &ie) || ie.Type != "RotationError" || !strings.Contains(ie.Message, `"ClientRequestToken"`) {
		t.Fatalf("malformed event: got %v, want a RotationError naming ClientRequestToken", err)
	}

	login := func(arn, stage string) error {
		out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String(stage)})
		if err != nil {
			return err
		}
		s, err := postgres.Parse(aws.ToString(out.SecretString))
		if err != nil {
			return err
		}
		cfg := s.ConnConfig()
		cfg.RootCAs = srv.CA().Pool()
		return postgres.Login(ctx, cfg)
	}
	rotate := func(arn string) int {
		t.Helper()
		resp, err := http.Post(url+"/_dualkey/stats/reset", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(arn),
			RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:" + lambdaName)}); err != nil {
			t.Fatal(err)
		}
		recs := emu.Rotations()
		if last := recs[len(recs)-1]; !last.Succeeded {
			t.Fatalf("rotation under the RIE failed at %s: %s\n%s", last.FailedStep, last.Error, proc.Logs())
		}
		resp, err = http.Get(url + "/_dualkey/stats")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var stats map[string]int
		if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
			t.Fatal(err)
		}
		calls := 0
		for op, n := range stats {
			if op != "RotateSecret" {
				calls += n
			}
		}
		return calls
	}
	for i := 1; i <= 2; i++ {
		calls := rotate(multi)
		t.Logf("alternating users, rotation %d: %d Secrets Manager calls", i, calls)
		if calls > 11 {
			t.Fatalf("rotation %d made %d Secrets Manager calls, want at most 11 (AWS's function makes 14)", i, calls)
		}
		for _, stage := range []string{rotation.StageCurrent, rotation.StagePrevious} {
			if err := login(multi, stage); err != nil {
				t.Fatalf("rotation %d: %s: %v", i, stage, err)
			}
		}
	}
	rotate(one)
	if err := login(one, rotation.StageCurrent); err != nil {
		t.Fatalf("single user: AWSCURRENT: %v", err)
	}
	if err := login(one, rotation.StagePrevious); !errors.Is(err, postgres.ErrAuth) {
		t.Fatalf("single user: the replaced password: %v, want ErrAuth", err)
	}

	// Nothing secret in anything the function printed.
	red := rotation.NewRedactor()
	red.Add(appPW, masterPW, singlePW)
	for _, arn := range []string{multi, one} {
		out, err := sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range out.Versions {
			gv, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionId: v.VersionId})
			if err == nil {
				red.AddSecretValue(aws.ToString(gv.SecretString))
			}
		}
	}
	if red.Contains(proc.Logs()) {
		t.Fatal("the function logged a password")
	}
	if !strings.Contains(proc.Logs(), `"msg":"alternate user set"`) || !strings.Contains(proc.Logs(), app+"_clone") {
		t.Fatalf("no log line naming the alternate user in:\n%s", proc.Logs())
	}
}

// TestBootstrapMisconfigured: a CA bundle the function cannot read makes
// every invocation fail with a ConfigError that names the variable.
func TestBootstrapMisconfigured(t *testing.T) {
	ctx := context.Background()
	rie, err := lambdarie.FindRIE()
	if err != nil {
		t.Fatal(err)
	}
	bootstrap, err := lambdarie.Build(ctx, "postgres", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	port, err := lambdarie.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	proc, err := lambdarie.Start(ctx, rie, bootstrap, port, append(awsemu.FunctionEnv("http://127.0.0.1:1"), postgres.EnvCABundle+"=/nonexistent/rds-global-bundle.pem"))
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	_, err = proc.Invoke(ctx, []byte(`{"Step":"createSecret","SecretId":"s","ClientRequestToken":"`+strings.Repeat("a", 36)+`"}`))
	var ie *lambdarie.InvokeError
	if !errors.As(err, &ie) || ie.Type != "ConfigError" || !strings.Contains(ie.Message, postgres.EnvCABundle) {
		t.Fatalf("invocation of a function with an unreadable CA bundle: %v, want a ConfigError naming %s", err, postgres.EnvCABundle)
	}
}
