package demo

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/jackc/pgx/v5"

	"github.com/dualkey/dualkey/internal/dbtest"
	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/providers/postgres"
	"github.com/dualkey/dualkey/shared/rotation"
)

// PostgresLambdaName is the PostgreSQL rotation function the demo's
// emulator invokes.
const PostgresLambdaName = "dualkey-postgres"

// PostgresSecretName is the demo's database secret.
const PostgresSecretName = "demo/shop-db"

// PostgresResult is what the PostgreSQL part of the demo observed.
type PostgresResult struct {
	// Rotations is how many rotations completed.
	Rotations int
	// Queries and FailedQueries count the client's queries during the
	// rotations; ByUser counts the successful ones by the user they ran as.
	Queries, FailedQueries int64
	ByUser                 map[string]int64
	// ConnectFailures counts logins of the client that failed.
	ConnectFailures int64
	// Alert is the retire run's alert while a pool held sessions of the
	// previous user (it names their client address).
	Alert string
	// LockedLogin is the error of a login as the previous user after the
	// switch-off.
	LockedLogin string
	// UnlockedLogin is true when the previous user logged in again after
	// the rollback.
	UnlockedLogin bool
}

// pgDemo is one run of the PostgreSQL part.
type pgDemo struct {
	out     io.Writer
	srv     *dbtest.Server
	roots   *x509.CertPool
	sm      *secretsmanager.Client
	arn     string
	clock   *offsetClock
	fns     *rieFunctions
	lc      *lifecycle.Lifecycle
	prov    *postgres.Provider
	db      string
	app     string
	master  string
	failMsg atomic.Value // first failed query's error, for the report
}

// RunPostgres runs the PostgreSQL part of the demo: a throwaway PostgreSQL
// server with TLS (internal/dbtest), the AWS emulator, and the real
// functions/postgres bootstrap under the Lambda RIE (rie is the
// aws-lambda-rie binary). A client runs queries continuously while the
// application user's secret is rotated three times (alternating users); it
// logs in with AWSCURRENT, re-read for every new connection. Then a
// connection pool still logged in as the previous user holds the switch-off
// and the retire run's alert names its address; once it closes, retire
// locks the previous user (a login fails), and a rollback unlocks it. The
// emulator's clock is moved forward past the drain window. It returns an
// error when a rotation or any query failed, or a lifecycle step did not
// do what it should; the servers it started are stopped when it returns.
func RunPostgres(ctx context.Context, out io.Writer, rie string) (*PostgresResult, error) {
	fmt.Fprintln(out, "\n==> part 5: PostgreSQL: alternating users, usage evidence from the database, reversible switch-off")
	srv, err := dbtest.Start(ctx, dbtest.EnginePostgres, dbtest.Options{})
	if err != nil {
		return nil, fmt.Errorf("start PostgreSQL: %w", err)
	}
	defer srv.Stop()
	d := &pgDemo{out: out, srv: srv, roots: srv.CA().Pool(), db: "shop", app: "shop_app", master: "shop_master", clock: &offsetClock{}}
	fmt.Fprintf(out, "PostgreSQL %s on %s with TLS (a throwaway CA, verified: verify-full)\n", srv.Version, srv.Addr())
	masterPW, appPW := demoPassword(), demoPassword()
	if err := srv.Exec(ctx, "", "CREATE DATABASE "+d.db); err != nil {
		return nil, err
	}
	if err := srv.Exec(ctx, d.db,
		// An RDS-like master user: CREATEROLE, no superuser; pg_monitor so
		// it may read other users' client addresses (the usage evidence).
		"CREATE ROLE "+d.master+" LOGIN CREATEROLE PASSWORD '"+masterPW+"'",
		"GRANT pg_monitor TO "+d.master,
		"CREATE ROLE "+d.app+" LOGIN PASSWORD '"+appPW+"'",
		"CREATE TABLE orders (id bigserial PRIMARY KEY, note text, at timestamptz DEFAULT now())",
		"GRANT SELECT, INSERT ON orders TO "+d.app,
		"GRANT USAGE ON SEQUENCE orders_id_seq TO "+d.app,
	); err != nil {
		return nil, err
	}

	fmt.Fprintln(out, "==> building functions/postgres as a static bootstrap")
	fns, err := buildFunctions(ctx, rie, "dualkey-demo-pg-", function{"postgres", PostgresLambdaName})
	if err != nil {
		return nil, err
	}
	defer fns.Close()
	d.fns = fns
	emuURL, err := fns.startEmulator(d.clock, false)
	if err != nil {
		return nil, err
	}
	proc, err := fns.start(ctx, PostgresLambdaName, postgres.EnvCABundle+"="+srv.CAFile)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "==> functions/postgres under the Lambda RIE (%s=%s), invoked by the emulator's RotateSecret\n", postgres.EnvCABundle, srv.CAFile)

	d.sm = Client(emuURL)
	res, err := d.run(ctx, masterPW, appPW)
	if err != nil && res != nil && strings.Contains(err.Error(), "rotation") {
		fmt.Fprintf(out, "function log:\n%s\n", proc.Logs())
	}
	return res, err
}

