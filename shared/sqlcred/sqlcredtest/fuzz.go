package sqlcredtest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/shared/sqlcred"
)

// FuzzParse is an engine's FuzzParse: any value parses or fails with a field
// error, never panics; errors never repeat the value; neither the
// fingerprint nor String nor %#v (of the engine's own Secret, shown by
// show) shows the password. engine and port make the seed corpus.
func FuzzParse(f *testing.F, engine string, port int, parse func(string) (*sqlcred.Secret, error), fingerprint func(string) string, show func(*sqlcred.Secret) []string) {
	for _, s := range []string{
		fmt.Sprintf(`{"engine":%q,"host":"db.example.com","port":%d,"username":"app","password":"Zq8-kT3.vW1_nB5xY7mR0pL2sD4fG6hJ","dbname":"appdb","masterarn":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:master-AbCdEf"}`, engine, port),
		fmt.Sprintf(`{"engine":%q,"host":"db.example.com","port":"%d","username":"app","password":"p4ssw0rd-p4ssw0rd","ssl":false,"extra":{"keep":1}}`, engine, port),
		fmt.Sprintf(`{"engine":%q,"host":"h","username":"app_clone","password":"p4ssw0rd-p4ssw0rd","tls_mode":"verify-ca"}`, engine),
		`{"engine":"oracle","host":"h","username":"u","password":"p"}`, fmt.Sprintf(`{"engine":%q,"port":70000}`, engine),
		`{"password":{"a":1}}`, `[]`, `null`, `{"engine":"`, "\xff\xfe",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		s, err := parse(value)
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
		if len(s.Password) <= 4 || inField {
			return
		}
		for i, shown := range append([]string{fingerprint(value)}, show(s)...) {
			if strings.Contains(shown, s.Password) {
				t.Fatalf("shown form %d (%q) shows the password", i, shown)
			}
		}
	})
}
