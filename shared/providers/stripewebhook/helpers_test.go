package stripewebhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/stripe/stripe-go/v76"

	"github.com/dualkey/dualkey/emulator/stripefake"
	"github.com/dualkey/dualkey/shared/providers/stripewebhook"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
	"github.com/dualkey/dualkey/shared/vendorkey/vendorkeytest"
)

// adminSecretName is the secret holding the Stripe key that manages
// endpoints.
const adminSecretName = "conformance/stripe-admin"

// bed is one test world: the kit's AWS emulator and engine, a Stripe fake
// on the kit's clock, an account with an admin key and a webhook endpoint
// pointing at a consumer, and the admin secret.
type bed struct {
	t        testing.TB
	env      *rotationtest.Env
	fake     *stripefake.Server
	url      string
	acct     stripefake.Account
	admin    stripefake.Key
	adminARN string
	consumer *httptest.Server
	// first is the endpoint the secret starts with.
	first *stripe.WebhookEndpoint
}

// opts shapes a bed.
type opts struct {
	// events are the first endpoint's enabled_events (default two types).
	events []string
	// metadata is the first endpoint's metadata.
	metadata map[string]string
	// handler answers the deliveries (default 200).
	handler http.Handler
}

func subject(o opts, out **bed) rotationtest.Subject {
	return rotationtest.Subject{
		OldStaysValid: true,
		// Every step reads the admin secret (master_secret_arn) once.
		MaxCalls: 12,
		Setup: func(t testing.TB, env *rotationtest.Env) *rotationtest.Fixture {
			b := newBedIn(t, env, o)
			if out != nil {
				*out = b
			}
			return b.fixture()
		},
	}
}

