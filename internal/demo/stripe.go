package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	stripego "github.com/stripe/stripe-go/v76"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/stripefake"
	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/providers/stripe"
	"github.com/dualkey/dualkey/shared/providers/stripewebhook"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/verifier/stripesig"
)

// Names of the Stripe part's functions and secrets.
const (
	StripeWebhookLambdaName = "dualkey-stripewebhook"
	StripeKeyLambdaName     = "dualkey-stripe"
	StripeWebhookSecretName = "demo/stripe-webhook"
	StripeKeySecretName     = "demo/stripe-key"
	stripeAdminSecretName   = "demo/stripe-admin"
)

// StripeResult is what the Stripe part of the demo observed.
type StripeResult struct {
	// Events is how many events Stripe sent while the webhook secret
	// rotated; DeliveredTwice how many of them both endpoints delivered.
	Events, DeliveredTwice int
	// Rejected counts deliveries the consumer refused (by reason), and
	// FailedDeliveries those that did not get a 2xx: both must be empty.
	Rejected         map[string]uint64
	FailedDeliveries int
	// Duplicates is how many second copies the consumer recognised;
	// ProcessedTwice how many events it processed more than once (0).
	Duplicates     uint64
	ProcessedTwice int
	// OldEndpoint and NewEndpoint are the webhook endpoints; EndpointStates
	// their status after promotion, after the drain, and after the grace
	// period ("deleted" when gone).
	OldEndpoint, NewEndpoint string
	EndpointStates           []map[string]string
	// OtherAccountRefused is testSecret's refusal of a key of another
	// account; KeyRotated is true once the right key was promoted;
	// OldKeyExpired once the lifecycle proved the old key dead.
	OtherAccountRefused string
	KeyRotated          bool
	OldKeyExpired       bool
}

// RunStripe shows dualkey's Stripe providers end to end on local
// emulators: the real functions/stripewebhook and functions/stripe
// bootstraps under the Lambda RIE, invoked by the AWS emulator's
// RotateSecret, against dualkey's stateful Stripe fake.
//
// Part one rotates a webhook endpoint's signing secret while Stripe keeps
// sending events to a consumer that verifies them with
// shared/verifier/stripesig: every delivery is accepted, the events both
// endpoints deliver are processed once, and the lifecycle then disables
// the old endpoint after the drain and deletes it after the grace period.
// Part two rotates a Stripe API key rolled in the Dashboard: a key of
// another account, staged by mistake, is refused by testSecret; the right
// one is promoted; the lifecycle waits for the expiry chosen when rolling
// and proves the old key dead.
func RunStripe(ctx context.Context, out io.Writer, rie string) (*StripeResult, error) {
	res := &StripeResult{}
	fmt.Fprintln(out, "\n==> part 3: Stripe: a webhook signing secret under live events, and a key rolled in the Dashboard")
	fmt.Fprintln(out, "building functions/stripewebhook and functions/stripe as static bootstraps")
	fns, err := buildFunctions(ctx, rie, "dualkey-demo-stripe-",
		function{"stripewebhook", StripeWebhookLambdaName}, function{"stripe", StripeKeyLambdaName})
	if err != nil {
		return nil, err
	}
	defer fns.Close()

	clock := &offsetClock{}
	fake := stripefake.New(stripefake.Config{Now: clock.Now})
	stripeURL, err := fake.Start("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer fake.Close()
	emuURL, err := fns.startEmulator(clock, true)
	if err != nil {
		return nil, err
	}
	for _, lambda := range []string{StripeWebhookLambdaName, StripeKeyLambdaName} {
		if _, err := fns.start(ctx, lambda, "DUALKEY_STRIPE_API_URL="+stripeURL); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(out, "AWS emulator on %s, Stripe fake on %s, both functions under the RIE\n", emuURL, stripeURL)

	sm := Client(emuURL)
	acct, err := fake.CreateAccount(stripefake.AccountOptions{BusinessName: "orders"})
	if err != nil {
		return nil, err
	}
	admin, err := fake.CreateKey(acct.ID, stripefake.KeySpec{Kind: stripefake.KindRestricted, Name: "dualkey webhooks", Permissions: []string{stripefake.PermWebhookWrite}})
	if err != nil {
		return nil, err
	}
	adminSecret, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(stripeAdminSecretName), SecretString: aws.String(`{"api_key":"` + admin.Secret + `"}`)})
	if err != nil {
		return nil, fmt.Errorf("create the admin secret: %w", err)
	}

	if err := runWebhookPart(ctx, out, res, sm, fns, fake, stripeURL, acct, admin, aws.ToString(adminSecret.ARN), clock); err != nil {
		return res, err
	}
	if err := runKeyPart(ctx, out, res, sm, fns, fake, stripeURL, acct, clock); err != nil {
		return res, err
	}
	return res, nil
}

