// Command dualkey is the operator's tool: it serves the local AWS emulator,
// runs the end-to-end demo, starts and cancels rotations, shows a secret's
// state, and moves old credentials through their lifecycle by hand.
//
//	dualkey help [COMMAND]
//	dualkey emulator [--addr 127.0.0.1:4566] [--state FILE] [--lambda NAME_OR_ARN=INVOKE_URL ...]
//	dualkey demo [--rie PATH]
//	dualkey rotate [--emergency] [--yes] [--lambda-arn ARN] SECRET
//	dualkey cancel [--dry-run] SECRET
//	dualkey stage [--field NAME] [--old-key-expires-in DUR | --old-key-expires-at TIME] [--dry-run] SECRET < new-key
//	dualkey status SECRET
//	dualkey retire [--dry-run] (SECRET | --all)
//	dualkey retire --resume SECRET
//	dualkey rollback [--dry-run] [--force] [--restore-current] [--reason TEXT] [--reactivate-leaked-credential] SECRET
//	dualkey audit SECRET
//	dualkey schedule (SECRET | --all)
//
// Commands that talk to AWS take --endpoint URL (or DUALKEY_ENDPOINT) and
// --region. Flags may come before or after SECRET. Exit codes: see
// exitCodes below and 'dualkey help'.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/dualkey/dualkey/shared/lifecycle"
)

type command struct {
	name string
	// args are the positional arguments in the usage line.
	args    string
	summary string
	// help is the longer description 'dualkey help NAME' prints.
	help string
	run  func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"emulator", "", "serve the local AWS emulator (Secrets Manager, IAM, STS, CloudWatch Logs, EventBridge, ECS)",
			"Serve the local AWS emulator on loopback until interrupted. See docs/emulator.md.", runEmulator},
		{"demo", "", "rotate keys end to end on local emulators while a service is under load",
			"Run the end-to-end demo: the real rotation functions under the Lambda RIE against the local emulator.", runDemo},
		{"rotate", "SECRET", "start a rotation of SECRET now (--emergency when its credential leaked)",
			"Start a rotation of SECRET now. Before it starts, rotate refuses when a previous rotation is not complete\n" +
				"(cancel it with 'dualkey cancel SECRET'), and says when the rotation may delete a deactivated credential\n" +
				"to make room (IAM allows two keys per user), ending its rollback window: then it needs --yes.\n" +
				"--emergency: the current credential leaked. It is recorded as leaked (no alarm ever brings it back),\n" +
				"the secret is rotated, and the old credential is switched off as soon as the new one is promoted.", runRotate},
		{"cancel", "SECRET", "cancel a rotation that did not finish: discard the pending credential, remove AWSPENDING",
			"Cancel a rotation that did not finish, so a new one can start: the pending credential is destroyed at\n" +
				"the provider (no orphan is left) and AWSPENDING is removed from its version. --dry-run prints both\n" +
				"steps. Make sure no rotation is running: 'dualkey status SECRET' shows when the pending version was made.\n" +
				"A rotation that replaces the credential in place (a single-user database secret) is not cancelled: once\n" +
				"its setSecret ran, only the pending version's credential works; the message says how to finish it.", runCancel},
		{"stage", "SECRET", "stage a credential rolled in a vendor's dashboard (Stripe, Braintree) for the next rotation", stageHelp, runStage},
		{"status", "SECRET", "show SECRET's versions, labels, lifecycle path and state, and what the next retire run does",
			"Show SECRET's rotation settings, versions and labels, its provider's lifecycle path, the lifecycle state\n" +
				"recorded in its dualkey:state* tags, and what the next retire run would do (a dry run).", runStatus},
		{"retire", "(SECRET | --all)", "move old credentials through drain, usage check, switch-off and delete",
			"Move the old credential of SECRET as far along its provider's lifecycle path as the evidence and the\n" +
				"clock allow, as the scheduled retire function does. Acting on every secret tagged dualkey:managed=true\n" +
				"needs --all. --dry-run prints what it would do and why. --resume SECRET clears a rollback hold.", runRetire},
		{"rollback", "SECRET", "switch the old credential back on and hold its retirement",
			"Switch the old credential of SECRET back on and hold its retirement until 'dualkey retire --resume SECRET'.\n" +
				"Within the rollback window after promotion, or at any time until the old credential is deleted once it\n" +
				"is switched off. --restore-current also moves AWSCURRENT back. A credential that an emergency rotation\n" +
				"switched off because it leaked comes back only with --reactivate-leaked-credential.", runRollback},
		{"audit", "SECRET", "list credentials at the provider that no version of SECRET references",
			"List the credentials at the provider for SECRET's identity (for IAM: the user's access keys) and flag\n" +
				"those that no labelled version references. Exits 1 when it finds one, 5 when the provider cannot list.", runAudit},
		{"schedule", "(SECRET | --all)", "check that SECRET is rotated at least as often as its dualkey:risk class",
			"Compare the rotation rules (AutomaticallyAfterDays, rate() or cron()) and the last rotation of SECRET with\n" +
				"its risk class, the tag dualkey:risk: 30d (payment processors, cloud root keys, production databases),\n" +
				"60d (SaaS integrations, CI/CD tokens, monitoring keys) or 90d (internal service keys, staging, read-only\n" +
				"analytics). A cron schedule counts by its longest gap between two rotations. Flags a schedule longer than\n" +
				"the class (TOO-RARE), a last rotation older than it (OVERDUE), rotation switched off (NOT-ROTATING), a\n" +
				"missing or unknown class (NO-CLASS, BAD-CLASS), each with its fix. --all checks every secret tagged\n" +
				"dualkey:managed=true. Exits 1 when it flags a secret.", runSchedule},
	}
}

