package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/internal/lambdarie"
	"github.com/dualkey/dualkey/internal/testutil"
	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/providers/iamkey"
	"github.com/dualkey/dualkey/shared/providers/servicekey"
	"github.com/dualkey/dualkey/shared/rotation"
)

// runbookPath is the runbook this test runs.
const runbookPath = "../../docs/runbook.md"

// runbookVars are the variables "Before you start" asks the operator to set;
// every scenario supplies its own values.
var runbookVars = []string{"SECRET", "STACK", "PROVIDER", "RETIRE_FUNCTION"}

// rbSection is one "## " section of the runbook: its shell commands and its
// Logs Insights queries.
type rbSection struct {
	title    string
	commands []rbCommand
	queries  []string
}

type rbCommand struct {
	line     string // as written, continuation lines joined
	exitCode int    // from a trailing "# exit N" comment, else 0
	docLine  int
}

var exitComment = regexp.MustCompile(`#\s*exit (\d+)\b`)

// parseRunbook reads the sections, their ```sh commands and their
// ```logsinsights queries. Other fences are prose.
func parseRunbook(t *testing.T) []*rbSection {
	t.Helper()
	b, err := os.ReadFile(runbookPath)
	if err != nil {
		t.Fatal(err)
	}
	var out []*rbSection
	var cur *rbSection
	lang := ""
	var query []string
	pending := ""
	pendingLine := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case lang == "" && strings.HasPrefix(line, "## "):
			cur = &rbSection{title: strings.TrimPrefix(line, "## ")}
			out = append(out, cur)
		case lang == "" && strings.HasPrefix(line, "```"):
			lang = strings.TrimPrefix(line, "```")
			if lang == "" {
				lang = "text"
			}
			if (lang == "sh" || lang == "logsinsights") && cur == nil {
				t.Fatalf("%s:%d: a %s block before the first section", runbookPath, n, lang)
			}
		case lang != "" && strings.HasPrefix(line, "```"):
			if lang == "logsinsights" {
				cur.queries = append(cur.queries, strings.Join(query, "\n"))
				query = nil
			}
			if pending != "" {
				t.Fatalf("%s:%d: a continued line runs into the end of its block", runbookPath, n)
			}
			lang = ""
		case lang == "sh":
			if pending == "" {
				pendingLine = n
			}
			if strings.HasSuffix(line, "\\") {
				pending += strings.TrimSuffix(line, "\\") + " "
				continue
			}
			full := strings.TrimSpace(pending + line)
			pending = ""
			if full == "" || strings.HasPrefix(full, "#") {
				continue
			}
			c := rbCommand{line: full, docLine: pendingLine}
			if m := exitComment.FindStringSubmatch(comment(full)); m != nil {
				c.exitCode, _ = strconv.Atoi(m[1])
			}
			cur.commands = append(cur.commands, c)
		case lang == "logsinsights":
			query = append(query, line)
		}
	}
	return out
}

// comment returns the part of a shell line after an unquoted " #".
func comment(line string) string {
	var quote rune
	for i, c := range line {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && i > 0 && (line[i-1] == ' ' || line[i-1] == '\t'):
			return line[i:]
		}
	}
	return ""
}