// consumer is the service behind the webhook endpoint: stripesig in front
// of a handler that counts what it processed.
type consumer struct {
	mu        sync.Mutex
	processed map[string]int
}

func runWebhookPart(ctx context.Context, out io.Writer, res *StripeResult, sm *secretsmanager.Client, fns *rieFunctions, fake *stripefake.Server,
	stripeURL string, acct stripefake.Account, admin stripefake.Key, adminARN string, clock *offsetClock) error {
	fmt.Fprintln(out, "\n-- the webhook signing secret")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	c := &consumer{processed: map[string]int{}}
	var handler atomic.Pointer[http.Handler]
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := handler.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "starting", http.StatusServiceUnavailable)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	hookURL := "http://" + ln.Addr().String() + "/stripe/webhook"

	backend := stripego.GetBackendWithConfig(stripego.APIBackend, &stripego.BackendConfig{URL: stripego.String(stripeURL),
		LeveledLogger: &stripego.LeveledLogger{Level: stripego.LevelNull}, MaxNetworkRetries: stripego.Int64(0)})
	first := &stripego.WebhookEndpoint{}
	if err := backend.Call(http.MethodPost, "/v1/webhook_endpoints", admin.Secret, &stripego.WebhookEndpointParams{
		URL: stripego.String(hookURL), EnabledEvents: stripego.StringSlice([]string{"customer.created", "invoice.paid", "charge.succeeded"}),
		APIVersion: stripego.String(stripego.APIVersion), Description: stripego.String("orders service"),
	}, first); err != nil {
		return fmt.Errorf("create the webhook endpoint: %w", errors.New("the Stripe fake refused it"))
	}
	res.OldEndpoint = first.ID
	value, _ := json.Marshal(map[string]string{"endpoint_id": first.ID, "webhook_secret": first.Secret, "master_secret_arn": adminARN})
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(StripeWebhookSecretName), SecretString: aws.String(string(value)),
		Tags: []types.Tag{
			{Key: aws.String(lifecycle.TagManaged), Value: aws.String("true")},
			{Key: aws.String(lifecycle.TagProvider), Value: aws.String(stripewebhook.Name)},
			{Key: aws.String(lifecycle.TagDrain), Value: aws.String("1h")},
			{Key: aws.String(lifecycle.TagGrace), Value: aws.String("48h")},
		}})
	if err != nil {
		return fmt.Errorf("create the webhook secret: %w", err)
	}
	arn := aws.ToString(created.ARN)
	v, err := stripesig.New(ctx, sm, stripesig.Config{SecretID: arn, Now: clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	h := v.Handler(func(_ context.Context, d *stripesig.Delivery) error {
		c.mu.Lock()
		c.processed[d.Event.ID]++
		c.mu.Unlock()
		return nil
	})
	handler.Store(&h)
	fmt.Fprintf(out, "endpoint %s → %s (secret %s, drain 1h, grace 48h); the consumer verifies with shared/verifier/stripesig\n", first.ID, hookURL, StripeWebhookSecretName)

	// Stripe keeps sending events while everything below happens.
	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		resMu   sync.Mutex
		results []stripefake.EventResult
		sendErr atomic.Value
	)
	// The demo's clock jumps hours at a time; real clocks do not. A
	// delivery signed before a jump would be refused as too old, so the
	// jumps wait for deliveries in flight.
	var inFlight sync.RWMutex
	advance := func(d time.Duration) {
		inFlight.Lock()
		clock.Advance(d)
		inFlight.Unlock()
	}
	eventTypes := []string{"customer.created", "invoice.paid", "charge.succeeded"}
	for w := range 2 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				inFlight.RLock()
				r, err := fake.SendEvent(ctx, stripefake.EventInput{AccountID: acct.ID, Type: eventTypes[(i+w)%len(eventTypes)]})
				inFlight.RUnlock()
				if err != nil {
					sendErr.Store(err)
					return
				}
				resMu.Lock()
				results = append(results, r)
				resMu.Unlock()
				time.Sleep(3 * time.Millisecond)
			}
		})
	}
	pause := func() { time.Sleep(300 * time.Millisecond) }
	endpoints := func(step string) {
		st := map[string]string{res.OldEndpoint: "deleted"}
		if res.NewEndpoint != "" {
			st[res.NewEndpoint] = "deleted"
		}
		for _, e := range fake.Endpoints(acct.ID, false) {
			s := "enabled"
			if e.Disabled {
				s = "disabled"
			}
			st[e.ID] = s
		}
		res.EndpointStates = append(res.EndpointStates, st)
		fmt.Fprintf(out, "  %-34s %s\n", step, stateWords(st, res.NewEndpoint, ""))
	}
	pause()

	rec, _, err := fns.rotateNow(ctx, sm, arn, StripeWebhookLambdaName, 30)
	if err != nil {
		stop.Store(true)
		wg.Wait()
		return fmt.Errorf("rotate the webhook secret: %w", err)
	}
	if rec == nil || !rec.Succeeded {
		stop.Store(true)
		wg.Wait()
		if rec != nil {
			return fmt.Errorf("the webhook secret rotation failed at %s: %s", rec.FailedStep, rec.Error)
		}
		return errors.New("the webhook secret rotation left no record")
	}
	cur, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return err
	}
	var s struct {
		ID string `json:"endpoint_id"`
	}
	_ = json.Unmarshal([]byte(aws.ToString(cur.SecretString)), &s)
	res.NewEndpoint = s.ID
	fmt.Fprintf(out, "rotated by the real functions/stripewebhook bootstrap: new endpoint %s with the same URL and events;\n"+
		"every event now arrives twice, once from each endpoint, and the consumer processes it once\n", res.NewEndpoint)
	endpoints("after promotion (both live):")
	pause()

	lc, err := lifecycle.New(lifecycle.Config{SecretsManager: sm,
		Providers: map[string]rotation.Provider{stripewebhook.Name: stripewebhook.New(stripewebhook.Config{APIURL: stripeURL, Now: clock.Now})},
		Now:       clock.Now, LogWriter: io.Discard, MetricsWriter: io.Discard})
	if err != nil {
		return err
	}
	retire := func(title string) error {
		_, err := retireRun(ctx, out, lc, arn, title)
		return err
	}
	advance(90 * time.Minute)
	fmt.Fprintln(out, "⏩ emulator and Stripe clocks +90m (drain over)")
	if err := retire("drained"); err != nil {
		return err
	}
	endpoints("endpoints now:")
	pause()
	advance(49 * time.Hour)
	fmt.Fprintln(out, "⏩ clocks +49h (grace period over; until now a rollback would have re-enabled the old endpoint)")
	if err := retire("grace over"); err != nil {
		return err
	}
	endpoints("endpoints now:")
	pause()
	stop.Store(true)
	wg.Wait()
	if err, ok := sendErr.Load().(error); ok {
		return fmt.Errorf("send events: %w", err)
	}

	for _, r := range results {
		res.Events++
		if len(r.Deliveries) == 2 {
			res.DeliveredTwice++
		}
		for _, d := range r.Deliveries {
			if !d.OK() {
				res.FailedDeliveries++
			}
		}
	}
	c.mu.Lock()
	for _, r := range results {
		if c.processed[r.EventID] != 1 {
			res.ProcessedTwice++
		}
	}
	c.mu.Unlock()
	st := v.Stats()
	res.Rejected, res.Duplicates = st.Rejected, st.Duplicates
	fmt.Fprintf(out, "events sent: %d, delivered by both endpoints: %d, duplicates recognised: %d, processed other than once: %d, REJECTED: %d\n",
		res.Events, res.DeliveredTwice, res.Duplicates, res.ProcessedTwice, res.FailedDeliveries)
	switch {
	case res.FailedDeliveries > 0 || len(res.Rejected) > 0:
		return fmt.Errorf("%d deliveries failed (rejections %v)", res.FailedDeliveries, res.Rejected)
	case res.ProcessedTwice > 0:
		return fmt.Errorf("%d events were not processed exactly once", res.ProcessedTwice)
	case res.DeliveredTwice == 0 || res.Duplicates != uint64(res.DeliveredTwice):
		return fmt.Errorf("%d events delivered twice, %d duplicates recognised", res.DeliveredTwice, res.Duplicates)
	}
	fmt.Fprintln(out, "zero rejected: every delivery during the rotation was verified, every event processed once")
	return nil
}

