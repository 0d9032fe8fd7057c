// Package demo runs dualkey's end-to-end demonstration on local emulators,
// with no AWS account: the real rotation Lambda `bootstrap` under the AWS
// Lambda Runtime Interface Emulator, dualkey's Secrets Manager emulator
// invoking it through RotateSecret, and a service protected by
// shared/keyring under a steady stream of requests from a client that
// re-reads AWSCURRENT. It rotates the service's key several times and
// reports every failed request: the point is that there are none.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/internal/demosvc"
	"github.com/dualkey/dualkey/internal/lambdarie"
	"github.com/dualkey/dualkey/shared/keyring"
)

// Config configures a demo run.
type Config struct {
	// RIE is the aws-lambda-rie binary (default: lambdarie.FindRIE).
	RIE string
	// Rotations is how many rotations to run (default 3).
	Rotations int
	// Gap is the time between rotations, while the load runs (default 1s).
	Gap time.Duration
	// Out receives the report (default os.Stdout).
	Out io.Writer
	// SkipIAM leaves out the IAM access key part.
	SkipIAM bool
	// SkipVendors leaves out the vendor parts (Stripe, Twilio and
	// SendGrid, PostgreSQL).
	SkipVendors bool
}

// Result is what the demo measured.
type Result struct {
	Client      demosvc.ClientStats
	Rotations   int      // rotations that completed
	FailedSteps []string // errors of failed rotations
	IAM         *IAMResult
	Stripe      *StripeResult
	Postgres    *PostgresResult
	// TwilioSendGrid is the Twilio and SendGrid part.
	TwilioSendGrid *TwilioSendGridResult
}

// LambdaName is the function name the emulator invokes.
const LambdaName = "dualkey-servicekey"

// SecretName is the demo secret.
const SecretName = "demo/service-key"

// Run runs the demo. It returns an error when a rotation failed or any
// request failed.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Rotations == 0 {
		cfg.Rotations = 3
	}
	if cfg.Gap == 0 {
		cfg.Gap = time.Second
	}
	if cfg.Out == nil {
		cfg.Out = os.Stdout
	}
	if cfg.RIE == "" {
		rie, err := lambdarie.FindRIE()
		if err != nil {
			return nil, err
		}
		cfg.RIE = rie
	}
	out := cfg.Out
	tl := demosvc.NewTimeline(time.Now)
	res := &Result{}

	fmt.Fprintln(out, "==> building the rotation Lambdas (functions/servicekey, functions/iamkey) as static bootstraps")
	fns, err := buildFunctions(ctx, cfg.RIE, "dualkey-demo-", function{"servicekey", LambdaName}, function{"iamkey", IAMLambdaName})
	if err != nil {
		return nil, err
	}
	defer fns.Close()
	rieURL := fns.invokeURL(LambdaName)
	clock := &offsetClock{}
	emuURL, err := fns.startEmulator(clock, true)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "==> AWS emulator (Secrets Manager, IAM, STS) on %s\n", emuURL)

	if _, err := fns.start(ctx, LambdaName); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "==> rotation Lambda under the Lambda Runtime Interface Emulator on %s\n", rieURL)

	sm := Client(emuURL)
	svcKR := &lazyKeyring{api: sm}
	defer svcKR.close()
	svc := &http.Server{Handler: svcKR, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() { _ = svc.Serve(ln) }()
	defer svc.Close()
	svcURL := "http://" + ln.Addr().String() + "/hello"
	fmt.Fprintf(out, "==> demo service protected by shared/keyring on %s\n", svcURL)

	key, err := sm.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(48), ExcludePunctuation: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("generate the first key: %w", err)
	}
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(SecretName),
		SecretString: aws.String(`{"api_key":"` + aws.ToString(key.RandomPassword) + `","verify_url":"` + svcURL + `"}`),
		Tags: []types.Tag{
			{Key: aws.String("dualkey:managed"), Value: aws.String("true")},
			{Key: aws.String("dualkey:provider"), Value: aws.String("servicekey")},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("create the demo secret: %w", err)
	}
	arn := aws.ToString(created.ARN)
	tl.Add("secret created", "name", SecretName)
	if err := svcKR.init(ctx, arn); err != nil {
		return nil, err
	}
	fmt.Fprintln(out, "\nversions before the first rotation:")
	if err := demosvc.PrintLabels(ctx, sm, arn, out); err != nil {
		return nil, err
	}
	if !cfg.SkipIAM {
		if _, err := fns.start(ctx, IAMLambdaName); err != nil {
			return nil, err
		}
	}

	client := demosvc.NewClient(demosvc.ClientConfig{
		API: sm, SecretID: arn, URL: svcURL,
		Interval: 2 * time.Millisecond, RefreshEvery: 100 * time.Millisecond, Workers: 4,
	})
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var loadErr error
	wg.Add(1)
	go func() { defer wg.Done(); loadErr = client.Run(loadCtx) }()
	tl.Add("load started", "workers", 4, "client re-reads AWSCURRENT every", "100ms")

	wait := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	var runErr error
	for i := 1; i <= cfg.Rotations && runErr == nil; i++ {
		if runErr = wait(cfg.Gap); runErr != nil {
			break
		}
		before := client.Stats()
		rec, version, err := fns.rotateNow(ctx, sm, arn, LambdaName, 90)
		if err != nil {
			runErr = fmt.Errorf("rotation %d: %w", i, err)
			break
		}
		after := client.Stats()
		if rec == nil || !rec.Succeeded {
			msg := failure(rec)
			res.FailedSteps = append(res.FailedSteps, msg)
			tl.Add(fmt.Sprintf("rotation %d FAILED", i), "error", msg)
			runErr = fmt.Errorf("rotation %d failed at %s", i, msg)
			break
		}
		res.Rotations++
		tl.Add(fmt.Sprintf("rotation %d done", i), "version", short(version),
			"took", rec.Finished.Sub(rec.Started).Round(time.Millisecond), "requests_meanwhile", after.Sent-before.Sent, "failed_meanwhile", after.Failed-before.Failed)
		fmt.Fprintf(out, "\nversions after rotation %d (steps %s):\n", i, strings.Join(rec.Steps, " → "))
		if err := demosvc.PrintLabels(ctx, sm, arn, out); err != nil {
			runErr = err
		}
	}
	if runErr == nil {
		runErr = wait(cfg.Gap)
	}
	stopLoad()
	wg.Wait()
	res.Client = client.Stats()
	tl.Add("load stopped", "sent", res.Client.Sent, "failed", res.Client.Failed)

	fmt.Fprintln(out, "\ntimeline:")
	tl.Print(out)
	fmt.Fprintf(out, "\nrequests by key:\n")
	for fp, ks := range res.Client.ByKey {
		fmt.Fprintf(out, "  key %-8s sent %6d  ok %6d  failed %d\n", fp, ks.Sent, ks.OK, ks.Failed)
	}
	fmt.Fprintf(out, "\nwhat the service's keyring saw (the evidence of which keys are still in use):\n")
	svcKR.printUsage(ctx, out)
	fmt.Fprintf(out, "\nrotations completed: %d of %d\nrequests sent: %d, succeeded: %d, FAILED: %d\n",
		res.Rotations, cfg.Rotations, res.Client.Sent, res.Client.OK, res.Client.Failed)
	if runErr != nil {
		return res, runErr
	}
	if loadErr != nil {
		return res, fmt.Errorf("load client: %w", loadErr)
	}
	if res.Client.Failed > 0 {
		return res, fmt.Errorf("%d requests failed during rotation", res.Client.Failed)
	}
	if res.Client.Sent == 0 {
		return res, errors.New("the load client sent no request")
	}
	fmt.Fprintln(out, "zero downtime: every request during every rotation succeeded")
	if !cfg.SkipIAM {
		if res.IAM, err = runIAM(ctx, out, emuURL, clock); err != nil {
			return res, err
		}
	}
	if cfg.SkipVendors {
		return res, nil
	}
	if res.Stripe, err = RunStripe(ctx, out, cfg.RIE); err != nil {
		return res, err
	}
	if res.TwilioSendGrid, err = RunTwilioSendGrid(ctx, out, cfg.RIE); err != nil {
		return res, err
	}
	if res.Postgres, err = RunPostgres(ctx, out, cfg.RIE); err != nil {
		return res, err
	}
	return res, nil
}

