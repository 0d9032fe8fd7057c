package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/ecsemu"
	"github.com/dualkey/dualkey/emulator/iamemu"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runEmulator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("emulator", stderr)
	addr := fs.String("addr", "127.0.0.1:4566", "listen address (keep it on loopback)")
	state := fs.String("state", "", "file to keep state in across restarts, IAM state beside it in FILE.iam.json (its directory must exist and be writable)")
	var lambdas multiFlag
	fs.Var(&lambdas, "lambda", "rotation Lambda NAME_OR_ARN=INVOKE_URL (repeatable), e.g. dualkey-servicekey=http://127.0.0.1:9001/2015-03-31/functions/function/invocations")
	bootstrap := fs.String("bootstrap-key", "", "ACCESS_KEY_ID:SECRET of the key that stands for the Lambda's own role (default: the built-in "+awsemu.DefaultAccessKeyID+" key)")
	delay := fs.Duration("iam-propagation-delay", 0, "refuse a new IAM access key for this long after CreateAccessKey, as IAM's eventual consistency does")
	rollout := fs.Duration("ecs-rollout", ecsemu.DefaultRolloutDuration, "how long a forced ECS deployment stays IN_PROGRESS (the previous one ACTIVE) before it completes; negative: at once")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	iamCfg := iamemu.Config{PropagationDelay: *delay}
	if *bootstrap != "" {
		id, secret, ok := strings.Cut(*bootstrap, ":")
		if !ok || id == "" || secret == "" {
			return fmt.Errorf("flag --bootstrap-key: want ACCESS_KEY_ID:SECRET")
		}
		iamCfg.BootstrapAccessKeyID, iamCfg.BootstrapSecretAccessKey = id, secret
	}
	cfg := awsemu.Config{StateFile: *state, Lambdas: map[string]string{}}
	for _, l := range lambdas {
		name, url, ok := strings.Cut(l, "=")
		if !ok || name == "" || url == "" {
			return fmt.Errorf("flag --lambda %q: want NAME_OR_ARN=INVOKE_URL", l)
		}
		cfg.Lambdas[name] = url
	}
	srv, err := awsemu.NewFullWith(cfg, iamCfg, ecsemu.Config{RolloutDuration: *rollout})
	if err != nil {
		return err
	}
	url, err := srv.Start(*addr)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(stdout, "dualkey emulator listening on %s\n", url)
	fmt.Fprintf(stdout, "  serves Secrets Manager, IAM, STS, CloudWatch Logs, EventBridge and ECS (events at %s/_dualkey/events, deployments at %s/_dualkey/ecs)\n", url, url)
	id := awsemu.DefaultAccessKeyID
	if iamCfg.BootstrapAccessKeyID != "" {
		id = iamCfg.BootstrapAccessKeyID
	}
	fmt.Fprintf(stdout, "  bootstrap key %s (secret: see --bootstrap-key or docs/emulator.md)\n", id)
	if *delay > 0 {
		fmt.Fprintf(stdout, "  new IAM keys work after %s\n", *delay)
	}
	if *state != "" {
		fmt.Fprintf(stdout, "  state kept in %s and %s.iam.json\n", *state, *state)
	}
	<-ctx.Done()
	return nil
}
