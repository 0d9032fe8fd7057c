package stripesig_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/stripefake"
	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/verifier/stripesig"
)

const secretName = "orders/stripe-webhook"

// bed is the test bed: the AWS emulator (Secrets Manager), the Stripe fake
// with one account, a stripe-go client for it, and a consumer service whose
// handler records processed event ids.
type bed struct {
	t       *testing.T
	sm      *secretsmanager.Client
	stripe  *stripefake.Server
	sc      *client.API
	acct    stripefake.Account
	url     string // consumer URL
	logs    *testutil.SyncBuffer
	secrets []string // every signing secret created, for leak checks

	mu        sync.Mutex
	processed map[string]int
	fail      map[string]int // event id -> failures left
	handler   http.Handler
}

func newBed(t *testing.T) *bed {
	t.Helper()
	emu, err := awsemu.New(awsemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	smURL, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	fake := stripefake.New(stripefake.Config{})
	stripeURL, err := fake.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	acct, err := fake.CreateAccount(stripefake.AccountOptions{BusinessName: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := fake.CreateKey(acct.ID, stripefake.KeySpec{})
	if err != nil {
		t.Fatal(err)
	}
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL: stripe.String(stripeURL), LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull}, MaxNetworkRetries: stripe.Int64(0),
	})
	sc := &client.API{}
	sc.Init(key.Secret, &stripe.Backends{API: backend, Connect: backend, Uploads: backend})
	b := &bed{t: t, sm: secretsmanager.NewFromConfig(awsemu.ClientConfig(smURL)), stripe: fake, sc: sc, acct: acct,
		logs: &testutil.SyncBuffer{}, processed: map[string]int{}, fail: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		h := b.handler
		b.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	b.url = srv.URL + "/stripe/webhook"
	return b
}

// createEndpoint creates a webhook endpoint pointing at the consumer.
func (b *bed) createEndpoint(events ...string) *stripe.WebhookEndpoint {
	b.t.Helper()
	e, err := b.sc.WebhookEndpoints.New(&stripe.WebhookEndpointParams{
		URL: stripe.String(b.url), EnabledEvents: stripe.StringSlice(events), APIVersion: stripe.String(stripe.APIVersion),
	})
	if err != nil {
		b.t.Fatal(err)
	}
	b.secrets = append(b.secrets, e.Secret)
	return e
}

func secretJSON(e *stripe.WebhookEndpoint) string {
	s, _ := json.Marshal(map[string]string{"webhook_secret": e.Secret, "endpoint_id": e.ID})
	return string(s)
}

// verifier builds a Verifier over the bed's secret and installs its Handler
// as the consumer.
func (b *bed) verifier(cfg stripesig.Config) *stripesig.Verifier {
	b.t.Helper()
	cfg.SecretID = secretName
	cfg.Logger = slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	v, err := stripesig.New(context.Background(), b.sm, cfg)
	if err != nil {
		b.t.Fatal(err)
	}
	h := v.Handler(func(_ context.Context, d *stripesig.Delivery) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.fail[d.Event.ID] > 0 {
			b.fail[d.Event.ID]--
			return errors.New("downstream database unavailable")
		}
		b.processed[d.Event.ID]++
		return nil
	})
	b.mu.Lock()
	b.handler = h
	b.mu.Unlock()
	return v
}

// noLeaks fails if a signing secret appears in the logs or in s.
func (b *bed) noLeaks(extra ...string) {
	b.t.Helper()
	text := b.logs.String() + strings.Join(extra, "\n")
	for _, s := range b.secrets {
		if strings.Contains(text, s) || strings.Contains(text, s[len("whsec_"):]) {
			b.t.Fatal("a signing secret reached a log line or an answer")
		}
	}
}

func (b *bed) send(typ string) stripefake.EventResult {
	b.t.Helper()
	res, err := b.stripe.SendEvent(context.Background(), stripefake.EventInput{AccountID: b.acct.ID, Type: typ})
	if err != nil {
		b.t.Fatal(err)
	}
	return res
}

