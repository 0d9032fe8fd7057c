package mysql_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/shared/providers/mysql"
	"github.com/dualkey/dualkey/shared/rotation"
)

const secretPW = "Sekr1t-pass.word_ABCDEFGH"

func TestParse(t *testing.T) {
	valid := `{"engine":"mysql","host":"db.example.com","port":3306,"username":"app","password":"` + secretPW + `","dbname":"appdb","masterarn":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:master-AbCdEf","extra":{"keep":1}}`
	s, err := mysql.Parse(valid)
	if err != nil {
		t.Fatal(err)
	}
	want := mysql.Secret{Engine: "mysql", Host: "db.example.com", Port: 3306, Username: "app", Password: secretPW, DBName: "appdb",
		MasterARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:master-AbCdEf", TLSMode: mysql.TLSVerifyFull}
	if *s != want {
		t.Fatalf("got %#v\nwant %#v", *s, want)
	}
	if strings.Contains(s.String(), secretPW) || strings.Contains(s.GoString(), secretPW) {
		t.Fatal("String shows the password")
	}

	ok := []struct {
		name, value string
		port        int
		db          string
		mode        mysql.TLSMode
	}{
		{"defaults", `{"engine":"mysql","host":"h","username":"u","password":"p"}`, 3306, "", mysql.TLSVerifyFull},
		{"port as string, aurora", `{"engine":"aurora-mysql","host":"h","port":"6543","username":"u","password":"p"}`, 6543, "", mysql.TLSVerifyFull},
		{"mariadb", `{"engine":"mariadb","host":"h","username":"u","password":"p","dbname":"appdb"}`, 3306, "appdb", mysql.TLSVerifyFull},
		{"AWS ssl true", `{"engine":"mysql","host":"h","username":"u","password":"p","ssl":true}`, 3306, "", mysql.TLSVerifyFull},
		{"AWS ssl false", `{"engine":"mysql","host":"h","username":"u","password":"p","ssl":false}`, 3306, "", mysql.TLSInsecureDisable},
		{"AWS ssl \"FALSE\"", `{"engine":"mysql","host":"h","username":"u","password":"p","ssl":"FALSE"}`, 3306, "", mysql.TLSInsecureDisable},
		{"tls_mode skip verify", `{"engine":"mysql","host":"h","username":"u","password":"p","tls_mode":"insecure-skip-verify"}`, 3306, "", mysql.TLSInsecureSkipVerify},
		{"ssl agrees with tls_mode", `{"engine":"mysql","host":"h","username":"u","password":"p","ssl":false,"tls_mode":"insecure-disable"}`, 3306, "", mysql.TLSInsecureDisable},
		{"IPv6 host", `{"engine":"mysql","host":"::1","username":"u","password":"p"}`, 3306, "", mysql.TLSVerifyFull},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			s, err := mysql.Parse(tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if s.Port != tc.port || s.DBName != tc.db || s.TLSMode != tc.mode {
				t.Fatalf("port %d db %q mode %q, want %d %q %q", s.Port, s.DBName, s.TLSMode, tc.port, tc.db, tc.mode)
			}
		})
	}

	bad := []struct {
		name, value, field string
	}{
		{"not JSON", `not json ` + secretPW, "SecretString"},
		{"no engine", `{"host":"h","username":"u","password":"` + secretPW + `"}`, "engine"},
		{"postgres engine", `{"engine":"postgres","host":"h","username":"u","password":"` + secretPW + `"}`, "engine"},
		{"no host", `{"engine":"mysql","username":"u","password":"` + secretPW + `"}`, "host"},
		{"host is URL", `{"engine":"mysql","host":"mysql://u:` + secretPW + `@h/db","username":"u","password":"` + secretPW + `"}`, "host"},
		{"host with port", `{"engine":"mysql","host":"h:3306","username":"u","password":"` + secretPW + `"}`, "host"},
		{"port zero", `{"engine":"mysql","host":"h","port":0,"username":"u","password":"` + secretPW + `"}`, "port"},
		{"port word", `{"engine":"mysql","host":"h","port":"five","username":"u","password":"` + secretPW + `"}`, "port"},
		{"port bool", `{"engine":"mysql","host":"h","port":true,"username":"u","password":"` + secretPW + `"}`, "port"},
		{"no username", `{"engine":"mysql","host":"h","password":"` + secretPW + `"}`, "username"},
		{"username too long", `{"engine":"mysql","host":"h","username":"` + strings.Repeat("u", 81) + `","password":"` + secretPW + `"}`, "username"},
		{"no password", `{"engine":"mysql","host":"h","username":"u"}`, "password"},
		{"password number", `{"engine":"mysql","host":"h","username":"u","password":12345678}`, "password"},
		{"dbname too long", `{"engine":"mysql","host":"h","username":"u","password":"` + secretPW + `","dbname":"` + strings.Repeat("d", 65) + `"}`, "dbname"},
		{"ssl maybe", `{"engine":"mysql","host":"h","username":"u","password":"` + secretPW + `","ssl":"maybe"}`, "ssl"},
		{"tls_mode require", `{"engine":"mysql","host":"h","username":"u","password":"` + secretPW + `","tls_mode":"require"}`, "tls_mode"},
		{"ssl contradicts tls_mode", `{"engine":"mysql","host":"h","username":"u","password":"` + secretPW + `","ssl":true,"tls_mode":"insecure-disable"}`, "ssl"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mysql.Parse(tc.value)
			var fe *rotation.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, rotation.ErrInvalidSecret) {
				t.Fatalf("error %v, want a field error on %q", err, tc.field)
			}
			if strings.Contains(err.Error(), secretPW) {
				t.Fatalf("error shows the password: %v", err)
			}
			if fe.Fix == "" {
				t.Fatalf("error says no fix: %v", err)
			}
		})
	}
}

