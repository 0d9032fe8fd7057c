package mysql_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	gomysql "github.com/go-sql-driver/mysql"

	"github.com/dualkey/dualkey/internal/dbtest"
	"github.com/dualkey/dualkey/shared/providers/mysql"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

// The conformance kit rotates a MariaDB secret of each strategy through the
// real Secrets Manager protocol against the shared server, with a fault
// injected at every external call: Secrets Manager calls and, through the
// provider's CallHook and the kit's Transport.Call, every login and SQL
// statement.
func TestConformance(t *testing.T) {
	for _, strategy := range []mysql.Strategy{mysql.StrategyAlternating, mysql.StrategySingle} {
		t.Run(string(strategy), func(t *testing.T) { rotationtest.Run(t, subject(strategy)) })
	}
}

// masterSecretName is the master user's secret in each kit environment.
const masterSecretName = "conformance/master"

var (
	rotDBOnce sync.Once
	rotDB     string
)

// rotationDB is one database of the shared server that every conformance
// environment's users read (a table pub).
func rotationDB(t testing.TB) (*dbtest.Server, string) {
	t.Helper()
	srv := dbtest.SharedMariaDB(t)
	rotDBOnce.Do(func() {
		name := dbtest.UniqueName("rot")
		if err := srv.Exec(context.Background(), "", "CREATE DATABASE "+name,
			"CREATE TABLE "+name+".pub (v int)", "INSERT INTO "+name+".pub VALUES (1)"); err != nil {
			t.Fatalf("create database: %v", err)
		}
		rotDB = name
	})
	if rotDB == "" {
		t.Fatal("the conformance database could not be created")
	}
	return srv, rotDB
}

// dbUsers is one environment's accounts: an app account that may read pub
// and an RDS-like master account.
type dbUsers struct {
	srv              *dbtest.Server
	db               string
	app, appPW       string
	master, masterPW string
}

func newUsers(t testing.TB) *dbUsers {
	t.Helper()
	srv, db := rotationDB(t)
	u := &dbUsers{srv: srv, db: db, app: dbtest.UniqueName("app"), appPW: password(t), master: dbtest.UniqueName("m"), masterPW: password(t)}
	srv.MustExec(t, "",
		"CREATE USER '"+u.master+"'@'%' IDENTIFIED BY '"+u.masterPW+"'",
		"GRANT "+rdsMasterPrivileges+" ON *.* TO '"+u.master+"'@'%' WITH GRANT OPTION",
		"CREATE USER '"+u.app+"'@'%' IDENTIFIED BY '"+u.appPW+"'",
		"GRANT SELECT ON "+db+".pub TO '"+u.app+"'@'%'",
	)
	return u
}

// value is a secret value in AWS's format for this server, with a field
// dualkey does not know (a rotation must keep it).
func (u *dbUsers) value(user, pw, masterARN string) string {
	m := map[string]any{
		"engine": "mariadb", "host": u.srv.Host, "port": u.srv.Port, "username": user, "password": pw,
		"dbname": u.db, "app_note": "kept by every rotation",
	}
	if masterARN != "" {
		m["masterarn"] = masterARN
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// masterValue is the master secret: AWS's format with host and port.
func (u *dbUsers) masterValue() string {
	b, _ := json.Marshal(map[string]any{"engine": "mariadb", "host": u.srv.Host, "port": u.srv.Port, "username": u.master, "password": u.masterPW})
	return string(b)
}

// works logs in with a secret value and reads pub (the grants came along).
// Its errors never hold the password.
func (u *dbUsers) works(ctx context.Context, value string) error {
	s, err := mysql.Parse(value)
	if err != nil {
		return err
	}
	cfg := s.ConnConfig()
	cfg.RootCAs = u.srv.CA().Pool()
	if err := mysql.Login(ctx, cfg); err != nil {
		return err
	}
	return queryPub(ctx, u.srv, s.Username, s.Password, u.db)
}

// queryPub reads the table pub as user. Its errors never hold the
// password.
func queryPub(ctx context.Context, srv *dbtest.Server, user, pw, db string) error {
	conn, err := gomysql.NewConnector(srv.MySQLConfig(user, pw, db))
	if err != nil {
		return fmt.Errorf("connector for %q: %s", user, mysqlState(err))
	}
	h := sql.OpenDB(conn)
	defer h.Close()
	var v int
	if err := h.QueryRowContext(ctx, "SELECT v FROM pub").Scan(&v); err != nil {
		return fmt.Errorf("%q cannot read pub: %s", user, mysqlState(err))
	}
	if v != 1 {
		return fmt.Errorf("%q read %d from pub, want 1", user, v)
	}
	return nil
}

// mysqlState describes an error by its number and message.
func mysqlState(err error) string {
	var my *gomysql.MySQLError
	if errors.As(err, &my) {
		return fmt.Sprintf("error %d %s", my.Number, my.Message)
	}
	return "connection failed"
}

// createMaster stores the master secret in the environment's emulator and
// returns its ARN.
func createMaster(t testing.TB, sm *secretsmanager.Client, u *dbUsers) string {
	t.Helper()
	out, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(masterSecretName), SecretString: aws.String(u.masterValue()),
	})
	if err != nil {
		t.Fatalf("create master secret: %v", err)
	}
	return aws.ToString(out.ARN)
}

func subject(strategy mysql.Strategy) rotationtest.Subject {
	s := rotationtest.Subject{OldStaysValid: strategy == mysql.StrategyAlternating}
	// createSecret 4, setSecret 2 (alternating users also read the master
	// secret), testSecret 1, finishSecret 3; AWS's function makes 14.
	s.MaxCalls = 10
	if strategy == mysql.StrategyAlternating {
		s.MaxCalls = 11
	}
	s.Setup = func(t testing.TB, env *rotationtest.Env) *rotationtest.Fixture {
		u := newUsers(t)
		masterARN := ""
		if strategy == mysql.StrategyAlternating {
			masterARN = createMaster(t, env.SM, u)
		}
		return &rotationtest.Fixture{
			Initial: u.value(u.app, u.appPW, masterARN),
			NewProvider: func(client *http.Client) rotation.Provider {
				cfg := mysql.Config{
					RootCAs: u.srv.CA().Pool(),
					Now:     env.Clock.Now,
					Logger:  slog.New(slog.NewJSONHandler(env.Logs, nil)),
				}
				// The engine's own instance counts and faults every login
				// and statement with the kit's transport; other instances
				// (duplicate deliveries) run unhooked.
				if client != nil && client.Transport == http.RoundTripper(env.Faults()) {
					cfg.Hook = env.Faults().Call
				}
				return mysql.New(cfg)
			},
			Works: func(ctx context.Context, value string) error {
				err := u.works(ctx, value)
				if err == nil || strategy != mysql.StrategySingle || !errors.Is(err, mysql.ErrAuth) {
					return err
				}
				// AWS's single-user strategy has no dual-key window: from
				// setSecret to finishSecret only AWSPENDING logs in. That
				// window (and only it) is accepted here; after a completed
				// rotation no AWSPENDING is left, so CheckFinal still
				// demands a working AWSCURRENT.
				pending := env.Value(ctx, rotationtest.SecretName, rotation.StagePending)
				if pending == "" || pending == value {
					return err
				}
				if perr := u.works(ctx, pending); perr != nil {
					return errors.Join(err, perr)
				}
				return nil
			},
		}
	}
	return s
}