// TestRotationEveryEventProcessedOnce rotates the signing secret the way the
// webhook provider will (new endpoint with the same URL and events, staged
// as AWSPENDING, promoted, old endpoint disabled) while events stream in
// from several goroutines. Every delivery must be accepted (0 rejected),
// every event processed exactly once, and every second copy sent while both
// endpoints were live reported as a duplicate.
func TestRotationEveryEventProcessedOnce(t *testing.T) {
	b := newBed(t)
	old := b.createEndpoint("customer.created", "invoice.paid")
	out, err := b.sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(secretName), SecretString: aws.String(secretJSON(old))})
	if err != nil {
		t.Fatal(err)
	}
	oldVersion := aws.ToString(out.VersionId)
	v := b.verifier(stripesig.Config{CheckInterval: time.Hour}) // only refresh-on-unknown sees the rotation

	var (
		stop      atomic.Bool
		wg        sync.WaitGroup
		resMu     sync.Mutex
		results   []stripefake.EventResult
		sendErrs  atomic.Int64
		producers = 4
	)
	for p := 0; p < producers; p++ {
		wg.Go(func() {
			for i := 0; !stop.Load() && i < 400; i++ {
				typ := "customer.created"
				if i%2 == 1 {
					typ = "invoice.paid"
				}
				res, err := b.stripe.SendEvent(context.Background(), stripefake.EventInput{AccountID: b.acct.ID, Type: typ})
				if err != nil {
					sendErrs.Add(1)
					return
				}
				resMu.Lock()
				results = append(results, res)
				resMu.Unlock()
			}
		})
	}
	waitFor := func(n int) {
		for {
			resMu.Lock()
			got := len(results)
			resMu.Unlock()
			if got >= n || stop.Load() {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}

	// createSecret: the new endpoint is created listening to a placeholder
	// event type, so it sends nothing before its secret is stored.
	waitFor(40)
	nu := b.createEndpoint("account.application.deauthorized")
	pending := "22222222-2222-2222-2222-222222222222"
	if _, err := b.sm.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(secretName), ClientRequestToken: aws.String(pending), SecretString: aws.String(secretJSON(nu)),
		VersionStages: []string{"AWSPENDING"},
	}); err != nil {
		t.Fatal(err)
	}
	// setSecret: the new endpoint gets the old one's events: both live now.
	if _, err := b.sc.WebhookEndpoints.Update(nu.ID, &stripe.WebhookEndpointParams{EnabledEvents: stripe.StringSlice(old.EnabledEvents)}); err != nil {
		t.Fatal(err)
	}
	waitFor(200)
	// finishSecret: promote.
	if _, err := b.sm.UpdateSecretVersionStage(context.Background(), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(secretName), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(pending), RemoveFromVersionId: aws.String(oldVersion),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.sm.UpdateSecretVersionStage(context.Background(), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(secretName), VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(pending),
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(320)
	// After the drain: the old endpoint is disabled.
	if _, err := b.sc.WebhookEndpoints.Update(old.ID, &stripe.WebhookEndpointParams{Disabled: stripe.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	waitFor(400)
	stop.Store(true)
	wg.Wait()
	if n := sendErrs.Load(); n != 0 {
		t.Fatalf("%d SendEvent errors", n)
	}

	var deliveries, doubles int
	for _, r := range results {
		deliveries += len(r.Deliveries)
		if len(r.Deliveries) == 2 {
			doubles++
		}
		for _, d := range r.Deliveries {
			if !d.OK() {
				t.Fatalf("delivery of %s by %s rejected: %d %v (rejections %v)", r.EventID, d.EndpointID, d.StatusCode, d.Err, v.Stats().Rejected)
			}
		}
	}
	b.mu.Lock()
	for _, r := range results {
		if n := b.processed[r.EventID]; n != 1 {
			t.Errorf("event %s processed %d times, want 1", r.EventID, n)
		}
	}
	if len(b.processed) != len(results) {
		t.Errorf("%d events processed, %d sent", len(b.processed), len(results))
	}
	b.mu.Unlock()
	st := v.Stats()
	if len(st.Rejected) != 0 {
		t.Errorf("rejected: %v, want none", st.Rejected)
	}
	if doubles == 0 || st.Duplicates != uint64(doubles) {
		t.Errorf("duplicates %d, want %d (events delivered by both endpoints)", st.Duplicates, doubles)
	}
	// Labels are re-read every CheckInterval (an hour here): refresh now to
	// see the promotion in Usage.
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	usage := v.Usage()
	if len(usage) != 2 || usage[0].Stage != "AWSCURRENT" || usage[0].EndpointID != nu.ID || usage[1].Stage != "AWSPREVIOUS" || usage[1].EndpointID != old.ID || usage[0].Verified == 0 || usage[1].Verified == 0 {
		t.Errorf("usage = %+v", usage)
	}
	t.Logf("%d events, %d deliveries, %d duplicates detected, Secrets Manager calls %+v", len(results), deliveries, st.Duplicates, st.Calls)
	b.noLeaks()
}

// TestRejections: every forged, tampered, stale or malformed delivery is
// refused with 400, the handler never runs, and the reason is counted.
func TestRejections(t *testing.T) {
	b := newBed(t)
	ep := b.createEndpoint("customer.created")
	if _, err := b.sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(secretName), SecretString: aws.String(secretJSON(ep))}); err != nil {
		t.Fatal(err)
	}
	v := b.verifier(stripesig.Config{})
	now := time.Now()
	payload := []byte(`{"id":"evt_1TestTestTestTest","object":"event","type":"customer.created","api_version":"2023-10-16","created":1,"livemode":false,"data":{"object":{}}}`)
	sign := func(t0 time.Time, p []byte, secrets ...string) string {
		h, err := stripefake.SignatureFor(t0, p, secrets...)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	wrongSecret := "whsec_" + strings.Repeat("W", 32)
	tests := []struct {
		name    string
		payload []byte
		header  string
		want    error
		reason  string
	}{
		{"no header", payload, "", stripesig.ErrNotSigned, "not_signed"},
		{"malformed header", payload, "garbage", stripesig.ErrInvalidHeader, "invalid_header"},
		{"v0 only", payload, fmt.Sprintf("t=%d,v0=%s", now.Unix(), strings.Repeat("a", 64)), stripesig.ErrInvalidHeader, "invalid_header"},
		{"wrong secret", payload, sign(now, payload, wrongSecret), stripesig.ErrNoMatch, "no_match"},
		{"tampered payload", bytes.Replace(payload, []byte("customer.created"), []byte("customer.deleted"), 1), sign(now, payload, ep.Secret), stripesig.ErrNoMatch, "no_match"},
		{"stale timestamp", payload, sign(now.Add(-6*time.Minute), payload, ep.Secret), stripesig.ErrTimestamp, "timestamp"},
		{"future timestamp", payload, sign(now.Add(6*time.Minute), payload, ep.Secret), stripesig.ErrTimestamp, "timestamp"},
		{"timestamp swapped after signing", payload, strings.Replace(sign(now.Add(-time.Minute), payload, ep.Secret), fmt.Sprint(now.Add(-time.Minute).Unix()), fmt.Sprint(now.Unix()), 1), stripesig.ErrNoMatch, "no_match"},
		{"not an event", []byte(`{"id":"cus_1","object":"customer"}`), sign(now, []byte(`{"id":"cus_1","object":"customer"}`), ep.Secret), stripesig.ErrInvalidPayload, "invalid_payload"},
		{"not JSON", []byte("hello"), sign(now, []byte("hello"), ep.Secret), stripesig.ErrInvalidPayload, "invalid_payload"},
	}
	var bodies []string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Verify(context.Background(), tc.payload, tc.header); !errors.Is(err, tc.want) {
				t.Fatalf("Verify error = %v, want %v", err, tc.want)
			} else {
				bodies = append(bodies, err.Error())
			}
			req, _ := http.NewRequest(http.MethodPost, b.url, bytes.NewReader(tc.payload))
			if tc.header != "" {
				req.Header.Set(stripesig.HeaderName, tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			bodies = append(bodies, string(body))
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("HTTP %d, want 400: %s", resp.StatusCode, body)
			}
			if got := v.Stats().Rejected[tc.reason]; got == 0 {
				t.Fatalf("reason %s not counted: %v", tc.reason, v.Stats().Rejected)
			}
		})
	}
	b.mu.Lock()
	if len(b.processed) != 0 {
		t.Fatalf("handler ran for a rejected delivery: %v", b.processed)
	}
	b.mu.Unlock()

	// A Dashboard-style overlap header (two v1) verifies with either.
	h := sign(now, payload, wrongSecret, ep.Secret)
	if d, err := v.Verify(context.Background(), payload, h); err != nil || d.Match.EndpointID != ep.ID {
		t.Fatalf("two-signature header: %v", err)
	}
	// Methods other than POST.
	resp, err := http.Get(b.url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d, want 405", resp.StatusCode)
	}
	b.secrets = append(b.secrets, wrongSecret)
	b.noLeaks(bodies...)
}

