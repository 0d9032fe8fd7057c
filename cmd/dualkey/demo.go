package main

import (
	"context"
	"io"
	"time"

	"github.com/dualkey/dualkey/internal/demo"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	rie := fs.String("rie", "", "path to aws-lambda-rie (default: $DUALKEY_RIE, ./bin, then PATH)")
	rotations := fs.Int("rotations", 3, "how many rotations to run")
	gap := fs.Duration("gap", time.Second, "time between rotations while the load runs")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	_, err = demo.Run(ctx, demo.Config{RIE: *rie, Rotations: *rotations, Gap: *gap, Out: stdout})
	return err
}