func (d *pgDemo) run(ctx context.Context, masterPW, appPW string) (*PostgresResult, error) {
	out := d.out
	res := &PostgresResult{ByUser: map[string]int64{}}
	secret := func(user, pw string, extra map[string]any) string {
		m := map[string]any{"engine": "postgres", "host": d.srv.Host, "port": d.srv.Port, "username": user, "password": pw, "dbname": d.db}
		for k, v := range extra {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	m, err := d.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("demo/shop-db-master"), SecretString: aws.String(secret(d.master, masterPW, nil))})
	if err != nil {
		return nil, fmt.Errorf("create the master secret: %w", err)
	}
	created, err := d.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(PostgresSecretName),
		SecretString: aws.String(secret(d.app, appPW, map[string]any{"masterarn": aws.ToString(m.ARN)})),
		Tags: []types.Tag{
			{Key: aws.String(lifecycle.TagManaged), Value: aws.String("true")},
			{Key: aws.String(lifecycle.TagProvider), Value: aws.String(postgres.Name)},
			{Key: aws.String(lifecycle.TagDrain), Value: aws.String("1h")},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("create the secret: %w", err)
	}
	d.arn = aws.ToString(created.ARN)
	fmt.Fprintf(out, "secret %s: user %s of database %s, masterarn -> the master user's secret (alternating users), drain 1h\n", PostgresSecretName, d.app, d.db)

	d.prov = postgres.New(postgres.Config{RootCAs: d.roots, Now: d.clock.Now})
	if d.lc, err = lifecycle.New(lifecycle.Config{SecretsManager: d.sm, Providers: map[string]rotation.Provider{postgres.Name: d.prov},
		Now: d.clock.Now, LogWriter: io.Discard, MetricsWriter: io.Discard}); err != nil {
		return nil, err
	}

	// The client: 4 workers, each on a connection it replaces every 150 ms
	// with a new one logged in with AWSCURRENT as read at that moment.
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var queries, failed, connFailed atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.worker(loadCtx, &queries, &failed, &connFailed, func(user string) {
				mu.Lock()
				res.ByUser[user]++
				mu.Unlock()
			})
		}()
	}
	fmt.Fprintln(out, "client: 4 workers insert and read orders continuously; each re-reads AWSCURRENT for every new connection (a connection lives 150 ms)")
	if err := d.printVersions(ctx, "before the first rotation"); err != nil {
		stopLoad()
		wg.Wait()
		return res, err
	}
	var runErr error
	for i := 1; i <= 3 && runErr == nil; i++ {
		if runErr = rotation.Sleep(ctx, time.Second); runErr != nil {
			break
		}
		before := queries.Load()
		rec, _, err := d.fns.rotateNow(ctx, d.sm, d.arn, PostgresLambdaName, 30)
		if err != nil {
			runErr = fmt.Errorf("rotation %d: %w", i, err)
			break
		}
		if rec == nil || !rec.Succeeded {
			runErr = fmt.Errorf("rotation %d failed at %s", i, failure(rec))
			break
		}
		res.Rotations++
		fmt.Fprintf(out, "\nrotation %d done in %s (steps %s), %d queries meanwhile\n", i, rec.Finished.Sub(rec.Started).Round(time.Millisecond),
			strings.Join(rec.Steps, " → "), queries.Load()-before)
		if err := d.printVersions(ctx, fmt.Sprintf("after rotation %d", i)); err != nil {
			runErr = err
		}
	}
	if runErr == nil {
		runErr = rotation.Sleep(ctx, time.Second)
	}
	stopLoad()
	wg.Wait()
	res.Queries, res.FailedQueries, res.ConnectFailures = queries.Load(), failed.Load(), connFailed.Load()
	users := make([]string, 0, len(res.ByUser))
	for u := range res.ByUser {
		users = append(users, u)
	}
	sort.Strings(users)
	fmt.Fprintf(out, "\nqueries: %d, FAILED: %d (logins that failed: %d)\n", res.Queries, res.FailedQueries, res.ConnectFailures)
	for _, u := range users {
		fmt.Fprintf(out, "  as %-16s %d\n", u, res.ByUser[u])
	}
	if runErr != nil {
		return res, runErr
	}
	if res.FailedQueries > 0 {
		return res, fmt.Errorf("%d queries failed during the rotations, the first: %v", res.FailedQueries, d.failMsg.Load())
	}
	if res.Queries == 0 {
		return res, errors.New("the client ran no query")
	}
	fmt.Fprintln(out, "zero downtime: every query during every rotation succeeded")
	return res, d.lifecycle(ctx, res)
}

