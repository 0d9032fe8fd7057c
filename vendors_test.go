package dualkey_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	stripego "github.com/stripe/stripe-go/v76"

	"github.com/dualkey/dualkey/emulator/sendgridfake"
	"github.com/dualkey/dualkey/emulator/stripefake"
	"github.com/dualkey/dualkey/emulator/twiliofake"
	"github.com/dualkey/dualkey/internal/dbtest"
	"github.com/dualkey/dualkey/shared/providers/mysql"
	"github.com/dualkey/dualkey/shared/providers/postgres"
	"github.com/dualkey/dualkey/shared/rotation"
)

// The vendors the root tests rotate credentials at: dualkey's stateful
// Stripe, Twilio and SendGrid fakes (emulator/stripefake, twiliofake,
// sendgridfake), a vendor API whose keys are rolled in its dashboard only
// (the staged provider), and real PostgreSQL and MariaDB servers
// (internal/dbtest, shared by the package's tests). All listen on loopback
// and enforce their credentials as the real ones do.

// TestMain stops the database servers the package's tests shared.
func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// startStripeFake starts the Stripe fake on loopback; it stops with the test.
func startStripeFake(t *testing.T) (*stripefake.Server, string) {
	t.Helper()
	fake := stripefake.New(stripefake.Config{})
	url, err := fake.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	return fake, url
}

// startTwilioFake starts the Twilio fake on loopback (every Twilio host:
// DUALKEY_TWILIO_API_URL, _IAM_URL and _ACCOUNTS_URL); it stops with the test.
func startTwilioFake(t *testing.T) (*twiliofake.Server, string) {
	t.Helper()
	fake := twiliofake.New(twiliofake.Config{})
	url, err := fake.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	return fake, url
}

// startSendGridFake starts the SendGrid fake on loopback
// (DUALKEY_SENDGRID_API_URL); it stops with the test.
func startSendGridFake(t *testing.T) (*sendgridfake.Server, string) {
	t.Helper()
	fake := sendgridfake.New(sendgridfake.Config{})
	url, err := fake.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	return fake, url
}

// twilioKeySids returns the SIDs of the account's API keys at the fake.
func twilioKeySids(t *testing.T, fake *twiliofake.Server, account string) map[string]bool {
	t.Helper()
	keys, err := fake.Keys(account)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, k := range keys {
		out[k.Sid] = true
	}
	return out
}

// sendgridKeyIDs returns the ids of the user's API keys at the fake.
func sendgridKeyIDs(t *testing.T, fake *sendgridfake.Server, user string) map[string]bool {
	t.Helper()
	keys, err := fake.Keys(user)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, k := range keys {
		out[k.ID] = true
	}
	return out
}

// dbUsers is a database with an application user whose secret dualkey
// rotates and an RDS-like master user (PostgreSQL: CREATEROLE and
// pg_monitor for the usage evidence; MariaDB: RDS's master privileges),
// made as the server's admin.
type dbUsers struct {
	srv              *dbtest.Server
	engine, db       string
	app, appPW       string
	master, masterPW string
}

// newDBUsers makes a database and its users on srv; names are unique.
func newDBUsers(t *testing.T, srv *dbtest.Server) *dbUsers {
	t.Helper()
	u := &dbUsers{srv: srv, engine: srv.Engine, db: dbtest.UniqueName("policy"), app: dbtest.UniqueName("app"), appPW: randomHex(t),
		master: dbtest.UniqueName("m"), masterPW: randomHex(t)}
	if srv.Engine == dbtest.EnginePostgres {
		srv.MustExec(t, "", "CREATE DATABASE "+u.db)
		srv.MustExec(t, u.db,
			"CREATE ROLE "+u.master+" LOGIN CREATEROLE PASSWORD '"+u.masterPW+"'",
			"GRANT pg_monitor TO "+u.master,
			"CREATE ROLE "+u.app+" LOGIN PASSWORD '"+u.appPW+"'",
			"GRANT "+u.app+" TO "+u.master+" WITH ADMIN OPTION", // PostgreSQL 16+: the master manages the role
		)
		return u
	}
	srv.MustExec(t, "",
		"CREATE DATABASE "+u.db,
		"CREATE USER '"+u.master+"'@'%' IDENTIFIED BY '"+u.masterPW+"'",
		"GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, RELOAD, PROCESS, REFERENCES, INDEX, ALTER, SHOW DATABASES, "+
			"CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, CREATE USER, EVENT, TRIGGER "+
			"ON *.* TO '"+u.master+"'@'%' WITH GRANT OPTION", // RDS's master user
		"CREATE USER '"+u.app+"'@'%' IDENTIFIED BY '"+u.appPW+"'",
		"GRANT SELECT ON "+u.db+".* TO '"+u.app+"'@'%'",
	)
	return u
}