// shellWords splits a command line as a POSIX shell would, for the simple
// commands the runbook gives dualkey: words, single and double quotes,
// backslashes, $NAME and ${NAME}; a comment ends the line. Pipes,
// redirections and command lists are refused.
func shellWords(line string, vars map[string]string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	expand := func(s string, i int) (int, error) {
		j := i + 1
		name := ""
		if j < len(s) && s[j] == '{' {
			k := strings.IndexByte(s[j:], '}')
			if k < 0 {
				return 0, fmt.Errorf("unclosed ${ in %q", s)
			}
			name, j = s[j+1:j+k], j+k+1
		} else {
			for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			name = s[i+1 : j]
		}
		v, ok := vars[name]
		if !ok {
			return 0, fmt.Errorf("variable $%s is not set in this scenario", name)
		}
		cur.WriteString(v)
		return j, nil
	}
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			i++
		case c == '#' && !inWord:
			i = len(line)
		case c == '\'':
			k := strings.IndexByte(line[i+1:], '\'')
			if k < 0 {
				return nil, fmt.Errorf("unclosed ' in %q", line)
			}
			cur.WriteString(line[i+1 : i+1+k])
			inWord, i = true, i+k+2
		case c == '"':
			inWord = true
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				switch {
				case line[i] == '\\' && i+1 < len(line) && strings.IndexByte(`"\$`, line[i+1]) >= 0:
					cur.WriteByte(line[i+1])
					i++
				case line[i] == '$':
					j, err := expand(line, i)
					if err != nil {
						return nil, err
					}
					i = j - 1
				default:
					cur.WriteByte(line[i])
				}
			}
			if i >= len(line) {
				return nil, fmt.Errorf("unclosed \" in %q", line)
			}
			i++
		case c == '\\' && i+1 < len(line):
			cur.WriteByte(line[i+1])
			inWord, i = true, i+2
		case c == '$':
			j, err := expand(line, i)
			if err != nil {
				return nil, err
			}
			inWord, i = true, j
		case strings.IndexByte("|&;<>()`", c) >= 0:
			return nil, fmt.Errorf("%q: shell operator %q: the runbook's dualkey commands are simple commands", line, c)
		default:
			cur.WriteByte(c)
			inWord, i = true, i+1
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func TestShellWords(t *testing.T) {
	vars := map[string]string{"SECRET": "pay/key", "STACK": "dk"}
	cases := []struct {
		line string
		want []string
		err  string
	}{
		{`dualkey status "$SECRET"`, []string{"dualkey", "status", "pay/key"}, ""},
		{`dualkey rollback --reason "it's \"broken\"" ${SECRET}  # exit 3`, []string{"dualkey", "rollback", "--reason", `it's "broken"`, "pay/key"}, ""},
		{`aws logs x --log-group-name "/aws/lambda/$STACK-retire" --q 'events[].message'`, []string{"aws", "logs", "x", "--log-group-name", "/aws/lambda/dk-retire", "--q", "events[].message"}, ""},
		{`dualkey status "$NOPE"`, nil, "$NOPE is not set"},
		{`dualkey status | head`, nil, "shell operator"},
		{`dualkey status 'open`, nil, "unclosed"},
	}
	for _, c := range cases {
		got, err := shellWords(c.line, vars)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.line, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: %q %v, want %q", c.line, got, err, c.want)
		}
	}
}

// rbEnv is one scenario: the world, the variables the commands use, and
// what must hold once they ran.
type rbEnv struct {
	w      *cliWorld
	vars   map[string]string
	env    []string // extra environment for the aws CLI
	expect map[int]string
	verify func(t *testing.T)
	logged int // how much of w.engineLogs went to the logs service
}

// rbLogs collects every JSON line the functions wrote in the scenarios, for
// the Logs Insights check.
var rbLogs struct {
	mu    sync.Mutex
	lines []string
}

// putLogs stores the lines in the emulator's CloudWatch Logs as the
// function's log group would hold them, and keeps them for the queries'
// check.
func (e *rbEnv) putLogs(group, text string) {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return
	}
	e.w.emu.Logs.Put(group, "2026/11/26/[$LATEST]runbook", time.Now(), lines...)
	rbLogs.mu.Lock()
	rbLogs.lines = append(rbLogs.lines, lines...)
	rbLogs.mu.Unlock()
}

// flushEngineLogs moves the rotation functions' new lines to their log
// groups (/aws/lambda/dualkey-<provider>).
func (e *rbEnv) flushEngineLogs() {
	all := e.w.engineLogs.String()
	text := all[e.logged:]
	e.logged = len(all)
	byGroup := map[string]*strings.Builder{}
	for _, l := range strings.Split(text, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil {
			continue
		}
		p, _ := m["provider"].(string)
		if p == "" {
			p, _ = m["Provider"].(string)
		}
		g := "/aws/lambda/dualkey-" + p
		if byGroup[g] == nil {
			byGroup[g] = &strings.Builder{}
		}
		byGroup[g].WriteString(l + "\n")
	}
	for g, b := range byGroup {
		e.putLogs(g, b.String())
	}
}