// TestFailedProcessingIsRetried: when the handler fails, the claim is given
// back, so neither the other endpoint's copy nor Stripe's retry is mistaken
// for a duplicate of an event that was never processed.
func TestFailedProcessingIsRetried(t *testing.T) {
	b := newBed(t)
	ep := b.createEndpoint("customer.created")
	if _, err := b.sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(secretName), SecretString: aws.String(secretJSON(ep))}); err != nil {
		t.Fatal(err)
	}
	v := b.verifier(stripesig.Config{})
	b.mu.Lock()
	b.fail["evt_retrytestretrytestretry"] = 1
	b.mu.Unlock()
	res, err := b.stripe.SendEvent(context.Background(), stripefake.EventInput{AccountID: b.acct.ID, Type: "customer.created", ID: "evt_retrytestretrytestretry"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deliveries) != 1 || res.Deliveries[0].StatusCode != 500 {
		t.Fatalf("first delivery: %+v, want 500", res.Deliveries)
	}
	d, err := b.stripe.Redeliver(context.Background(), res.EventID, ep.ID)
	if err != nil || d.StatusCode != 200 {
		t.Fatalf("retry: %d %v", d.StatusCode, err)
	}
	d, err = b.stripe.Redeliver(context.Background(), res.EventID, ep.ID)
	if err != nil || d.StatusCode != 200 {
		t.Fatalf("second retry: %d %v", d.StatusCode, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.processed[res.EventID] != 1 {
		t.Fatalf("processed %d times, want 1", b.processed[res.EventID])
	}
	if v.Stats().Duplicates != 1 {
		t.Fatalf("duplicates %d, want 1 (the second retry)", v.Stats().Duplicates)
	}
}

// TestChangeDetection counts Secrets Manager calls: one DescribeSecret per
// CheckInterval, a GetSecretValue only for a new version, and a flood of
// unknown signatures costs one refresh per MinRefreshInterval.
func TestChangeDetection(t *testing.T) {
	b := newBed(t)
	ep := b.createEndpoint("customer.created")
	if _, err := b.sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(secretName), SecretString: aws.String(secretJSON(ep))}); err != nil {
		t.Fatal(err)
	}
	clock := testutil.NewFakeClock(time.Now())
	v := b.verifier(stripesig.Config{Now: clock.Now, CheckInterval: time.Minute, MinRefreshInterval: time.Second})
	verify := func(secret string) error {
		p := []byte(fmt.Sprintf(`{"id":"evt_%d","object":"event","type":"customer.created"}`, clock.Now().UnixNano()))
		h, _ := stripefake.SignatureFor(clock.Now(), p, secret)
		_, err := v.Verify(context.Background(), p, h)
		return err
	}
	want := func(step string, describe, get int) {
		t.Helper()
		if c := v.Stats().Calls; c.Describe != describe || c.Get != get {
			t.Fatalf("%s: calls %+v, want Describe %d Get %d", step, c, describe, get)
		}
	}
	want("after New", 1, 1)
	for i := 0; i < 10; i++ {
		if err := verify(ep.Secret); err != nil {
			t.Fatal(err)
		}
	}
	want("within the interval", 1, 1)
	clock.Advance(time.Minute)
	if err := verify(ep.Secret); err != nil {
		t.Fatal(err)
	}
	want("interval passed, nothing changed", 2, 1)

	forged := "whsec_" + strings.Repeat("F", 32)
	b.secrets = append(b.secrets, forged)
	for i := 0; i < 50; i++ {
		if err := verify(forged); !errors.Is(err, stripesig.ErrNoMatch) {
			t.Fatalf("forged: %v", err)
		}
	}
	want("50 forged signatures", 3, 1)

	nu := b.createEndpoint("customer.created")
	if _, err := b.sm.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(secretName), SecretString: aws.String(secretJSON(nu)), VersionStages: []string{"AWSPENDING"},
	}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if err := verify(nu.Secret); err != nil {
		t.Fatalf("new endpoint's first event: %v", err)
	}
	want("first event from the new endpoint", 4, 2)
	b.noLeaks()
}

