package stripewebhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v76"

	"github.com/dualkey/dualkey/shared/rotation"
)

// Metadata keys that mark an endpoint as one dualkey created.
const (
	// MetaRotation holds the rotation token (the version id) the endpoint
	// was created for.
	MetaRotation = "dualkey_rotation"
	// MetaSecret holds the name of the secret the endpoint belongs to.
	MetaSecret = "dualkey_secret"
)

// PlaceholderEvent is the only event a new endpoint listens to until
// setSecret gives it the current endpoint's events, so that nothing is
// signed with its secret before the secret is stored. Stripe sends it only
// to Connect applications, never to an account's own endpoint.
const PlaceholderEvent = "account.application.deauthorized"

// maxCreateAttempts bounds the creates of one createSecret: a replayed
// answer whose endpoint was deleted since needs a fresh idempotency key.
const maxCreateAttempts = 3

// ErrNoSuchEndpoint: the endpoint a version names does not exist (in the
// account and mode of the key that manages endpoints).
var ErrNoSuchEndpoint = errors.New("webhook endpoint does not exist")

// Create implements rotation.Provider: a new endpoint like the current one,
// listening to PlaceholderEvent only (setSecret gives it the real events).
func (p *Provider) Create(ctx context.Context, req *rotation.CreateRequest) (*rotation.CreateResponse, error) {
	cur, err := Parse(req.Current.Value)
	if err != nil {
		return nil, fmt.Errorf("current version: %w", err)
	}
	key, err := p.admin(ctx, req.Versions)
	if err != nil {
		return nil, err
	}
	eps, err := p.api.list(ctx, key)
	if err != nil {
		return nil, err
	}
	old := find(eps, cur.EndpointID)
	if old == nil {
		return nil, p.missing(cur.EndpointID, key, "the current version")
	}
	params, err := newEndpointParams(old, req.Token, secretName(req.SecretID))
	if err != nil {
		return nil, err
	}
	base := idempotencyBase(req.Token, params)
	var created *endpoint
	for attempt := 0; created == nil; attempt++ {
		if attempt == maxCreateAttempts {
			return nil, fmt.Errorf("create webhook endpoint: Stripe kept replaying endpoints that no longer exist (%d attempts): retry the rotation", attempt)
		}
		e, replayed, err := p.api.create(ctx, key, fmt.Sprintf("%s-%d", base, attempt), cloneParams(params))
		if err != nil {
			if isInFlight(err) {
				return nil, fmt.Errorf("%w: the same create request is still running at Stripe: %w", rotation.ErrConcurrentDelivery, err)
			}
			return nil, err
		}
		if !endpointPattern.MatchString(e.ID) {
			return nil, errors.New("create webhook endpoint: Stripe answered an endpoint without an id")
		}
		if replayed && find(eps, e.ID) == nil {
			// Stripe replayed an earlier request's answer: the endpoint was
			// made by a crashed attempt or a concurrent delivery after our
			// list, or it was deleted since (a discarded attempt).
			if _, err := p.api.get(ctx, key, e.ID); err != nil {
				if !isNotFound(err) {
					return nil, err
				}
				p.log.Info("the replayed endpoint was deleted since; creating another", "secret", req.SecretID, "endpoint", e.ID, "attempt", attempt+1)
				continue
			}
		}
		if replayed {
			p.log.Info("adopted the endpoint an earlier attempt of this rotation created", "secret", req.SecretID, "endpoint", e.ID)
		}
		created = e
	}
	if !secretPattern.MatchString(created.Secret) {
		// An endpoint whose secret we do not know is of no use to anyone.
		if err := p.api.delete(ctx, key, created.ID); err != nil && !isNotFound(err) {
			return nil, fmt.Errorf("Stripe answered the new webhook endpoint %s without its signing secret, and deleting it failed: %w", created.ID, err)
		}
		return nil, fmt.Errorf("Stripe answered the new webhook endpoint %s without its signing secret; it was deleted: retry the rotation", created.ID)
	}
	if err := p.removeOrphans(ctx, key, eps, req, created.ID); err != nil {
		return nil, err
	}
	value, err := rotation.MergeSecret(req.Current.Value, map[string]any{FieldEndpointID: created.ID, FieldWebhookSecret: created.Secret})
	if err != nil {
		return nil, err
	}
	p.log.Info("created a webhook endpoint listening to the placeholder event", "secret", req.SecretID, "current", old.ID, "pending", created.ID, "url", rotation.SafeURL(old.URL))
	return &rotation.CreateResponse{Value: value}, nil
}

