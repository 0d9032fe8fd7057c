package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSettingValue(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"search_path", `appschema, public`, `'appschema', 'public'`},
		{"search_path", `"$user", public`, `'$user', 'public'`},
		{"search_path", `"we""ird", "a,b"`, `'we"ird', 'a,b'`},
		{"search_path", ``, `''`},
		{"statement_timeout", `42s`, `'42s'`},
		{"application_name", `it's`, `'it''s'`},
		{"application_name", `back\slash`, `E'back\\slash'`},
		{"DateStyle", `ISO, MDY`, `'ISO, MDY'`},
	} {
		if got := settingValue(tc.name, tc.value); got != tc.want {
			t.Errorf("settingValue(%s, %q) = %s, want %s", tc.name, tc.value, got, tc.want)
		}
	}
}

func TestHashLiteralRefusesQuotes(t *testing.T) {
	for _, h := range []string{"", "md5'x", `SCRAM-SHA-256$4096:a\b`, "x y", "é"} {
		if _, err := hashLiteral(h); !errors.Is(err, ErrUnsafePassword) {
			t.Errorf("hashLiteral(%q) = %v, want ErrUnsafePassword", h, err)
		}
	}
	v, err := hashPassword(methodSCRAM, "u", "Abc-._123", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hashLiteral(v); err != nil || !strings.HasPrefix(v, "SCRAM-SHA-256$4096:") {
		t.Fatalf("verifier %q: %v", v, err)
	}
	m, err := hashPassword(methodMD5, "u", "Abc-._123", 0)
	if err != nil || len(m) != 35 || !strings.HasPrefix(m, "md5") {
		t.Fatalf("md5 hash %q: %v", m, err)
	}
}

func TestConnectTimeout(t *testing.T) {
	if got := connectTimeout(context.Background(), 0); got != DefaultConnectTimeout {
		t.Fatalf("no deadline: %v", got)
	}
	for _, tc := range []struct {
		left, max time.Duration
		below     time.Duration
	}{
		{time.Minute, 5 * time.Second, 5*time.Second + 1},
		{4 * time.Second, 5 * time.Second, 3*time.Second + 1},
		{time.Second, 5 * time.Second, time.Second * 2 / 3},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), tc.left)
		got := connectTimeout(ctx, tc.max)
		cancel()
		if got <= 0 || got >= tc.below {
			t.Errorf("left %v, max %v: timeout %v, want below %v", tc.left, tc.max, got, tc.below)
		}
	}
}