func newBedIn(t testing.TB, env *rotationtest.Env, o opts) *bed {
	t.Helper()
	ctx := context.Background()
	fake := stripefake.New(stripefake.Config{Now: env.Clock.Now})
	url, err := fake.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	b := &bed{t: t, env: env, fake: fake, url: url}
	if b.acct, err = fake.CreateAccount(stripefake.AccountOptions{BusinessName: "orders"}); err != nil {
		t.Fatal(err)
	}
	if b.admin, err = fake.CreateKey(b.acct.ID, stripefake.KeySpec{Kind: stripefake.KindRestricted, Permissions: []string{stripefake.PermWebhookWrite}}); err != nil {
		t.Fatal(err)
	}
	h := o.handler
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	}
	b.consumer = httptest.NewServer(h)
	t.Cleanup(b.consumer.Close)
	events := o.events
	if len(events) == 0 {
		events = []string{"customer.created", "invoice.paid"}
	}
	b.first, err = b.client().New(&stripe.WebhookEndpointParams{
		URL: stripe.String(b.consumer.URL + "/stripe/webhook"), EnabledEvents: stripe.StringSlice(events),
		APIVersion: stripe.String(stripe.APIVersion), Description: stripe.String("orders service"), Metadata: o.metadata,
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := env.SM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(adminSecretName), SecretString: aws.String(`{"api_key":"` + b.admin.Secret + `"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	b.adminARN = aws.ToString(out.ARN)
	return b
}

// client is a stripe-go client for the fake with the admin key, for the
// tests' own calls (not counted by the kit).
func (b *bed) client() *endpointClient {
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL: stripe.String(b.url), LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull}, MaxNetworkRetries: stripe.Int64(0),
	})
	return &endpointClient{b: backend, key: b.admin.Secret}
}

type endpointClient struct {
	b   stripe.Backend
	key string
}

func (c *endpointClient) New(p *stripe.WebhookEndpointParams) (*stripe.WebhookEndpoint, error) {
	e := &stripe.WebhookEndpoint{}
	return e, c.b.Call(http.MethodPost, "/v1/webhook_endpoints", c.key, p, e)
}

func (c *endpointClient) Update(id string, p *stripe.WebhookEndpointParams) error {
	return c.b.Call(http.MethodPost, "/v1/webhook_endpoints/"+id, c.key, p, &stripe.WebhookEndpoint{})
}

func (c *endpointClient) Del(id string) error {
	return c.b.Call(http.MethodDelete, "/v1/webhook_endpoints/"+id, c.key, nil, &stripe.WebhookEndpoint{})
}

func (b *bed) value(e *stripe.WebhookEndpoint, extra map[string]any) string {
	m := map[string]any{"endpoint_id": e.ID, "webhook_secret": e.Secret, "master_secret_arn": b.adminARN}
	for k, v := range extra {
		m[k] = v
	}
	s, _ := json.Marshal(m)
	return string(s)
}

func (b *bed) fixture() *rotationtest.Fixture {
	return &rotationtest.Fixture{
		Initial: b.value(b.first, map[string]any{"team": "payments"}),
		NewProvider: func(c *http.Client) rotation.Provider {
			return stripewebhook.New(stripewebhook.Config{APIURL: b.url, HTTPClient: c, Now: b.env.Clock.Now})
		},
		Works: b.works,
		Live:  b.live,
		// The lifecycle deletes the previous endpoint before the next
		// rotation (Stripe allows 16 per account and mode).
		BetweenRotations: func(ctx context.Context, env *rotationtest.Env, arn string) {
			prev := env.Value(ctx, arn, rotation.StagePrevious)
			s, err := stripewebhook.Parse(prev)
			if err != nil {
				b.t.Fatalf("previous version: %v", err)
			}
			if err := b.client().Del(s.EndpointID); err != nil {
				b.t.Fatalf("delete the previous endpoint: %v", err)
			}
		},
	}
}

// works checks that the endpoint in value exists, is enabled and signs
// with the value's secret.
func (b *bed) works(_ context.Context, value string) error {
	s, err := stripewebhook.Parse(value)
	if err != nil {
		return err
	}
	e, ok := b.fake.Endpoint(s.EndpointID)
	switch {
	case !ok:
		return fmt.Errorf("endpoint %s does not exist", s.EndpointID)
	case e.Disabled:
		return fmt.Errorf("endpoint %s is disabled", s.EndpointID)
	case e.Secret != s.WebhookSecret:
		return fmt.Errorf("endpoint %s signs with another secret", s.EndpointID)
	}
	return nil
}

// live lists the account's endpoints.
func (b *bed) live(context.Context) ([]string, error) {
	var ids []string
	for _, e := range b.fake.Endpoints(b.acct.ID, false) {
		ids = append(ids, e.ID)
	}
	return ids, nil
}

// newBed returns a bed with its own environment and the secret created.
func newBed(t *testing.T, o opts) (*bed, string) {
	t.Helper()
	var b *bed
	env := rotationtest.NewEnv(t, subject(o, &b))
	arn := env.CreateSecret(context.Background())
	return b, arn
}

func (b *bed) provider() *stripewebhook.Provider {
	return stripewebhook.New(stripewebhook.Config{APIURL: b.url, Now: b.env.Clock.Now})
}

// reader is a rotation.VersionReader over the secret's versions as they
// are now, for calling lifecycle methods directly.
func (b *bed) reader(ctx context.Context, arn string) rotation.VersionReader {
	d, err := b.env.SM.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		b.t.Fatal(err)
	}
	return rotation.NewReader(b.env.SM, aws.ToString(d.ARN), d.VersionIdsToStages, nil)
}

// request names the version holding stage.
func (b *bed) request(ctx context.Context, arn, stage string) *rotation.CredentialRequest {
	b.t.Helper()
	r := b.reader(ctx, arn)
	v, err := r.Stage(ctx, stage)
	if err != nil {
		b.t.Fatal(err)
	}
	return &rotation.CredentialRequest{SecretID: arn, Version: v, Versions: r}
}

// endpointOf returns the endpoint of the version holding stage.
func (b *bed) endpointOf(ctx context.Context, arn, stage string) stripefake.Endpoint {
	b.t.Helper()
	s, err := stripewebhook.Parse(b.env.Value(ctx, arn, stage))
	if err != nil {
		b.t.Fatalf("%s: %v", stage, err)
	}
	e, ok := b.fake.Endpoint(s.EndpointID)
	if !ok {
		b.t.Fatalf("the %s endpoint %s does not exist", stage, s.EndpointID)
	}
	return e
}

// rotate starts a rotation and returns its token and the failure.
func (b *bed) rotate(ctx context.Context, arn string) (string, error) {
	b.t.Helper()
	return vendorkeytest.Rotate(ctx, b.t, b.env, arn)
}

// putAdmin replaces the admin secret's value.
func (b *bed) putAdmin(ctx context.Context, value string) {
	b.t.Helper()
	if _, err := b.env.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(b.adminARN), SecretString: aws.String(value)}); err != nil {
		b.t.Fatal(err)
	}
}

// noSecret fails the test when text holds any of the secrets.
func noSecret(t testing.TB, what, text string, secrets ...string) {
	t.Helper()
	vendorkeytest.NoSecret(t, what, "a secret", text, secrets...)
}
