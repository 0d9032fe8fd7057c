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

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/notify"
	"github.com/dualkey/dualkey/shared/providers/registry"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/usagelogs"
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

// parseSecret parses args with fs (on which f is registered), takes the one
// SECRET they name, and builds the lifecycle: what every single-secret
// command does first.
func (f *lifecycleFlags) parseSecret(ctx context.Context, fs *flag.FlagSet, args []string, stderr io.Writer) (string, *lifecycle.Lifecycle, *secretsmanager.Client, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return "", nil, nil, err
	}
	secret, err := oneSecret(pos)
	if err != nil {
		return "", nil, nil, err
	}
	lc, sm, err := f.build(ctx, stderr)
	if err != nil {
		return "", nil, nil, err
	}
	return secret, lc, sm, nil
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
	// status and --dry-run read the usage evidence too; real runs publish
	// the same events as the retire and rollback functions.
	evidence, err := usagelogs.New(usagelogs.Config{Logs: cloudwatchlogs.NewFromConfig(cfg)})
	if err != nil {
		return nil, nil, err
	}
	pub, err := notify.PublisherFromEnv(os.Getenv, eventbridge.NewFromConfig(cfg), red.Redact)
	if err != nil {
		return nil, nil, err
	}
	lc, err := lifecycle.New(lifecycle.Config{Logs: evidence, Events: pub, SecretsManager: sm, Providers: providers, Defaults: settings, Redactor: red,
		LogWriter: logs, MetricsWriter: logs, CommandFlags: f.commandFlags()})
	return lc, sm, err
}

func runRetire(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("retire", stderr)
	var f lifecycleFlags
	f.register(fs)
	dry := fs.Bool("dry-run", false, "print what the run would do and why, changing nothing")
	all := fs.Bool("all", false, "act on every secret tagged dualkey:managed=true (as the scheduled retire function does)")
	resume := fs.Bool("resume", false, "clear the rollback hold of SECRET so retirement goes on")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := secretOrAll(*all, pos, "missing SECRET: retire acts on one secret; to act on every secret tagged dualkey:managed=true, pass --all"); err != nil {
		return err
	}
	if *all && *resume {
		return usageError{errors.New("--resume clears the hold of one SECRET; it does not take --all")}
	}
	lc, _, err := f.build(ctx, stderr)
	if err != nil {
		return err
	}
	if *resume {
		rep, err := lc.Resume(ctx, pos[0])
		fmt.Fprint(stdout, rep.String())
		return f.hint(err, pos[0])
	}
	if *dry {
		fmt.Fprintln(stdout, "dry run: nothing is changed")
	}
	if !*all {
		rep, err := lc.Retire(ctx, pos[0], lifecycle.Options{DryRun: *dry})
		fmt.Fprint(stdout, rep.String())
		return f.hint(err, pos[0])
	}
	reps, err := lc.RunAll(ctx, lifecycle.Options{DryRun: *dry})
	for _, rep := range reps {
		fmt.Fprint(stdout, rep.String())
	}
	if len(reps) == 0 && err == nil {
		fmt.Fprintln(stdout, "no secret is tagged dualkey:managed=true")
	}
	return err
}

func runRollback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rollback", stderr)
	var f lifecycleFlags
	f.register(fs)
	force := fs.Bool("force", false, "roll back after the rollback window, as long as the old credential still exists")
	restore := fs.Bool("restore-current", false, "also move AWSCURRENT back to the old version (default: the secret's dualkey:rollback-restore tag)")
	leaked := fs.Bool("reactivate-leaked-credential", false, "bring back a credential that an emergency rotation switched off because it leaked")
	reason := fs.String("reason", "manual rollback with dualkey rollback", "why, as `TEXT` recorded in the dualkey:state-note tag")
	dry := fs.Bool("dry-run", false, "print what would be done, changing nothing")
	secret, lc, _, err := f.parseSecret(ctx, fs, args, stderr)
	if err != nil {
		return err
	}
	opt := lifecycle.RollbackOptions{Reason: *reason, Force: *force, ReactivateLeaked: *leaked, DryRun: *dry}
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "restore-current" {
			opt.RestoreCurrent = restore
		}
	})
	if *dry {
		fmt.Fprintln(stdout, "dry run: nothing is changed")
	}
	rep, err := lc.Rollback(ctx, secret, opt)
	fmt.Fprint(stdout, rep.String())
	return f.hint(err, secret)
}

func runCancel(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("cancel", stderr)
	var f lifecycleFlags
	f.register(fs)
	dry := fs.Bool("dry-run", false, "print both steps, changing nothing")
	secret, lc, _, err := f.parseSecret(ctx, fs, args, stderr)
	if err != nil {
		return err
	}
	if *dry {
		fmt.Fprintln(stdout, "dry run: nothing is changed")
	}
	rep, err := lc.Cancel(ctx, secret, lifecycle.CancelOptions{DryRun: *dry})
	fmt.Fprint(stdout, rep.String())
	if err == nil && !*dry {
		fmt.Fprintf(stdout, "rotation cancelled; start a new one with: %s\n", f.cmd("rotate", secret))
	}
	return f.hint(err, secret)
}

// errOrphans is audit's finding.
var errOrphans = errors.New("orphaned credentials found")

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit", stderr)
	var f lifecycleFlags
	f.register(fs)
	secret, lc, _, err := f.parseSecret(ctx, fs, args, stderr)
	if err != nil {
		return err
	}
	rep, err := lc.Audit(ctx, secret)
	if err != nil {
		return f.hint(err, secret)
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
		return fmt.Errorf("%w: %d credential(s) that no version of %s references; if nobody uses them, delete them at the provider, then check again: %s",
			errOrphans, len(rep.Orphans), rep.Secret, f.cmd("audit", secret))
	}
	fmt.Fprintln(stdout, "no orphans")
	return nil
}
