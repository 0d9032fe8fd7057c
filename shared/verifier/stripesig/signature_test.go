package stripesig

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/dualkey/dualkey/internal/testutil"
)

var (
	sigA = strings.Repeat("ab", 32)
	sigB = strings.Repeat("cd", 32)
)

func TestParseSignatureHeader(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   error
		t      int64
		n      int // valid v1 signatures
	}{
		{"one v1", "t=1700000000,v1=" + sigA, nil, 1700000000, 1},
		{"two v1 (roll overlap) and v0", "t=1700000000,v1=" + sigA + ",v1=" + sigB + ",v0=" + sigA, nil, 1700000000, 2},
		{"spaces around parts", " t=1700000000 , v1=" + sigA + " ", nil, 1700000000, 1},
		{"unknown scheme ignored", "t=1,v9=zz,v1=" + sigA, nil, 1, 1},
		{"short v1 skipped", "t=1,v1=abcd,v1=" + sigA, nil, 1, 1},
		{"non-hex v1 skipped", "t=1,v1=" + strings.Repeat("zz", 32) + ",v1=" + sigA, nil, 1, 1},
		{"empty", "", ErrNotSigned, 0, 0},
		{"no timestamp", "v1=" + sigA, ErrInvalidHeader, 0, 0},
		{"two timestamps", "t=1,t=2,v1=" + sigA, ErrInvalidHeader, 0, 0},
		{"negative timestamp", "t=-1,v1=" + sigA, ErrInvalidHeader, 0, 0},
		{"signed timestamp", "t=+1,v1=" + sigA, ErrInvalidHeader, 0, 0},
		{"zero timestamp", "t=0,v1=" + sigA, ErrInvalidHeader, 0, 0},
		{"huge timestamp", "t=99999999999999999999,v1=" + sigA, ErrInvalidHeader, 0, 0},
		{"part without =", "t=1,v1", ErrInvalidHeader, 0, 0},
		{"empty key", "t=1,=x,v1=" + sigA, ErrInvalidHeader, 0, 0},
		{"only v0", "t=1,v0=" + sigA, ErrInvalidHeader, 0, 0},
		{"only bad v1", "t=1,v1=xyz", ErrInvalidHeader, 0, 0},
		{"too many v1", "t=1" + strings.Repeat(",v1="+sigA, MaxSignatures+1), ErrInvalidHeader, 0, 0},
		{"too long", "t=1,v1=" + sigA + ",x=" + strings.Repeat("a", MaxHeaderLen), ErrInvalidHeader, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sh, err := ParseSignatureHeader(tc.header)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil {
				return
			}
			if sh.Timestamp.Unix() != tc.t || len(sh.V1) != tc.n {
				t.Fatalf("got t=%d with %d signatures, want t=%d with %d", sh.Timestamp.Unix(), len(sh.V1), tc.t, tc.n)
			}
		})
	}
}

// TestComputeSignatureMatchesStripeGo: our signature is Stripe's, as
// computed by stripe-go's webhook package.
func TestComputeSignatureMatchesStripeGo(t *testing.T) {
	at := time.Unix(1700000000, 0)
	payload := []byte(`{"id":"evt_1","object":"event"}`)
	secret := "whsec_test_secret_value_0123456789"
	if got, want := ComputeSignature(at, payload, []byte(secret)), webhook.ComputeSignature(at, payload, secret); !bytes.Equal(got, want) {
		t.Fatalf("signature differs from stripe-go's")
	}
}

// FuzzParseSignatureHeader: no input panics; an accepted header has a
// positive timestamp and 1..MaxSignatures 32-byte signatures, and
// formatting it back parses to the same value.
func FuzzParseSignatureHeader(f *testing.F) {
	for _, s := range []string{
		"t=1700000000,v1=" + sigA,
		"t=1700000000,v1=" + sigA + ",v1=" + sigB + ",v0=" + sigA,
		"t=1,t=2",
		"v1=,t=",
		",,,",
		"t=1,v1=" + sigA + ",=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		sh, err := ParseSignatureHeader(header)
		if err != nil {
			if !errors.Is(err, ErrNotSigned) && !errors.Is(err, ErrInvalidHeader) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if sh.Timestamp.Unix() <= 0 || len(sh.V1) == 0 || len(sh.V1) > MaxSignatures {
			t.Fatalf("accepted header with t=%d and %d signatures", sh.Timestamp.Unix(), len(sh.V1))
		}
		for _, s := range sh.V1 {
			if len(s) != 32 {
				t.Fatalf("signature of %d bytes", len(s))
			}
		}
		again, err := ParseSignatureHeader(sh.String())
		if err != nil || !again.Timestamp.Equal(sh.Timestamp) || len(again.V1) != len(sh.V1) {
			t.Fatalf("round trip of %q: %v", sh.String(), err)
		}
		for i := range sh.V1 {
			if !bytes.Equal(again.V1[i], sh.V1[i]) {
				t.Fatal("round trip changed a signature")
			}
		}
	})
}

func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	clock := testutil.NewFakeClock(time.Unix(1700000000, 0))
	m := NewMemoryStore(3, time.Hour, time.Minute, clock.Now)
	claim := func(id string, want bool) {
		t.Helper()
		got, err := m.Claim(ctx, id)
		if err != nil || got != want {
			t.Fatalf("Claim(%s) = %v, %v; want %v", id, got, err, want)
		}
	}
	claim("evt_a", true)
	claim("evt_a", false) // in flight
	if err := m.Release(ctx, "evt_a"); err != nil {
		t.Fatal(err)
	}
	claim("evt_a", true) // released: the retry is processed
	if err := m.Complete(ctx, "evt_a"); err != nil {
		t.Fatal(err)
	}
	if err := m.Release(ctx, "evt_a"); err != nil { // releasing a completed id changes nothing
		t.Fatal(err)
	}
	claim("evt_a", false) // done
	clock.Advance(59 * time.Minute)
	claim("evt_a", false)
	clock.Advance(time.Minute)
	claim("evt_a", true) // TTL passed
	claim("evt_b", true)
	clock.Advance(time.Minute)
	claim("evt_b", true) // abandoned claim (handler never finished)
	claim("evt_c", true)
	claim("evt_d", true)
	claim("evt_e", true) // capacity 3: the least recently touched go
	if m.Len() != 3 {
		t.Fatalf("Len = %d, want 3", m.Len())
	}
}

// TestMemoryStoreConcurrentClaims: of many concurrent claims of one id,
// exactly one wins.
func TestMemoryStoreConcurrentClaims(t *testing.T) {
	m := NewMemoryStore(0, 0, 0, nil)
	const n = 64
	wins := make(chan bool, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		go func() {
			<-start
			ok, _ := m.Claim(context.Background(), "evt_same")
			wins <- ok
		}()
	}
	close(start)
	won := 0
	for i := 0; i < n; i++ {
		if <-wins {
			won++
		}
	}
	if won != 1 {
		t.Fatalf("%d claims won, want 1", won)
	}
}
