package lifecycle

import "testing"

func TestShellWord(t *testing.T) {
	for in, want := range map[string]string{
		"ci/deployer-key": "ci/deployer-key",
		"arn:aws:secretsmanager:us-east-1:123456789012:secret:a/b-AbCdEf": "arn:aws:secretsmanager:us-east-1:123456789012:secret:a/b-AbCdEf",
		"it's a name":   `'it'\''s a name'`,
		"$(rm -rf /)":   `'$(rm -rf /)'`,
		"":              "''",
		"Key=x,Value=y": "Key=x,Value=y",
	} {
		if got := ShellWord(in); got != want {
			t.Errorf("ShellWord(%q) = %s, want %s", in, got, want)
		}
	}
}
