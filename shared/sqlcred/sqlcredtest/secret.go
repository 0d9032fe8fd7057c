// Package sqlcredtest runs the scenarios every SQL database provider built
// on sqlcred must pass (shared/providers/postgres, shared/providers/mysql),
// as tables run against each engine by that engine's tests. Tests import
// it; production code never does. Like sqlcred it imports no database
// driver and no provider package: each engine hands in its functions.
package sqlcredtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/sqlcred"
)

// SecretPW is the password of the secrets the tables parse; no error or
// string may show it.
const SecretPW = "Sekr1t-pass.word_ABCDEFGH"

// SecretKit is an engine's secret format and functions, for TestSecrets.
type SecretKit struct {
	// Engine is the engine's own "engine" value ("postgres"), Aurora its
	// Aurora one, and Foreign one of another provider ("mysql").
	Engine, Aurora, Foreign string
	// Port is the default port, DBName the default database ("" for
	// none).
	Port   int
	DBName string
	// MaxUser and MaxDBName are the longest names (in "u"s and "d"s) the
	// engine accepts.
	MaxUser, MaxDBName int
	// Parse, ParseCredentials and CheckMaster are the engine's; Strings
	// returns the engine Secret's String and GoString.
	Parse            func(string) (*sqlcred.Secret, error)
	ParseCredentials func(string) (*sqlcred.Secret, error)
	CheckMaster      func(user, master *sqlcred.Secret) error
	Strings          func(*sqlcred.Secret) []string
	WithCredentials  func(base, username, password string) (string, error)
	// ExcludeCharacters and PasswordSpec are the engine's.
	ExcludeCharacters string
	PasswordSpec      rotation.PasswordSpec
	// OK are extra valid values of the engine, with the port and
	// database they must give.
	OK []OKCase
}

// OKCase is a valid secret value and what Parse must make of it.
type OKCase struct {
	Name, Value string
	Port        int
	DBName      string
	Mode        sqlcred.TLSMode
}

// TestSecrets runs the secret format's scenarios against k: parsing (with
// defaults, AWS's "ssl" and "tls_mode"), every refusal naming its field
// with a fix and never the password, master secret checks, merging
// credentials into a value, and the password alphabet.
func TestSecrets(t *testing.T, k SecretKit) {
	t.Run("Parse", func(t *testing.T) { testParse(t, k) })
	t.Run("ParseCredentialsAndCheckMaster", func(t *testing.T) { testCheckMaster(t, k) })
	t.Run("WithCredentialsKeepsUnknownFields", func(t *testing.T) { testWithCredentials(t, k) })
	t.Run("ExcludeCharacters", func(t *testing.T) { testExcludeCharacters(t, k) })
}

