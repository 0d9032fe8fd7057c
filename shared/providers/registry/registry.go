// Package registry lists every provider dualkey ships, keyed by the name
// used in the dualkey:provider tag, with the rotation.Factory each provider
// package exports. The retire and rollback functions and the CLI serve all
// providers at once through it; rotation functions never import it, so each
// links only its own provider.
package registry

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/dualkey/dualkey/shared/providers/iamkey"
	"github.com/dualkey/dualkey/shared/providers/mysql"
	"github.com/dualkey/dualkey/shared/providers/postgres"
	"github.com/dualkey/dualkey/shared/providers/sendgrid"
	"github.com/dualkey/dualkey/shared/providers/servicekey"
	"github.com/dualkey/dualkey/shared/providers/staged"
	"github.com/dualkey/dualkey/shared/providers/stripe"
	"github.com/dualkey/dualkey/shared/providers/stripewebhook"
	"github.com/dualkey/dualkey/shared/providers/twilio"
	"github.com/dualkey/dualkey/shared/providers/twiliotoken"
	"github.com/dualkey/dualkey/shared/rotation"
)

// factories is every provider by name. Adding a provider adds one line here
// (and its function, template resources, Makefile target, events and docs:
// the repository's tests check each).
var factories = map[string]rotation.Factory{
	"servicekey":    servicekey.FromEnv,
	"iamkey":        iamkey.FromEnv,
	"stripe":        stripe.FromEnv,
	"stripewebhook": stripewebhook.FromEnv,
	"staged":        staged.FromEnv,
	"postgres":      postgres.FromEnv,
	"mysql":         mysql.FromEnv,
	"twilio":        twilio.FromEnv,
	"twiliotoken":   twiliotoken.FromEnv,
	"sendgrid":      sendgrid.FromEnv,
}

// Names returns the provider names, sorted.
func Names() []string { return slices.Sorted(maps.Keys(factories)) }

// Providers builds every provider from env (the same settings as their
// rotation functions read).
func Providers(ctx context.Context, env rotation.Env) (map[string]rotation.Provider, error) {
	out := make(map[string]rotation.Provider, len(factories))
	for _, name := range Names() {
		p, err := factories[name](ctx, env)
		if err != nil {
			return nil, fmt.Errorf("%s provider: %w", name, err)
		}
		if p.Name() != name {
			return nil, fmt.Errorf("registry: provider registered as %q calls itself %q", name, p.Name())
		}
		out[name] = p
	}
	return out, nil
}