// worker runs queries until ctx is done.
func (d *pgDemo) worker(ctx context.Context, queries, failed, connFailed *atomic.Int64, ok func(user string)) {
	var conn *pgx.Conn
	var user string
	var opened time.Time
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for ctx.Err() == nil {
		if conn == nil || time.Since(opened) > 150*time.Millisecond {
			if conn != nil {
				conn.Close(context.Background())
				conn = nil
			}
			c, u, err := d.connect(ctx, "shop-api")
			if err != nil {
				if ctx.Err() == nil {
					connFailed.Add(1)
				}
				_ = rotation.Sleep(ctx, 5*time.Millisecond)
				continue
			}
			conn, user, opened = c, u, time.Now()
		}
		var id int64
		err := conn.QueryRow(ctx, "INSERT INTO orders (note) VALUES ($1) RETURNING id", "order").Scan(&id)
		if err == nil {
			var n int64
			err = conn.QueryRow(ctx, "SELECT count(*) FROM orders WHERE id <= $1", id).Scan(&n)
		}
		if ctx.Err() != nil {
			return
		}
		queries.Add(1)
		if err != nil {
			failed.Add(1)
			d.failMsg.CompareAndSwap(nil, err.Error())
			conn.Close(context.Background())
			conn = nil
			continue
		}
		ok(user)
		_ = rotation.Sleep(ctx, 2*time.Millisecond)
	}
}

// connect logs in with AWSCURRENT as it is now.
func (d *pgDemo) connect(ctx context.Context, app string) (*pgx.Conn, string, error) {
	v, err := d.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(d.arn)})
	if err != nil {
		return nil, "", err
	}
	s, err := postgres.Parse(aws.ToString(v.SecretString))
	if err != nil {
		return nil, "", err
	}
	c, err := d.open(ctx, s, app)
	return c, s.Username, err
}

// open logs in as the user of s, verifying the server.
func (d *pgDemo) open(ctx context.Context, s *postgres.Secret, app string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig("sslmode=disable")
	if err != nil {
		return nil, err
	}
	cfg.Host, cfg.Port, cfg.Database, cfg.User, cfg.Password = s.Host, uint16(s.Port), s.DBName, s.Username, s.Password
	cfg.TLSConfig = &tls.Config{RootCAs: d.roots, ServerName: s.Host, MinVersion: tls.VersionTLS12}
	cfg.RuntimeParams = map[string]string{"application_name": app}
	cfg.ConnectTimeout = 5 * time.Second
	return pgx.ConnectConfig(ctx, cfg)
}

// printVersions prints the secret's labelled versions: user and
// fingerprint (the last four characters of the password), never more.
func (d *pgDemo) printVersions(ctx context.Context, title string) error {
	list, err := d.sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(d.arn)})
	if err != nil {
		return err
	}
	sort.Slice(list.Versions, func(i, j int) bool {
		return aws.ToTime(list.Versions[i].CreatedDate).After(aws.ToTime(list.Versions[j].CreatedDate))
	})
	fmt.Fprintf(d.out, "versions %s:\n", title)
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	for _, v := range list.Versions {
		if len(v.VersionStages) == 0 {
			continue
		}
		gv, err := d.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(d.arn), VersionId: v.VersionId})
		if err != nil {
			return err
		}
		sort.Strings(v.VersionStages)
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", short(aws.ToString(v.VersionId)), strings.Join(v.VersionStages, ","), d.prov.Fingerprint(aws.ToString(gv.SecretString)))
	}
	return tw.Flush()
}

