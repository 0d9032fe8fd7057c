package postgres_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/shared/providers/postgres"
	"github.com/dualkey/dualkey/shared/rotation"
)

const secretPW = "Sekr1t-pass.word_ABCDEFGH"

func TestParse(t *testing.T) {
	valid := `{"engine":"postgres","host":"db.example.com","port":5432,"username":"app","password":"` + secretPW + `","dbname":"appdb","masterarn":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:master-AbCdEf","extra":{"keep":1}}`
	s, err := postgres.Parse(valid)
	if err != nil {
		t.Fatal(err)
	}
	want := postgres.Secret{Engine: "postgres", Host: "db.example.com", Port: 5432, Username: "app", Password: secretPW, DBName: "appdb",
		MasterARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:master-AbCdEf", TLSMode: postgres.TLSVerifyFull}
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
		mode        postgres.TLSMode
	}{
		{"defaults", `{"engine":"postgres","host":"h","username":"u","password":"p"}`, 5432, "postgres", postgres.TLSVerifyFull},
		{"port as string, aurora", `{"engine":"aurora-postgresql","host":"h","port":"6543","username":"u","password":"p"}`, 6543, "postgres", postgres.TLSVerifyFull},
		{"AWS ssl true", `{"engine":"postgres","host":"h","username":"u","password":"p","ssl":true}`, 5432, "postgres", postgres.TLSVerifyFull},
		{"AWS ssl false", `{"engine":"postgres","host":"h","username":"u","password":"p","ssl":false}`, 5432, "postgres", postgres.TLSInsecureDisable},
		{"AWS ssl \"FALSE\"", `{"engine":"postgres","host":"h","username":"u","password":"p","ssl":"FALSE"}`, 5432, "postgres", postgres.TLSInsecureDisable},
		{"tls_mode skip verify", `{"engine":"postgres","host":"h","username":"u","password":"p","tls_mode":"insecure-skip-verify"}`, 5432, "postgres", postgres.TLSInsecureSkipVerify},
		{"ssl agrees with tls_mode", `{"engine":"postgres","host":"h","username":"u","password":"p","ssl":false,"tls_mode":"insecure-disable"}`, 5432, "postgres", postgres.TLSInsecureDisable},
		{"IPv6 host", `{"engine":"postgres","host":"::1","username":"u","password":"p"}`, 5432, "postgres", postgres.TLSVerifyFull},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			s, err := postgres.Parse(tc.value)
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
		{"mysql engine", `{"engine":"mysql","host":"h","username":"u","password":"` + secretPW + `"}`, "engine"},
		{"no host", `{"engine":"postgres","username":"u","password":"` + secretPW + `"}`, "host"},
		{"host is URL", `{"engine":"postgres","host":"postgres://u:` + secretPW + `@h/db","username":"u","password":"` + secretPW + `"}`, "host"},
		{"host with port", `{"engine":"postgres","host":"h:5432","username":"u","password":"` + secretPW + `"}`, "host"},
		{"port zero", `{"engine":"postgres","host":"h","port":0,"username":"u","password":"` + secretPW + `"}`, "port"},
		{"port word", `{"engine":"postgres","host":"h","port":"five","username":"u","password":"` + secretPW + `"}`, "port"},
		{"port bool", `{"engine":"postgres","host":"h","port":true,"username":"u","password":"` + secretPW + `"}`, "port"},
		{"no username", `{"engine":"postgres","host":"h","password":"` + secretPW + `"}`, "username"},
		{"username too long", `{"engine":"postgres","host":"h","username":"` + strings.Repeat("u", 64) + `","password":"` + secretPW + `"}`, "username"},
		{"no password", `{"engine":"postgres","host":"h","username":"u"}`, "password"},
		{"password number", `{"engine":"postgres","host":"h","username":"u","password":12345678}`, "password"},
		{"dbname too long", `{"engine":"postgres","host":"h","username":"u","password":"` + secretPW + `","dbname":"` + strings.Repeat("d", 64) + `"}`, "dbname"},
		{"ssl maybe", `{"engine":"postgres","host":"h","username":"u","password":"` + secretPW + `","ssl":"maybe"}`, "ssl"},
		{"tls_mode require", `{"engine":"postgres","host":"h","username":"u","password":"` + secretPW + `","tls_mode":"require"}`, "tls_mode"},
		{"ssl contradicts tls_mode", `{"engine":"postgres","host":"h","username":"u","password":"` + secretPW + `","ssl":true,"tls_mode":"insecure-disable"}`, "ssl"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := postgres.Parse(tc.value)
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
	user, err := postgres.Parse(`{"engine":"postgres","host":"DB.example.com","username":"app","password":"x"}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, master string
		wantErr      string
	}{
		{"same host, other case", `{"engine":"postgres","host":"db.example.com.","username":"admin","password":"y"}`, ""},
		{"RDS-managed master secret", `{"username":"admin","password":"y"}`, "host"},
		{"other host", `{"engine":"postgres","host":"evil.example.com","username":"admin","password":"y"}`, "host"},
		{"other port", `{"engine":"postgres","host":"db.example.com","port":6432,"username":"admin","password":"y"}`, "port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := postgres.ParseCredentials(tc.master)
			if err != nil {
				t.Fatal(err)
			}
			err = postgres.CheckMaster(user, m)
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
	for _, tc := range []struct{ in, want string }{
		{"app", "app_clone"},
		{"app_clone", "app"},
		{"_clone", "_clone_clone"},
		{strings.Repeat("a", 57), strings.Repeat("a", 57) + "_clone"},
	} {
		got, err := postgres.AltUsername(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("AltUsername(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := postgres.AltUsername(strings.Repeat("a", 58)); !errors.Is(err, rotation.ErrInvalidSecret) {
		t.Fatalf("58-byte name: %v, want a field error", err)
	}
}

// TestWithCredentialsKeepsUnknownFields proves a rotation keeps every field
// it does not own, including ones AWS's format does not define.
func TestWithCredentialsKeepsUnknownFields(t *testing.T) {
	base := `{"engine":"postgres","host":"h","username":"app","password":"old","proxy":{"name":"p1"},"dbInstanceIdentifier":"db-1","ssl":true}`
	out, err := postgres.WithCredentials(base, "app_clone", "new")
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
		if !strings.ContainsRune(postgres.ExcludeCharacters, c) {
			kept = append(kept, c)
		}
	}
	if string(kept) != "-._" {
		t.Fatalf("punctuation left in passwords: %q, want \"-._\"", string(kept))
	}
	spec := postgres.PasswordSpec()
	if spec.IncludeSpace || spec.Length < 32 || spec.ExcludeCharacters != postgres.ExcludeCharacters {
		t.Fatalf("spec %+v", spec)
	}
}