func TestParseCredentialsAndCheckMaster(t *testing.T) {
	user, err := mysql.Parse(`{"engine":"mysql","host":"DB.example.com","username":"app","password":"x"}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, master string
		wantErr      string
	}{
		{"same host, other case", `{"engine":"mysql","host":"db.example.com.","username":"admin","password":"y"}`, ""},
		{"RDS-managed master secret", `{"username":"admin","password":"y"}`, "host"},
		{"other host", `{"engine":"mysql","host":"evil.example.com","username":"admin","password":"y"}`, "host"},
		{"other port", `{"engine":"mysql","host":"db.example.com","port":3307,"username":"admin","password":"y"}`, "port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := mysql.ParseCredentials(tc.master)
			if err != nil {
				t.Fatal(err)
			}
			err = mysql.CheckMaster(user, m)
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

func TestAltUsername(t *testing.T) {
	for _, tc := range []struct{ in, engine, want string }{
		{"app", "mysql", "app_clone"},
		{"app_clone", "mysql", "app"},
		{strings.Repeat("a", 26), "mysql", strings.Repeat("a", 26) + "_clone"},
		{strings.Repeat("a", 74), "mariadb", strings.Repeat("a", 74) + "_clone"},
	} {
		got, err := mysql.AltUsername(tc.in, tc.engine)
		if err != nil || got != tc.want {
			t.Errorf("AltUsername(%q, %s) = %q, %v; want %q", tc.in, tc.engine, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, engine string }{
		{strings.Repeat("a", 27), "mysql"},
		{strings.Repeat("a", 27), "aurora-mysql"},
		{strings.Repeat("a", 75), "mariadb"},
	} {
		if _, err := mysql.AltUsername(tc.in, tc.engine); !errors.Is(err, rotation.ErrInvalidSecret) {
			t.Errorf("%d-character name on %s: %v, want a field error", len(tc.in), tc.engine, err)
		}
	}
}

// TestWithCredentialsKeepsUnknownFields proves a rotation keeps every field
// it does not own, including ones AWS's format does not define.
func TestWithCredentialsKeepsUnknownFields(t *testing.T) {
	base := `{"engine":"mysql","host":"h","username":"app","password":"old","proxy":{"name":"p1"},"dbInstanceIdentifier":"db-1","ssl":true}`
	out, err := mysql.WithCredentials(base, "app_clone", "new")
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

// TestExcludeCharacters checks the exclude set against GetRandomPassword's
// punctuation: exactly "-", "." and "_" remain.
func TestExcludeCharacters(t *testing.T) {
	const punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
	var kept []rune
	for _, c := range punctuation {
		if !strings.ContainsRune(mysql.ExcludeCharacters, c) {
			kept = append(kept, c)
		}
	}
	if string(kept) != "-._" {
		t.Fatalf("punctuation left in passwords: %q, want \"-._\"", string(kept))
	}
	spec := mysql.PasswordSpec()
	if spec.IncludeSpace || spec.Length < 32 || spec.ExcludeCharacters != mysql.ExcludeCharacters {
		t.Fatalf("spec %+v", spec)
	}
}

func TestCheckMasterEngine(t *testing.T) {
	user, _ := mysql.Parse(`{"engine":"mariadb","host":"h","username":"app","password":"x"}`)
	master, _ := mysql.Parse(`{"engine":"mysql","host":"h","username":"admin","password":"y"}`)
	var fe *rotation.FieldError
	if err := mysql.CheckMaster(user, master); !errors.As(err, &fe) || fe.Field != "engine" {
		t.Fatalf("MariaDB user with a MySQL master: %v, want a field error on engine", err)
	}
}
