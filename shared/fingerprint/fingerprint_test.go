package fingerprint_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/shared/fingerprint"
)

// Known answers, computed independently with coreutils:
// printf %s "$KEY" | sha256sum | cut -c1-16
var known = []struct{ credential, want string }{
	{"sk_test_4eC39HqLyjWDarjtT1zdp7dc", "dkfp_2cafc0970149a84f"},
	{"AKIAIOSFODNN7EXAMPLE", "dkfp_1a5d44a2dca19669"},
	{"clé-ü-🔑", "dkfp_aec33f21bac1bcc4"}, // UTF-8 bytes, no normalisation
	{"a", "dkfp_ca978112ca1bbdca"},
	{"", ""},
}

func TestOfKnownAnswers(t *testing.T) {
	for _, c := range known {
		got := fingerprint.Of(c.credential)
		if got != c.want {
			t.Errorf("Of(%q) = %q, want %q", c.credential, got, c.want)
		}
		if c.want != "" && !fingerprint.Valid(got) {
			t.Errorf("Valid(Of(%q)) = false", c.credential)
		}
		wantToken := ""
		if c.want != "" {
			wantToken = "dualkey_fp=" + c.want
		}
		if tok := fingerprint.Token(c.credential); tok != wantToken {
			t.Errorf("Token(%q) = %q, want %q", c.credential, tok, wantToken)
		}
	}
	// A trailing newline (echo instead of printf %s) is another credential.
	if fingerprint.Of("x\n") == fingerprint.Of("x") {
		t.Error(`Of("x\n") == Of("x")`)
	}
}

func TestValidAndFilterPattern(t *testing.T) {
	cases := []struct {
		in    string
		valid bool
	}{
		{"dkfp_0123456789abcdef", true},
		{"dkfp_0123456789ABCDEF", false}, // upper case: Of never makes it
		{"dkfp_0123456789abcde", false},
		{"dkfp_0123456789abcdef0", false},
		{"xkfp_0123456789abcdef", false},
		{"dkfp_0123456789abcdeg", false},
		{`dkfp_0123456789abcd" ?`, false},
		{"", false},
	}
	for _, c := range cases {
		if got := fingerprint.Valid(c.in); got != c.valid {
			t.Errorf("Valid(%q) = %v, want %v", c.in, got, c.valid)
		}
		pat := fingerprint.FilterPattern(c.in)
		switch {
		case c.valid && pat != `"`+c.in+`"`:
			t.Errorf("FilterPattern(%q) = %q, want the quoted fingerprint", c.in, pat)
		case !c.valid && pat != "":
			// An empty or malformed pattern could match every event.
			t.Errorf("FilterPattern(%q) = %q, want \"\"", c.in, pat)
		}
	}
}

func TestAttrInJSONLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	key := known[0].credential
	log.Info("charge created", fingerprint.Attr(key), "status", 200)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line[fingerprint.Key] != known[0].want {
		t.Errorf("line %s: %s = %v, want %s", buf.String(), fingerprint.Key, line[fingerprint.Key], known[0].want)
	}
	if strings.Contains(buf.String(), key) {
		t.Errorf("the log line holds the credential: %s", buf.String())
	}
}

func TestFromRequest(t *testing.T) {
	const secret = "s3cr3t-Key-Value-0123456789"
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	cases := []struct {
		name, header, value, use string
		want                     string
	}{
		{"bearer (Stripe, SendGrid, service keys)", "Authorization", "Bearer " + secret, "", fingerprint.Of(secret)},
		{"bearer, lower-case scheme", "Authorization", "bearer " + secret, "", fingerprint.Of(secret)},
		{"basic: the password (Twilio key secret, Braintree private key)", "Authorization", basic("SK0123", secret), "", fingerprint.Of(secret)},
		{"basic with a colon in the password", "Authorization", basic("u", "a:b"), "", fingerprint.Of("a:b")},
		{"sigv4: the access key id", "Authorization",
			"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20300314/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
			"", fingerprint.Of("AKIAIOSFODNN7EXAMPLE")},
		{"api-key header", "X-Api-Key", secret, "X-Api-Key", fingerprint.Of(secret)},
		{"api-key header asked, absent", "Authorization", "Bearer " + secret, "X-Api-Key", ""},
		{"no credential", "", "", "", ""},
		{"unknown scheme", "Authorization", "Digest username=x", "", ""},
		{"scheme only", "Authorization", "Bearer", "", ""},
		{"bad base64", "Authorization", "Basic !!!", "", ""},
		{"basic without colon", "Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")), "", ""},
		{"sigv4 without credential", "Authorization", "AWS4-HMAC-SHA256 SignedHeaders=host", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "https://api.example.com/v1/x?api_key="+secret, nil)
			if c.header != "" {
				r.Header.Set(c.header, c.value)
			}
			if got := fingerprint.FromRequest(r, c.use); got != c.want {
				t.Errorf("FromRequest = %q, want %q", got, c.want)
			}
		})
	}
	if fingerprint.FromRequest(nil, "") != "" {
		t.Error("FromRequest(nil) is not empty")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTransportLogsOneLinePerCallWithoutSecrets(t *testing.T) {
	const secret = "sk_live_0123456789abcdefSECRET"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/charges" && r.Header.Get("Authorization") != "Bearer "+secret {
			t.Errorf("the server did not get the credential unchanged")
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	var buf bytes.Buffer
	client := &http.Client{Transport: &fingerprint.Transport{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}}
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/charges?key="+secret, strings.NewReader("amount=1"))
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// A request without a credential passes through without a line.
	resp, err := client.Get(srv.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d log lines, want 2:\n%s", len(lines), buf.String())
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if m[fingerprint.Key] != fingerprint.Of(secret) || m["method"] != "POST" || m["status"] != float64(201) || m["msg"] != "outbound call" {
			t.Errorf("line = %s", l)
		}
		if strings.Contains(l, secret) || strings.Contains(l, "/v1/charges") {
			t.Errorf("line holds the credential or the path: %s", l)
		}
	}
}

func TestTransportFailedCallLogsNoURL(t *testing.T) {
	const secret = "rk_live_abcdefghijklmnopSECRET"
	var buf bytes.Buffer
	tr := &fingerprint.Transport{
		Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return nil, errors.New("dial tcp: lookup " + r.URL.String() + ": no such host")
		}),
		Logger:  slog.New(slog.NewTextHandler(&buf, nil)),
		Level:   slog.LevelWarn,
		Message: "stripe call",
	}
	req := httptest.NewRequest(http.MethodGet, "https://api.stripe.com/v1/balance?k="+secret, nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	if _, err := tr.RoundTrip(req); err == nil {
		t.Fatal("RoundTrip succeeded")
	}
	out := buf.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, `msg="stripe call"`) || !strings.Contains(out, "dualkey_fp="+fingerprint.Of(secret)) || !strings.Contains(out, `error="request failed"`) {
		t.Errorf("line = %s", out)
	}
	if strings.Contains(out, secret) || strings.Contains(out, "/v1/balance") {
		t.Errorf("line holds the credential or the URL: %s", out)
	}
}

