package stripewebhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dualkey/dualkey/internal/stripemock"
	"github.com/dualkey/dualkey/shared/providers/stripewebhook"
	"github.com/dualkey/dualkey/shared/rotation"
)

// recorder passes requests to stripe-mock, records them with the status
// they got, and bends two answers so that every request the provider can
// send is sent: the first list page says has_more (so the next page is
// asked for with starting_after), and the first GET of the pending
// endpoint says it is disabled (so setSecret updates it).
type recorder struct {
	mu       sync.Mutex
	calls    []string
	pending  string
	listed   bool
	disabled bool
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf("%s %s %d", req.Method, req.URL.RequestURI(), resp.StatusCode))
	if req.Method != http.MethodGet || resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	var bend func(map[string]any)
	switch {
	case req.URL.Path == "/v1/webhook_endpoints" && !r.listed:
		r.listed = true
		bend = func(m map[string]any) { m["has_more"] = true }
	case req.URL.Path == "/v1/webhook_endpoints/"+r.pending && !r.disabled:
		r.disabled = true
		bend = func(m map[string]any) { m["status"] = "disabled" }
	default:
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	bend(m)
	body, _ = json.Marshal(m)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// mockVersions is a rotation.VersionReader over fixed versions and admin.
type mockVersions struct {
	stages map[string]*rotation.Version
	admin  *rotation.Admin
}

func (v mockVersions) Stage(_ context.Context, stage string) (*rotation.Version, error) {
	if x, ok := v.stages[stage]; ok {
		return x, nil
	}
	return nil, fmt.Errorf("%s: %w", stage, rotation.ErrNoVersion)
}

func (v mockVersions) Created(context.Context, string) (time.Time, error) { return time.Time{}, nil }

func (v mockVersions) Admin(context.Context) (*rotation.Admin, error) { return v.admin, nil }

// Every request the provider sends is valid against Stripe's OpenAPI spec:
// each provider method runs against stripe-mock, which refuses parameters
// the spec does not allow (and unknown event types), and every answer is a
// 2xx. stripe-mock is stateless and returns no signing secret on create,
// so createSecret ends by deleting the endpoint it cannot use.
func TestStripeMockAcceptsEveryRequest(t *testing.T) {
	ctx := context.Background()
	url := stripemock.StartT(t)
	req, _ := http.NewRequest(http.MethodGet, url+"/v1/webhook_endpoints", nil)
	req.SetBasicAuth("sk_test_adminkey1", "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Data []struct{ ID string } }
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || len(list.Data) == 0 {
		t.Fatalf("stripe-mock's endpoint list: %v", err)
	}
	const adminARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:stripe-admin-AbCdEf"
	val := func(id, secret string) string {
		return `{"endpoint_id":"` + id + `","webhook_secret":"` + secret + `","master_secret_arn":"` + adminARN + `"}`
	}
	current := &rotation.Version{ID: "cur", Stages: []string{rotation.StageCurrent}, Value: val(list.Data[0].ID, "whsec_current000000000001")}
	pending := &rotation.Version{ID: "pend", Stages: []string{rotation.StagePending}, Value: val("we_pending0001", "whsec_pending000000000001")}
	previous := &rotation.Version{ID: "prev", Stages: []string{rotation.StagePrevious}, Value: val("we_previous0001", "whsec_previous00000000001")}
	vs := mockVersions{
		stages: map[string]*rotation.Version{rotation.StageCurrent: current},
		admin:  &rotation.Admin{SecretARN: adminARN, Version: &rotation.Version{ID: "a", Value: `{"api_key":"sk_test_adminkey1"}`}},
	}
	rec := &recorder{pending: "we_pending0001"}
	p := stripewebhook.New(stripewebhook.Config{APIURL: url, HTTPClient: &http.Client{Transport: rec}})
	steps := []struct {
		name string
		run  func() error
		want []string // request lines, in order
		err  string   // "" when the call must succeed
	}{
		{"createSecret", func() error {
			_, err := p.Create(ctx, &rotation.CreateRequest{SecretID: "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/hook-AbCdEf",
				Token: "11111111-2222-3333-4444-555555555555", Current: current, Versions: vs})
			return err
		}, []string{"GET /v1/webhook_endpoints?limit=100 200", "GET /v1/webhook_endpoints?limit=100&starting_after=" + list.Data[0].ID + " 200",
			"POST /v1/webhook_endpoints 200", "DELETE /v1/webhook_endpoints/we_ 200"}, "without its signing secret"},
		{"setSecret", func() error { return p.Set(ctx, &rotation.SetRequest{SecretID: "s", Pending: pending, Versions: vs}) },
			[]string{"GET /v1/webhook_endpoints/" + list.Data[0].ID + " 200", "GET /v1/webhook_endpoints/we_pending0001 200", "POST /v1/webhook_endpoints/we_pending0001 200"}, ""},
		{"testSecret", func() error { return p.Test(ctx, &rotation.TestRequest{SecretID: "s", Pending: pending, Versions: vs}) },
			[]string{"GET /v1/webhook_endpoints/" + list.Data[0].ID + " 200", "GET /v1/webhook_endpoints/we_pending0001 200"}, ""},
		{"deactivate", func() error {
			return p.Deactivate(ctx, &rotation.CredentialRequest{SecretID: "s", Version: previous, Versions: vs})
		}, []string{"POST /v1/webhook_endpoints/we_previous0001 200"}, ""},
		{"reactivate", func() error {
			return p.Reactivate(ctx, &rotation.CredentialRequest{SecretID: "s", Version: previous, Versions: vs})
		}, []string{"POST /v1/webhook_endpoints/we_previous0001 200"}, ""},
		{"delete", func() error {
			return p.Delete(ctx, &rotation.CredentialRequest{SecretID: "s", Version: previous, Versions: vs})
		},
			[]string{"DELETE /v1/webhook_endpoints/we_previous0001 200"}, ""},
		{"discard (disable)", func() error {
			return p.Discard(ctx, &rotation.DiscardRequest{SecretID: "s", Value: pending.Value, Versions: vs})
		}, []string{"POST /v1/webhook_endpoints/we_pending0001 200"}, ""},
		{"discard (destroy)", func() error {
			return p.Discard(ctx, &rotation.DiscardRequest{SecretID: "s", Value: pending.Value, Versions: vs, Destroy: true})
		}, []string{"DELETE /v1/webhook_endpoints/we_pending0001 200"}, ""},
		{"audit", func() error {
			_, err := p.Credentials(ctx, &rotation.CredentialRequest{SecretID: "s", Version: current, Versions: vs})
			return err
		}, []string{"GET /v1/webhook_endpoints?limit=100 200"}, ""},
	}
	for _, s := range steps {
		err := s.run()
		if s.err == "" && err != nil || s.err != "" && (err == nil || !strings.Contains(err.Error(), s.err)) {
			t.Errorf("%s: %v, want %q", s.name, err, s.err)
		}
		got := rec.take()
		if len(got) != len(s.want) {
			t.Errorf("%s sent %v, want %v", s.name, got, s.want)
			continue
		}
		for i := range got {
			if !strings.HasPrefix(got[i], strings.TrimSuffix(s.want[i], " 200")) || !strings.HasSuffix(got[i], " 200") {
				t.Errorf("%s: request %d is %q, want %q", s.name, i+1, got[i], s.want[i])
			}
		}
	}
}
