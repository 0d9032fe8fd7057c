// Command dualkey is the operator's tool: it serves the local AWS emulator,
// runs the end-to-end demo, starts rotations and shows a secret's state.
//
//	dualkey emulator --addr 127.0.0.1:4566 [--state FILE] [--lambda NAME_OR_ARN=INVOKE_URL ...]
//	dualkey demo [--rie PATH]
//	dualkey rotate [--endpoint URL] [--lambda-arn ARN] [--emergency] SECRET
//	dualkey status [--endpoint URL] SECRET
//	dualkey retire [--dry-run] [--resume] [SECRET]
//	dualkey rollback [--force] [--restore-current] [--reason TEXT] SECRET
//	dualkey audit SECRET
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	name, usage string
	run         func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"emulator", "serve the local AWS emulator (Secrets Manager, IAM, STS)", runEmulator},
		{"demo", "rotate a key three times end to end on local emulators while a service is under load", runDemo},
		{"rotate", "start a rotation of a secret now", runRotate},
		{"status", "show a secret's versions, labels and rotation state", runStatus},
		{"retire", "move old credentials through drain, usage check, deactivation and deletion (--dry-run)", runRetire},
		{"rollback", "reactivate the old credential and hold retirement", runRollback},
		{"audit", "list credentials at the provider that no version of the secret references", runAudit},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		return 2
	}
	for _, c := range commands() {
		if c.name == args[0] {
			if err := c.run(ctx, args[1:], stdout, stderr); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					return 2
				}
				var ue usageError
				if errors.As(err, &ue) {
					return 2 // the flag package already printed the problem and the flags
				}
				fmt.Fprintf(stderr, "dualkey %s: %v\n", c.name, err)
				return 1
			}
			return 0
		}
	}
	fmt.Fprintf(stderr, "dualkey: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: dualkey COMMAND [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.usage)
	}
	fmt.Fprintln(w, "\nrun 'dualkey COMMAND -h' for a command's flags")
}

// usageError is a bad command line.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("dualkey "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