func testParse(t *testing.T, k SecretKit) {
	e := k.Engine
	valid := fmt.Sprintf(`{"engine":%q,"host":"db.example.com","port":%d,"username":"app","password":%q,"dbname":"appdb","masterarn":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:master-AbCdEf","extra":{"keep":1}}`, e, k.Port, SecretPW)
	s, err := k.Parse(valid)
	if err != nil {
		t.Fatal(err)
	}
	want := sqlcred.Secret{Engine: e, Host: "db.example.com", Port: k.Port, Username: "app", Password: SecretPW, DBName: "appdb",
		MasterARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:master-AbCdEf", TLSMode: sqlcred.TLSVerifyFull}
	if *s != want {
		t.Fatalf("got %#v\nwant %#v", k.Strings(s), k.Strings(&want))
	}
	for _, str := range k.Strings(s) {
		if strings.Contains(str, SecretPW) {
			t.Fatal("String shows the password")
		}
	}

	v := func(extra string) string {
		return fmt.Sprintf(`{"engine":%q,"host":"h","username":"u","password":"p"%s}`, e, extra)
	}
	ok := []OKCase{
		{"defaults", v(""), k.Port, k.DBName, sqlcred.TLSVerifyFull},
		{"port as string, aurora", fmt.Sprintf(`{"engine":%q,"host":"h","port":"6543","username":"u","password":"p"}`, k.Aurora), 6543, k.DBName, sqlcred.TLSVerifyFull},
		{"AWS ssl true", v(`,"ssl":true`), k.Port, k.DBName, sqlcred.TLSVerifyFull},
		{"AWS ssl false", v(`,"ssl":false`), k.Port, k.DBName, sqlcred.TLSInsecureDisable},
		{"AWS ssl \"FALSE\"", v(`,"ssl":"FALSE"`), k.Port, k.DBName, sqlcred.TLSInsecureDisable},
		{"tls_mode skip verify", v(`,"tls_mode":"insecure-skip-verify"`), k.Port, k.DBName, sqlcred.TLSInsecureSkipVerify},
		{"ssl agrees with tls_mode", v(`,"ssl":false,"tls_mode":"insecure-disable"`), k.Port, k.DBName, sqlcred.TLSInsecureDisable},
		{"IPv6 host", fmt.Sprintf(`{"engine":%q,"host":"::1","username":"u","password":"p"}`, e), k.Port, k.DBName, sqlcred.TLSVerifyFull},
	}
	for _, tc := range append(ok, k.OK...) {
		t.Run(tc.Name, func(t *testing.T) {
			s, err := k.Parse(tc.Value)
			if err != nil {
				t.Fatal(err)
			}
			if s.Port != tc.Port || s.DBName != tc.DBName || s.TLSMode != tc.Mode {
				t.Fatalf("port %d db %q mode %q, want %d %q %q", s.Port, s.DBName, s.TLSMode, tc.Port, tc.DBName, tc.Mode)
			}
		})
	}

	b := func(fields string) string { return fmt.Sprintf(`{"engine":%q,%s}`, e, fields) }
	withPW := func(fields string) string { return b(fields + `,"password":"` + SecretPW + `"`) }
	bad := []struct {
		name, value, field string
	}{
		{"not JSON", `not json ` + SecretPW, "SecretString"},
		{"no engine", `{"host":"h","username":"u","password":"` + SecretPW + `"}`, "engine"},
		{k.Foreign + " engine", fmt.Sprintf(`{"engine":%q,"host":"h","username":"u","password":%q}`, k.Foreign, SecretPW), "engine"},
		{"no host", withPW(`"username":"u"`), "host"},
		{"host is URL", withPW(`"host":"` + e + `://u:` + SecretPW + `@h/db","username":"u"`), "host"},
		{"host with port", withPW(fmt.Sprintf(`"host":"h:%d","username":"u"`, k.Port)), "host"},
		{"port zero", withPW(`"host":"h","port":0,"username":"u"`), "port"},
		{"port word", withPW(`"host":"h","port":"five","username":"u"`), "port"},
		{"port bool", withPW(`"host":"h","port":true,"username":"u"`), "port"},
		{"no username", withPW(`"host":"h"`), "username"},
		{"username too long", withPW(`"host":"h","username":"` + strings.Repeat("u", k.MaxUser+1) + `"`), "username"},
		{"no password", b(`"host":"h","username":"u"`), "password"},
		{"password number", b(`"host":"h","username":"u","password":12345678`), "password"},
		{"dbname too long", withPW(`"host":"h","username":"u","dbname":"` + strings.Repeat("d", k.MaxDBName+1) + `"`), "dbname"},
		{"ssl maybe", withPW(`"host":"h","username":"u","ssl":"maybe"`), "ssl"},
		{"tls_mode require", withPW(`"host":"h","username":"u","tls_mode":"require"`), "tls_mode"},
		{"ssl contradicts tls_mode", withPW(`"host":"h","username":"u","ssl":true,"tls_mode":"insecure-disable"`), "ssl"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := k.Parse(tc.value)
			var fe *rotation.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, rotation.ErrInvalidSecret) {
				t.Fatalf("error %v, want a field error on %q", err, tc.field)
			}
			if strings.Contains(err.Error(), SecretPW) {
				t.Fatalf("error shows the password: %v", err)
			}
			if fe.Fix == "" {
				t.Fatalf("error says no fix: %v", err)
			}
		})
	}
}

func testCheckMaster(t *testing.T, k SecretKit) {
	user, err := k.Parse(fmt.Sprintf(`{"engine":%q,"host":"DB.example.com","username":"app","password":"x"}`, k.Engine))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, master string
		wantErr      string
	}{
		{"same host, other case", fmt.Sprintf(`{"engine":%q,"host":"db.example.com.","username":"admin","password":"y"}`, k.Engine), ""},
		{"RDS-managed master secret", `{"username":"admin","password":"y"}`, "host"},
		{"other host", fmt.Sprintf(`{"engine":%q,"host":"evil.example.com","username":"admin","password":"y"}`, k.Engine), "host"},
		{"other port", fmt.Sprintf(`{"engine":%q,"host":"db.example.com","port":%d,"username":"admin","password":"y"}`, k.Engine, k.Port+1), "port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := k.ParseCredentials(tc.master)
			if err != nil {
				t.Fatal(err)
			}
			err = k.CheckMaster(user, m)
			var fe *rotation.FieldError
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (!errors.As(err, &fe) || fe.Field != tc.wantErr):
				t.Fatalf("error %v, want a field error on %s", err, tc.wantErr)
			}
		})
	}
}

// testWithCredentials proves a rotation keeps every field it does not
// own, including ones AWS's format does not define.
func testWithCredentials(t *testing.T, k SecretKit) {
	base := fmt.Sprintf(`{"engine":%q,"host":"h","username":"app","password":"old","proxy":{"name":"p1"},"dbInstanceIdentifier":"db-1","ssl":true}`, k.Engine)
	out, err := k.WithCredentials(base, "app_clone", "new")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	if m["username"] != "app_clone" || m["password"] != "new" || m["dbInstanceIdentifier"] != "db-1" || m["ssl"] != true || m["proxy"].(map[string]any)["name"] != "p1" {
		t.Fatalf("merged secret %s", out)
	}
}

// testExcludeCharacters checks the exclude set against GetRandomPassword's
// punctuation: exactly "-", "." and "_" remain.
func testExcludeCharacters(t *testing.T, k SecretKit) {
	const punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
	var kept []rune
	for _, c := range punctuation {
		if !strings.ContainsRune(k.ExcludeCharacters, c) {
			kept = append(kept, c)
		}
	}
	if string(kept) != "-._" {
		t.Fatalf("punctuation left in passwords: %q, want \"-._\"", string(kept))
	}
	spec := k.PasswordSpec
	if spec.IncludeSpace || spec.Length < 32 || spec.ExcludeCharacters != k.ExcludeCharacters {
		t.Fatalf("spec %+v", spec)
	}
}
