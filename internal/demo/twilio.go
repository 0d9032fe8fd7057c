package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	api "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/dualkey/dualkey/emulator/sendgridfake"
	"github.com/dualkey/dualkey/emulator/twiliofake"
	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/providers/sendgrid"
	"github.com/dualkey/dualkey/shared/providers/twilio"
	"github.com/dualkey/dualkey/shared/rotation"
)

// Names of the Twilio and SendGrid part's functions and secrets.
const (
	TwilioLambdaName     = "dualkey-twilio"
	SendGridLambdaName   = "dualkey-sendgrid"
	TwilioSecretName     = "demo/twilio-api-key"
	SendGridSecretName   = "demo/sendgrid-api-key"
	twilioAdminSecret    = "demo/twilio-admin"
	sendgridAdminSecret  = "demo/sendgrid-admin"
	sendgridDemoUser     = "acme"
	consumerRereadPeriod = 100 * time.Millisecond
	consumerCallPeriod   = 3 * time.Millisecond
)

// TwilioSendGridResult is what the Twilio and SendGrid part observed.
type TwilioSendGridResult struct {
	Twilio, SendGrid KeyRotationResult
}

// KeyRotationResult is one vendor's key rotation under load.
type KeyRotationResult struct {
	// OldKey and NewKey are the key ids (Twilio SK…, SendGrid api_key_id).
	OldKey, NewKey string
	// States are the keys' states after promotion, after the drain and
	// after the confirmation period ("active" or "deleted").
	States []map[string]string
	// Calls is how many calls the consumer made, Failed how many failed
	// (must be 0); ByKey counts the calls by key id.
	Calls, Failed int
	ByKey         map[string]int
	// LastFailure is the last failed call's error (no secret).
	LastFailure string
}