// lambdaLifecycle is the lifecycle the retire and rollback functions build,
// writing to logs; clock nil is the real one.
func (e *rbEnv) lambdaLifecycle(t *testing.T, logs *bytes.Buffer, sweep lifecycle.SweepConfig) *lifecycle.Lifecycle {
	t.Helper()
	cfg := awsemu.ClientConfig(e.w.url)
	lc, err := lifecycle.New(lifecycle.Config{
		SecretsManager: secretsmanager.NewFromConfig(cfg),
		Providers: map[string]rotation.Provider{
			"servicekey": servicekey.New(servicekey.DefaultSettings, nil),
			"iamkey":     iamkey.NewFromAWSConfig(cfg, nil, iamkey.Config{}),
		},
		LogWriter: logs, MetricsWriter: logs, Sweep: sweep,
		Alarms: lifecycle.AlarmFilter{Prefix: "dualkey-rollback-"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return lc
}

// retireRun is one run of the retire function, its log in its log group.
func (e *rbEnv) retireRun(t *testing.T, sweep lifecycle.SweepConfig) {
	t.Helper()
	var logs bytes.Buffer
	_, _ = e.lambdaLifecycle(t, &logs, sweep).Sweep(context.Background(), lifecycle.Options{}, nil)
	e.putLogs("/aws/lambda/dualkey-retire", logs.String())
}

func newRBEnv(w *cliWorld, secret, provider string) *rbEnv {
	return &rbEnv{w: w, vars: map[string]string{"SECRET": secret, "STACK": "dualkey", "PROVIDER": provider, "RETIRE_FUNCTION": "dualkey-retire"},
		expect: map[int]string{}, verify: func(*testing.T) {}}
}

func (w *cliWorld) rotateSDK(t *testing.T, name, fn string) {
	t.Helper()
	if _, err := w.sm.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String(name), RotationLambdaARN: aws.String(fn)}); err != nil {
		t.Fatal(err)
	}
}

func (w *cliWorld) pending(t *testing.T, name string) string {
	t.Helper()
	l := w.labels(t, name)
	if p := rotation.Holder(l, rotation.StagePending); p != "" && p != rotation.Holder(l, rotation.StageCurrent) {
		return p
	}
	return ""
}

// rbScenarios sets up, for each runbook section, the situation it
// describes. A section may run several times (one per failed step).
func rbScenarios() map[string][]func(t *testing.T) *rbEnv {
	stepFailed := func(step string) func(t *testing.T) *rbEnv {
		return func(t *testing.T) *rbEnv {
			w := newCLIWorld(t, map[string]string{"dualkey:drain": "1h"})
			first := rotation.Holder(w.labels(t, w.name), rotation.StageCurrent)
			w.failStep.Store(step)
			w.rotateSDK(t, w.name, iamLambda)
			w.failStep.Store("")
			if w.pending(t, w.name) == "" {
				t.Fatalf("a failed %s left no pending version", step)
			}
			e := newRBEnv(w, w.name, "iamkey")
			e.flushEngineLogs()
			e.expect[1] = step // the log line names the failed step
			e.verify = func(t *testing.T) {
				cur := rotation.Holder(w.labels(t, w.name), rotation.StageCurrent)
				if w.pending(t, w.name) != "" || cur == first || w.keyCount(t) != 2 || w.status(t, w.old) != "Active" {
					t.Fatalf("after the runbook: pending %q, current %s (first %s), %d keys, old key %s", w.pending(t, w.name), cur, first, w.keyCount(t), w.status(t, w.old))
				}
				if out, code := w.run(t, "audit", "--endpoint", w.url, w.name); code != 0 {
					t.Fatalf("an orphan is left: %s", out)
				}
			}
			return e
		}
	}
	return map[string][]func(t *testing.T) *rbEnv{
		"Rotation step failed": {stepFailed(rotation.StepCreate), stepFailed(rotation.StepSet), stepFailed(rotation.StepTest), stepFailed(rotation.StepFinish)},
		"Rotation incomplete": {func(t *testing.T) *rbEnv {
			w := newEmuWorld(t)
			w.serviceSecret(t, "svc/key", nil)
			w.failing.Store(true)
			w.rotateSDK(t, "svc/key", svcLambda)
			w.failing.Store(false)
			e := newRBEnv(w, "svc/key", "servicekey")
			e.retireRun(t, lifecycle.SweepConfig{})
			e.expect[0] = "AWSPENDING"
			e.expect[1] = "rotation is incomplete"
			e.verify = func(t *testing.T) {
				if w.pending(t, "svc/key") != "" || rotation.Holder(w.labels(t, "svc/key"), rotation.StagePrevious) == "" {
					t.Fatalf("still incomplete: %v", w.labels(t, "svc/key"))
				}
			}
			return e
		}},
		"Rotation overdue": {func(t *testing.T) *rbEnv {
			state := filepath.Join(t.TempDir(), "state.json")
			if err := writeOverdueState(state, "svc/overdue", time.Now()); err != nil {
				t.Fatal(err)
			}
			w := newEmuWorldWith(t, emuOptions{stateFile: state})
			e := newRBEnv(w, "svc/overdue", "servicekey")
			e.retireRun(t, lifecycle.SweepConfig{})
			e.expect[1] = `"Enabled": true`
			e.expect[2] = "OVERDUE"
			e.expect[3] = "rotation finished"
			e.verify = func(t *testing.T) {
				d, err := w.sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("svc/overdue")})
				if err != nil || d.LastRotatedDate == nil || time.Since(*d.LastRotatedDate) > time.Hour || d.NextRotationDate.Before(time.Now()) {
					t.Fatalf("not rotated: %v %+v", err, d)
				}
			}
			return e
		}},
		"Old credential still in use": {func(t *testing.T) *rbEnv {
			// The old key is used ten minutes before the retire run: within
			// the quiet period of an hour, outside the override of 5 minutes.
			clock := testutil.NewFakeClock(time.Now().Add(-10 * time.Minute))
			w := newEmuWorldWith(t, emuOptions{now: clock.Now})
			w.iamSecret(t, map[string]string{"dualkey:drain": "0s", "dualkey:quiet": "1h"})
			w.rotateSDK(t, w.name, iamLambda)
			consumer := sts.NewFromConfig(aws.Config{Region: awsemu.DefaultRegion, BaseEndpoint: aws.String(w.url),
				Credentials: credentials.NewStaticCredentialsProvider(w.old, w.oldSecret, "")})
			if _, err := consumer.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err != nil {
				t.Fatal(err)
			}
			clock.Advance(10 * time.Minute)
			e := newRBEnv(w, w.name, "iamkey")
			e.vars["OLD_KEY_ID"] = w.old
			e.retireRun(t, lifecycle.SweepConfig{})
			if tags := w.tags(t, w.name); tags[lifecycle.TagState] != lifecycle.StateInUse {
				t.Fatalf("the retire run did not find the old key in use: %v", tags)
			}
			e.expect[0] = "in-use"
			e.expect[1] = "sts"
			e.expect[4] = "would deactivate"
			e.verify = func(t *testing.T) {
				tags := w.tags(t, w.name)
				if w.status(t, w.old) != "Inactive" || tags[lifecycle.TagState] != lifecycle.StateDeactivated || tags[lifecycle.TagQuiet] != "" {
					t.Fatalf("old key %s, tags %v", w.status(t, w.old), tags)
				}
			}
			return e
		}},
		"Retire failed": {func(t *testing.T) *rbEnv {
			w := newEmuWorld(t)
			w.serviceSecret(t, "svc/key", map[string]string{"dualkey:drain": "banana"})
			e := newRBEnv(w, "svc/key", "servicekey")
			e.retireRun(t, lifecycle.SweepConfig{})
			e.expect[0] = "aws secretsmanager tag-resource --secret-id svc/key"
			e.expect[1] = "dualkey:drain"
			e.verify = func(t *testing.T) {
				if tags := w.tags(t, "svc/key"); tags[lifecycle.TagState] != lifecycle.StateDraining || tags[lifecycle.TagDrain] != "1h" {
					t.Fatalf("tags %v", tags)
				}
			}
			return e
		}},
		"Rollback performed": {func(t *testing.T) *rbEnv {
			w := newEmuWorld(t)
			w.serviceSecret(t, "svc/key", map[string]string{"dualkey:drain": "0s", lifecycle.TagAlarm: "dualkey-rollback-svc-401"})
			e := newRBEnv(w, "svc/key", "servicekey")
			e.retireRun(t, lifecycle.SweepConfig{})
			var logs bytes.Buffer
			detail, _ := json.Marshal(map[string]any{"alarmName": "dualkey-rollback-svc-401", "state": map[string]string{"value": "ALARM", "timestamp": time.Now().Add(time.Second).UTC().Format(time.RFC3339)}})
			if _, err := e.lambdaLifecycle(t, &logs, lifecycle.SweepConfig{}).HandleAlarm(context.Background(),
				events.CloudWatchEvent{Source: "aws.cloudwatch", DetailType: "CloudWatch Alarm State Change", Detail: detail}); err != nil {
				t.Fatal(err)
			}
			e.putLogs("/aws/lambda/dualkey-rollback", logs.String())
			if tags := w.tags(t, "svc/key"); tags[lifecycle.TagState] != lifecycle.StateHeld {
				t.Fatalf("the alarm did not roll back: %v", tags)
			}
			e.expect[0] = "held"
			e.expect[1] = "dualkey-rollback-svc-401"
			e.expect[2] = "hold cleared"
			e.verify = func(t *testing.T) {
				if tags := w.tags(t, "svc/key"); tags[lifecycle.TagState] == lifecycle.StateHeld {
					t.Fatalf("still held: %v", tags)
				}
			}
			return e
		}},
		"Consumers failing after a rotation": {func(t *testing.T) *rbEnv {
			w := newEmuWorld(t)
			w.serviceSecret(t, "svc/key", map[string]string{"dualkey:drain": "1h"})
			old := rotation.Holder(w.labels(t, "svc/key"), rotation.StagePrevious)
			e := newRBEnv(w, "svc/key", "servicekey")
			e.expect[1] = "would restore-current"
			e.expect[3] = "held"
			e.expect[5] = "rotation finished"
			e.verify = func(t *testing.T) {
				l := w.labels(t, "svc/key")
				if rotation.Holder(l, rotation.StagePrevious) != old || w.tags(t, "svc/key")[lifecycle.TagState] == lifecycle.StateHeld {
					t.Fatalf("the restored credential is not the previous one after the new rotation: %v (old %s) %v", l, old, w.tags(t, "svc/key"))
				}
			}
			return e
		}},
		"A leaked credential": {func(t *testing.T) *rbEnv {
			// Rotation is set up (every 30 days), the secret not rotated
			// yet: one key, which leaked.
			w := newCLIWorld(t, map[string]string{"dualkey:drain": "24h"})
			if _, err := w.sm.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String(w.name), RotationLambdaARN: aws.String(iamLambda),
				RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}, RotateImmediately: aws.Bool(false)}); err != nil {
				t.Fatal(err)
			}
			e := newRBEnv(w, w.name, "iamkey")
			e.vars["IAM_USER"] = "deployer"
			e.expect[2] = "Inactive"
			e.expect[3] = "no orphans"
			e.verify = func(t *testing.T) {
				if w.status(t, w.old) != "Inactive" || w.tags(t, w.name)[rotation.TagEmergency] != "" {
					t.Fatalf("old key %s, tags %v", w.status(t, w.old), w.tags(t, w.name))
				}
			}
			return e
		}},
		"A leaked IAM key while the previous key still drains": {func(t *testing.T) *rbEnv {
			w := newCLIWorld(t, map[string]string{"dualkey:drain": "24h"})
			w.rotateSDK(t, w.name, iamLambda)
			labels := w.labels(t, w.name)
			previous, leakedVersion := rotation.Holder(labels, rotation.StagePrevious), rotation.Holder(labels, rotation.StageCurrent)
			keys, err := w.iam.ListAccessKeys(context.Background(), &iam.ListAccessKeysInput{UserName: aws.String("deployer")})
			if err != nil {
				t.Fatal(err)
			}
			leaked := ""
			for _, k := range keys.AccessKeyMetadata {
				if id := aws.ToString(k.AccessKeyId); id != w.old {
					leaked = id
				}
			}
			e := newRBEnv(w, w.name, "iamkey")
			e.vars["IAM_USER"] = "deployer"
			e.vars["PREVIOUS_KEY_ID"] = w.old
			e.vars["PREVIOUS_VERSION"] = previous
			e.expect[0] = w.old
			e.verify = func(t *testing.T) {
				labels := w.labels(t, w.name)
				if w.status(t, leaked) != "Inactive" || w.status(t, w.old) != "deleted" || w.keyCount(t) != 2 ||
					rotation.Holder(labels, rotation.StagePrevious) != leakedVersion || w.pending(t, w.name) != "" {
					t.Fatalf("leaked key %s, previous key %s, %d keys, labels %v", w.status(t, leaked), w.status(t, w.old), w.keyCount(t), labels)
				}
			}
			return e
		}},
		"The functions erroring or not running": {func(t *testing.T) *rbEnv {
			rie, err := lambdarie.FindRIE()
			if err != nil {
				if os.Getenv("CI") != "" {
					t.Fatal(err)
				}
				t.Skip(err)
			}
			bootstrap, err := lambdarie.Build(context.Background(), "retire", t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			w := newEmuWorld(t)
			for _, n := range []string{"svc/a", "svc/b", "svc/c"} {
				w.serviceSecret(t, n, map[string]string{"dualkey:drain": "0s"})
			}
			port, err := lambdarie.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			p, err := lambdarie.Start(context.Background(), rie, bootstrap, port, awsemu.FunctionEnv(w.url))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			e := newRBEnv(w, "svc/a", "servicekey")
			e.vars["RETIRE_FUNCTION"] = "function" // the RIE serves one function under this name
			e.env = []string{fmt.Sprintf("AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:%d", port)}
			// A run that stopped before the end: one secret retired, two left.
			e.retireRun(t, lifecycle.SweepConfig{MaxWork: 1})
			e.expect[0] = "sweep stopped before the end"
			e.expect[3] = "null"
			e.verify = func(t *testing.T) {
				for _, n := range []string{"svc/a", "svc/b", "svc/c"} {
					if rotation.Holder(w.labels(t, n), rotation.StageDeactivated) == "" {
						t.Fatalf("%s was not retired: %v\n%s", n, w.labels(t, n), p.Logs())
					}
				}
			}
			return e
		}},
		"Risk classes: secrets rotated too rarely": {func(t *testing.T) *rbEnv {
			w := newEmuWorld(t)
			w.serviceSecret(t, "svc/key", nil)
			if _, err := w.sm.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String("svc/key"),
				RotationRules: &types.RotationRulesType{ScheduleExpression: aws.String("rate(90 days)")}, RotateImmediately: aws.Bool(false)}); err != nil {
				t.Fatal(err)
			}
			e := newRBEnv(w, "svc/key", "servicekey")
			e.expect[0] = "NO-CLASS"
			e.expect[3] = "OK"
			e.verify = func(t *testing.T) {
				d, err := w.sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("svc/key")})
				if err != nil || aws.ToString(d.RotationRules.ScheduleExpression) != "rate(30 days)" || w.tags(t, "svc/key")[TagRisk] != "30d" {
					t.Fatalf("%v %+v", err, d)
				}
			}
			return e
		}},
	}
}

