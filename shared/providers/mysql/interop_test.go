package mysql_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	gomysql "github.com/go-sql-driver/mysql"

	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/providers/mysql"
	"github.com/dualkey/dualkey/shared/rotation"
)

// awsMultiUser is a second implementation of the rotation, written from
// AWS's documented multi-user steps for MariaDB
// (SecretsManagerRDSMariaDBRotationMultiUser in
// aws-samples/aws-secrets-manager-rotation-lambdas): it shares no code with
// dualkey's provider or engine, so a secret rotated alternately by both
// proves the secret format and the alternating users are compatible.
type awsMultiUser struct {
	sm      *secretsmanager.Client
	rootCAs *x509.CertPool
}

func (a *awsMultiUser) handle(ctx context.Context, payload []byte) error {
	var ev events.SecretsManagerSecretRotationEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return err
	}
	d, err := a.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(ev.SecretID)})
	if err != nil {
		return err
	}
	if !aws.ToBool(d.RotationEnabled) {
		return fmt.Errorf("secret %s is not enabled for rotation", ev.SecretID)
	}
	stages, ok := d.VersionIdsToStages[ev.ClientRequestToken]
	if !ok {
		return fmt.Errorf("secret version %s has no stage for rotation", ev.ClientRequestToken)
	}
	if slices.Contains(stages, rotation.StageCurrent) {
		return nil
	}
	if !slices.Contains(stages, rotation.StagePending) {
		return fmt.Errorf("secret version %s not set as AWSPENDING", ev.ClientRequestToken)
	}
	switch ev.Step {
	case "createSecret":
		return a.create(ctx, ev.SecretID, ev.ClientRequestToken)
	case "setSecret":
		return a.set(ctx, ev.SecretID, ev.ClientRequestToken)
	case "testSecret":
		return a.test(ctx, ev.SecretID, ev.ClientRequestToken)
	case "finishSecret":
		return a.finish(ctx, ev.SecretID, ev.ClientRequestToken)
	}
	return fmt.Errorf("invalid step %q", ev.Step)
}

// dict reads one version as AWS's function does (get_secret_dict).
func (a *awsMultiUser) dict(ctx context.Context, id, stage, token string) (map[string]any, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionStage: aws.String(stage)}
	if token != "" {
		in.VersionId = aws.String(token)
	}
	out, err := a.sm.GetSecretValue(ctx, in)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &m); err != nil {
		return nil, fmt.Errorf("invalid secret value json: %w", err)
	}
	for _, f := range []string{"engine", "host", "username", "password"} {
		if _, ok := m[f]; !ok {
			return nil, fmt.Errorf("%s key is missing from secret JSON", f)
		}
	}
	if m["engine"] != "mariadb" {
		return nil, errors.New("database engine must be set to 'mariadb' in order to use this rotation lambda")
	}
	return m, nil
}

func altUsername(user string) string {
	if base, ok := strings.CutSuffix(user, "_clone"); ok {
		return base
	}
	return user + "_clone"
}