// Exit codes; each means the same for every command.
const (
	exitOK          = 0
	exitOrphans     = 1 // a check found a problem: audit's orphans, schedule's findings
	exitUsage       = 2 // the command line is wrong
	exitRefused     = 3 // dualkey stopped to protect a credential, or there was nothing to do
	exitFailed      = 4 // a call to AWS or the provider failed, or a secret's settings are wrong
	exitCannotAudit = 5 // audit: the provider cannot list its credentials
)

const exitCodes = `exit codes:
  0  done
  1  a check found a problem: audit found orphaned credentials, schedule a secret rotated less often
     than its risk class (no other command exits 1)
  2  usage error: the command line is wrong; the message says what
  3  refused: dualkey stopped to protect a credential, or there was nothing to do
     (a leaked credential, the rollback window closed, nothing to roll back to, --yes needed, nothing
     to cancel, a cancel that could lose the working credential, a rotation still pending); the
     message ends with the command that goes on
  4  failed: a call to AWS or the provider failed, or the secret's settings are wrong
  5  audit: the provider cannot list its credentials`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "dualkey: missing COMMAND")
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		if args[0] == "help" && len(args) > 1 {
			if len(args) > 2 {
				fmt.Fprintf(stderr, "dualkey help: one COMMAND only, got %s\n", strings.Join(args[1:], " "))
				return exitUsage
			}
			c := find(args[1])
			if c == nil {
				fmt.Fprintf(stderr, "dualkey help: unknown command %q\n\n", args[1])
				usage(stderr)
				return exitUsage
			}
			return commandHelp(ctx, c, stdout)
		}
		usage(stdout)
		return exitOK
	}
	c := find(args[0])
	if c == nil {
		fmt.Fprintf(stderr, "dualkey: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	out := &errOut{Writer: stderr}
	err := c.run(ctx, args[1:], stdout, out)
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		printHelp(c, out.fs, stdout)
		return exitOK
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "dualkey %s: %v\n%s\nrun 'dualkey help %s' for its flags\n", c.name, ue.err, usageLine(c), c.name)
		return exitUsage
	}
	fmt.Fprintf(stderr, "dualkey %s: %v\n", c.name, err)
	return exitCode(err)
}

