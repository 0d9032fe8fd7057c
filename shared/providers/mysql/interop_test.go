package mysql_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/dualkey/dualkey/shared/providers/mysql"
	"github.com/dualkey/dualkey/shared/sqlcred/sqlcredtest"
)

// awsConn is a session of AWS's documented multi-user steps for MariaDB
// (SecretsManagerRDSMariaDBRotationMultiUser in
// aws-samples/aws-secrets-manager-rotation-lambdas), in go-sql-driver: it
// shares no code with dualkey's provider.
type awsConn struct{ db *sql.DB }

// awsConnect logs in as get_connection does (TLS first; these secrets have
// no "ssl" field, so AWS's fallback to plain text would follow a TLS
// failure: the test server's certificate never fails).
func awsConnect(rootCAs *x509.CertPool) func(ctx context.Context, d map[string]any) (sqlcredtest.AWSConn, error) {
	return func(ctx context.Context, d map[string]any) (sqlcredtest.AWSConn, error) {
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
		cfg.TLS = &tls.Config{RootCAs: rootCAs, ServerName: d["host"].(string)}
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
		return awsConn{db}, nil
	}
}

func (a awsConn) Close() { a.db.Close() }

func (a awsConn) Now(ctx context.Context) error {
	var now string
	return a.db.QueryRowContext(ctx, "SELECT NOW()").Scan(&now)
}

// SetUser is set_secret's SQL: every grant of the current user replayed
// on the pending one (GRANT ... IDENTIFIED BY creates it or sets its
// password), then its TLS requirement.
func (a awsConn) SetUser(ctx context.Context, cur, pend map[string]any) error {
	rows, err := a.db.QueryContext(ctx, "SHOW GRANTS FOR ?", cur["username"])
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
		if _, err := a.db.ExecContext(ctx, head+" TO ? IDENTIFIED BY ?", pend["username"], pend["password"]); err != nil {
			return errors.New("grant failed")
		}
	}
	var sslType string
	var cipher, issuer, subject []byte
	if err := a.db.QueryRowContext(ctx, "SELECT ssl_type, ssl_cipher, x509_issuer, x509_subject FROM mysql.user WHERE User = ?", cur["username"]).Scan(&sslType, &cipher, &issuer, &subject); err != nil {
		return err
	}
	switch sslType {
	case "":
		_, err = a.db.ExecContext(ctx, "ALTER USER ?@'%' REQUIRE NONE", pend["username"])
	case "ANY":
		_, err = a.db.ExecContext(ctx, "ALTER USER ?@'%' REQUIRE SSL", pend["username"])
	case "X509":
		_, err = a.db.ExecContext(ctx, "ALTER USER ?@'%' REQUIRE X509", pend["username"])
	default:
		_, err = a.db.ExecContext(ctx, "ALTER USER ?@'%' REQUIRE CIPHER ? AND ISSUER ? AND SUBJECT ?", pend["username"], string(cipher), string(issuer), string(subject))
	}
	return err
}

// TestInteropWithAWSMultiUser rotates one secret alternately with dualkey
// and with AWS's documented multi-user steps for MariaDB, with dualkey's
// switch-off, rollback and recovery in between
// (sqlcredtest.TestInteropWithAWSMultiUser).
func TestInteropWithAWSMultiUser(t *testing.T) {
	t.Parallel()
	w := newWorld(t, mysql.StrategyAlternating)
	awsImpl := &sqlcredtest.AWSMultiUser{SM: w.SM, Engine: "mariadb", Connect: awsConnect(w.u.srv.CA().Pool())}
	sqlcredtest.TestInteropWithAWSMultiUser(t, w.Shared(), awsImpl, mysql.ErrLocked)
}
