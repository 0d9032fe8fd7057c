package registry_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/dualkey/dualkey/shared/providers/registry"
)

func TestProviders(t *testing.T) {
	ps, err := registry.Providers(context.Background(), aws.Config{Region: "us-east-1"}, nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"servicekey", "iamkey"} {
		if p, ok := ps[name]; !ok || p.Name() != name {
			t.Errorf("provider %q missing", name)
		}
	}
	env := map[string]string{"DUALKEY_KEY_LENGTH": "3"}
	if _, err := registry.Providers(context.Background(), aws.Config{}, nil, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "DUALKEY_KEY_LENGTH") {
		t.Fatalf("bad setting: %v", err)
	}
}
