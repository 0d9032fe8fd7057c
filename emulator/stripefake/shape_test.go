package stripefake_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/dualkey/dualkey/internal/stripemock"
)

// stripeMockKey is a key stripe-mock accepts (it wants sk_test_<one part>).
const stripeMockKey = "sk_test_dualkey"

// TestShapesMatchStripeMock sends every request the Stripe providers will
// send, through the real stripe-go/v76 client, to both stripe-mock (which
// checks the request against Stripe's OpenAPI spec) and the fake, and
// compares the JSON shapes of the answers: the same object keys,
// recursively, and the same value types.
//
// Known, deliberate differences (allowed below, each with its reason):
//   - the create answer of a webhook endpoint carries "secret" on Stripe
//     (stripe-go's WebhookEndpoint.Secret: "Only returned at creation");
//     stripe-mock's fixture leaves it out;
//   - "metadata" is a free-form map: its keys are data, not shape.
func TestShapesMatchStripeMock(t *testing.T) {
	mockURL := stripemock.StartT(t)
	s, fakeURL, _ := start(t)
	_, key := mustAccount(t, s, "shapes")

	mock := newClient(mockURL, stripeMockKey, 0)
	fake := newClient(fakeURL, key.Secret, 0)

	freeForm := map[string]bool{"metadata": true}
	createExtra := map[string]bool{".secret": true}

	// The endpoint the fake creates; stripe-mock, stateless, answers any id.
	createParams := func() *stripe.WebhookEndpointParams {
		p := &stripe.WebhookEndpointParams{
			URL:           stripe.String("https://consumer.example.com/stripe/webhook"),
			EnabledEvents: stripe.StringSlice([]string{"customer.created", "charge.succeeded"}),
			APIVersion:    stripe.String(stripe.APIVersion),
			Description:   stripe.String("dualkey shape test"),
		}
		p.AddMetadata("dualkey:rotation", "shape")
		return p
	}
	var endpointID string

	type call struct {
		name  string
		extra map[string]bool
		do    func(c *client.API, id string) ([]byte, error)
	}
	calls := []call{
		{"GET /v1/account", nil, func(c *client.API, _ string) ([]byte, error) {
			a, err := c.Accounts.Get()
			return raw(a, err)
		}},
		{"GET /v1/balance", nil, func(c *client.API, _ string) ([]byte, error) {
			b, err := c.Balance.Get(nil)
			return raw(b, err)
		}},
		{"GET /v1/charges?limit=1", nil, func(c *client.API, _ string) ([]byte, error) {
			it := c.Charges.List(&stripe.ChargeListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(1), Single: true}})
			return rawList(it.ChargeList().LastResponse, it.Err())
		}},
		{"GET /v1/customers?limit=1", nil, func(c *client.API, _ string) ([]byte, error) {
			it := c.Customers.List(&stripe.CustomerListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(1), Single: true}})
			return rawList(it.CustomerList().LastResponse, it.Err())
		}},
		{"POST /v1/webhook_endpoints", createExtra, func(c *client.API, _ string) ([]byte, error) {
			e, err := c.WebhookEndpoints.New(createParams())
			return raw(e, err)
		}},
		{"GET /v1/webhook_endpoints/{id}", nil, func(c *client.API, id string) ([]byte, error) {
			e, err := c.WebhookEndpoints.Get(id, nil)
			return raw(e, err)
		}},
		{"POST /v1/webhook_endpoints/{id} disabled=true", nil, func(c *client.API, id string) ([]byte, error) {
			e, err := c.WebhookEndpoints.Update(id, &stripe.WebhookEndpointParams{Disabled: stripe.Bool(true)})
			return raw(e, err)
		}},
		{"POST /v1/webhook_endpoints/{id} disabled=false metadata", nil, func(c *client.API, id string) ([]byte, error) {
			p := &stripe.WebhookEndpointParams{Disabled: stripe.Bool(false)}
			p.AddMetadata("dualkey:state", "current")
			e, err := c.WebhookEndpoints.Update(id, p)
			return raw(e, err)
		}},
		{"POST /v1/webhook_endpoints/{id} url enabled_events description", nil, func(c *client.API, id string) ([]byte, error) {
			e, err := c.WebhookEndpoints.Update(id, &stripe.WebhookEndpointParams{
				URL:           stripe.String("https://consumer.example.com/stripe/webhook2"),
				EnabledEvents: stripe.StringSlice([]string{"*"}),
				Description:   stripe.String("moved"),
			})
			return raw(e, err)
		}},
		{"GET /v1/webhook_endpoints?limit=3", nil, func(c *client.API, _ string) ([]byte, error) {
			it := c.WebhookEndpoints.List(&stripe.WebhookEndpointListParams{ListParams: stripe.ListParams{Limit: stripe.Int64(3), Single: true}})
			return rawList(it.WebhookEndpointList().LastResponse, it.Err())
		}},
		{"DELETE /v1/webhook_endpoints/{id}", nil, func(c *client.API, id string) ([]byte, error) {
			e, err := c.WebhookEndpoints.Del(id, nil)
			return raw(e, err)
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			fakeRaw, err := c.do(fake, endpointID)
			if err != nil {
				t.Fatalf("fake: %v", err)
			}
			if c.name == "POST /v1/webhook_endpoints" {
				endpointID = decode(t, fakeRaw).(map[string]any)["id"].(string)
			}
			mockRaw, err := c.do(mock, endpointID)
			if err != nil {
				t.Fatalf("stripe-mock refused the request the fake accepted: %v", err)
			}
			if diffs := shapeDiff("", decode(t, fakeRaw), decode(t, mockRaw), freeForm, c.extra); len(diffs) > 0 {
				t.Errorf("shapes differ:\n  %s", strings.Join(diffs, "\n  "))
			}
		})
	}
	if endpointID == "" || !strings.HasPrefix(endpointID, "we_") {
		t.Errorf("endpoint id %q, want we_…", endpointID)
	}
}

