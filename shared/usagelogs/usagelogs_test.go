package usagelogs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/dualkey/dualkey/shared/fingerprint"
	"github.com/dualkey/dualkey/shared/rotation"
	"github.com/dualkey/dualkey/shared/usagelogs"
)

const (
	oldKey = "svc_OLD_key_0123456789abcdefghijklmnopqrstuv"
	newKey = "svc_NEW_key_zyxwvutsrqponmlkjihgfedcba987654"
)

var (
	oldFP = fingerprint.Of(oldKey)
	newFP = fingerprint.Of(newKey)
)

func reporter(t testing.TB, logs usagelogs.LogsAPI, maxCalls int) *usagelogs.Reporter {
	t.Helper()
	r, err := usagelogs.New(usagelogs.Config{Logs: logs, MaxCalls: maxCalls})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func quietHour(groups ...string) usagelogs.Request {
	return usagelogs.Request{Secret: "prod/api-key", Groups: groups, Old: oldFP, New: newFP, Since: t0.Add(-time.Hour), Until: t0}
}

// line is a consumer's log line carrying the fingerprint of key, in each
// of the documented forms.
func line(form, key string) string {
	switch form {
	case "slog-json":
		var b bytes.Buffer
		slog.New(slog.NewJSONHandler(&b, nil)).Info("charge created", fingerprint.Attr(key), "status", 200)
		return strings.TrimSpace(b.String())
	case "token":
		return "POST /v1/charges 200 " + fingerprint.Token(key) + " 12ms"
	default: // the bare fingerprint, as another language may write it
		return fmt.Sprintf(`{"level":"info","dualkey_fp":"%s"}`, fingerprint.Of(key))
	}
}

func TestCheckEvidence(t *testing.T) {
	const api, worker = "/app/api", "/app/worker"
	type put struct {
		group, key, form string
		at               time.Duration // relative to t0
	}
	cases := []struct {
		name       string
		puts       []put
		wantLast   time.Duration // 0: not in use
		wantGroup  string
		wantSilent []string
		switched   bool
		detail     []string
	}{
		{
			name: "old fingerprint in one of two groups: in use, with that group and the last time",
			puts: []put{
				{worker, oldKey, "token", -10 * time.Minute}, {worker, oldKey, "slog-json", -5 * time.Minute},
				{api, oldKey, "token", -2 * time.Hour}, // before the quiet period
				{api, newKey, "bare", -2 * time.Minute}, {worker, newKey, "token", -time.Minute},
			},
			wantLast: -5 * time.Minute, wantGroup: worker,
			detail: []string{"old credential " + oldFP + " logged in /app/worker at 2030-03-14T10:25:00Z", "new credential " + newFP + " logged in every group too"},
		},
		{
			name: "old fingerprint in both groups: the newest names its group, the other is listed",
			puts: []put{
				{api, oldKey, "token", -50 * time.Minute}, {worker, oldKey, "token", -20 * time.Minute},
				{api, newKey, "token", -time.Minute},
			},
			wantLast: -20 * time.Minute, wantGroup: worker, wantSilent: []string{worker},
			detail: []string{"logged in /app/worker at 2030-03-14T10:10:00Z, also in /app/api at 2030-03-14T09:40:00Z", "new credential " + newFP + " not logged in /app/worker"},
		},
		{
			name: "new fingerprint in every group, old one only outside the range: positive evidence",
			puts: []put{
				{api, oldKey, "token", -61 * time.Minute}, {worker, oldKey, "token", time.Minute}, // before Since, after Until
				{api, newKey, "slog-json", -30 * time.Minute}, {worker, newKey, "bare", -3 * time.Minute},
				{worker, "unrelated-key-0123456789", "token", -time.Minute},
			},
			switched: true,
			detail:   []string{"old credential " + oldFP + " not logged in /app/api, /app/worker since 2030-03-14T09:30:00Z", "logged in every group: its consumers switched"},
		},
		{
			name: "range ends are inclusive",
			puts: []put{
				{api, oldKey, "token", -time.Hour}, {api, newKey, "token", 0}, {worker, newKey, "token", 0},
			},
			wantLast: -time.Hour, wantGroup: api,
		},
		{
			name:       "nothing logged: unused, but no sign anyone switched",
			puts:       []put{{api, "another-credential-000000000", "token", -time.Minute}},
			wantSilent: []string{api, worker},
			detail:     []string{"not logged in any group: no sign that consumers switched (idle, or not logging dualkey_fp)"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := start(t)
			for _, g := range []string{api, worker} {
				e.logs.Put(g, "web-1", t0.Add(-3*time.Hour), "started")
			}
			for _, p := range c.puts {
				e.logs.Put(p.group, "web-1", t0.Add(p.at), line(p.form, p.key))
			}
			e.logs.ResetCalls()
			ev, err := reporter(t, e.cw, 0).Check(ctx(), quietHour(api, worker))
			if err != nil {
				t.Fatal(err)
			}
			last, group := ev.LastUsed()
			wantLast := time.Time{}
			if c.wantLast != 0 || c.wantGroup != "" {
				wantLast = t0.Add(c.wantLast)
			}
			if !last.Equal(wantLast) || group != c.wantGroup || ev.InUse() != !wantLast.IsZero() {
				t.Errorf("LastUsed = %v %q (in use %v), want %v %q", last, group, ev.InUse(), wantLast, c.wantGroup)
			}
			if !slices.Equal(ev.Silent(), c.wantSilent) || ev.Switched() != c.switched {
				t.Errorf("Silent = %v, Switched = %v; want %v, %v", ev.Silent(), ev.Switched(), c.wantSilent, c.switched)
			}
			u := ev.Usage()
			if !u.Known || !u.LastUsed.Equal(wantLast) || u.Granularity != 0 || u.Detail != ev.Detail() {
				t.Errorf("Usage = %+v", u)
			}
			for _, d := range c.detail {
				if !strings.Contains(ev.Detail(), d) {
					t.Errorf("Detail = %q\nwant it to contain %q", ev.Detail(), d)
				}
			}
			// One call per group and fingerprint: newest first, limit 1.
			if got := e.logs.Calls()["FilterLogEvents"]; got != 4 || ev.Calls() != 4 {
				t.Errorf("FilterLogEvents calls = %d (evidence says %d), want 4", got, ev.Calls())
			}
		})
	}
}

func TestCheckOldOnly(t *testing.T) {
	e := start(t)
	e.logs.Put("/app/api", "a", t0.Add(-time.Minute), line("token", oldKey))
	req := quietHour("/app/api")
	req.New = ""
	ev, err := reporter(t, e.cw, 0).Check(ctx(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !ev.InUse() || ev.Switched() || strings.Contains(ev.Detail(), "new credential") {
		t.Errorf("evidence = %+v, detail %q", ev, ev.Detail())
	}
	if got := e.logs.Calls()["FilterLogEvents"]; got != 1 {
		t.Errorf("FilterLogEvents calls = %d, want 1", got)
	}
}

func TestMissingGroupIsAnErrorNotUnused(t *testing.T) {
	e := start(t)
	e.logs.Put("/app/api", "a", t0.Add(-time.Minute), line("token", newKey))
	ev, err := reporter(t, e.cw, 0).Check(ctx(), quietHour("/app/api", "/app/wrokers"))
	if !errors.Is(err, usagelogs.ErrGroupNotFound) || ev != nil {
		t.Fatalf("Check = %v, %v; want ErrGroupNotFound", ev, err)
	}
	for _, want := range []string{`log group /app/wrokers (tag dualkey:usage-logs) does not exist`, "never counts a missing group as unused",
		"aws secretsmanager tag-resource --secret-id prod/api-key --tags Key=dualkey:usage-logs,Value=GROUP,GROUP"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error = %q\nwant it to contain %q", err, want)
		}
	}
}

func TestPaginationThroughEmptyPages(t *testing.T) {
	e := start(t)
	e.logs.Put("/app/api", "a", t0.Add(-7*time.Minute), line("token", oldKey))
	e.logs.Put("/app/api", "a", t0.Add(-time.Minute), line("token", newKey))
	cases := []struct {
		name     string
		empty    int
		maxCalls int
		wantErr  error
		calls    int
	}{
		{"no empty pages", 0, 3, nil, 2},
		{"two empty pages before the answer", 2, 3, nil, 6},
		{"more empty pages than the bound", 3, 3, usagelogs.ErrIncomplete, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := quietHour("/app/api")
			ev, err := reporter(t, &emptyPages{real: e.cw, n: c.empty}, c.maxCalls).Check(ctx(), req)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("Check error = %v, want %v", err, c.wantErr)
			}
			if c.wantErr != nil {
				if ev != nil || !strings.Contains(err.Error(), "did not finish within 3 FilterLogEvents calls") || !strings.Contains(err.Error(), "nothing is concluded") {
					t.Errorf("Check = %v, %v", ev, err)
				}
				return
			}
			if last, _ := ev.LastUsed(); !last.Equal(t0.Add(-7*time.Minute)) || len(ev.Silent()) != 0 || ev.Calls() != c.calls {
				t.Errorf("evidence = %+v (calls %d), want the old key at -7m, the new one seen, %d calls", ev.Groups, ev.Calls(), c.calls)
			}
		})
	}
}

