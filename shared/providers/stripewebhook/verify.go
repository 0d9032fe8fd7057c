package stripewebhook

import (
	"context"
	"fmt"
	"strings"

	stripego "github.com/stripe/stripe-go/v76"

	"github.com/dualkey/dualkey/shared/rotation"
)

// pair reads the pending and current endpoints.
func (p *Provider) pair(ctx context.Context, pendingValue string, versions rotation.VersionReader) (key string, pending, current *endpoint, ps *Secret, err error) {
	ps, err = Parse(pendingValue)
	if err != nil {
		return "", nil, nil, nil, fmt.Errorf("pending version: %w", err)
	}
	cv, err := versions.Stage(ctx, rotation.StageCurrent)
	if err != nil {
		return "", nil, nil, nil, fmt.Errorf("read AWSCURRENT: %w", err)
	}
	cs, err := parseRef(cv.Value)
	if err != nil {
		return "", nil, nil, nil, fmt.Errorf("current version: %w", err)
	}
	if key, err = p.admin(ctx, versions); err != nil {
		return "", nil, nil, nil, err
	}
	if current, err = p.api.get(ctx, key, cs.EndpointID); err != nil {
		if isNotFound(err) {
			return "", nil, nil, nil, p.missing(cs.EndpointID, key, "the current version")
		}
		return "", nil, nil, nil, err
	}
	if pending, err = p.api.get(ctx, key, ps.EndpointID); err != nil {
		if isNotFound(err) {
			return "", nil, nil, nil, fmt.Errorf("%w: the pending endpoint %s was deleted: cancel the rotation with dualkey cancel and start a new one", ErrNoSuchEndpoint, ps.EndpointID)
		}
		return "", nil, nil, nil, err
	}
	if pending.ID == current.ID {
		return "", nil, nil, nil, fmt.Errorf("the pending version names the current endpoint %s: a rotation needs a new endpoint; cancel it with dualkey cancel", current.ID)
	}
	return key, pending, current, ps, nil
}

// Set implements rotation.Provider: the new endpoint gets the current
// endpoint's events and is enabled, so Stripe sends every event to both.
// It changes nothing when that is done already.
func (p *Provider) Set(ctx context.Context, req *rotation.SetRequest) error {
	key, pending, current, _, err := p.pair(ctx, req.Pending.Value, req.Versions)
	if err != nil {
		return err
	}
	if pending.URL != current.URL {
		return fmt.Errorf("the pending endpoint %s delivers to %s, not to the current endpoint's %s: cancel the rotation with dualkey cancel and start a new one",
			pending.ID, rotation.SafeURL(pending.URL), rotation.SafeURL(current.URL))
	}
	if sameEvents(pending.EnabledEvents, current.EnabledEvents) && pending.Status == "enabled" {
		return nil
	}
	events := make([]*string, len(current.EnabledEvents))
	for i, ev := range current.EnabledEvents {
		events[i] = stripego.String(ev)
	}
	if _, err := p.api.update(ctx, key, pending.ID, &stripego.WebhookEndpointParams{EnabledEvents: events, Disabled: stripego.Bool(false)}); err != nil {
		return err
	}
	p.log.Info("the new endpoint now receives the current endpoint's events: every event arrives twice until the old endpoint is disabled",
		"secret", req.SecretID, "pending", pending.ID, "current", current.ID, "events", len(events))
	return nil
}

// Test implements rotation.Provider: the new endpoint is enabled and
// equal to the current one (URL, events, API version, mode), and its
// secret is a signing secret of its own. It changes nothing.
func (p *Provider) Test(ctx context.Context, req *rotation.TestRequest) error {
	_, pending, current, ps, err := p.pair(ctx, req.Pending.Value, req.Versions)
	if err != nil {
		return err
	}
	var problems []string
	if pending.Status != "enabled" {
		problems = append(problems, fmt.Sprintf("it is %s", pending.Status))
	}
	if pending.URL != current.URL {
		problems = append(problems, fmt.Sprintf("its URL %s is not %s", rotation.SafeURL(pending.URL), rotation.SafeURL(current.URL)))
	}
	if !sameEvents(pending.EnabledEvents, current.EnabledEvents) {
		problems = append(problems, fmt.Sprintf("it listens to %d event types, not to the current endpoint's %d (run setSecret)", len(pending.EnabledEvents), len(current.EnabledEvents)))
	}
	if pending.apiVersion() != current.apiVersion() {
		problems = append(problems, fmt.Sprintf("its API version %q is not %q", pending.apiVersion(), current.apiVersion()))
	}
	if pending.Livemode != current.Livemode {
		problems = append(problems, fmt.Sprintf("it is a %s-mode endpoint, the current one %s-mode", pending.mode(), current.mode()))
	}
	if cur, err := req.Versions.Stage(ctx, rotation.StageCurrent); err == nil {
		if cs, err := parseRef(cur.Value); err == nil && cs.WebhookSecret == ps.WebhookSecret {
			problems = append(problems, "its signing secret is the current one")
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("the pending webhook endpoint %s does not match the current endpoint %s: %s", pending.ID, current.ID, strings.Join(problems, "; "))
	}
	p.log.Info("the new endpoint matches the current one", "secret", req.SecretID, "pending", pending.ID, "current", current.ID, "url", rotation.SafeURL(pending.URL))
	return nil
}