// TestShapeDiffCatchesDifferences proves the comparison can fail: a missing
// key, an extra key, a changed type and a nested difference are reported.
func TestShapeDiffCatchesDifferences(t *testing.T) {
	want := map[string]any{"id": "x", "n": 1.0, "sub": map[string]any{"a": true}, "list": []any{map[string]any{"k": "v"}}, "metadata": map[string]any{}}
	tests := []struct {
		name string
		got  map[string]any
		want string
	}{
		{"missing key", map[string]any{"n": 1.0, "sub": map[string]any{"a": true}, "list": []any{}, "metadata": map[string]any{}}, ".id: missing in the fake"},
		{"extra key", map[string]any{"id": "x", "n": 1.0, "sub": map[string]any{"a": true}, "list": []any{}, "metadata": map[string]any{}, "zz": 1.0}, ".zz: only in the fake"},
		{"type", map[string]any{"id": 2.0, "n": 1.0, "sub": map[string]any{"a": true}, "list": []any{}, "metadata": map[string]any{}}, ".id: fake has float64"},
		{"nested", map[string]any{"id": "x", "n": 1.0, "sub": map[string]any{"a": "yes"}, "list": []any{}, "metadata": map[string]any{}}, ".sub.a: fake has string"},
		{"array element", map[string]any{"id": "x", "n": 1.0, "sub": map[string]any{"a": true}, "list": []any{map[string]any{"k": 1.0}}, "metadata": map[string]any{}}, ".list[0].k: fake has float64"},
		{"metadata value type", map[string]any{"id": "x", "n": 1.0, "sub": map[string]any{"a": true}, "list": []any{}, "metadata": map[string]any{"k": 1.0}}, ".metadata.k: free-form value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			diffs := shapeDiff("", tc.got, want, map[string]bool{"metadata": true}, nil)
			if len(diffs) == 0 || !strings.Contains(strings.Join(diffs, "|"), tc.want) {
				t.Fatalf("diffs %q, want one containing %q", diffs, tc.want)
			}
		})
	}
	if d := shapeDiff("", map[string]any{"id": nil, "n": 3.0, "sub": map[string]any{"a": false}, "list": []any{}, "metadata": map[string]any{"x": "y"}}, want, map[string]bool{"metadata": true}, nil); len(d) != 0 {
		t.Fatalf("equal shapes reported as different: %q", d)
	}
}

// raw returns the body stripe-go received for a single object.
func raw(v any, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	var r *stripe.APIResponse
	switch o := v.(type) {
	case *stripe.Account:
		r = o.LastResponse
	case *stripe.Balance:
		r = o.LastResponse
	case *stripe.WebhookEndpoint:
		r = o.LastResponse
	default:
		return nil, fmt.Errorf("raw: unexpected %T", v)
	}
	return r.RawJSON, nil
}

func rawList(r *stripe.APIResponse, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	return r.RawJSON, nil
}