// TestOtherLanguagesAgree runs the one-liners docs/evidence-and-refresh.md
// gives for other languages and compares them with Of. The credential goes
// through the environment, as the documentation recommends.
func TestOtherLanguagesAgree(t *testing.T) {
	dir := t.TempDir()
	javaSrc := filepath.Join(dir, "Fp.java")
	if err := os.WriteFile(javaSrc, []byte(javaProgram), 0o600); err != nil {
		t.Fatal(err)
	}
	langs := []struct {
		name, tool string
		args       []string
		install    string
	}{
		{"shell", "sh", []string{"-c", `printf 'dkfp_%s\n' "$(printf %s "$KEY" | sha256sum | cut -c1-16)"`}, "apt-get install -y coreutils"},
		{"python", "python3", []string{"-c", `import hashlib, os; print("dkfp_" + hashlib.sha256(os.environ["KEY"].encode()).hexdigest()[:16])`}, "apt-get install -y python3"},
		{"node", "node", []string{"-e", `console.log("dkfp_" + require("crypto").createHash("sha256").update(process.env.KEY, "utf8").digest("hex").slice(0, 16))`}, "apt-get install -y nodejs"},
		// One JVM start for every key (KEY0, KEY1, ...): a JVM takes seconds.
		{"java", "java", []string{javaSrc, "KEY0", "KEY1", "KEY2", "KEY3"}, "apt-get install -y openjdk-17-jdk-headless"},
	}
	for _, l := range langs {
		t.Run(l.name, func(t *testing.T) {
			path, err := exec.LookPath(l.tool)
			if err != nil {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s not found; install it with: %s", l.tool, l.install)
				}
				t.Skipf("%s not found; install it with: %s", l.tool, l.install)
			}
			run := func(env ...string) []string {
				cmd := exec.Command(path, l.args...)
				cmd.Env = append(append(os.Environ(), "LC_ALL=C.UTF-8"), env...)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%s: %v\n%s", l.name, err, out)
				}
				return strings.Fields(string(out))
			}
			if l.name == "java" {
				var env []string
				for i, c := range known[:4] {
					env = append(env, fmt.Sprintf("KEY%d=%s", i, c.credential))
				}
				got := run(env...)
				for i, c := range known[:4] {
					if i >= len(got) || got[i] != c.want {
						t.Errorf("java fingerprints = %q, want %q at %d", got, c.want, i)
					}
				}
				return
			}
			for _, c := range known[:4] {
				if got := run("KEY=" + c.credential); len(got) != 1 || got[0] != c.want {
					t.Errorf("%s fingerprint of %q = %q, want %q", l.name, c.credential, got, c.want)
				}
			}
		})
	}
}

// javaProgram is the Java line of the documentation in a runnable file
// (java Fp.java NAME..., Java 17+ for HexFormat): the fingerprint of the
// environment variable each argument names.
const javaProgram = `import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;

public class Fp {
    public static void main(String[] args) throws Exception {
        for (String name : args) {
            String key = System.getenv(name);
            String fp = "dkfp_" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8))).substring(0, 16);
            System.out.println(fp);
        }
    }
}
`

func BenchmarkOf(b *testing.B) {
	key := "svc_" + strings.Repeat("k", 44)
	b.ReportAllocs()
	for b.Loop() {
		_ = fingerprint.Of(key)
	}
}

func BenchmarkFromRequestBasic(b *testing.B) {
	r := httptest.NewRequest(http.MethodGet, "https://api.twilio.com/", nil)
	r.SetBasicAuth("SK0123456789abcdef0123456789abcdef", strings.Repeat("s", 32))
	b.ReportAllocs()
	for b.Loop() {
		_ = fingerprint.FromRequest(r, "")
	}
}