func runKeyPart(ctx context.Context, out io.Writer, res *StripeResult, sm *secretsmanager.Client, fns *rieFunctions, fake *stripefake.Server,
	stripeURL string, acct stripefake.Account, clock *offsetClock) error {
	fmt.Fprintln(out, "\n-- a secret key rolled in the Stripe Dashboard")
	key, err := fake.CreateKey(acct.ID, stripefake.KeySpec{Live: true, Name: "orders backend"})
	if err != nil {
		return err
	}
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(StripeKeySecretName), SecretString: aws.String(`{"api_key":"` + key.Secret + `"}`),
		Tags: []types.Tag{
			{Key: aws.String(lifecycle.TagManaged), Value: aws.String("true")},
			{Key: aws.String(lifecycle.TagProvider), Value: aws.String(stripe.Name)},
			{Key: aws.String(lifecycle.TagDrain), Value: aws.String("1h")},
		}})
	if err != nil {
		return fmt.Errorf("create the key secret: %w", err)
	}
	arn := aws.ToString(created.ARN)
	fmt.Fprintf(out, "secret %s holds key %s of account %s\n", StripeKeySecretName, stripe.Fingerprint(key.Secret), acct.ID)
	stageKey := func(k string, expires time.Time) error {
		cur, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
		if err != nil {
			return err
		}
		v, err := rotation.MergeSecret(aws.ToString(cur.SecretString), map[string]any{"api_key": k, stripe.FieldPreviousKeyExpiresAt: expires.UTC().Format(time.RFC3339)})
		if err != nil {
			return err
		}
		_, err = sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String(v), VersionStages: []string{rotation.StageIncoming}})
		return err
	}
	rotate := func() (*awsemu.RotationRecord, error) {
		rec, _, err := fns.rotateNow(ctx, sm, arn, StripeKeyLambdaName, 30)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			return nil, errors.New("the rotation left no record")
		}
		return rec, nil
	}

	// The operator rolls the key (the old one expiring in 24 hours) but
	// stages, by mistake, a key of another account they also manage.
	expires := clock.Now().Add(24 * time.Hour)
	rolled, err := fake.RollKey(key.Secret, expires)
	if err != nil {
		return err
	}
	other, err := fake.CreateAccount(stripefake.AccountOptions{BusinessName: "side project"})
	if err != nil {
		return err
	}
	wrong, err := fake.CreateKey(other.ID, stripefake.KeySpec{Live: true})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Dashboard: Roll key… with the old key expiring in 24 hours; new key %s\n", stripe.Fingerprint(rolled.Secret))
	fmt.Fprintf(out, "$ dualkey stage %s --old-key-expires-in 24h < key.txt   # by mistake, key %s of account %s\n", StripeKeySecretName, stripe.Fingerprint(wrong.Secret), other.ID)
	if err := stageKey(wrong.Secret, expires); err != nil {
		return err
	}
	rec, err := rotate()
	if err != nil {
		return err
	}
	if rec.Succeeded {
		return errors.New("the rotation promoted a key of another account")
	}
	res.OtherAccountRefused = rec.Error
	why := rec.Error
	if _, after, ok := strings.Cut(why, "provider error: "); ok {
		why = after
	}
	fmt.Fprintf(out, "$ dualkey rotate %s\n  refused at %s: %s\n", StripeKeySecretName, rec.FailedStep, why)
	lc, err := lifecycle.New(lifecycle.Config{SecretsManager: sm,
		Providers: map[string]rotation.Provider{stripe.Name: stripe.New(stripe.Config{APIURL: stripeURL})},
		Now:       clock.Now, LogWriter: io.Discard, MetricsWriter: io.Discard})
	if err != nil {
		return err
	}
	if _, err := lc.Cancel(ctx, arn, lifecycle.CancelOptions{}); err != nil {
		return fmt.Errorf("cancel the refused rotation: %w", err)
	}
	fmt.Fprintf(out, "$ dualkey cancel %s && dualkey stage %s --old-key-expires-in 24h < key.txt   # the rolled key\n", StripeKeySecretName, StripeKeySecretName)
	if err := stageKey(rolled.Secret, expires); err != nil {
		return err
	}
	if rec, err = rotate(); err != nil {
		return err
	}
	if !rec.Succeeded {
		return fmt.Errorf("the rotation with the rolled key failed at %s: %s", rec.FailedStep, rec.Error)
	}
	res.KeyRotated = true
	fmt.Fprintf(out, "$ dualkey rotate %s\n  promoted %s (same account %s, same kind and mode); the old key works until Stripe expires it\n",
		StripeKeySecretName, stripe.Fingerprint(rolled.Secret), acct.ID)

	retire := func(title string) (*lifecycle.Report, error) { return retireRun(ctx, out, lc, arn, title) }
	clock.Advance(2 * time.Hour)
	fmt.Fprintln(out, "⏩ clocks +2h (drain over, Stripe's expiry not yet)")
	if _, err := retire("waiting for Stripe's expiry"); err != nil {
		return err
	}
	clock.Advance(23 * time.Hour)
	fmt.Fprintln(out, "⏩ clocks +23h (past the expiry chosen in the Dashboard)")
	rep, err := retire("expiry passed")
	if err != nil {
		return err
	}
	res.OldKeyExpired = rep.State == lifecycle.StateExpired
	if !res.OldKeyExpired {
		return fmt.Errorf("the old key was not found dead after its expiry (state %q)", rep.State)
	}
	fmt.Fprintln(out, "the old key is dead at Stripe (api_key_expired) and AWSPREVIOUS is gone: nothing can roll back to it")
	return nil
}