// Client returns a Secrets Manager client for the emulator at url, signed
// with the emulator's bootstrap key.
func Client(url string) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(awsemu.ClientConfig(url))
}

func lastRotation(emu *awsemu.Server, token string) *awsemu.RotationRecord {
	recs := emu.Rotations()
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Token == token {
			return &recs[i]
		}
	}
	return nil
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// lazyKeyring serves the demo service once the secret exists.
type lazyKeyring struct {
	api *secretsmanager.Client
	mu  sync.Mutex
	h   http.Handler
	kr  *keyring.Keyring
}

// close stops the keyring's background checks.
func (l *lazyKeyring) close() {
	l.mu.Lock()
	kr := l.kr
	l.mu.Unlock()
	if kr != nil {
		kr.Close()
	}
}

func (l *lazyKeyring) printUsage(ctx context.Context, w io.Writer) {
	l.mu.Lock()
	kr := l.kr
	l.mu.Unlock()
	if kr == nil {
		return
	}
	_ = kr.Refresh(ctx) // show today's labels; usage counts are kept across refreshes
	for _, u := range kr.Usage() {
		stage := u.Stage
		if stage == "" {
			stage = "(no label)"
		}
		last := "never"
		if !u.LastUsed.IsZero() {
			last = u.LastUsed.Format("15:04:05.000")
		}
		fmt.Fprintf(w, "  version %s  key %-6s %-12s accepted %6d  last used %s\n", short(u.VersionID), u.Fingerprint, stage, u.Accepted, last)
	}
}

func (l *lazyKeyring) init(ctx context.Context, arn string) error {
	kr, err := keyring.New(ctx, l.api, keyring.Config{SecretID: arn, MinRefreshInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return fmt.Errorf("demo service keyring: %w", err)
	}
	l.mu.Lock()
	l.h = demosvc.NewService(kr)
	l.kr = kr
	l.mu.Unlock()
	return nil
}

func (l *lazyKeyring) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	h := l.h
	l.mu.Unlock()
	if h == nil {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	h.ServeHTTP(w, r)
}