// exitCode maps an error to its exit code.
func exitCode(err error) int {
	switch {
	case errors.Is(err, errOrphans), errors.Is(err, errScheduleFindings):
		return exitOrphans
	case errors.Is(err, lifecycle.ErrCannotAudit):
		return exitCannotAudit
	case errors.Is(err, errNeedsYes), errors.Is(err, lifecycle.ErrLeakedCredential), errors.Is(err, lifecycle.ErrOutsideRollbackWindow),
		errors.Is(err, lifecycle.ErrNothingToRollBack), errors.Is(err, lifecycle.ErrNothingToCancel), errors.Is(err, lifecycle.ErrRotationIncomplete),
		errors.Is(err, lifecycle.ErrCancelUnsafe),
		errors.Is(err, errStageRefused):
		return exitRefused
	}
	return exitFailed
}

func find(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return &c
		}
	}
	return nil
}

func usageLine(c *command) string {
	line := "usage: dualkey " + c.name + " [flags]"
	if c.args != "" {
		line += " " + c.args
	}
	return line
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: dualkey COMMAND [flags] [SECRET]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %-17s %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w, "  help      [COMMAND]         this text, or a command's flags")
	fmt.Fprintln(w, "\nFlags may come before or after SECRET (the secret's name or ARN). Commands that talk to AWS take\n"+
		"--endpoint URL (env DUALKEY_ENDPOINT; the local emulator: http://127.0.0.1:4566) and --region.\n"+
		"Without --endpoint they act on real AWS with your default credentials.")
	fmt.Fprintln(w, "\n"+exitCodes)
}

// commandHelp prints a command's help: it runs the command with -h, which
// every command answers before doing anything.
func commandHelp(ctx context.Context, c *command, stdout io.Writer) int {
	out := &errOut{Writer: io.Discard}
	if err := c.run(ctx, []string{"-h"}, io.Discard, out); !errors.Is(err, flag.ErrHelp) {
		printHelp(c, nil, stdout)
		return exitOK
	}
	printHelp(c, out.fs, stdout)
	return exitOK
}

func printHelp(c *command, fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "%s\n\n%s\n", usageLine(c), c.help)
	if fs != nil {
		fmt.Fprintln(w, "\nflags:")
		fs.VisitAll(func(f *flag.Flag) {
			name, text := flag.UnquoteUsage(f)
			head := "--" + f.Name
			if name != "" {
				head += " " + name
			}
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
				text += fmt.Sprintf(" (default %q)", f.DefValue)
			}
			fmt.Fprintf(w, "  %s\n      %s\n", head, text)
		})
	}
	fmt.Fprintln(w, "\n"+exitCodes)
}

// usageError is a bad command line.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// errOut is the stderr run hands to a command; newFlags records the
// command's flag set in it, so run can print the command's help.
type errOut struct {
	io.Writer
	fs *flag.FlagSet
}

// newFlags returns a command's flag set. It prints nothing: run reports a
// parse error with the command's usage line, and -h with its help, on
// stdout.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("dualkey "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if o, ok := stderr.(*errOut); ok {
		o.fs = fs
	}
	return fs
}

// parseArgs parses flags anywhere on the command line, before or after the
// positional arguments ("--" ends the flags), and returns the positional
// arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// oneSecret checks that exactly one SECRET was given.
func oneSecret(pos []string) (string, error) {
	switch len(pos) {
	case 0:
		return "", usageError{errors.New("missing SECRET (the secret's name or ARN)")}
	case 1:
		return pos[0], nil
	}
	return "", usageError{fmt.Errorf("one SECRET only, got %d: %s", len(pos), strings.Join(pos, " "))}
}

// secretOrAll checks that a command that acts on one SECRET or on --all
// got exactly one of them; missing is the usage error when it got neither.
func secretOrAll(all bool, pos []string, missing string) error {
	switch {
	case all && len(pos) > 0:
		return usageError{fmt.Errorf("give SECRET or --all, not both (got --all and %v)", pos)}
	case !all && len(pos) == 0:
		return usageError{errors.New(missing)}
	case !all:
		_, err := oneSecret(pos)
		return err
	}
	return nil
}

// noArgs checks that a command without positional arguments got none.
func noArgs(pos []string) error {
	if len(pos) > 0 {
		return usageError{fmt.Errorf("takes no arguments, got %s", strings.Join(pos, " "))}
	}
	return nil
}
