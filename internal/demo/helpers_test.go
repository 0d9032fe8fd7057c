package demo_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/internal/dbtest"
	"github.com/dualkey/dualkey/internal/lambdarie"
)

// findRIE returns the aws-lambda-rie to use or fails the test with the
// command that installs it.
func findRIE(t *testing.T) string {
	t.Helper()
	rie, err := lambdarie.FindRIE()
	if err != nil {
		t.Fatal(err)
	}
	return rie
}

// runPart runs one part of the demo with the RIE findRIE finds and returns
// its result and output; it fails the test, with the output, when the part
// fails. A database the machine lacks skips the test outside CI.
func runPart[R any](t *testing.T, part func(context.Context, io.Writer, string) (R, error)) (R, string) {
	t.Helper()
	rie := findRIE(t)
	var out bytes.Buffer
	res, err := part(context.Background(), &out, rie)
	if errors.Is(err, dbtest.ErrNotInstalled) && os.Getenv("CI") == "" {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	return res, out.String()
}

// mustContain fails the test unless out contains every one of wants.
func mustContain(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Fatalf("demo output lacks %q:\n%s", w, out)
		}
	}
}