// RunTwilioSendGrid shows the delete-only providers end to end on local
// emulators: the real functions/twilio and functions/sendgrid bootstraps
// under the Lambda RIE, invoked by the AWS emulator's RotateSecret, rotate
// a Twilio API key and a SendGrid key while a consumer of each keeps
// calling the fake API with the key it re-reads from AWSCURRENT every
// 100 ms (0 failed calls). Then the lifecycle takes each old key through
// the drain and the confirmation period (the emulator clock jumps) and
// deletes it at the vendor.
func RunTwilioSendGrid(ctx context.Context, out io.Writer, rie string) (*TwilioSendGridResult, error) {
	res := &TwilioSendGridResult{}
	fmt.Fprintln(out, "\n==> part 4: Twilio and SendGrid API keys (delete-only: the vendors cannot disable a key)")
	fmt.Fprintln(out, "building functions/twilio and functions/sendgrid as static bootstraps")
	fns, err := buildFunctions(ctx, rie, "dualkey-demo-twilio-", function{"twilio", TwilioLambdaName}, function{"sendgrid", SendGridLambdaName})
	if err != nil {
		return nil, err
	}
	defer fns.Close()

	clock := &offsetClock{}
	tw := twiliofake.New(twiliofake.Config{})
	twURL, err := tw.Start("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer tw.Close()
	sg := sendgridfake.New(sendgridfake.Config{})
	sgURL, err := sg.Start("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer sg.Close()
	emuURL, err := fns.startEmulator(clock, true)
	if err != nil {
		return nil, err
	}
	for _, lambda := range []string{TwilioLambdaName, SendGridLambdaName} {
		if _, err := fns.start(ctx, lambda, "DUALKEY_TWILIO_API_URL="+twURL, "DUALKEY_TWILIO_IAM_URL="+twURL, "DUALKEY_SENDGRID_API_URL="+sgURL); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(out, "AWS emulator on %s, Twilio fake on %s, SendGrid fake on %s, both functions under the RIE\n", emuURL, twURL, sgURL)
	sm := Client(emuURL)

	// The vendors' accounts, keys and admin credentials.
	acct := tw.CreateAccount("orders")
	twKey, err := tw.CreateKey(acct.Sid, twiliofake.KindStandard, "orders service", nil)
	if err != nil {
		return nil, err
	}
	if err := sg.AddUser(sendgridfake.User{Username: sendgridDemoUser, AutoScopes: []string{"2fa_required"}}); err != nil {
		return nil, err
	}
	sgAdmin, err := sg.CreateKey(sendgridDemoUser, "dualkey admin", []string{"api_keys.create", "api_keys.delete", "api_keys.read", "mail.send", "stats.read"})
	if err != nil {
		return nil, err
	}
	sgKey, err := sg.CreateKey(sendgridDemoUser, "orders service", []string{"mail.send", "stats.read"})
	if err != nil {
		return nil, err
	}
	twAdminARN, err := putJSON(ctx, sm, twilioAdminSecret, map[string]string{"account_sid": acct.Sid, "auth_token": acct.AuthToken}, nil)
	if err != nil {
		return nil, err
	}
	sgAdminARN, err := putJSON(ctx, sm, sendgridAdminSecret, map[string]string{"api_key": sgAdmin.Secret}, nil)
	if err != nil {
		return nil, err
	}
	lifecycleTags := map[string]string{lifecycle.TagManaged: "true", lifecycle.TagDrain: "1h", lifecycle.TagConfirm: "24h"}
	twTags, sgTags := map[string]string{lifecycle.TagProvider: twilio.Name}, map[string]string{lifecycle.TagProvider: sendgrid.Name}
	for k, v := range lifecycleTags {
		twTags[k], sgTags[k] = v, v
	}
	twARN, err := putJSON(ctx, sm, TwilioSecretName, map[string]string{"account_sid": acct.Sid, "api_key_sid": twKey.Sid, "api_key_secret": twKey.Secret, "master_secret_arn": twAdminARN}, twTags)
	if err != nil {
		return nil, err
	}
	sgARN, err := putJSON(ctx, sm, SendGridSecretName, map[string]string{"api_key": sgKey.Secret, "master_secret_arn": sgAdminARN}, sgTags)
	if err != nil {
		return nil, err
	}
	res.Twilio.OldKey, res.SendGrid.OldKey = twKey.Sid, sgKey.ID
	fmt.Fprintf(out, "Twilio account %s: Standard key %s in %s (admin: the auth token, in %s)\n", acct.Sid, twKey.Sid, TwilioSecretName, twilioAdminSecret)
	fmt.Fprintf(out, "SendGrid user %s: key %s (mail.send, stats.read) in %s (admin key in %s)\n", sendgridDemoUser, sgKey.ID, SendGridSecretName, sendgridAdminSecret)
	fmt.Fprintln(out, "both secrets: drain 1h, confirmation 24h")

	// The consumers: each re-reads AWSCURRENT every 100 ms and calls the
	// vendor every 3 ms with the key it holds.
	twilioCall := func(ctx context.Context, value string) (string, error) {
		var raw map[string]string
		if err := json.Unmarshal([]byte(value), &raw); err != nil {
			return "", err
		}
		sid := raw["api_key_sid"]
		c := twiliofake.NewRestClient(tw.Endpoints(), nil, sid, raw["api_key_secret"], raw["account_sid"])
		to, from, body := "+15005550006", "+15005550001", "order shipped"
		_, err := c.Api.CreateMessage(&api.CreateMessageParams{To: &to, From: &from, Body: &body})
		return sid, err
	}
	sgClient := sendgridfake.NewHTTPClient(sg.Endpoints(), nil)
	sendgridCall := func(ctx context.Context, value string) (string, error) {
		var raw map[string]string
		if err := json.Unmarshal([]byte(value), &raw); err != nil {
			return "", err
		}
		id := strings.SplitN(raw["api_key"], ".", 3)
		if len(id) != 3 {
			return "", errors.New("the secret holds no SendGrid key")
		}
		// The fake serves no mail/send; every key may read its scopes.
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sendgridfake.BaseURL+"/v3/scopes", nil)
		req.Header.Set("Authorization", "Bearer "+raw["api_key"])
		resp, err := sgClient.Do(req)
		if err != nil {
			return id[1], err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return id[1], fmt.Errorf("GET /v3/scopes: HTTP %d", resp.StatusCode)
		}
		return id[1], nil
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	twC := startConsumer(loadCtx, sm, twARN, twilioCall)
	sgC := startConsumer(loadCtx, sm, sgARN, sendgridCall)
	pause := func() { time.Sleep(400 * time.Millisecond) }
	pause()

	lc, err := lifecycle.New(lifecycle.Config{SecretsManager: sm, Now: clock.Now, LogWriter: io.Discard, MetricsWriter: io.Discard,
		Providers: map[string]rotation.Provider{
			twilio.Name:   twilio.New(twilio.Config{Endpoints: twilio.Endpoints{API: twURL, IAM: twURL}, Now: clock.Now}),
			sendgrid.Name: sendgrid.New(sendgrid.Config{APIURL: sgURL, Now: clock.Now}),
		}})
	if err != nil {
		return res, err
	}
	parts := []struct {
		name, arn, lambda string
		r                 *KeyRotationResult
		live              func() (map[string]bool, error)
		newKey            func(string) string
	}{
		{"Twilio", twARN, TwilioLambdaName, &res.Twilio, func() (map[string]bool, error) {
			keys, err := tw.Keys(acct.Sid)
			m := map[string]bool{}
			for _, k := range keys {
				m[k.Sid] = true
			}
			return m, err
		}, func(v string) string { return jsonField(v, "api_key_sid") }},
		{"SendGrid", sgARN, SendGridLambdaName, &res.SendGrid, func() (map[string]bool, error) {
			keys, err := sg.Keys(sendgridDemoUser)
			m := map[string]bool{}
			for _, k := range keys {
				m[k.ID] = true
			}
			return m, err
		}, func(v string) string { return jsonField(v, "api_key_id") }},
	}
	states := func(step string) error {
		for _, p := range parts {
			live, err := p.live()
			if err != nil {
				return err
			}
			st := map[string]string{}
			var words []string
			for _, k := range []struct{ role, id string }{{"old", p.r.OldKey}, {"new", p.r.NewKey}} {
				s := "deleted"
				if live[k.id] {
					s = "active"
				}
				st[k.id] = s
				words = append(words, fmt.Sprintf("%s key %s %s", k.role, k.id, s))
			}
			p.r.States = append(p.r.States, st)
			fmt.Fprintf(out, "  %-36s %-9s %s\n", step, p.name+":", strings.Join(words, ", "))
		}
		return nil
	}

	var runErr error
	for _, p := range parts {
		rec, _, err := fns.rotateNow(ctx, sm, p.arn, p.lambda, 30)
		if err != nil {
			runErr = fmt.Errorf("rotate the %s key: %w", p.name, err)
			break
		}
		if rec == nil || !rec.Succeeded {
			runErr = fmt.Errorf("the %s key rotation failed: %s", p.name, failure(rec))
			break
		}
		cur, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(p.arn)})
		if err != nil {
			runErr = err
			break
		}
		p.r.NewKey = p.newKey(aws.ToString(cur.SecretString))
		fmt.Fprintf(out, "rotated by the real functions/%s bootstrap under the RIE: new key %s\n", strings.ToLower(p.name), p.r.NewKey)
	}
	if runErr == nil {
		fmt.Fprintln(out, "  (Twilio: the same Standard kind, found by the admin in the account, a call signed with it accepted;")
		fmt.Fprintln(out, "   SendGrid: GET /v3/scopes with the new key returned exactly the old key's scopes)")
		runErr = states("after promotion (dual-key window):")
	}
	pause()
	retire := func(title string) error {
		fmt.Fprintf(out, "retire run, %s:\n", title)
		for _, p := range parts {
			rep, err := lc.Retire(ctx, p.arn, lifecycle.Options{})
			if err != nil {
				return fmt.Errorf("retire the %s key: %w", p.name, err)
			}
			for _, a := range rep.Actions {
				fmt.Fprintf(out, "    %-8s %-8s %s\n", p.name, a.Op, a.Reason)
			}
		}
		return nil
	}
	// Hook: the forgotten-consumer and log-evidence parts come with the
	// log-based usage reporter (built separately). It plugs in here, after
	// the drain: a consumer that still calls with the old key, its log
	// lines in the CloudWatch Logs emulator, and the retire run that then
	// reports "old credential still in use" instead of confirming.
	if runErr == nil {
		clock.Advance(61 * time.Minute)
		fmt.Fprintln(out, "\n⏩ emulator clock +61m (drain window over; no usage evidence for these vendors yet)")
		if runErr = retire("drained"); runErr == nil {
			runErr = states("  keys now (confirmation period):")
		}
		pause()
	}
	if runErr == nil {
		clock.Advance(25 * time.Hour)
		fmt.Fprintln(out, "\n⏩ emulator clock +25h (confirmation period over; rollback was possible until now)")
		if runErr = retire("confirmed"); runErr == nil {
			runErr = states("  keys now:")
		}
		pause()
	}
	stopLoad()
	for _, c := range []struct {
		r *KeyRotationResult
		c *keyConsumer
	}{{&res.Twilio, twC}, {&res.SendGrid, sgC}} {
		c.c.wg.Wait()
		c.r.Calls, c.r.Failed, c.r.ByKey, c.r.LastFailure = c.c.stats()
	}
	fmt.Fprintln(out, "\ncalls by the consumers (each re-reads AWSCURRENT every 100 ms):")
	for _, p := range parts {
		ids := make([]string, 0, len(p.r.ByKey))
		for id := range p.r.ByKey {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			fmt.Fprintf(out, "  %-8s key %s  %6d calls\n", p.name, id, p.r.ByKey[id])
		}
		fmt.Fprintf(out, "  %-8s calls: %d, FAILED: %d\n", p.name, p.r.Calls, p.r.Failed)
	}
	if runErr != nil {
		return res, runErr
	}
	for _, p := range parts {
		if p.r.Failed > 0 {
			return res, fmt.Errorf("%d %s calls failed during the rotation and the lifecycle (last: %s)", p.r.Failed, p.name, p.r.LastFailure)
		}
		if p.r.ByKey[p.r.OldKey] == 0 || p.r.ByKey[p.r.NewKey] == 0 {
			return res, fmt.Errorf("the %s consumer did not use both keys: %v", p.name, p.r.ByKey)
		}
	}
	fmt.Fprintln(out, "zero failed calls: both keys were rotated and the old ones deleted while the consumers kept working")
	return res, nil
}

// keyConsumer calls a vendor with the key it re-reads from AWSCURRENT.
type keyConsumer struct {
	wg     sync.WaitGroup
	mu     sync.Mutex
	calls  int
	failed int
	byKey  map[string]int
	last   string
}

func (c *keyConsumer) stats() (int, int, map[string]int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.byKey))
	for k, v := range c.byKey {
		m[k] = v
	}
	return c.calls, c.failed, m, c.last
}

