package rotation_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dualkey/dualkey/shared/providers/servicekey"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/rotation/rotationtest"
)

const adminValue = `{"username":"postgres","password":"admin-pass-0123456789abcdef"}`

func TestAdminRef(t *testing.T) {
	const a, b = "arn:aws:secretsmanager:us-east-1:123456789012:secret:admin-AbCdEf", "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-AbCdEf"
	cases := []struct {
		name, value    string
		field, ref     string
		errField, want string
	}{
		{name: "no field", value: `{"api_key":"x"}`},
		{name: "not json", value: `not json`},
		{name: "master_secret_arn", value: `{"master_secret_arn":"` + a + `"}`, field: rotation.FieldMasterSecretARN, ref: a},
		{name: "masterarn", value: `{"masterarn":"` + a + `"}`, field: rotation.FieldMasterARN, ref: a},
		{name: "both equal", value: `{"masterarn":"` + a + `","master_secret_arn":"` + a + `"}`, field: rotation.FieldMasterSecretARN, ref: a},
		{name: "both different", value: `{"masterarn":"` + b + `","master_secret_arn":"` + a + `"}`, errField: rotation.FieldMasterARN, want: "differs from master_secret_arn"},
		{name: "empty", value: `{"master_secret_arn":""}`, errField: rotation.FieldMasterSecretARN, want: "must be the ARN"},
		{name: "number", value: `{"masterarn":12}`, errField: rotation.FieldMasterARN, want: "must be the ARN"},
		{name: "control character", value: `{"master_secret_arn":"arn:x\u0000y"}`, errField: rotation.FieldMasterSecretARN, want: "must be the ARN"},
		{name: "too long", value: `{"master_secret_arn":"` + strings.Repeat("a", 2049) + `"}`, errField: rotation.FieldMasterSecretARN, want: "must be the ARN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			field, ref, err := rotation.AdminRef(c.value)
			if c.errField != "" {
				var fe *rotation.FieldError
				if !errors.As(err, &fe) || fe.Field != c.errField || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("AdminRef = %q, %q, %v; want a field error on %s saying %q", field, ref, err, c.errField, c.want)
				}
				if !errors.Is(err, rotation.ErrInvalidSecret) {
					t.Errorf("%v is not ErrInvalidSecret", err)
				}
				return
			}
			if err != nil || field != c.field || ref != c.ref {
				t.Fatalf("AdminRef = %q, %q, %v; want %q, %q", field, ref, err, c.field, c.ref)
			}
		})
	}
}

// adminProvider is servicekey whose Test fails quoting the admin
// credential, as a careless driver error might.
type adminProvider struct{ *servicekey.Provider }

func (p adminProvider) Test(ctx context.Context, req *rotation.TestRequest) error {
	a, err := req.Versions.Admin(ctx)
	if err != nil || a == nil {
		return fmt.Errorf("no admin: %w", err)
	}
	return fmt.Errorf("login with %s refused", a.Version.Value)
}