// apiError answers every call with one AWS error.
type apiError struct{ code string }

func (a apiError) FilterLogEvents(context.Context, *cloudwatchlogs.FilterLogEventsInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error) {
	return nil, &smithy.GenericAPIError{Code: a.code, Message: "User: arn:aws:sts::123456789012:assumed-role/dualkey-retire is not authorized"}
}

func TestAccessDeniedNamesThePermission(t *testing.T) {
	_, err := reporter(t, apiError{"AccessDeniedException"}, 0).Check(ctx(), quietHour("/app/api"))
	if !errors.Is(err, usagelogs.ErrAccessDenied) || !strings.Contains(err.Error(), "grant logs:FilterLogEvents on arn:aws:logs:REGION:ACCOUNT:log-group:/app/api:* to its role: add that ARN (or a wildcard covering it) to the template's UsageLogGroupArns parameter") {
		t.Errorf("error = %v", err)
	}
	_, err = reporter(t, apiError{"ThrottlingException"}, 0).Check(ctx(), quietHour("/app/api"))
	if err == nil || errors.Is(err, usagelogs.ErrAccessDenied) || !strings.Contains(err.Error(), "search log group /app/api (tag dualkey:usage-logs)") {
		t.Errorf("error = %v", err)
	}
}

func TestBadRequests(t *testing.T) {
	e := start(t)
	r := reporter(t, e.cw, 0)
	mod := func(f func(*usagelogs.Request)) usagelogs.Request {
		req := quietHour("/app/api")
		f(&req)
		return req
	}
	cases := []struct {
		name string
		req  usagelogs.Request
		want string
	}{
		{"no groups", mod(func(r *usagelogs.Request) { r.Groups = nil }), "no log groups to search"},
		{"too many groups", mod(func(r *usagelogs.Request) {
			r.Groups = nil
			for i := range usagelogs.MaxGroups + 1 {
				r.Groups = append(r.Groups, fmt.Sprintf("/g%d", i))
			}
		}), "11 log groups; at most 10"},
		{"old fingerprint malformed", mod(func(r *usagelogs.Request) { r.Old = "" }), "old credential's usage fingerprint (0 characters) is not a dkfp_ fingerprint"},
		{"a credential instead of a fingerprint", mod(func(r *usagelogs.Request) { r.Old = oldKey }), "old credential's usage fingerprint"},
		{"new fingerprint malformed", mod(func(r *usagelogs.Request) { r.New = "dkfp_XYZ" }), "new credential's usage fingerprint"},
		{"same fingerprint", mod(func(r *usagelogs.Request) { r.New = r.Old }), "same usage fingerprint"},
		{"range reversed", mod(func(r *usagelogs.Request) { r.Until = r.Since.Add(-time.Second) }), "ends (2030-03-14T09:29:59Z) before it starts"},
		{"before 2024", mod(func(r *usagelogs.Request) { r.Since = time.Date(2023, 12, 31, 23, 0, 0, 0, time.UTC) }), "before 2024-01-01"},
		{"bad group", mod(func(r *usagelogs.Request) { r.Groups = []string{"/app/api", "bad group!"} }), `"bad group!" is not a log group name`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := r.Check(ctx(), c.req)
			if !errors.Is(err, usagelogs.ErrBadRequest) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v\nwant ErrBadRequest containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), oldKey) {
				t.Errorf("the error holds the credential: %v", err)
			}
		})
	}
	if got := e.logs.Calls()["FilterLogEvents"]; got != 0 {
		t.Errorf("a refused request made %d FilterLogEvents calls", got)
	}
	if _, err := usagelogs.New(usagelogs.Config{}); err == nil {
		t.Error("New without a client succeeded")
	}
}