func (a *awsMultiUser) create(ctx context.Context, arn, token string) error {
	cur, err := a.dict(ctx, arn, rotation.StageCurrent, "")
	if err != nil {
		return err
	}
	_, err = a.dict(ctx, arn, rotation.StagePending, token)
	var ae smithy.APIError
	if err == nil || !errors.As(err, &ae) || ae.ErrorCode() != "ResourceNotFoundException" {
		return err
	}
	cur["username"] = altUsername(cur["username"].(string))
	pw, err := a.sm.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordInput{ExcludeCharacters: aws.String(`/@"'\`), PasswordLength: aws.Int64(32)})
	if err != nil {
		return err
	}
	cur["password"] = aws.ToString(pw.RandomPassword)
	b, _ := json.Marshal(cur)
	_, err = a.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn), ClientRequestToken: aws.String(token),
		SecretString: aws.String(string(b)), VersionStages: []string{rotation.StagePending}})
	return err
}

// connect logs in as get_connection does (TLS first; these secrets have no
// "ssl" field, so AWS's fallback to plain text would follow a TLS failure:
// the test server's certificate never fails).
func (a *awsMultiUser) connect(ctx context.Context, d map[string]any) (*sql.DB, error) {
	port := 3306
	if p, ok := d["port"].(float64); ok {
		port = int(p)
	}
	cfg := gomysql.NewConfig()
	cfg.Net, cfg.Addr = "tcp", fmt.Sprintf("%s:%d", d["host"], port)
	cfg.User, cfg.Passwd = d["username"].(string), d["password"].(string)
	if s, ok := d["dbname"].(string); ok {
		cfg.DBName = s
	}
	cfg.TLS = &tls.Config{RootCAs: a.rootCAs, ServerName: d["host"].(string)}
	cfg.Timeout = 5 * time.Second
	cfg.InterpolateParams = true
	cfg.Logger = &gomysql.NopLogger{}
	conn, err := gomysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func (a *awsMultiUser) set(ctx context.Context, arn, token string) error {
	cur, err := a.dict(ctx, arn, rotation.StageCurrent, "")
	if err != nil {
		return err
	}
	pend, err := a.dict(ctx, arn, rotation.StagePending, token)
	if err != nil {
		return err
	}
	if conn, err := a.connect(ctx, pend); err == nil {
		conn.Close()
		return nil
	}
	if altUsername(cur["username"].(string)) != pend["username"] {
		return errors.New("attempting to modify user other than current user or clone")
	}
	if cur["host"] != pend["host"] {
		return errors.New("attempting to modify user for host other than current host")
	}
	conn, err := a.connect(ctx, cur)
	if err != nil {
		return errors.New("unable to log into database using current credentials")
	}
	conn.Close()
	master, err := a.dict(ctx, cur["masterarn"].(string), rotation.StageCurrent, "")
	if err != nil {
		return err
	}
	master["dbname"] = cur["dbname"]
	if cur["host"] != master["host"] {
		return errors.New("current database host is not the same host as master")
	}
	conn, err = a.connect(ctx, master)
	if err != nil {
		return errors.New("unable to log into database using credentials in master secret")
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, "SHOW GRANTS FOR ?", cur["username"])
	if err != nil {
		return err
	}
	var grants []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			rows.Close()
			return err
		}
		grants = append(grants, g)
	}
	rows.Close()
	for _, g := range grants {
		head, _, _ := strings.Cut(g, " TO ")
		if _, err := conn.ExecContext(ctx, head+" TO ? IDENTIFIED BY ?", pend["username"], pend["password"]); err != nil {
			return errors.New("grant failed")
		}
	}
	var sslType string
	var cipher, issuer, subject []byte
	if err := conn.QueryRowContext(ctx, "SELECT ssl_type, ssl_cipher, x509_issuer, x509_subject FROM mysql.user WHERE User = ?", cur["username"]).Scan(&sslType, &cipher, &issuer, &subject); err != nil {
		return err
	}
	switch sslType {
	case "":
		_, err = conn.ExecContext(ctx, "ALTER USER ?@'%' REQUIRE NONE", pend["username"])
	case "ANY":
		_, err = conn.ExecContext(ctx, "ALTER USER ?@'%' REQUIRE SSL", pend["username"])
	case "X509":
		_, err = conn.ExecContext(ctx, "ALTER USER ?@'%' REQUIRE X509", pend["username"])
	default:
		_, err = conn.ExecContext(ctx, "ALTER USER ?@'%' REQUIRE CIPHER ? AND ISSUER ? AND SUBJECT ?", pend["username"], string(cipher), string(issuer), string(subject))
	}
	return err
}

func (a *awsMultiUser) test(ctx context.Context, arn, token string) error {
	pend, err := a.dict(ctx, arn, rotation.StagePending, token)
	if err != nil {
		return err
	}
	conn, err := a.connect(ctx, pend)
	if err != nil {
		return errors.New("unable to log into database with pending secret")
	}
	defer conn.Close()
	var now string
	return conn.QueryRowContext(ctx, "SELECT NOW()").Scan(&now)
}

func (a *awsMultiUser) finish(ctx context.Context, arn, token string) error {
	d, err := a.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		return err
	}
	current := ""
	for id, st := range d.VersionIdsToStages {
		if slices.Contains(st, rotation.StageCurrent) {
			if id == token {
				return nil
			}
			current = id
			break
		}
	}
	_, err = a.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(arn),
		VersionStage: aws.String(rotation.StageCurrent), MoveToVersionId: aws.String(token), RemoveFromVersionId: aws.String(current)})
	return err
}

// One secret, one server, rotated alternately by dualkey and by AWS's
// documented multi-user steps, with dualkey's switch-off in between: every
// rotation logs in. dualkey locks the previous user and AWS's function
// never unlocks one, so the handback procedure is "dualkey rollback" first
// (which unlocks it); a forgotten rollback makes AWS's rotation fail at
// testSecret while AWSCURRENT keeps working, and retrying that rotation
// with dualkey's function recovers.
func TestInteropWithAWSMultiUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, mysql.StrategyAlternating)
	awsImpl := &awsMultiUser{sm: w.sm, rootCAs: w.u.srv.CA().Pool()}
	useAWS := func() { w.invoke = awsImpl.handle }
	useDualkey := func() { w.invoke = nil }
	// check asserts what holds after every completed rotation.
	check := func(step string, previousLocked bool) {
		t.Helper()
		if err := w.works(rotation.StageCurrent); err != nil {
			t.Fatalf("%s: AWSCURRENT: %v", step, err)
		}
		err := w.works(rotation.StagePrevious)
		if previousLocked {
			if !errors.Is(err, mysql.ErrLocked) {
				t.Fatalf("%s: AWSPREVIOUS should be switched off: %v", step, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: AWSPREVIOUS (dual-key window): %v", step, err)
		}
	}
	retireAfterDrain := func(step string) {
		t.Helper()
		w.clock.Advance(90 * time.Minute)
		if rep := w.retire(); rep.State != lifecycle.StateDeactivated {
			t.Fatalf("%s: retire state %q, want %q:\n%s", step, rep.State, lifecycle.StateDeactivated, reasons(rep))
		}
		check(step, true)
	}

	useAWS()
	w.mustRotate() // AWS creates <app>_clone (GRANT ... IDENTIFIED BY)
	check("1: AWS's rotation creates the clone", false)
	useDualkey()
	w.mustRotate() // dualkey accepts AWS's clone as the alternate user
	check("2: dualkey's rotation after AWS's", false)
	retireAfterDrain("3: dualkey's switch-off")

	// 4: handed back to AWS without the rollback: AWS's setSecret only
	// changes the password, so its testSecret meets the locked user.
	useAWS()
	token, rec := w.rotate("")
	if rec.Succeeded || rec.FailedStep != rotation.StepTest {
		t.Fatalf("4: AWS's rotation of the locked user: %+v, want a failure at testSecret", rec)
	}
	if err := w.works(rotation.StageCurrent); err != nil {
		t.Fatalf("4: AWSCURRENT while AWS's rotation is stuck: %v", err)
	}
	// 5: recovery: Secrets Manager's retry of that rotation with dualkey's
	// function, whose setSecret unlocks the user as it sets the password.
	useDualkey()
	if _, rec := w.rotate(token); !rec.Succeeded {
		t.Fatalf("5: dualkey's retry of the stuck rotation: %s: %s", rec.FailedStep, rec.Error)
	}
	check("5: dualkey finished AWS's stuck rotation", false)

	// 6: the documented handback: switch-off, then dualkey rollback
	// (unlock), then AWS's function.
	retireAfterDrain("6: dualkey's switch-off")
	if _, err := w.lc.Rollback(ctx, w.arn, lifecycle.RollbackOptions{Reason: "hand the secret back to AWS's rotation function"}); err != nil {
		t.Fatalf("6: rollback: %v", err)
	}
	check("6: after the rollback", false)
	useAWS()
	w.mustRotate()
	check("7: AWS's rotation after the rollback", false)
	useDualkey()
	w.mustRotate()
	check("8: dualkey's rotation", false)
	useAWS()
	w.mustRotate()
	check("9: AWS's rotation", false)
	w.noSecretsIn("the logs", w.logs.String())
}
