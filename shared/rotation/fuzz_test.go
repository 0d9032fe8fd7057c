package rotation_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/providers/servicekey"
	"github.com/dualkey/dualkey/shared/rotation"
)

// inProcess carries SDK requests straight into an emulator's handler: no
// sockets, so a fuzz target can start a fresh emulator per input.
type inProcess struct{ h http.Handler }

func (p inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Host = r.URL.Host
	r.RequestURI = r.URL.RequestURI()
	r.RemoteAddr = "127.0.0.1:1"
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

const (
	fuzzSecret = "fuzz/secret"
	fuzzToken  = "fuzz0000-1111-2222-3333-444444444444"
	fuzzKey    = "fuzz-initial-key-0123456789abcdefghijkl"
)

// fuzzWorld is an emulator holding fuzzSecret (tagged for servicekey) with
// a rotation held at RotateSecret's placeholder fuzzToken.
func fuzzWorld(t testing.TB) (*secretsmanager.Client, string) {
	t.Helper()
	emu, err := awsemu.New(awsemu.Config{Invoker: awsemu.InvokerFunc(func(context.Context, string, []byte) error {
		return errors.New("held")
	})})
	if err != nil {
		t.Fatal(err)
	}
	cfg := awsemu.ClientConfig("http://emulator.invalid")
	cfg.HTTPClient, cfg.RetryMaxAttempts = &http.Client{Transport: inProcess{emu}}, 1
	sm := secretsmanager.NewFromConfig(cfg)
	ctx := context.Background()
	out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(fuzzSecret), SecretString: aws.String(`{"api_key":"` + fuzzKey + `"}`),
		Tags: []types.Tag{{Key: aws.String(rotation.TagManaged), Value: aws.String("true")}, {Key: aws.String(rotation.TagProvider), Value: aws.String("servicekey")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: out.ARN, ClientRequestToken: aws.String(fuzzToken), RotationLambdaARN: aws.String("fn")}); err != nil {
		t.Fatal(err)
	}
	return sm, aws.ToString(out.ARN)
}

// FuzzHandleEvent feeds arbitrary bytes to Engine.HandleJSON against a
// fresh in-process emulator: it never panics, fails only with a
// *RotationError whose text is printable and names no secret, and never
// loses AWSCURRENT or leaves two versions AWSPENDING.
func FuzzHandleEvent(f *testing.F) {
	for _, step := range []string{"createSecret", "setSecret", "testSecret", "finishSecret", "dropSecret", ""} {
		f.Add([]byte(fmt.Sprintf(`{"Step":%q,"SecretId":%q,"ClientRequestToken":%q,"RotationToken":"r0000000-1111-2222-3333-444444444444"}`, step, fuzzSecret, fuzzToken)))
	}
	f.Add([]byte(`{"Step":"createSecret","SecretId":"fuzz/secret","ClientRequestToken":"00000000-0000-0000-0000-000000000000"}`))
	f.Add([]byte(`{"Step":"createSecret","SecretId":"fuzz/secret\u0000","ClientRequestToken":"` + fuzzToken + `"}`))
	f.Add([]byte(`{"Step":["createSecret"]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		sm, arn := fuzzWorld(t)
		logs := &testutil.SyncBuffer{}
		eng, err := rotation.New(rotation.Config{SecretsManager: sm, Provider: servicekey.New(servicekey.DefaultSettings, nil), LogWriter: logs, MetricsWriter: logs})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		err = eng.HandleJSON(ctx, payload)
		if err != nil {
			var re *rotation.RotationError
			if !errors.As(err, &re) {
				t.Fatalf("HandleJSON failed with %T, not a *rotation.RotationError: %v", err, err)
			}
			for _, r := range err.Error() {
				if r != '\n' && r != '\t' && !unicode.IsPrint(r) {
					t.Fatalf("error has the unprintable character %U: %q", r, err)
				}
			}
		}
		d, derr := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
		if derr != nil {
			t.Fatal(derr)
		}
		pending := 0
		for _, st := range d.VersionIdsToStages {
			for _, s := range st {
				if s == rotation.StagePending {
					pending++
				}
			}
		}
		if pending > 1 {
			t.Fatalf("%d versions hold AWSPENDING", pending)
		}
		cur, cerr := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
		if cerr != nil || aws.ToString(cur.SecretString) != `{"api_key":"`+fuzzKey+`"}` {
			t.Fatalf("AWSCURRENT changed or was lost: %v", cerr)
		}
		red := rotation.NewRedactor()
		red.Add(fuzzKey)
		if pv, perr := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String(rotation.StagePending)}); perr == nil {
			red.AddSecretValue(aws.ToString(pv.SecretString))
		}
		if red.Contains(logs.String()) || (err != nil && red.Contains(err.Error())) {
			t.Fatalf("a key reached the logs or the error")
		}
	})
}

// FuzzDecodeSecret: DecodeSecret never panics and its errors never quote a
// value of the secret.
func FuzzDecodeSecret(f *testing.F) {
	for _, s := range []string{`{"api_key":"abc"}`, `{"api_key":12}`, `["x"]`, `"str"`, `{"n":{"api_key":true}}`, `{"api_key":"x","key_length":1e400}`, ``, `{"a":"\ud800"}`} {
		f.Add(s, "s3cr3t-value")
	}
	f.Fuzz(func(t *testing.T, value, secret string) {
		type shape struct {
			APIKey    string         `json:"api_key"`
			KeyLength *int64         `json:"key_length"`
			Enabled   bool           `json:"enabled"`
			Nested    map[string]int `json:"nested"`
			List      []string       `json:"list"`
		}
		var s shape
		err := rotation.DecodeSecret(value, &s)
		if err == nil {
			return
		}
		if !errors.Is(err, rotation.ErrInvalidSecret) {
			t.Fatalf("DecodeSecret error %v is not ErrInvalidSecret", err)
		}
		// A secret planted in any field never shows in the error (unless
		// the same text shows when another value is planted: then it is a
		// field name or a word of the message).
		if len(secret) < 6 || strings.ContainsAny(secret, `"\\`) || !isPrintable(secret) {
			return
		}
		other := strings.Repeat("q", len(secret))
		for _, tmpl := range []string{
			`{"api_key":%s}`, `{"api_key":"%s","key_length":"%s"}`, `{"nested":{"x":"%s"}}`, `{"list":[1,"%s"]}`, `{"enabled":"%s"}`,
		} {
			planted := strings.ReplaceAll(tmpl, "%s", secret)
			plain := strings.ReplaceAll(tmpl, "%s", other)
			err := rotation.DecodeSecret(planted, &s)
			perr := rotation.DecodeSecret(plain, &s)
			if err != nil && strings.Contains(err.Error(), secret) && (perr == nil || !strings.Contains(perr.Error(), secret)) {
				t.Fatalf("DecodeSecret(%q) error quotes the value: %v", planted, err)
			}
		}
	})
}

