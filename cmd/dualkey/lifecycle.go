package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/providers/registry"
	"github.com/dualkey/dualkey/shared/rotation"
)

// lifecycleFlags build a lifecycle for CLI commands.
type lifecycleFlags struct {
	awsFlags
	verbose bool
}

func (f *lifecycleFlags) register(fs *flag.FlagSet) {
	f.awsFlags.register(fs)
	fs.BoolVar(&f.verbose, "v", false, "print the JSON log lines and metrics to stderr")
}

func (f *lifecycleFlags) build(ctx context.Context, stderr io.Writer) (*lifecycle.Lifecycle, *secretsmanager.Client, error) {
	cfg, err := f.config(ctx)
	if err != nil {
		return nil, nil, err
	}
	red := rotation.NewRedactor()
	var logs io.Writer = io.Discard
	if f.verbose {
		logs = stderr
	}
	providers, err := registry.Providers(ctx, rotation.Env{Getenv: os.Getenv, AWS: cfg, Logger: slog.New(red.Handler(slog.NewJSONHandler(logs, nil)))})
	if err != nil {
		return nil, nil, err
	}
	settings, err := lifecycle.SettingsFromEnv(os.Getenv)
	if err != nil {
		return nil, nil, err
	}
	sm := secretsmanager.NewFromConfig(cfg)
	lc, err := lifecycle.New(lifecycle.Config{SecretsManager: sm, Providers: providers, Defaults: settings, Redactor: red, LogWriter: logs, MetricsWriter: logs})
	return lc, sm, err
}

func runRetire(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("retire", stderr)
	var f lifecycleFlags
	f.register(fs)
	dry := fs.Bool("dry-run", false, "print what the next run would do and why, changing nothing")
	resume := fs.Bool("resume", false, "clear a rollback hold so retirement goes on")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	lc, _, err := f.build(ctx, stderr)
	if err != nil {
		return err
	}
	if *resume {
		if fs.NArg() != 1 {
			return errors.New("--resume wants exactly one SECRET")
		}
		rep, err := lc.Resume(ctx, fs.Arg(0))
		fmt.Fprint(stdout, rep.String())
		return err
	}
	if fs.NArg() > 1 {
		return errors.New("want at most one SECRET (default: every secret tagged dualkey:managed=true)")
	}
	if *dry {
		fmt.Fprintln(stdout, "dry run: nothing is changed")
	}
	if fs.NArg() == 1 {
		rep, err := lc.Retire(ctx, fs.Arg(0), lifecycle.Options{DryRun: *dry})
		fmt.Fprint(stdout, rep.String())
		return err
	}
	reps, err := lc.RunAll(ctx, lifecycle.Options{DryRun: *dry})
	for _, rep := range reps {
		fmt.Fprint(stdout, rep.String())
	}
	if len(reps) == 0 {
		fmt.Fprintln(stdout, "no secret is tagged dualkey:managed=true")
	}
	return err
}

func runRollback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rollback", stderr)
	var f lifecycleFlags
	f.register(fs)
	force := fs.Bool("force", false, "roll back after the rollback window, as long as the old credential still exists")
	restore := fs.Bool("restore-current", false, "also move AWSCURRENT back to the old version")
	reason := fs.String("reason", "manual rollback with dualkey rollback", "why (recorded in the dualkey:state-note tag)")
	dry := fs.Bool("dry-run", false, "print what would be done, changing nothing")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() != 1 {
		return errors.New("want exactly one SECRET")
	}
	lc, _, err := f.build(ctx, stderr)
	if err != nil {
		return err
	}
	opt := lifecycle.RollbackOptions{Reason: *reason, Force: *force, DryRun: *dry}
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "restore-current" {
			opt.RestoreCurrent = restore
		}
	})
	rep, err := lc.Rollback(ctx, fs.Arg(0), opt)
	fmt.Fprint(stdout, rep.String())
	return err
}

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit", stderr)
	var f lifecycleFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() != 1 {
		return errors.New("want exactly one SECRET")
	}
	lc, _, err := f.build(ctx, stderr)
	if err != nil {
		return err
	}
	rep, err := lc.Audit(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s (%s): %d credential(s) at the provider\n", rep.Secret, rep.Provider, len(rep.Credentials))
	for _, c := range rep.Credentials {
		ref := "ORPHAN: no version of the secret references it"
		if st, ok := rep.Referenced[c.Fingerprint]; ok {
			ref = fmt.Sprintf("referenced by %v", st)
		}
		fmt.Fprintf(stdout, "  %s  %-8s created %s  %s\n", c.Fingerprint, c.Status, c.Created.UTC().Format(time.RFC3339), ref)
	}
	if len(rep.Orphans) > 0 {
		return fmt.Errorf("%d orphaned credential(s) found", len(rep.Orphans))
	}
	fmt.Fprintln(stdout, "no orphans")
	return nil
}

// emergencyRotate tags the secret, rotates it, waits for the promotion and
// deactivates the old credential at once.
func emergencyRotate(ctx context.Context, f *lifecycleFlags, secret, lambdaARN string, stdout, stderr io.Writer) error {
	lc, sm, err := f.build(ctx, stderr)
	if err != nil {
		return err
	}
	if _, err := sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(secret),
		Tags: []types.Tag{{Key: aws.String(lifecycle.TagEmergency), Value: aws.String("true")}}}); err != nil {
		return fmt.Errorf("tag %s for emergency rotation: %w", secret, err)
	}
	in := &secretsmanager.RotateSecretInput{SecretId: aws.String(secret)}
	if lambdaARN != "" {
		in.RotationLambdaARN = aws.String(lambdaARN)
	}
	out, err := sm.RotateSecret(ctx, in)
	if err != nil {
		return fmt.Errorf("rotate %s: %w", secret, err)
	}
	token := aws.ToString(out.VersionId)
	fmt.Fprintf(stdout, "emergency rotation of %s: new version %s\n", aws.ToString(out.ARN), token)
	deadline := time.Now().Add(5 * time.Minute)
	for {
		d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secret)})
		if err != nil {
			return err
		}
		if rotation.Holder(d.VersionIdsToStages, rotation.StageCurrent) == token {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the new version %s was not promoted within 5 minutes; the old credential stays active (see dualkey status %s)", token, secret)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	rep, err := lc.Retire(ctx, secret, lifecycle.Options{Emergency: true})
	fmt.Fprint(stdout, rep.String())
	return err
}