// startConsumer runs a consumer until ctx is done: call makes one vendor
// call with the secret value and returns the key id it used.
func startConsumer(ctx context.Context, sm *secretsmanager.Client, arn string, call func(context.Context, string) (string, error)) *keyConsumer {
	c := &keyConsumer{byKey: map[string]int{}}
	c.wg.Go(func() {
		value, read := "", time.Time{}
		for ctx.Err() == nil {
			if time.Since(read) >= consumerRereadPeriod {
				out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
				if err == nil {
					value, read = aws.ToString(out.SecretString), time.Now()
				} else if ctx.Err() != nil {
					return
				}
			}
			id, err := call(ctx, value)
			if ctx.Err() != nil {
				return
			}
			c.mu.Lock()
			c.calls++
			c.byKey[id]++
			if err != nil {
				c.failed++
				c.last = rotation.RedactURLs(err.Error())
			}
			c.mu.Unlock()
			time.Sleep(consumerCallPeriod)
		}
	})
	return c
}

// putJSON creates a secret holding v as JSON, with tags; it returns the ARN.
func putJSON(ctx context.Context, sm *secretsmanager.Client, name string, v map[string]string, tags map[string]string) (string, error) {
	raw, _ := json.Marshal(v)
	in := &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(string(raw))}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	out, err := sm.CreateSecret(ctx, in)
	if err != nil {
		return "", fmt.Errorf("create secret %s: %w", name, err)
	}
	return aws.ToString(out.ARN), nil
}

// jsonField reads a string field of a JSON object ("" when absent).
func jsonField(value, field string) string {
	var m map[string]any
	if json.Unmarshal([]byte(value), &m) != nil {
		return ""
	}
	s, _ := m[field].(string)
	return s
}
