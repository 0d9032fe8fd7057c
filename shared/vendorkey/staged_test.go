package vendorkey

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/dualkey/dualkey/shared/rotation"
)

var errNothing = errors.New("nothing staged")

func TestIncoming(t *testing.T) {
	in := &rotation.Version{ID: "v-in", Value: "id=K2"}
	v, err := Incoming(context.Background(), stages{rotation.StageIncoming: in}, errNothing, "roll it", "dualkey stage s")
	if err != nil || v != in {
		t.Fatalf("Incoming = %v, %v, want the staged version", v, err)
	}
	_, err = Incoming(context.Background(), stages{}, errNothing, "roll it", "dualkey stage s")
	want := "nothing staged: no version is labelled DUALKEY_INCOMING: roll it, then run: dualkey stage s"
	if !errors.Is(err, errNothing) || err.Error() != want {
		t.Fatalf("Incoming without a staged version = %v, want %q wrapping the sentinel", err, want)
	}
}

func TestCurrentOf(t *testing.T) {
	cur := &rotation.Version{ID: "v-cur", Stages: []string{rotation.StageCurrent}}
	other := &rotation.Version{ID: "v-other"}
	if v, err := CurrentOf(context.Background(), &rotation.CredentialRequest{Version: other, Versions: stages{rotation.StageCurrent: cur}}); err != nil || v != other {
		t.Fatalf("CurrentOf with a version = %v, %v, want the request's", v, err)
	}
	if v, err := CurrentOf(context.Background(), &rotation.CredentialRequest{Versions: stages{rotation.StageCurrent: cur}}); err != nil || v != cur {
		t.Fatalf("CurrentOf without a version = %v, %v, want AWSCURRENT", v, err)
	}
	if _, err := CurrentOf(context.Background(), &rotation.CredentialRequest{Versions: stages{}}); !errors.Is(err, rotation.ErrNoVersion) {
		t.Fatalf("CurrentOf without AWSCURRENT = %v, want ErrNoVersion", err)
	}
}

func TestNotStaged(t *testing.T) {
	fieldErr := rotation.SecretFieldError("api_key", "is missing", "stage it")
	other := errors.New("throttled")
	tests := []struct {
		name   string
		err    error
		detail string
		fail   error
	}{
		{"nothing staged", fmt.Errorf("%w: roll", errNothing), "nothing staged: roll", nil},
		{"bad staged value", fieldErr, fieldErr.Error(), nil},
		{"failure", other, "", other},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			staged, detail, err := NotStaged(tc.err, errNothing)
			if staged || detail != tc.detail || !errors.Is(err, tc.fail) || (tc.fail == nil && err != nil) {
				t.Fatalf("NotStaged = %v, %q, %v; want false, %q, %v", staged, detail, err, tc.detail, tc.fail)
			}
		})
	}
}
