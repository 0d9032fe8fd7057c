// Command servicekey is the rotation Lambda for internal service keys (see
// shared/providers/servicekey).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/dualkey/dualkey/shared/lambdamain"
	"github.com/dualkey/dualkey/shared/providers/servicekey"
	"github.com/dualkey/dualkey/shared/rotation"
)

func main() {
	lambdamain.Start(func(_ context.Context, _ aws.Config, _ *rotation.Redactor) (rotation.Provider, error) {
		settings, err := servicekey.SettingsFromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		return servicekey.New(settings, nil), nil
	})
}