func TestParseGroups(t *testing.T) {
	long := "/" + strings.Repeat("a", 512)
	cases := []struct {
		value   string
		want    []string
		wantErr string
	}{
		{"/app/api", []string{"/app/api"}, ""},
		{"/app/api,/app/worker", []string{"/app/api", "/app/worker"}, ""},
		{" /app/api , /app/worker ", []string{"/app/api", "/app/worker"}, ""},
		{"/app/api /app/worker", []string{"/app/api", "/app/worker"}, ""}, // spaces, for tools that refuse commas
		{"/app/api,/app/api,/app/worker", []string{"/app/api", "/app/worker"}, ""},
		{"/aws/lambda/pay-service_v2.prod#1", []string{"/aws/lambda/pay-service_v2.prod#1"}, ""},
		{"arn:aws:logs:eu-west-1:210987654321:log-group:/app/api:*", []string{"arn:aws:logs:eu-west-1:210987654321:log-group:/app/api:*"}, ""},
		{"arn:aws:logs:eu-west-1:210987654321:log-group:/app/api", []string{"arn:aws:logs:eu-west-1:210987654321:log-group:/app/api"}, ""},
		{"", nil, "tag dualkey:usage-logs is empty"},
		{" , ,", nil, "tag dualkey:usage-logs is empty"},
		{"/app/api,app:worker", nil, `"app:worker" is not a log group name`},
		{"/app/api;rm -rf /", nil, `"/app/api;rm" is not a log group name`},
		{"arn:aws:s3:::bucket", nil, `"arn:aws:s3:::bucket" is not a log group ARN`},
		{long, nil, "longer than 512 characters"},
		{"/a,/b,/c,/d,/e,/f,/g,/h,/i,/j,/k", nil, "names 11 log groups; at most 10"},
	}
	for _, c := range cases {
		got, err := usagelogs.ParseGroups(c.value)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), "dualkey:usage-logs") {
				t.Errorf("ParseGroups(%.40q) error = %v, want %q", c.value, err, c.wantErr)
			}
			if err != nil && len(err.Error()) > 400 {
				t.Errorf("ParseGroups(%.40q) error is %d characters long", c.value, len(err.Error()))
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParseGroups(%q) = %q, %v; want %q", c.value, got, err, c.want)
		}
	}
}

