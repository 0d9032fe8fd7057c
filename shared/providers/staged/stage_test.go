package staged_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/providers/staged"
	"github.com/dualkey/dualkey/shared/rotation"
)

// Within the stage lead before NextRotationDate the retire run alerts
// (KeyNotStaged) while nothing newer than AWSCURRENT is staged, and says
// what is staged once the operator staged the rolled pair; a staged value
// that the next createSecret could not adopt (the previous pair again)
// still alerts.
func TestKeyNotStagedBeforeTheRotation(t *testing.T) {
	ctx := context.Background()
	b, arn := newBed(t, basicKind)
	next := b.vendor.newKey("merchant-orders")
	b.stage(ctx, arn, b.credFields(next))
	if _, err := b.rotate(ctx, arn); err != nil { // every 30 days from now
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	lc, err := lifecycle.New(lifecycle.Config{SecretsManager: b.env.SM, Providers: map[string]rotation.Provider{staged.Name: staged.New(staged.Config{})},
		Now: b.env.Clock.Now, LogWriter: logs, MetricsWriter: logs})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		before func()
		after  time.Duration
		alert  bool
		says   string
	}{
		{"8 days before", nil, 22 * 24 * time.Hour, false, ""},
		{"6 days before, nothing staged", nil, 2 * 24 * time.Hour, true, "dualkey stage " + arn},
		{"the previous pair staged again", func() { b.stage(ctx, arn, b.credFields(b.first)) }, 0, true, "is the previous one"},
		{"a rolled pair staged", func() { b.stage(ctx, arn, b.credFields(b.vendor.newKey("merchant-orders"))) }, 0, false, "is staged in version"},
		{"past the due date with the rolled pair staged", nil, 7 * 24 * time.Hour, false, "the rotation was due"},
	}
	for _, c := range cases {
		if c.before != nil {
			c.before()
		}
		b.env.Clock.Advance(c.after)
		logs.Reset()
		rep, err := lc.Retire(ctx, arn, lifecycle.Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := strings.Contains(logs.String(), `"KeyNotStaged":1`)
		if got != c.alert || !strings.Contains(rep.String(), c.says) {
			t.Fatalf("%s: alert %v, want %v saying %q:\n%s", c.name, got, c.alert, c.says, rep)
		}
	}
	noSecret(t, "the logs", logs.String(), b.first.private, next.private)
}