// writeOverdueState writes an emulator state file holding one managed
// servicekey secret, risk class 30d, rotated every 30 days, last rotated 40
// days ago and due 10 days ago.
func writeOverdueState(path, name string, now time.Time) error {
	at := func(d time.Duration) string { return now.Add(d).UTC().Format(time.RFC3339Nano) }
	arn := "arn:aws:secretsmanager:" + awsemu.DefaultRegion + ":" + awsemu.DefaultAccountID + ":secret:" + name + "-Ab12Cd"
	const v = "5f0c3a2e-0d4b-4c1e-9a61-2f3e4d5c6b7a"
	state := map[string]any{"version": 1, "seq": 2, "secrets": map[string]any{arn: map[string]any{
		"arn": arn, "name": name, "created": at(-40 * day), "lastChanged": at(-40 * day), "lastRotated": at(-40 * day),
		"nextRotation": at(-10 * day), "rotationEnabled": true, "rotationLambdaArn": svcLambda,
		"rotationRules": map[string]any{"AutomaticallyAfterDays": 30},
		"tags":          []map[string]string{{"Key": rotation.TagManaged, "Value": "true"}, {"Key": rotation.TagProvider, "Value": "servicekey"}, {"Key": TagRisk, "Value": "30d"}},
		"versions": map[string]any{v: map[string]any{"id": v, "string": `{"api_key":"cli-initial-service-key-0123456789abcdef"}`,
			"stages": []string{"AWSCURRENT"}, "created": at(-40 * day), "seq": 1}},
		"seq": 2,
	}}}
	b, err := json.Marshal(state)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// run runs one runbook command in the scenario: dualkey in process, anything
// else (the aws CLI, printf, cat) with bash in a scratch directory.
func (e *rbEnv) run(t *testing.T, awsBin, dir string, c rbCommand) (string, int) {
	t.Helper()
	if strings.HasPrefix(c.line, "dualkey ") {
		args, err := shellWords(c.line, e.vars)
		if err != nil {
			t.Fatalf("%s:%d: %v", runbookPath, c.docLine, err)
		}
		return e.w.run(t, args[1:]...)
	}
	cmd := exec.Command("bash", "-c", c.line)
	cmd.Dir = dir
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "DUALKEY_") {
			env = append(env, kv)
		}
	}
	env = append(env, "PATH="+filepath.Dir(awsBin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"AWS_ACCESS_KEY_ID="+awsemu.DefaultAccessKeyID, "AWS_SECRET_ACCESS_KEY="+awsemu.DefaultSecretAccessKey,
		"AWS_DEFAULT_REGION="+awsemu.DefaultRegion, "AWS_ENDPOINT_URL="+e.w.url, "AWS_PAGER=",
		"AWS_CONFIG_FILE="+filepath.Join(dir, "aws-config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "aws-credentials"))
	env = append(env, e.env...)
	for k, v := range e.vars {
		env = append(env, k+"="+v)
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	case err != nil:
		t.Fatalf("%s:%d: %s: %v", runbookPath, c.docLine, c.line, err)
	}
	return string(out), 0
}

// TestRunbook runs every command of docs/runbook.md, section by section,
// in the situation the section describes, against the emulator: each must
// exit as the runbook says (0, or its "# exit N"), show what the scenario
// expects, and leave the situation fixed. Then every Logs Insights query
// must select real log lines of the functions that carry every field it
// names.
func TestRunbook(t *testing.T) {
	awsBin, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("aws CLI not on PATH: .ci/run installs Debian's awscli")
		}
		t.Skip("aws CLI not on PATH")
	}
	sections := parseRunbook(t)
	scenarios := rbScenarios()
	var queries []string
	seen := map[string]bool{}
	planned, ran := 0, 0
	for _, s := range sections {
		queries = append(queries, s.queries...)
		if s.title == "Before you start" {
			checkSetupBlock(t, s)
			continue
		}
		if len(s.commands) == 0 {
			continue
		}
		setups, ok := scenarios[s.title]
		if !ok {
			t.Errorf("runbook section %q has commands but no scenario in this test", s.title)
			continue
		}
		seen[s.title] = true
		for i, setup := range setups {
			planned++
			t.Run(fmt.Sprintf("%s/%d", s.title, i+1), func(t *testing.T) {
				ran++
				e := setup(t)
				t.Setenv("DUALKEY_ENDPOINT", e.w.url)
				dir := t.TempDir()
				for n, c := range s.commands {
					out, code := e.run(t, awsBin, dir, c)
					if code != c.exitCode {
						t.Fatalf("%s:%d: %s\nexit %d, the runbook says %d:\n%s", runbookPath, c.docLine, c.line, code, c.exitCode, out)
					}
					if strings.HasPrefix(c.line, "aws logs filter-log-events") && strings.TrimSpace(out) == "" {
						t.Fatalf("%s:%d: %s finds no log line in the situation its section describes", runbookPath, c.docLine, c.line)
					}
					if want, ok := e.expect[n]; ok && !strings.Contains(out, want) {
						t.Fatalf("%s:%d: %s\noutput lacks %q:\n%s", runbookPath, c.docLine, c.line, want, out)
					}
					for _, line := range strings.Split(out, "\n") {
						if strings.Contains(line, oldKey) || strings.Contains(line, "cli-initial-service-key") {
							t.Fatalf("%s:%d: %s printed a secret value", runbookPath, c.docLine, c.line)
						}
					}
				}
				e.flushEngineLogs()
				e.verify(t)
			})
		}
	}
	for title := range scenarios {
		if !seen[title] {
			t.Errorf("scenario %q has no section with commands in the runbook", title)
		}
	}
	if len(queries) == 0 {
		t.Fatal("the runbook has no Logs Insights query")
	}
	if ran < planned {
		t.Logf("Logs Insights queries not checked: %d of %d scenarios ran (-run selects some)", ran, planned)
		return
	}
	rbLogs.mu.Lock()
	lines := slices.Clone(rbLogs.lines)
	rbLogs.mu.Unlock()
	for _, q := range queries {
		if err := checkInsightsQuery(q, lines); err != nil {
			t.Errorf("Logs Insights query\n%s\n%v", q, err)
		}
	}
}

