package postgres_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/shared/providers/postgres"
)

// FuzzParse: any value parses or fails with a field error, never panics;
// errors never repeat the value; neither the fingerprint nor String nor %#v
// shows the password.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"engine":"postgres","host":"db.example.com","port":5432,"username":"app","password":"Zq8-kT3.vW1_nB5xY7mR0pL2sD4fG6hJ","dbname":"appdb","masterarn":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:master-AbCdEf"}`,
		`{"engine":"postgres","host":"db.example.com","port":"5432","username":"app","password":"p4ssw0rd-p4ssw0rd","ssl":false,"extra":{"keep":1}}`,
		`{"engine":"postgres","host":"h","username":"app_clone","password":"p4ssw0rd-p4ssw0rd","tls_mode":"verify-ca"}`,
		`{"engine":"oracle","host":"h","username":"u","password":"p"}`, `{"engine":"postgres","port":70000}`,
		`{"password":{"a":1}}`, `[]`, `null`, `{"engine":"`, "\xff\xfe",
	} {
		f.Add(s)
	}
	p := postgres.New(postgres.Config{})
	f.Fuzz(func(t *testing.T, value string) {
		s, err := postgres.Parse(value)
		if err != nil {
			if s != nil {
				t.Fatal("a value and an error")
			}
			if len(value) >= 12 && strings.Contains(err.Error(), value) {
				t.Fatal("the error repeats the value")
			}
			return
		}
		if s.Host == "" || s.Username == "" || s.Password == "" || s.Port <= 0 || s.Port > 65535 {
			t.Fatalf("parsed %v", s)
		}
		// A password that is part of a shown field (the user name, say)
		// is shown by that field: only a password of its own is checked.
		inField := false
		for _, f := range []string{s.Engine, s.Host, s.Username, s.DBName, s.MasterARN} {
			inField = inField || strings.Contains(f, s.Password)
		}
		if len(s.Password) > 4 && !inField {
			for what, shown := range map[string]string{"fingerprint": p.Fingerprint(value), "String": s.String(), "%#v": fmt.Sprintf("%#v", s)} {
				if strings.Contains(shown, s.Password) {
					t.Fatalf("%s shows the password", what)
				}
			}
		}
	})
}
