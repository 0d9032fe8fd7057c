package demo_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/dualkey/dualkey/internal/demo"
)

// TestDemoZeroDowntime runs the whole demo: the real bootstrap under the
// Lambda Runtime Interface Emulator, rotated three times through the
// emulator's RotateSecret while a keyring-protected service is under load.
// The vendor parts have tests of their own (TestDemoStripe, ...).
func TestDemoZeroDowntime(t *testing.T) {
	var out bytes.Buffer
	res, err := demo.Run(context.Background(), demo.Config{RIE: findRIE(t), Rotations: 3, Gap: 300 * time.Millisecond, Out: &out, SkipVendors: true})
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	if res.Rotations != 3 || res.Client.Failed != 0 || res.Client.Sent == 0 {
		t.Fatalf("rotations %d, sent %d, failed %d", res.Rotations, res.Client.Sent, res.Client.Failed)
	}
	if len(res.Client.ByKey) != 4 {
		t.Fatalf("requests used %d keys, want the initial key and three rotated ones", len(res.Client.ByKey))
	}
	iam := res.IAM
	if iam == nil || len(iam.States) != 4 {
		t.Fatalf("IAM part: %+v\n%s", iam, out.String())
	}
	want := []string{"Active", "Active", "Inactive", "deleted"} // old key after promotion, in use, quiet, grace over
	for i, st := range iam.States {
		if st[iam.OldKey] != want[i] || st[iam.NewKey] != "Active" {
			t.Fatalf("IAM step %d: keys %v, want old key %s and new key Active", i, st, want[i])
		}
	}
	mustContain(t, out.String(), "rotation 3 done", "AWSPREVIOUS", "FAILED: 0", "zero downtime", "old credential still in use", "InvalidClientTokenId")
}