// oldKey is the value the CLI world's servicekey secrets start with.
const oldKey = "cli-initial-service-key-0123456789abcdef"

// checkSetupBlock: "Before you start" only assigns the variables the
// scenarios supply.
func checkSetupBlock(t *testing.T, s *rbSection) {
	t.Helper()
	var names []string
	for _, c := range s.commands {
		name, _, ok := strings.Cut(c.line, "=")
		if !ok || strings.ContainsAny(name, " \t") {
			t.Errorf("%s:%d: %q in %q is not an assignment", runbookPath, c.docLine, c.line, s.title)
			continue
		}
		names = append(names, name)
	}
	if !slices.Equal(names, runbookVars) {
		t.Errorf("%q assigns %v; the scenarios supply %v", s.title, names, runbookVars)
	}
}

var (
	insightsCommands = []string{"fields", "filter", "sort", "limit", "stats", "display", "parse", "dedup"}
	insightsTerm     = regexp.MustCompile(`^\s*(@?[A-Za-z_][A-Za-z0-9_.]*)\s*(=|!=)\s*"([^"]*)"\s*$`)
)

// checkInsightsQuery checks a Logs Insights query against the functions'
// log lines: known commands separated by |; fields, sort and filter name
// fields; a filter of field = "value" terms joined by and/or must select at
// least one line, and every field the query names (other than Lambda's
// own @fields) must be in at least one selected line. A query only about
// Lambda's REPORT lines (@type = "REPORT") is checked for syntax alone.
func checkInsightsQuery(q string, lines []string) error {
	var named []string
	var filter string
	for _, part := range strings.Split(q, "|") {
		part = strings.TrimSpace(part)
		cmd, rest, _ := strings.Cut(part, " ")
		if !slices.Contains(insightsCommands, cmd) {
			return fmt.Errorf("unknown command %q", cmd)
		}
		switch cmd {
		case "fields", "display":
			for _, f := range strings.Split(rest, ",") {
				named = append(named, strings.TrimSpace(f))
			}
		case "sort":
			f, dir, _ := strings.Cut(strings.TrimSpace(rest), " ")
			if dir != "" && dir != "asc" && dir != "desc" {
				return fmt.Errorf("sort %q: want asc or desc", dir)
			}
			named = append(named, f)
		case "limit":
			if n, err := strconv.Atoi(strings.TrimSpace(rest)); err != nil || n < 1 || n > 10000 {
				return fmt.Errorf("limit %q: want 1 to 10000", rest)
			}
		case "filter":
			filter = rest
		}
	}
	// The filter: terms joined by "or", each of terms joined by "and".
	type term struct{ field, op, value string }
	var alternatives [][]term
	for _, alt := range strings.Split(filter, " or ") {
		var all []term
		for _, t := range strings.Split(alt, " and ") {
			m := insightsTerm.FindStringSubmatch(t)
			if m == nil {
				return fmt.Errorf("filter term %q: want field = \"value\"", strings.TrimSpace(t))
			}
			all = append(all, term{m[1], m[2], m[3]})
			named = append(named, m[1])
		}
		alternatives = append(alternatives, all)
	}
	if filter == "" {
		return errors.New("no filter: the runbook's queries each select the lines of one event")
	}
	if len(alternatives) == 1 && len(alternatives[0]) == 1 && alternatives[0][0].field == "@type" {
		return nil // Lambda's own REPORT lines
	}
	var selected []map[string]any
	for _, l := range lines {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil {
			continue
		}
		for _, alt := range alternatives {
			ok := true
			for _, t := range alt {
				v, has := m[t.field].(string)
				if (t.op == "=") != (has && v == t.value) {
					ok = false
				}
			}
			if ok {
				selected = append(selected, m)
				break
			}
		}
	}
	if len(selected) == 0 {
		return fmt.Errorf("the filter selects none of the %d log lines the functions wrote in the runbook's scenarios", len(lines))
	}
	for _, f := range named {
		if strings.HasPrefix(f, "@") {
			continue
		}
		found := false
		for _, m := range selected {
			if _, ok := m[f]; ok {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("field %q is in none of the %d selected log lines", f, len(selected))
		}
	}
	return nil
}

func TestCheckInsightsQuery(t *testing.T) {
	lines := []string{`{"msg":"retire failed","secret":"a","error":"x"}`, `{"msg":"lifecycle","op":"alert","secret":"b","reason":"r"}`, `not json`}
	cases := []struct {
		q, err string
	}{
		{"fields @timestamp, secret, error\n| filter msg = \"retire failed\"\n| sort @timestamp desc", ""},
		{"fields secret, reason | filter msg = \"lifecycle\" and op = \"alert\" | limit 5", ""},
		{"fields secret | filter msg = \"retire failed\" or msg = \"lifecycle\"", ""},
		{"fields @duration | filter @type = \"REPORT\"", ""},
		{"fields secret, evidence | filter msg = \"retire failed\"", `field "evidence"`},
		{"fields secret | filter msg = \"no such line\"", "selects none"},
		{"fields secret | filter msg = \"lifecycle\" and op = \"check\"", "selects none"},
		{"fields secret | filtr msg = \"lifecycle\"", "unknown command"},
		{"fields secret | filter msg like /x/", "want field"},
		{"fields secret | filter msg = \"lifecycle\" | sort secret sideways", "asc or desc"},
		{"fields secret | filter msg = \"lifecycle\" | limit lots", "limit"},
	}
	for _, c := range cases {
		err := checkInsightsQuery(c.q, lines)
		if (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%q: %v, want %q", c.q, err, c.err)
		}
	}
}