// provider is a minimal rotation.Provider for the fingerprint tests.
type provider struct{ name string }

func (p provider) Name() string { return p.name }
func (provider) Create(context.Context, *rotation.CreateRequest) (*rotation.CreateResponse, error) {
	return nil, errors.New("not used")
}
func (provider) Set(context.Context, *rotation.SetRequest) error   { return nil }
func (provider) Test(context.Context, *rotation.TestRequest) error { return nil }
func (provider) Fingerprint(string) string                         { return "" }
func (provider) SwitchOff() rotation.SwitchOff                     { return rotation.SwitchOffLabelGated }

// stagedLike says itself which field its consumers send.
type stagedLike struct{ provider }

func (stagedLike) UsageFingerprint(value string) string {
	if !strings.Contains(value, "private_key") {
		return ""
	}
	return fingerprint.Of("the-private-key-0123456789")
}

// FingerprintOf asks the provider's UsageFingerprint (each provider's own
// tests check which field it fingerprints) and refuses, naming the
// provider and the tag, a provider that does not say or a value without
// the credential.
func TestFingerprintOf(t *testing.T) {
	cases := []struct {
		p       rotation.Provider
		value   string
		want    string
		wantErr string
	}{
		{stagedLike{provider{"staged"}}, `{"public_key":"p","private_key":"x"}`, fingerprint.Of("the-private-key-0123456789"), ""},
		{stagedLike{provider{"staged"}}, `{}`, "", "provider staged finds no credential its consumers send"},
		{malformed{provider{"odd"}}, `{"api_key":"` + oldKey + `"}`, "", "provider odd finds no credential its consumers send"},
		{provider{"custom"}, `{"api_key":"` + oldKey + `"}`, "", "provider custom does not say which credential its consumers send"},
	}
	for _, c := range cases {
		got, err := usagelogs.FingerprintOf(c.p, c.value)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), usagelogs.Tag) || strings.Contains(err.Error(), oldKey) {
				t.Errorf("FingerprintOf(%s) error = %v, want %q naming %s", c.p.Name(), err, c.wantErr, usagelogs.Tag)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("FingerprintOf(%s) = %q, %v; want %q", c.p.Name(), got, err, c.want)
		}
	}
}

