package mysql

import (
	"slices"
	"strings"
	"testing"
)

// TestParseGrant covers the SHOW GRANTS lines of MariaDB 10.11 (seen on the
// test server) and of MySQL 8 (from its documentation), including quoted
// names that contain the keywords the parser looks for.
func TestParseGrant(t *testing.T) {
	for _, tc := range []struct {
		line string
		want grant
	}{
		{"GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*2B60229' REQUIRE ISSUER '/CN=it's ca' WITH MAX_USER_CONNECTIONS 5",
			grant{kind: kindPriv, privs: "USAGE", object: "*.*"}},
		{"GRANT SELECT, INSERT ON `d1`.* TO `app`@`%` WITH GRANT OPTION",
			grant{kind: kindPriv, privs: "SELECT, INSERT", object: "`d1`.*", option: true}},
		{"GRANT SELECT (`b`), UPDATE (`a`) ON `d1`.`t` TO `app`@`%`",
			grant{kind: kindPriv, privs: "SELECT (`b`), UPDATE (`a`)", object: "`d1`.`t`"}},
		{"GRANT EXECUTE ON PROCEDURE `d1`.`p1` TO `app`@`%`",
			grant{kind: kindPriv, privs: "EXECUTE", object: "PROCEDURE `d1`.`p1`"}},
		{"GRANT `r1` TO `app`@`%` WITH ADMIN OPTION", grant{kind: kindRole, privs: "`r1`", option: true}},
		{"GRANT `r1`@`%`,`r2`@`%` TO `app`@`%`", grant{kind: kindRole, privs: "`r1`@`%`,`r2`@`%`"}},
		{"GRANT PROXY ON ''@'%' TO 'app'@'%' WITH GRANT OPTION", grant{kind: kindPriv, privs: "PROXY", object: "''@'%'", option: true}},
		{"SET DEFAULT ROLE `r1` FOR `app`@`%`", grant{kind: kindDefaultRole, privs: "`r1`"}},
		{"GRANT SELECT ON `we ON it`.`a TO b` TO `app`@`%`", grant{kind: kindPriv, privs: "SELECT", object: "`we ON it`.`a TO b`"}},
		{"GRANT SELECT ON `x`.* TO `it's`@`%`", grant{kind: kindPriv, privs: "SELECT", object: "`x`.*"}},
		{"GRANT BACKUP_ADMIN,XA_RECOVER_ADMIN ON *.* TO `app`@`%`", grant{kind: kindPriv, privs: "BACKUP_ADMIN,XA_RECOVER_ADMIN", object: "*.*"}},
		{"REVOKE INSERT ON `mysql`.* FROM `app`@`%`", grant{kind: kindRevoke, privs: "INSERT", object: "`mysql`.*"}},
	} {
		got, err := parseGrant(tc.line)
		if err != nil || got != tc.want {
			t.Errorf("parseGrant(%q)\n= %+v, %v\nwant %+v", tc.line, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "CREATE USER `x`", "GRANT SELECT ON `d`.*", "SET DEFAULT ROLE `r`", "REVOKE SELECT FROM `x`@`%`"} {
		if _, err := parseGrant(bad); err == nil {
			t.Errorf("parseGrant(%q) accepted", bad)
		}
	}
}

func TestItems(t *testing.T) {
	parse := func(lines ...string) []grant {
		var out []grant
		for _, l := range lines {
			g, err := parseGrant(l)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, g)
		}
		return out
	}
	base := items(parse(
		"GRANT USAGE ON *.* TO `a`@`%` IDENTIFIED BY PASSWORD '*X'",
		"GRANT SELECT, INSERT (`a`, `b`) ON `d`.`t` TO `a`@`%` WITH GRANT OPTION",
		"GRANT `r` TO `a`@`%`",
		"SET DEFAULT ROLE `r` FOR `a`@`%`",
	))
	want := []string{
		"GRANT OPTION ON `d`.`t`", "INSERT (`a`) ON `d`.`t`", "INSERT (`b`) ON `d`.`t`", "SELECT ON `d`.`t`", "role `r`",
	}
	var got []string
	for k := range base {
		got = append(got, k)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("items\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	fewer := items(parse("GRANT INSERT (`b`) ON `d`.`t` TO `c`@`%`"))
	if extra := fewer.minus(base); len(extra) != 0 {
		t.Fatalf("a subset has extras: %v", extra)
	}
	more := items(parse("GRANT SELECT, DELETE ON `d`.`t` TO `c`@`%`", "GRANT `r` TO `c`@`%` WITH ADMIN OPTION"))
	if extra := more.minus(base); !slices.Equal(extra, []string{"DELETE ON `d`.`t`", "role `r` WITH ADMIN OPTION"}) {
		t.Fatalf("extras %v", extra)
	}
}

func TestAccountQuoting(t *testing.T) {
	if got := (Account{User: "a`b", Host: "10.%"}).String(); got != "`a``b`@`10.%`" {
		t.Fatal(got)
	}
}

func TestPasswordHashes(t *testing.T) {
	// Values the test server computed: PASSWORD('Fourth44Pw') and
	// ed25519's PASSWORD('EdPass123').
	if got := nativeHash("Fourth44Pw"); got != "*9FDFA8DAFD16A68D0FFC519896F6A7BD60FDAEBF" {
		t.Fatalf("native hash %s", got)
	}
	if got, err := ed25519Hash("EdPass123"); err != nil || got != "k3WsY9owXVE3wA0dRQ6jG8ticlyKsDV4tDCQLYcL18Q" {
		t.Fatalf("ed25519 hash %s, %v", got, err)
	}
	for _, pw := range []string{"", "a'b", `a\b`, `a"b`, "a b", "pässword", "a\nb"} {
		if checkPassword(pw) == nil {
			t.Errorf("checkPassword(%q) accepted", pw)
		}
	}
	// Every character AWS's functions may generate by default
	// (ExcludeCharacters /@"'\) is accepted, the backtick too.
	for _, pw := range []string{"Abc-._123", "a`b!#$%&()*+,:;<=>?[]^{|}~"} {
		if err := checkPassword(pw); err != nil {
			t.Errorf("checkPassword(%q): %v", pw, err)
		}
	}
}