// lifecycle shows the previous user's way out: held while a pool uses it,
// locked once it is quiet, unlocked by a rollback.
func (d *pgDemo) lifecycle(ctx context.Context, res *PostgresResult) error {
	out := d.out
	prev, err := d.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(d.arn), VersionStage: aws.String(rotation.StagePrevious)})
	if err != nil {
		return err
	}
	old, err := postgres.Parse(aws.ToString(prev.SecretString))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n==> the previous user %s stays valid until dualkey's lifecycle retires it\n", old.Username)
	// A pool that was not restarted: three sessions still logged in with
	// the previous credential.
	var pool []*pgx.Conn
	closePool := func() {
		for _, c := range pool {
			c.Close(context.Background())
		}
		pool = nil
	}
	defer closePool()
	for i := 0; i < 3; i++ {
		c, err := d.open(ctx, old, "legacy-billing-pool")
		if err != nil {
			return fmt.Errorf("open the legacy pool as the previous user: %w", err)
		}
		pool = append(pool, c)
	}
	fmt.Fprintf(out, "a forgotten connection pool (application legacy-billing-pool) holds 3 sessions as %s\n", old.Username)
	retire := func(title string) (*lifecycle.Report, error) {
		rep, err := d.lc.Retire(ctx, d.arn, lifecycle.Options{})
		if err != nil {
			return rep, fmt.Errorf("retire: %w", err)
		}
		fmt.Fprintf(out, "retire run, %s: state %s\n", title, rep.State)
		for _, a := range rep.Actions {
			fmt.Fprintf(out, "    %-10s %s\n", a.Op, a.Reason)
		}
		return rep, nil
	}
	d.clock.Advance(90 * time.Minute)
	fmt.Fprintln(out, "\n⏩ emulator clock +90m (drain window over)")
	rep, err := retire("pool still open")
	if err != nil {
		return err
	}
	for _, a := range rep.Actions {
		if a.Op == lifecycle.OpAlert {
			res.Alert = a.Reason
		}
	}
	if rep.State != lifecycle.StateInUse || !strings.Contains(res.Alert, "127.0.0.1") {
		return fmt.Errorf("retire did not hold with an alert naming the pool's address (state %q, alert %q)", rep.State, res.Alert)
	}
	if err := postgres.Login(ctx, d.conn(old)); err != nil {
		return fmt.Errorf("the previous user stopped working while in use: %w", err)
	}

	closePool()
	// A client's Close returns before the server ends the session.
	if err := d.srv.WaitNoSessions(ctx, old.Username, 30*time.Second); err != nil {
		return fmt.Errorf("the legacy pool's sessions did not end: %w", err)
	}
	fmt.Fprintln(out, "\nthe pool is restarted and picks up AWSCURRENT; its old sessions are gone")
	if rep, err = retire("previous user quiet"); err != nil {
		return err
	}
	if rep.State != lifecycle.StateDeactivated {
		return fmt.Errorf("retire did not switch the previous user off (state %q)", rep.State)
	}
	err = postgres.Login(ctx, d.conn(old))
	if !errors.Is(err, postgres.ErrLocked) {
		return fmt.Errorf("a login as the switched-off previous user: %v, want it refused (NOLOGIN)", err)
	}
	res.LockedLogin = err.Error()
	fmt.Fprintf(out, "  login as %s now fails: %s\n", old.Username, err)

	fmt.Fprintln(out, "\n==> rollback (an alarm, or: dualkey rollback "+PostgresSecretName+")")
	rb, err := d.lc.Rollback(ctx, d.arn, lifecycle.RollbackOptions{Reason: "demo rollback"})
	if err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	for _, a := range rb.Actions {
		fmt.Fprintf(out, "    %-10s %s\n", a.Op, a.Reason)
	}
	if err := postgres.Login(ctx, d.conn(old)); err != nil {
		return fmt.Errorf("the previous user after the rollback: %w", err)
	}
	res.UnlockedLogin = true
	fmt.Fprintf(out, "  login as %s works again (LOGIN); retirement is held until: dualkey retire --resume %s\n", old.Username, PostgresSecretName)
	return nil
}

// conn is the connection setting of s with the demo's trust.
func (d *pgDemo) conn(s *postgres.Secret) postgres.ConnConfig {
	c := s.ConnConfig()
	c.RootCAs = d.roots
	return c
}

// demoPassword returns a random password from GetRandomPassword's alphabet
// for the demo's initial users.
func demoPassword() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "Demo-" + hex.EncodeToString(b[:])
}