// bearer's consumers send the api_key field as a bearer token.
type bearer struct{ provider }

func (bearer) UsageFingerprint(value string) string {
	var v struct {
		APIKey string `json:"api_key"`
	}
	if json.Unmarshal([]byte(value), &v) != nil {
		return ""
	}
	return fingerprint.Of(v.APIKey)
}

// malformed returns something that is not a fingerprint (the credential
// itself, a provider's bug): never passed on.
type malformed struct{ provider }

func (malformed) UsageFingerprint(value string) string { return value }

func TestCombine(t *testing.T) {
	iam := &rotation.Usage{Known: true, LastUsed: t0.Add(-3 * time.Hour), Granularity: time.Minute, Detail: "IAM: last used 07:30 by sts"}
	logs := &rotation.Usage{Known: true, LastUsed: t0.Add(-5 * time.Minute), Detail: "CloudWatch Logs: …"}
	never := &rotation.Usage{Known: true, Detail: "CloudWatch Logs: not logged"}
	unknown := &rotation.Usage{Known: false, Detail: "no evidence"}
	cases := []struct {
		name      string
		p, l      *rotation.Usage
		wantLast  time.Time
		wantGran  time.Duration
		wantKnown bool
		detail    string
	}{
		{"both: later use, coarser granularity, both details", iam, logs, logs.LastUsed, time.Minute, true, iam.Detail + "; " + logs.Detail},
		{"provider's use is the later", logs, never, logs.LastUsed, 0, true, logs.Detail + "; " + never.Detail},
		{"no provider evidence", nil, logs, logs.LastUsed, 0, true, logs.Detail},
		{"provider unknown", unknown, never, time.Time{}, 0, true, never.Detail},
		{"no logs", iam, nil, iam.LastUsed, time.Minute, true, iam.Detail},
		{"neither known", unknown, nil, time.Time{}, 0, false, unknown.Detail},
	}
	for _, c := range cases {
		u := usagelogs.Combine(c.p, c.l)
		if u.Known != c.wantKnown || !u.LastUsed.Equal(c.wantLast) || u.Granularity != c.wantGran || u.Detail != c.detail {
			t.Errorf("%s: Combine = %+v", c.name, u)
		}
	}
	if iam.LastUsed != t0.Add(-3*time.Hour) || iam.Detail != "IAM: last used 07:30 by sts" {
		t.Error("Combine changed its argument")
	}
}

