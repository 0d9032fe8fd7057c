package keyring_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/shared/keyring"
)

// staticSM is a two-version secret held in memory. The fuzz targets use it
// instead of the emulator because a fuzzer needs thousands of executions a
// second; every other test talks to the real emulator.
type staticSM struct {
	values map[string]string // version id -> SecretString
	stages map[string][]string
}

var _ keyring.SecretsAPI = (*staticSM)(nil)

func newStaticSM(current, previous string) *staticSM {
	return &staticSM{
		values: map[string]string{"v-current": current, "v-previous": previous},
		stages: map[string][]string{"v-current": {keyring.StageCurrent}, "v-previous": {keyring.StagePrevious}},
	}
}

func (s *staticSM) DescribeSecret(_ context.Context, in *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	return &secretsmanager.DescribeSecretOutput{Name: in.SecretId, VersionIdsToStages: s.stages}, nil
}

func (s *staticSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	id := aws.ToString(in.VersionId)
	v, ok := s.values[id]
	if !ok {
		return nil, &types.ResourceNotFoundException{Message: aws.String("no version " + id)}
	}
	return &secretsmanager.GetSecretValueOutput{VersionId: aws.String(id), SecretString: aws.String(v), VersionStages: s.stages[id]}, nil
}

// FuzzVerify builds a keyring over a secret whose AWSCURRENT and AWSPREVIOUS
// SecretStrings are fuzzed and checks Verify against a model: a presented
// key is accepted exactly when it equals the key ExtractKey finds in a
// usable version; AWSCURRENT wins when both versions hold the same key; the
// match carries the right version, stage and fingerprint and is counted in
// Usage; New fails exactly when AWSCURRENT holds no usable key, and its
// error never contains the secret.
func FuzzVerify(f *testing.F) {
	f.Add(`{"api_key":"sk-live-current-0000AAAA"}`, `{"api_key":"sk-live-previous-000BBBB"}`, "sk-live-current-0000AAAA")
	f.Add(`{"api_key":"sk-live-current-0000AAAA"}`, `{"api_key":"sk-live-previous-000BBBB"}`, "sk-live-previous-000BBBB")
	f.Add(`plain-key-no-json-123456`, `{"api_key":""}`, "plain-key-no-json-123456")
	f.Add(`{"api_key":42}`, `x`, "42")
	f.Add(`{"api_key":"\u00e9\ud800"}`, `null`, "\u00e9\ufffd")
	f.Fuzz(func(t *testing.T, current, previous, presented string) {
		curKey, curErr := keyring.ExtractKey(current, "")
		prevKey, prevErr := keyring.ExtractKey(previous, "")
		kr, err := keyring.New(context.Background(), newStaticSM(current, previous), keyring.Config{
			SecretID: "fuzz/secret", Logger: slog.New(slog.DiscardHandler), UnknownKeyWait: keyring.NoWait,
		})
		if (err != nil) != (curErr != nil) {
			t.Fatalf("New error %v, but ExtractKey(AWSCURRENT) error %v", err, curErr)
		}
		if err != nil {
			if len(current) >= 4 && strings.Contains(err.Error(), current) {
				t.Fatalf("New's error contains the AWSCURRENT secret string: %q", err)
			}
			return
		}
		defer kr.Close()

		want := ""
		switch {
		case presented == "":
		case presented == curKey:
			want = keyring.StageCurrent
		case prevErr == nil && presented == prevKey:
			want = keyring.StagePrevious
		}
		m, ok := kr.Verify(context.Background(), presented)
		if ok != (want != "") || m.Stage != want {
			t.Fatalf("Verify = (%+v, %v), want stage %q", m, ok, want)
		}
		if !ok {
			if m != (keyring.Match{}) {
				t.Fatalf("refused key returned a non-zero Match %+v", m)
			}
			return
		}
		wantVID := map[string]string{keyring.StageCurrent: "v-current", keyring.StagePrevious: "v-previous"}[want]
		if m.VersionID != wantVID || m.Fingerprint != keyring.Fingerprint(presented) {
			t.Fatalf("Match %+v, want version %s and fingerprint %q", m, wantVID, keyring.Fingerprint(presented))
		}
		for _, u := range kr.Usage() {
			wantAccepted := uint64(0)
			if u.VersionID == wantVID {
				wantAccepted = 1
			}
			if u.Accepted != wantAccepted {
				t.Fatalf("usage of %s: accepted %d, want %d", u.VersionID, u.Accepted, wantAccepted)
			}
		}
	})
}

// FuzzExtractKey checks ExtractKey's contract on any input: no panic, a
// non-empty key on success (the field's string value for a JSON object, the
// whole string otherwise), and on failure one of the fixed messages, which
// name the field and never quote the secret.
func FuzzExtractKey(f *testing.F) {
	f.Add(`{"api_key":"sk-abc"}`, "")
	f.Add(`{"token":"sk-abc","api_key":7}`, "token")
	f.Add(`{"api_key":null}`, "api_key")
	f.Add(`[1,2,3]`, "")
	f.Add(`"just a json string"`, "")
	f.Add(``, "x")
	f.Add(`{"a":"\u0000"}`, "a")
	f.Fuzz(func(t *testing.T, secretString, field string) {
		key, err := keyring.ExtractKey(secretString, field)
		name := field
		if name == "" {
			name = keyring.DefaultField
		}
		if err != nil {
			allowed := []string{
				"secret string is empty",
				fmt.Sprintf("JSON field %q not found in secret", name),
				fmt.Sprintf("JSON field %q is not a string", name),
				fmt.Sprintf("JSON field %q is empty", name),
			}
			for _, a := range allowed {
				if err.Error() == a {
					return
				}
			}
			t.Fatalf("unexpected error text %q", err)
		}
		if key == "" {
			t.Fatal("empty key without error")
		}
		if key != secretString && !strings.HasPrefix(strings.TrimLeft(secretString, " \t\r\n"), "{") {
			t.Fatalf("non-object secret string: key is not the whole string")
		}
	})
}