// TestNewRefusesBadConfig: bad input names the field and the fix, and the
// secret's value never shows.
func TestNewRefusesBadConfig(t *testing.T) {
	b := newBed(t)
	if _, err := b.sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(secretName), SecretString: aws.String(`{"other":"whsec_notthefieldxxxxxxxx"}`)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  stripesig.Config
		want string
	}{
		{"no secret id", stripesig.Config{}, "SecretID is empty"},
		{"negative tolerance", stripesig.Config{SecretID: secretName, Tolerance: -time.Second}, "Tolerance is negative"},
		{"missing field", stripesig.Config{SecretID: secretName}, `JSON field "webhook_secret" not found`},
		{"missing secret", stripesig.Config{SecretID: "nope"}, "nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := stripesig.New(context.Background(), b.sm, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "notthefield") {
				t.Fatal("error quotes the secret")
			}
		})
	}
}

// BenchmarkVerify measures one Verify of a 1 KiB event while a rotation is
// staged (AWSCURRENT and AWSPENDING: every signature is checked against
// both), signing by the test and dedupe included.
func BenchmarkVerify(b *testing.B) {
	emu, err := awsemu.New(awsemu.Config{})
	if err != nil {
		b.Fatal(err)
	}
	smURL, err := emu.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer emu.Close()
	sm := secretsmanager.NewFromConfig(awsemu.ClientConfig(smURL))
	secrets := []string{"whsec_" + strings.Repeat("a", 32), "whsec_" + strings.Repeat("b", 32), "whsec_" + strings.Repeat("c", 32)}
	ctx := context.Background()
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(secretName), SecretString: aws.String(`{"webhook_secret":"` + secrets[0] + `"}`)}); err != nil {
		b.Fatal(err)
	}
	for _, s := range secrets[1:] {
		if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(secretName), SecretString: aws.String(`{"webhook_secret":"` + s + `"}`), VersionStages: []string{"AWSPENDING"}}); err != nil {
			b.Fatal(err)
		}
	}
	v, err := stripesig.New(ctx, sm, stripesig.Config{SecretID: secretName, CheckInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	pad := strings.Repeat("x", 900)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p := []byte(fmt.Sprintf(`{"id":"evt_%d","object":"event","type":"customer.created","data":{"object":{"pad":"%s"}}}`, i, pad))
		h, _ := stripefake.SignatureFor(time.Now(), p, secrets[len(secrets)-1])
		d, err := v.Verify(ctx, p, h)
		if err != nil || d.Duplicate {
			b.Fatal(err)
		}
		_ = d.Done(ctx)
	}
}