func TestReaderAdmin(t *testing.T) {
	ctx := context.Background()
	env := rotationtest.NewEnv(t, subject(`{"api_key":"`+initialKey+`"}`, false))
	arn := env.CreateSecret(ctx)
	name := rotationtest.SecretName
	admin, err := env.SM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("admin/db"), SecretString: aws.String(adminValue)})
	if err != nil {
		t.Fatal(err)
	}
	adminARN := aws.ToString(admin.ARN)
	binary, err := env.SM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("admin/binary"), SecretBinary: []byte("\x00\x01binary")})
	if err != nil {
		t.Fatal(err)
	}
	partial := arn[:strings.LastIndex(arn, "-")] // the ARN without its random suffix
	cases := []struct {
		name    string
		current string
		admin   bool
		field   string // of the expected field error
		want    string
	}{
		{name: "no field", current: `{"api_key":"` + initialKey + `"}`},
		{name: "master_secret_arn", current: `{"master_secret_arn":"` + adminARN + `"}`, admin: true},
		{name: "masterarn", current: `{"masterarn":"` + adminARN + `"}`, admin: true},
		{name: "by name", current: `{"masterarn":"admin/db"}`, admin: true},
		{name: "both equal", current: `{"masterarn":"` + adminARN + `","master_secret_arn":"` + adminARN + `"}`, admin: true},
		{name: "both different", current: `{"masterarn":"admin/db","master_secret_arn":"` + adminARN + `"}`, field: rotation.FieldMasterARN, want: "differs"},
		{name: "itself by ARN", current: `{"master_secret_arn":"` + arn + `"}`, field: rotation.FieldMasterSecretARN, want: "names this secret itself"},
		{name: "itself by name", current: `{"master_secret_arn":"` + name + `"}`, field: rotation.FieldMasterSecretARN, want: "names this secret itself"},
		{name: "itself by partial ARN", current: `{"masterarn":"` + partial + `"}`, field: rotation.FieldMasterARN, want: "names this secret itself"},
		{name: "missing secret", current: `{"master_secret_arn":"admin/none"}`, field: rotation.FieldMasterSecretARN, want: "names secret admin/none, which does not exist"},
		{name: "binary secret", current: `{"master_secret_arn":"` + aws.ToString(binary.ARN) + `"}`, field: rotation.FieldMasterSecretARN, want: "whose value is binary"},
		{name: "not a string", current: `{"master_secret_arn":true}`, field: rotation.FieldMasterSecretARN, want: "must be the ARN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			put, err := env.SM.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String(c.current)})
			if err != nil {
				t.Fatal(err)
			}
			stages := map[string][]string{aws.ToString(put.VersionId): {rotation.StageCurrent}}
			red := rotation.NewRedactor()
			r := rotation.NewReader(env.SM, arn, stages, red)
			a, err := r.Admin(ctx)
			if c.field != "" {
				var fe *rotation.FieldError
				if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("Admin = %v, %v; want a field error on %s saying %q", a, err, c.field, c.want)
				}
				if strings.Contains(err.Error(), "admin-pass") {
					t.Fatalf("the error shows the admin password")
				}
				return
			}
			if err != nil {
				t.Fatalf("Admin: %v", err)
			}
			if !c.admin {
				if a != nil {
					t.Fatalf("Admin = %+v, want none", a)
				}
				return
			}
			if a == nil || a.SecretARN != adminARN || a.Version.Value != adminValue || a.Version.ID == "" {
				t.Fatalf("Admin = %+v, want the AWSCURRENT of %s", a, adminARN)
			}
			if !red.Contains(adminValue) || strings.Contains(red.Redact("password admin-pass-0123456789abcdef"), "admin-pass") {
				t.Fatalf("the admin value was not registered with the redactor")
			}
			// Asked twice, it is read once.
			if b, err := r.Admin(ctx); err != nil || b != a {
				t.Fatalf("second Admin = %v, %v", b, err)
			}
		})
	}

	t.Run("never in logs or errors", func(t *testing.T) {
		env := rotationtest.NewEnv(t, subjectWith(`{"api_key":"`+initialKey+`","master_secret_arn":"admin/db"}`, func(p *servicekey.Provider) rotation.Provider { return adminProvider{p} }))
		arn := env.CreateSecret(ctx)
		if _, err := env.SM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("admin/db"), SecretString: aws.String(adminValue)}); err != nil {
			t.Fatal(err)
		}
		if _, err := env.Rotate(ctx, arn); err != nil {
			t.Fatal(err)
		}
		rec := env.LastRotation()
		if rec.Succeeded || !strings.Contains(rec.Error, "login with") {
			t.Fatalf("rotation: %+v", rec)
		}
		for what, text := range map[string]string{"logs": env.Logs.String(), "error": rec.Error} {
			if strings.Contains(text, "admin-pass-0123456789abcdef") {
				t.Fatalf("the admin password reached the %s", what)
			}
		}
	})
}