func isPrintable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// FuzzAdminRef: AdminRef never panics, returns only clean references of
// the two known fields, and its errors never quote the reference.
func FuzzAdminRef(f *testing.F) {
	for _, s := range []string{
		`{"master_secret_arn":"arn:aws:secretsmanager:us-east-1:123456789012:secret:admin-AbCdEf"}`,
		`{"masterarn":"admin/db"}`, `{"masterarn":"a","master_secret_arn":"b"}`, `{"masterarn":12}`,
		`{"master_secret_arn":""}`, `{"master_secret_arn":"a b"}`, `not json`, `{"masterarn":"\u0000"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		field, ref, err := rotation.AdminRef(value)
		if err != nil {
			var fe *rotation.FieldError
			if !errors.As(err, &fe) || (fe.Field != rotation.FieldMasterSecretARN && fe.Field != rotation.FieldMasterARN) {
				t.Fatalf("AdminRef error %v names no admin field", err)
			}
			if ref != "" {
				t.Fatalf("AdminRef returned %q with an error", ref)
			}
			return
		}
		if ref == "" {
			if field != "" {
				t.Fatalf("AdminRef returned field %q and no reference", field)
			}
			return
		}
		if field != rotation.FieldMasterSecretARN && field != rotation.FieldMasterARN {
			t.Fatalf("AdminRef returned field %q", field)
		}
		if len(ref) > 2048 || strings.TrimSpace(ref) != ref || strings.ContainsFunc(ref, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) {
			t.Fatalf("AdminRef returned the unclean reference %q", ref)
		}
	})
}

// FuzzRedactURLs: RedactURLs never panics, is idempotent, and no password
// or query value of a URL survives it.
func FuzzRedactURLs(f *testing.F) {
	f.Add("see https://u:pa55word@h.example/x?t=t0ken", "pa55word", "t0ken1")
	f.Add("GET http://[REDACTED]@127.0.0.1:1/health?token=[REDACTED] refused", "hunter2", "s3cr3t")
	f.Add("postgres://admin:pa%zzss@db:5432/app", "pa%zzss", "x")
	f.Add("a http://x:y@h1/ b http://h2/?k=v#frag", "secret", "value1")
	f.Fuzz(func(t *testing.T, text, password, token string) {
		once := rotation.RedactURLs(text)
		if twice := rotation.RedactURLs(once); twice != once {
			t.Fatalf("RedactURLs is not idempotent: %q -> %q -> %q", text, once, twice)
		}
		if len(password) < 6 || len(token) < 6 || !urlSafe(password) || !urlSafe(token) {
			return
		}
		for _, u := range []string{
			"https://svc:" + password + "@billing.internal/health?token=" + token,
			"http://" + password + "@h.example:8080/?a=1&b=" + token + "#" + token,
		} {
			out := rotation.RedactURLs("GET " + u + " failed")
			clean := rotation.RedactURLs("GET " + strings.NewReplacer(password, "pppppp", token, "tttttt").Replace(u) + " failed")
			for _, s := range []string{password, token} {
				if strings.Contains(out, s) && !strings.Contains(clean, s) {
					t.Fatalf("RedactURLs(%q) = %q still shows %q", u, out, s)
				}
			}
		}
	})
}

// urlSafe reports whether s can sit in a URL's user info or query value
// without ending the URL. Dots are left out: trailing dots after a URL
// belong to the sentence.
func urlSafe(s string) bool {
	for _, r := range s {
		if r > unicode.MaxASCII || !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-_~", r)) {
			return false
		}
	}
	return true
}