// TestForCredentialNothingSecret runs the lifecycle's entry point against a
// real secret in the emulator's Secrets Manager and checks that no
// credential crosses the wire to CloudWatch Logs or appears in the
// evidence or an error.
func TestForCredentialNothingSecret(t *testing.T) {
	e := start(t)
	out, err := e.sm.CreateSecret(ctx(), &secretsmanager.CreateSecretInput{
		Name: aws.String("prod/api-key"), SecretString: aws.String(`{"api_key":"` + oldKey + `"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	put, err := e.sm.PutSecretValue(ctx(), &secretsmanager.PutSecretValueInput{SecretId: out.ARN, SecretString: aws.String(`{"api_key":"` + newKey + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.sm.DescribeSecret(ctx(), &secretsmanager.DescribeSecretInput{SecretId: out.ARN})
	if err != nil {
		t.Fatal(err)
	}
	reader := rotation.NewReader(e.sm, aws.ToString(out.ARN), d.VersionIdsToStages, rotation.NewRedactor())
	prev, err := reader.Stage(ctx(), rotation.StagePrevious)
	if err != nil {
		t.Fatal(err)
	}
	req := &rotation.CredentialRequest{SecretID: aws.ToString(out.ARN), Version: prev, Versions: reader}
	p := bearer{provider{"servicekey"}}
	r := reporter(t, e.cw, 0)

	// No tag: nothing to search.
	if ev, err := r.ForCredential(ctx(), p, req, map[string]string{"dualkey:provider": "servicekey"}, t0.Add(-time.Hour), t0); ev != nil || err != nil {
		t.Fatalf("without the tag: %v, %v", ev, err)
	}
	e.logs.Put("/app/api", "a", t0.Add(-4*time.Minute), line("token", oldKey))
	e.logs.Put("/app/api", "a", t0.Add(-2*time.Minute), line("slog-json", newKey))
	e.logs.Put("/app/worker", "a", t0.Add(-1*time.Minute), line("bare", newKey))
	ev, err := r.ForCredential(ctx(), p, req, map[string]string{usagelogs.Tag: "/app/api,/app/worker"}, t0.Add(-time.Hour), t0)
	if err != nil {
		t.Fatal(err)
	}
	if last, g := ev.LastUsed(); !last.Equal(t0.Add(-4*time.Minute)) || g != "/app/api" || ev.Old != oldFP || ev.New != newFP || len(ev.Silent()) != 0 {
		t.Errorf("evidence = %+v", ev)
	}
	_, err = r.ForCredential(ctx(), p, req, map[string]string{usagelogs.Tag: "/app/api,/nope"}, t0.Add(-time.Hour), t0)
	if !errors.Is(err, usagelogs.ErrGroupNotFound) || !strings.Contains(err.Error(), "--secret-id "+aws.ToString(out.ARN)) {
		t.Errorf("missing group: %v", err)
	}
	_, err = r.ForCredential(ctx(), p, req, map[string]string{usagelogs.Tag: "not a group!"}, t0.Add(-time.Hour), t0)
	if !errors.Is(err, usagelogs.ErrBadRequest) {
		t.Errorf("bad tag: %v", err)
	}
	// The new version asked about itself (no older credential): only the
	// old fingerprint is searched.
	cur, _ := reader.Stage(ctx(), rotation.StageCurrent)
	self, err := r.ForCredential(ctx(), p, &rotation.CredentialRequest{SecretID: req.SecretID, Version: cur, Versions: reader}, map[string]string{usagelogs.Tag: "/app/api"}, t0.Add(-time.Hour), t0)
	if err != nil || self.New != "" || self.Old != newFP {
		t.Errorf("current version: %+v, %v", self, err)
	}
	_ = put

	for _, k := range []string{oldKey, newKey} {
		var logsWire string
		for _, chunk := range strings.Split(e.wire.String(), "\n") {
			if strings.Contains(chunk, "filterPattern") {
				logsWire += chunk + "\n"
			}
		}
		if logsWire == "" {
			t.Fatal("no FilterLogEvents request recorded")
		}
		if strings.Contains(logsWire, k) {
			t.Errorf("a FilterLogEvents request carries a credential:\n%s", logsWire)
		}
		if strings.Contains(ev.Detail(), k) || strings.Contains(fmt.Sprint(ev), k) {
			t.Errorf("the evidence holds a credential: %s", ev.Detail())
		}
	}
}

func BenchmarkCheckTwoGroups(b *testing.B) {
	e := start(b)
	for i := range 5000 {
		e.logs.Put("/app/api", fmt.Sprintf("web-%d", i%8), t0.Add(-time.Duration(i)*time.Second), line("token", fmt.Sprintf("other-credential-%06d", i)))
	}
	e.logs.Put("/app/api", "web-1", t0.Add(-50*time.Minute), line("token", oldKey))
	e.logs.Put("/app/worker", "w", t0.Add(-time.Minute), line("token", newKey))
	r := reporter(b, e.cw, 0)
	req := quietHour("/app/api", "/app/worker")
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Check(ctx(), req); err != nil {
			b.Fatal(err)
		}
	}
}