// value is a secret in AWS's format for user; masterARN "" makes it a
// single-user secret.
func (u *dbUsers) value(user, pw, masterARN string) string {
	engine := "postgres"
	if u.engine == dbtest.EngineMariaDB {
		engine = "mariadb"
	}
	m := map[string]any{"engine": engine, "host": u.srv.Host, "port": u.srv.Port, "username": user, "password": pw, "dbname": u.db}
	if masterARN != "" {
		m["masterarn"] = masterARN
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// login logs in with a secret value, verifying the server's certificate
// (nil: it worked). Its errors never hold the password.
func (u *dbUsers) login(ctx context.Context, value string) error {
	if u.engine == dbtest.EnginePostgres {
		s, err := postgres.Parse(value)
		if err != nil {
			return err
		}
		cfg := s.ConnConfig()
		cfg.RootCAs = u.srv.CA().Pool()
		return postgres.Login(ctx, cfg)
	}
	s, err := mysql.Parse(value)
	if err != nil {
		return err
	}
	cfg := s.ConnConfig()
	cfg.RootCAs = u.srv.CA().Pool()
	return mysql.Login(ctx, cfg)
}

// randomHex is a random password of 32 hex digits (safe in SQL literals).
func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// createWebhookEndpoint creates a webhook endpoint at the Stripe fake with
// adminKey, as an operator does in the Dashboard, and returns its id and
// signing secret.
func createWebhookEndpoint(t *testing.T, stripeURL, adminKey, target string) (id, secret string) {
	t.Helper()
	backend := stripego.GetBackendWithConfig(stripego.APIBackend, &stripego.BackendConfig{URL: stripego.String(stripeURL),
		LeveledLogger: &stripego.LeveledLogger{Level: stripego.LevelNull}, MaxNetworkRetries: stripego.Int64(0)})
	ep := &stripego.WebhookEndpoint{}
	if err := backend.Call(http.MethodPost, "/v1/webhook_endpoints", adminKey, &stripego.WebhookEndpointParams{
		URL: stripego.String(target), EnabledEvents: stripego.StringSlice([]string{"invoice.paid", "charge.succeeded"}),
		APIVersion: stripego.String(stripego.APIVersion),
	}, ep); err != nil {
		t.Fatalf("create a webhook endpoint at the Stripe fake: the fake refused it (%T)", err)
	}
	return ep.ID, ep.Secret
}

// stage stores the AWSCURRENT value merged with fields as a new version
// labelled DUALKEY_INCOMING, as `dualkey stage` does.
func stage(ctx context.Context, t *testing.T, sm *secretsmanager.Client, arn string, fields map[string]any) {
	t.Helper()
	cur, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	v, err := rotation.MergeSecret(aws.ToString(cur.SecretString), fields)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String(v),
		VersionStages: []string{rotation.StageIncoming}}); err != nil {
		t.Fatal(err)
	}
}

// stagedVendor is a vendor API whose keys are rolled in its dashboard only:
// GET /v1/me with "Authorization: Bearer <token>" answers the token's
// account, 401 for an unknown or revoked token. No such server exists to
// run, so this one enforces its tokens as a real API does.
type stagedVendor struct {
	URL    string
	mu     sync.Mutex
	tokens map[string]string // token -> account
}

func newStagedVendor(t *testing.T) *stagedVendor {
	t.Helper()
	v := &stagedVendor{tokens: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		v.mu.Lock()
		acct, known := v.tokens[tok]
		v.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method != http.MethodGet || r.URL.Path != "/v1/me":
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":"not found"}`)
		case !ok || !known:
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid token"}`)
		default:
			fmt.Fprintf(w, `{"account":{"id":%q}}`, acct)
		}
	}))
	t.Cleanup(srv.Close)
	v.URL = srv.URL
	return v
}

// issue makes a token of account, as the vendor's dashboard does.
func (v *stagedVendor) issue(account string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := "vk_" + hex.EncodeToString(b)
	v.mu.Lock()
	v.tokens[tok] = account
	v.mu.Unlock()
	return tok
}

// revoke switches a token off, as the operator does in the dashboard.
func (v *stagedVendor) revoke(tok string) {
	v.mu.Lock()
	delete(v.tokens, tok)
	v.mu.Unlock()
}

// secretValue is a staged secret holding token, with the probe the
// provider sends to prove a token and compare its account.
func (v *stagedVendor) secretValue(token string) string {
	b, _ := json.Marshal(map[string]any{
		"api_key": token,
		"probe": map[string]any{
			"url":      v.URL + "/v1/me",
			"auth":     map[string]string{"header": "Authorization", "prefix": "Bearer ", "field": "api_key"},
			"identity": map[string]string{"pointer": "/account/id"},
		},
	})
	return string(b)
}

// buildFunctions builds functions/<fn> for this machine's architecture as
// deployed (static, lambda.norpc), each to dir/<fn>, in one go build: one
// go command compiles every shared package once (separate go commands
// compiling the same uncached package at once have failed here with
// "could not import ... (open : no such file or directory)").
// With dir "" it only compiles (several main packages without -o are not
// linked): enough to fill the build cache for later go builds.
func buildFunctions(ctx context.Context, dir string, fns ...string) error {
	args := []string{"build", "-tags", "lambda.norpc", "-trimpath"}
	if dir != "" {
		args = append(args, "-ldflags=-s -w", "-o", dir+string(os.PathSeparator))
	}
	for _, fn := range fns {
		args = append(args, "./functions/"+fn)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %v: %w\n%s", fns, err, out)
	}
	return nil
}

// rfc3339 formats t as the secrets' expiry fields do.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
