package registry_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/dualkey/dualkey/shared/providers/registry"
	"github.com/dualkey/dualkey/shared/rotation"
)

func TestProviders(t *testing.T) {
	ps, err := registry.Providers(context.Background(), rotation.Env{AWS: aws.Config{Region: "us-east-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != len(registry.Names()) {
		t.Fatalf("built %d providers for %d names", len(ps), len(registry.Names()))
	}
	for _, name := range []string{"servicekey", "iamkey", "stripe", "stripewebhook", "staged", "postgres", "mysql", "twilio", "twiliotoken", "sendgrid"} {
		if p, ok := ps[name]; !ok || p.Name() != name {
			t.Errorf("provider %q missing", name)
		}
	}
	for name, p := range ps {
		switch p.SwitchOff() {
		case rotation.SwitchOffReversible:
			if _, ok := p.(rotation.Deactivator); !ok {
				t.Errorf("%s declares a reversible switch-off but is not a rotation.Deactivator", name)
			}
		case rotation.SwitchOffDeleteOnly:
			if _, ok := p.(rotation.Deleter); !ok {
				t.Errorf("%s declares a delete-only switch-off but is not a rotation.Deleter", name)
			}
		case rotation.SwitchOffExternal:
			if _, ok := p.(rotation.ExpiryChecker); !ok {
				t.Errorf("%s declares an external switch-off but is not a rotation.ExpiryChecker", name)
			}
		case rotation.SwitchOffLabelGated:
		default:
			t.Errorf("%s declares unknown switch-off %q", name, p.SwitchOff())
		}
	}
	env := map[string]string{"DUALKEY_KEY_LENGTH": "3"}
	_, err = registry.Providers(context.Background(), rotation.Env{Getenv: func(k string) string { return env[k] }})
	if err == nil || !strings.Contains(err.Error(), "DUALKEY_KEY_LENGTH") || !strings.Contains(err.Error(), "servicekey provider") {
		t.Fatalf("bad setting: %v", err)
	}
}