// removeOrphans deletes the endpoints an earlier attempt of this rotation
// left: marked with this token and secret, not the one adopted, and older
// than rotation.OrphanAge (a younger one may be a concurrent delivery's,
// which stores or discards it itself).
func (p *Provider) removeOrphans(ctx context.Context, key string, eps []*endpoint, req *rotation.CreateRequest, keep string) error {
	name := secretName(req.SecretID)
	for _, e := range eps {
		if e.ID == keep || e.Metadata[MetaRotation] != req.Token || e.Metadata[MetaSecret] != name {
			continue
		}
		age := p.now().Sub(time.Unix(e.Created, 0))
		if age < rotation.OrphanAge {
			p.log.Info("left a young endpoint of this rotation alone: a concurrent delivery may store it", "secret", req.SecretID, "endpoint", e.ID)
			continue
		}
		if err := p.api.delete(ctx, key, e.ID); err != nil && !isNotFound(err) {
			return fmt.Errorf("remove endpoint %s left by an earlier attempt of this rotation: %w", e.ID, err)
		}
		p.log.Info("removed the endpoint an earlier attempt of this rotation left", "secret", req.SecretID, "endpoint", e.ID)
	}
	return nil
}

// newEndpointParams describes the new endpoint: the old one's URL, API
// version, description and metadata, the markers, the placeholder event.
func newEndpointParams(old *endpoint, token, name string) (*stripego.WebhookEndpointParams, error) {
	md := map[string]string{}
	for k, v := range old.Metadata {
		md[k] = v
	}
	md[MetaRotation] = token
	md[MetaSecret] = name
	if len(md) > maxMetadataKeys {
		return nil, fmt.Errorf("webhook endpoint %s has %d metadata keys; dualkey adds %s and %s and Stripe allows %d: remove some", old.ID, len(old.Metadata), MetaRotation, MetaSecret, maxMetadataKeys)
	}
	p := &stripego.WebhookEndpointParams{
		URL:           stripego.String(old.URL),
		EnabledEvents: []*string{stripego.String(PlaceholderEvent)},
		Metadata:      md,
	}
	if v := old.apiVersion(); v != "" {
		p.APIVersion = stripego.String(v)
	}
	if d := old.description(); d != "" {
		p.Description = stripego.String(d)
	}
	return p, nil
}

func cloneParams(p *stripego.WebhookEndpointParams) *stripego.WebhookEndpointParams {
	c := *p
	c.Params = stripego.Params{}
	return &c
}

// idempotencyBase derives the create's Idempotency-Key from the token and
// the request: the same attempt gets the same endpoint back from Stripe;
// a request that changed (the old endpoint was edited in between) gets a
// key of its own instead of Stripe's idempotency_error.
func idempotencyBase(token string, p *stripego.WebhookEndpointParams) string {
	h := sha256.New()
	fmt.Fprintf(h, "url=%s\napi_version=%s\ndescription=%s\n", deref(p.URL), deref(p.APIVersion), deref(p.Description))
	keys := make([]string, 0, len(p.Metadata))
	for k := range p.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "metadata[%q]=%q\n", k, p.Metadata[k])
	}
	return "dualkey-" + token + "-" + hex.EncodeToString(h.Sum(nil))[:16]
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func find(eps []*endpoint, id string) *endpoint {
	for _, e := range eps {
		if e.ID == id {
			return e
		}
	}
	return nil
}

// missing is the error for an endpoint a version names that the key cannot
// see.
func (p *Provider) missing(id, key, which string) error {
	mode := "test"
	if strings.Contains(key, "_live_") {
		mode = "live"
	}
	return fmt.Errorf("%w: endpoint %s named by %s's endpoint_id is not among the %s-mode webhook endpoints of the account of key %s: "+
		"check endpoint_id, and that master_secret_arn holds a key of the endpoint's account and mode", ErrNoSuchEndpoint, id, which, mode, keyFingerprint(key))
}

// Discard implements rotation.Discarder: the new endpoint is deleted
// (Destroy) or disabled, unless a stored version names it (a concurrent
// delivery stored the same endpoint: Stripe's idempotency gave both the
// same one).
func (p *Provider) Discard(ctx context.Context, req *rotation.DiscardRequest) error {
	id := endpointOf(req.Value)
	if id == "" {
		return nil
	}
	for _, st := range []string{rotation.StagePending, rotation.StageCurrent} {
		if v, err := req.Versions.Stage(ctx, st); err == nil && endpointOf(v.Value) == id {
			p.log.Info("not discarding the endpoint: a stored version names it", "secret", req.SecretID, "endpoint", id, "stage", st)
			return nil
		}
	}
	key, err := p.admin(ctx, req.Versions)
	if err != nil {
		return err
	}
	if req.Destroy {
		if err := p.api.delete(ctx, key, id); err != nil && !isNotFound(err) {
			return err
		}
		p.log.Info("deleted the endpoint that was not stored", "secret", req.SecretID, "endpoint", id)
		return nil
	}
	if _, err := p.api.update(ctx, key, id, &stripego.WebhookEndpointParams{Disabled: stripego.Bool(true)}); err != nil && !isNotFound(err) {
		return err
	}
	p.log.Info("disabled the endpoint that may not have been stored", "secret", req.SecretID, "endpoint", id)
	return nil
}

// sameEvents reports whether two enabled_events lists hold the same types.
func sameEvents(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
