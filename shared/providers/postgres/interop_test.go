package postgres_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dualkey/dualkey/shared/providers/postgres"
	"github.com/dualkey/dualkey/shared/sqlcred/sqlcredtest"
)

// awsConn is a session of AWS's documented multi-user steps for PostgreSQL
// (SecretsManagerRDSPostgreSQLRotationMultiUser in
// aws-samples/aws-secrets-manager-rotation-lambdas), in pgx: it shares no
// code with dualkey's provider.
type awsConn struct{ c *pgx.Conn }

// awsConnect logs in as get_connection does (verify-full first; these
// secrets have no "ssl" field, so AWS's fallback to plain text would follow
// a TLS failure: the test server's certificate never fails).
func awsConnect(rootCAs *x509.CertPool) func(ctx context.Context, d map[string]any) (sqlcredtest.AWSConn, error) {
	return func(ctx context.Context, d map[string]any) (sqlcredtest.AWSConn, error) {
		port := 5432
		if p, ok := d["port"].(float64); ok {
			port = int(p)
		}
		db := "postgres"
		if s, ok := d["dbname"].(string); ok && s != "" {
			db = s
		}
		cfg, err := pgx.ParseConfig("sslmode=disable connect_timeout=5")
		if err != nil {
			return nil, err
		}
		cfg.Host, cfg.Port, cfg.Database = d["host"].(string), uint16(port), db
		cfg.User, cfg.Password = d["username"].(string), d["password"].(string)
		cfg.TLSConfig = &tls.Config{RootCAs: rootCAs, ServerName: cfg.Host}
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return awsConn{c}, nil
	}
}

func (a awsConn) Close() { a.c.Close(context.Background()) }

func (a awsConn) Now(ctx context.Context) error {
	var now time.Time
	return a.c.QueryRow(ctx, "SELECT NOW()").Scan(&now)
}

// SetUser is set_secret's SQL: CREATE ROLE ... GRANT for a new clone,
// ALTER USER ... WITH PASSWORD for an existing one.
func (a awsConn) SetUser(ctx context.Context, cur, pend map[string]any) error {
	pendUser := pgx.Identifier{pend["username"].(string)}.Sanitize()
	curUser := pgx.Identifier{cur["username"].(string)}.Sanitize()
	literal := "'" + strings.ReplaceAll(pend["password"].(string), "'", "''") + "'"
	tx, err := a.c.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	var n int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM pg_roles WHERE rolname = $1", pend["username"]).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		if _, err := tx.Exec(ctx, "CREATE ROLE "+pendUser+" WITH LOGIN PASSWORD "+literal); err != nil {
			return errors.New("create role failed")
		}
		if _, err := tx.Exec(ctx, "GRANT "+curUser+" TO "+pendUser); err != nil {
			return err
		}
	} else if _, err := tx.Exec(ctx, "ALTER USER "+pendUser+" WITH PASSWORD "+literal); err != nil {
		return errors.New("alter user failed")
	}
	return tx.Commit(ctx)
}

// TestInteropWithAWSMultiUser rotates one secret alternately with dualkey
// and with AWS's documented multi-user steps for PostgreSQL, with
// dualkey's switch-off, rollback and recovery in between
// (sqlcredtest.TestInteropWithAWSMultiUser).
func TestInteropWithAWSMultiUser(t *testing.T) {
	t.Parallel()
	w := newWorld(t, postgres.StrategyAlternating)
	awsImpl := &sqlcredtest.AWSMultiUser{SM: w.SM, Engine: "postgres", Connect: awsConnect(w.u.srv.CA().Pool())}
	sqlcredtest.TestInteropWithAWSMultiUser(t, w.Shared(), awsImpl, postgres.ErrLocked)
}
