package dualkey_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"gopkg.in/yaml.v3"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/ecsemu"
	"github.com/dualkey/dualkey/emulator/iamemu"
	"github.com/dualkey/dualkey/emulator/sendgridfake"
	"github.com/dualkey/dualkey/emulator/stripefake"
	"github.com/dualkey/dualkey/emulator/twiliofake"
	"github.com/dualkey/dualkey/internal/dbtest"
	"github.com/dualkey/dualkey/internal/lambdarie"
	"github.com/dualkey/dualkey/shared/lifecycle"
	"github.com/dualkey/dualkey/shared/notify"
	"github.com/dualkey/dualkey/shared/rotation"
)

// notCalledByTheFunction are granted actions that the function's code never
// calls itself, so no recorded call can show them; each says who uses it.
var notCalledByTheFunction = map[string]string{
	"logs:CreateLogStream":     "Lambda writes the function's stdout to its log group",
	"logs:PutLogEvents":        "Lambda writes the function's stdout to its log group",
	"xray:PutTraceSegments":    "Lambda sends traces with the function's role when Tracing is Active",
	"xray:PutTelemetryRecords": "Lambda sends traces with the function's role when Tracing is Active",
	"kms:Decrypt":              "Secrets Manager calls KMS for the function (kms:ViaService) when a customer-managed key encrypts the secret",
	"kms:GenerateDataKey":      "Secrets Manager calls KMS for the function (kms:ViaService) when PutSecretValue encrypts with a customer-managed key",
	"kms:DescribeKey":          "Secrets Manager calls KMS for the function (kms:ViaService) when a customer-managed key encrypts the secret",
	"sqs:SendMessage":          "Lambda delivers a failed asynchronous invocation to the on-failure destination with the function's role",
	// ec2:CreateNetworkInterface and the other ENI actions come with the AWS
	// managed policy AWSLambdaVPCAccessExecutionRole (in a VPC only): Lambda
	// uses them to attach the function to its subnets. Managed policies are
	// not inline statements, so they are not compared here.
}

// policyCluster is the ECS cluster of the services the scenarios refresh;
// RefreshServiceArns allows its services.
const policyCluster = "policy"

// policyStack is the stack name the test deploys as: the emulator knows the
// functions as dualkey-<folder>, as AWS would with this stack name.
const policyStack = "dualkey"

// lifecycleFunctions are the template's functions that serve every
// provider; the test drives them itself, between the scenarios' phases.
var lifecycleFunctions = []string{"retire", "rollback"}

// databaseFunctions are the rotation functions that run in the databases'
// VPC (DatabaseSubnetIds) and trust DatabaseCABundle.
var databaseFunctions = []string{"postgres", "mysql"}

// retireLimited is the second process of the retire function's bootstrap
// (the same role), whose sweeps stop after one secret
// (DUALKEY_SWEEP_MAX_WORK=1): it saves the sweep cursor, which the next
// full run resumes from and clears.
const retireLimited = "retire-limited"

// grantedActions reads template.yaml and returns, per AWS::Serverless::Function
// logical id, the actions its role's inline policies allow (statements under
// Fn::If count as granted).
func grantedActions(t *testing.T) map[string][]string {
	t.Helper()
	sts, _ := roleStatements(t)
	out := map[string][]string{}
	for id, list := range sts {
		set := map[string]bool{}
		for _, st := range list {
			if eff := mapGet(st.node, "Effect"); eff == nil || eff.Value != "Allow" {
				t.Fatalf("%s: statement %s is not Effect: Allow", id, st.sid)
			}
			acts := st.actions()
			if len(acts) == 0 {
				t.Fatalf("%s: statement %s has no Action", id, st.sid)
			}
			for _, a := range acts {
				set[a] = true
			}
		}
		for a := range set {
			if strings.Contains(a, "*") {
				t.Errorf("%s: wildcard action %s", id, a)
			}
			out[id] = append(out[id], a)
		}
		sort.Strings(out[id])
	}
	return out
}

func mapGet(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func seqItems(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

// roleStatement is one statement of a function's role as template.yaml
// writes it: node is the statement, condition the template condition of
// the Fn::If it sits under ("" when unconditional).
type roleStatement struct {
	sid, condition string
	node           *yaml.Node
}

func (s roleStatement) actions() []string {
	a := mapGet(s.node, "Action")
	if a == nil {
		return nil
	}
	if a.Kind == yaml.ScalarNode {
		return []string{a.Value}
	}
	var out []string
	for _, n := range a.Content {
		out = append(out, n.Value)
	}
	return out
}

// roleStatements returns, per AWS::Serverless::Function logical id, the
// statements of its role (a statement under Fn::If unwrapped, with its
// condition) and its FunctionName (!Sub) value. A function's Role must be
// !GetAtt of a role of the template (an explicit least-privilege role).
func roleStatements(t *testing.T) (map[string][]roleStatement, map[string]string) {
	t.Helper()
	raw, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	resources := mapGet(doc.Content[0], "Resources")
	if resources == nil {
		t.Fatal("template.yaml has no Resources")
	}
	sts, names := map[string][]roleStatement{}, map[string]string{}
	for i := 0; i+1 < len(resources.Content); i += 2 {
		id, r := resources.Content[i].Value, resources.Content[i+1]
		if typ := mapGet(r, "Type"); typ == nil || typ.Value != "AWS::Serverless::Function" {
			continue
		}
		props := mapGet(r, "Properties")
		if fn := mapGet(props, "FunctionName"); fn != nil {
			names[id] = fn.Value
		}
		role := mapGet(props, "Role")
		if role == nil || role.Tag != "!GetAtt" || !strings.HasSuffix(role.Value, ".Arn") {
			t.Fatalf("%s: Role must be !GetAtt <its role>.Arn (an explicit least-privilege role), got %v", id, role)
		}
		roleRes := mapGet(resources, strings.TrimSuffix(role.Value, ".Arn"))
		if roleRes == nil {
			t.Fatalf("%s: role %s not in the template", id, role.Value)
		}
		sts[id] = []roleStatement{}
		for _, pol := range seqItems(mapGet(mapGet(roleRes, "Properties"), "Policies")) {
			for _, st := range seqItems(mapGet(mapGet(pol, "PolicyDocument"), "Statement")) {
				cond := ""
				if st.Tag == "!If" && len(st.Content) == 3 {
					cond, st = st.Content[0].Value, st.Content[1] // the statement the condition switches on
				}
				sid := ""
				if s := mapGet(st, "Sid"); s != nil {
					sid = s.Value
				}
				sts[id] = append(sts[id], roleStatement{sid: sid, condition: cond, node: st})
			}
		}
	}
	return sts, names
}

// folderOf returns the functions/ folder a FunctionName (!Sub
// "${AWS::StackName}-<folder>") names.
func folderOf(t *testing.T, id, name string) string {
	t.Helper()
	dir, ok := strings.CutPrefix(name, "${AWS::StackName}-")
	if !ok {
		t.Fatalf("%s: FunctionName %q is not ${AWS::StackName}-<its functions/ folder>", id, name)
	}
	if _, err := os.Stat(filepath.Join("functions", dir, "main.go")); err != nil {
		t.Fatalf("%s: FunctionName %q names no folder of functions/: %v", id, name, err)
	}
	return dir
}

// TestTemplateGrantsExactlyTheCallsEachFunctionMakes runs every function's
// real bootstrap under the Lambda RIE against the full emulator, each
// signing with its own IAM key, through scenarios that reach every path
// needing a permission (policyScenarios, one per rotation function; the
// retire and rollback functions run between their phases). It then
// compares, for each function, what the template grants with what the
// function called:
//   - action by action: a granted action no scenario called, or a call of
//     an action the template does not grant, fails;
//   - statement by statement, for Secrets Manager and EventBridge's
//     PutEvents: each call (action, secret, tag keys; each event's bus and
//     source) must be allowed by a statement of the role with its Resource
//     and Condition evaluated as IAM does (resource tags, the secret's
//     rotation function, aws:TagKeys, events:source, the AdminSecretArns
//     and EventBusName parameters), and every statement must allow at
//     least one call — so a
//     statement such as ReadAdminSecrets, whose action another statement
//     also grants on other secrets, is proven needed, and a call outside
//     the conditions (another provider's secret, a secret rotated by
//     another function) fails as AccessDenied would in AWS.
//
// A recording proxy in front of the emulator sees each Secrets Manager
// request's secret and tag keys and each event's bus and source; the
// emulator's own per-key call counts confirm that no call went around it.
func TestTemplateGrantsExactlyTheCallsEachFunctionMakes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every function")
	}
	t.Parallel()
	granted := grantedActions(t)
	sts, names := roleStatements(t)
	folders := map[string]string{} // logical id -> folder
	scenarios := map[string]policyScenario{}
	var order []policyScenario
	for _, mk := range policyScenarios {
		sc := mk()
		if _, dup := scenarios[sc.fn]; dup {
			t.Fatalf("two policy scenarios for functions/%s", sc.fn)
		}
		scenarios[sc.fn] = sc
		order = append(order, sc)
	}
	for id := range granted {
		dir := folderOf(t, id, names[id])
		folders[id] = dir
		if _, ok := scenarios[dir]; !ok && !slices.Contains(lifecycleFunctions, dir) {
			t.Fatalf("template function %s (functions/%s) has no scenario in this test: add one to policyScenarios that drives every path of it needing a permission", id, dir)
		}
	}
	for fn := range scenarios {
		if !slices.Contains(slices.Collect(maps.Values(folders)), fn) {
			t.Fatalf("policyScenarios drives functions/%s, which template.yaml does not deploy", fn)
		}
	}
	w := newPolicyWorld(t)
	fns := slices.Sorted(maps.Values(folders))
	w.start(fns)

	phase := func(name string, pick func(policyScenario) func(*policyWorld)) {
		for _, sc := range order {
			if f := pick(sc); f != nil {
				t.Logf("%s: %s", sc.fn, name)
				f(w)
			}
		}
	}
	phase("rotate", func(s policyScenario) func(*policyWorld) { return s.rotate })
	w.retire()
	phase("after the first retire run", func(s policyScenario) func(*policyWorld) { return s.afterRetire })
	for _, sc := range order {
		for _, a := range sc.alarms {
			w.alarm(a)
		}
	}
	w.alarm("unrelated-alarm")
	phase("after the rollback alarms", func(s policyScenario) func(*policyWorld) { return s.afterAlarms })
	w.retire()
	phase("after the second retire run", func(s policyScenario) func(*policyWorld) { return s.afterSecondRetire })
	w.sweepCursor()

	w.checkTagsUntouched()
	if t.Failed() {
		return
	}

	// Action by action.
	calls := w.emu.Calls()
	for id, dir := range folders {
		if len(calls[w.keyOf[dir]]) == 0 {
			t.Fatalf("%s: the emulator counted no call signed with its key %s", id, w.keyOf[dir])
		}
		used := map[string]bool{}
		for action := range calls[w.keyOf[dir]] {
			used[action] = true
		}
		var unused, missing []string
		for _, a := range granted[id] {
			if used[a] {
				delete(used, a)
				continue
			}
			if _, ok := notCalledByTheFunction[a]; !ok {
				unused = append(unused, a)
			}
		}
		for a := range used {
			missing = append(missing, a)
		}
		sort.Strings(missing)
		t.Logf("%s calls %v", id, keys(calls[w.keyOf[dir]]))
		if len(unused) > 0 {
			t.Errorf("%s: template.yaml grants %v, which no scenario called: remove it, or add the scenario that needs it", id, unused)
		}
		if len(missing) > 0 {
			t.Errorf("%s: the function called %v, which template.yaml does not grant: it would fail with AccessDenied in AWS", id, missing)
		}
	}

	// Statement by statement.
	vars := map[string][]string{
		"AWS::Partition": {"aws"}, "AWS::Region": {awsemu.DefaultRegion}, "AWS::AccountId": {awsemu.DefaultAccountID},
		"AWS::StackName": {policyStack}, "IAMUserPath": {"/"}, "AdminSecretArns": w.adminSecrets,
		"EventBusName": {"default"}, "RefreshServiceArns": {"arn:aws:ecs:" + awsemu.DefaultRegion + ":" + awsemu.DefaultAccountID + ":service/" + policyCluster + "/*"},
		"RetireCursorSecret": {w.cursorARN},
	}
	recorded := w.rec.byKey()
	for id, dir := range folders {
		key := w.keyOf[dir]
		// Every Secrets Manager action the emulator counted went through
		// the proxy, so the statement check below sees every call.
		for action := range calls[key] {
			if evaluatedAction(action) && !slices.ContainsFunc(recorded[key], func(c smCall) bool { return c.Action == action }) {
				t.Fatalf("%s: the emulator counted %s, which the recording proxy never saw", id, action)
			}
		}
		type evaluated struct {
			roleStatement
			policy *iamStatement // nil: not a Secrets Manager statement
			used   bool
		}
		var list []*evaluated
		for _, st := range sts[id] {
			e := &evaluated{roleStatement: st}
			if slices.ContainsFunc(st.actions(), evaluatedAction) {
				p, err := parseStatement(st, vars)
				if err != nil {
					t.Fatalf("%s statement %s: %v", id, st.sid, err)
				}
				e.policy = p
			} else {
				// Other services' statements count as used when one of
				// their actions was called (their resources are not
				// evaluated here).
				for _, a := range st.actions() {
					if calls[key][a] > 0 {
						e.used = true
					}
				}
			}
			list = append(list, e)
		}
		denied := map[string]bool{}
		for _, c := range recorded[key] {
			facts, err := w.resourceFacts(c)
			if err != nil {
				t.Fatalf("%s called %s on %q: %v", id, c.Action, c.SecretID, err)
			}
			allowed := false
			for _, e := range list {
				if e.policy == nil {
					continue
				}
				ok, err := e.policy.allows(c, facts)
				if err != nil {
					t.Fatalf("%s statement %s: %v", id, e.sid, err)
				}
				if ok {
					e.used, allowed = true, true
				}
			}
			if msg := c.describe(facts); !allowed && !denied[msg] {
				denied[msg] = true
				t.Errorf("%s: %s: AccessDenied in AWS, no statement of its role allows it", id, msg)
			}
		}
		for _, e := range list {
			if e.used || !slices.ContainsFunc(e.actions(), func(a string) bool { _, ok := notCalledByTheFunction[a]; return !ok }) {
				continue
			}
			t.Errorf("%s: statement %s of template.yaml allows no call any scenario made (with its resources and conditions): remove it, or add the scenario that needs it", id, e.sid)
		}
	}
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// policyWorld is what the scenarios share: the full emulator with a
// recording proxy in front of it, each function's bootstrap under the RIE
// signing with its own IAM key, the vendors (the Stripe, Twilio and
// SendGrid fakes, a staged vendor), real PostgreSQL and MariaDB servers
// on loopback, and the test's own clients, which act as the operator.
type policyWorld struct {
	t   *testing.T
	ctx context.Context
	emu *awsemu.Full
	sm  *secretsmanager.Client
	iam *iam.Client
	rec *smRecorder

	stripe      *stripefake.Server
	stripeURL   string
	vendor      *stagedVendor
	twilio      *twiliofake.Server
	twilioURL   string
	sendgrid    *sendgridfake.Server
	sendgridURL string
	pg, maria   *dbtest.Server

	// cursorARN is the retire sweep's cursor secret (the template's
	// RetireCursorSecret).
	cursorARN string

	procs map[string]*lambdarie.Process // by folder
	keyOf map[string]string             // folder -> access key id

	mu   sync.Mutex
	held map[string]bool // secrets whose rotation stops after the placeholder

	// adminSecrets are the ARNs the scenarios made for master_secret_arn:
	// the value of the AdminSecretArns parameter.
	adminSecrets []string
	initialTags  map[string]map[string]string // secret ARN -> tags the test set
	facts        map[string]secretFacts       // SecretId -> what Secrets Manager says of it
}

func newPolicyWorld(t *testing.T) *policyWorld {
	w := &policyWorld{t: t, ctx: context.Background(), procs: map[string]*lambdarie.Process{}, keyOf: map[string]string{},
		held: map[string]bool{}, initialTags: map[string]map[string]string{}, facts: map[string]secretFacts{}, rec: &smRecorder{}}
	w.stripe, w.stripeURL = startStripeFake(t)
	w.vendor = newStagedVendor(t)
	w.twilio, w.twilioURL = startTwilioFake(t)
	w.sendgrid, w.sendgridURL = startSendGridFake(t)
	w.pg, w.maria = dbtest.SharedPostgres(t), dbtest.SharedMariaDB(t)
	// Secrets Manager invokes a secret's rotation function: the RIE of the
	// folder its name ends in (dualkey-<folder>), unless the test holds
	// the secret to deliver the steps itself.
	invoker := awsemu.InvokerFunc(func(ctx context.Context, function string, payload []byte) error {
		var ev struct{ SecretId string }
		_ = json.Unmarshal(payload, &ev)
		w.mu.Lock()
		held := w.held[ev.SecretId]
		w.mu.Unlock()
		if held {
			return errors.New("held by the test: it delivers the steps itself")
		}
		name := function[strings.LastIndex(function, ":")+1:]
		p, ok := w.procs[strings.TrimPrefix(name, policyStack+"-")]
		if !ok {
			return fmt.Errorf("no function %s", name)
		}
		_, err := p.Invoke(ctx, payload)
		return err
	})
	emu, err := awsemu.NewFull(awsemu.Config{Invoker: invoker}, iamemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	emuURL, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	w.emu = emu
	admin := awsemu.ClientConfig(emuURL)
	w.sm, w.iam = secretsmanager.NewFromConfig(admin), iam.NewFromConfig(admin)
	target, _ := url.Parse(emuURL)
	proxy := httptest.NewServer(w.rec.handler(target))
	t.Cleanup(proxy.Close)
	w.rec.url = proxy.URL
	// The template's RetireCursorSecret: no value, not dualkey:managed.
	out, err := w.sm.CreateSecret(w.ctx, &secretsmanager.CreateSecretInput{Name: aws.String(policyStack + "/retire-cursor"),
		Description: aws.String("dualkey retire sweep cursor (tag " + lifecycle.TagSweepCursor + "); holds no credential")})
	if err != nil {
		t.Fatal(err)
	}
	w.cursorARN = aws.ToString(out.ARN)
	return w
}

// start builds every function and runs it under the RIE with its own IAM
// user's key, all pointed at the recording proxy and the vendors' fakes;
// retire also as retireLimited, with the same key.
func (w *policyWorld) start(fns []string) {
	t := w.t
	rie, err := lambdarie.FindRIE()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := buildFunctions(w.ctx, dir, fns...); err != nil {
		t.Fatal(err)
	}
	for _, fn := range fns {
		user := "dualkey-fn-" + fn
		if _, err := w.iam.CreateUser(w.ctx, &iam.CreateUserInput{UserName: aws.String(user)}); err != nil {
			t.Fatal(err)
		}
		k, err := w.iam.CreateAccessKey(w.ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
		if err != nil {
			t.Fatal(err)
		}
		w.keyOf[fn] = aws.ToString(k.AccessKey.AccessKeyId)
		env := []string{
			"AWS_ENDPOINT_URL=" + w.rec.url,
			"AWS_ACCESS_KEY_ID=" + w.keyOf[fn],
			"AWS_SECRET_ACCESS_KEY=" + aws.ToString(k.AccessKey.SecretAccessKey),
			"AWS_REGION=" + awsemu.DefaultRegion,
			"DUALKEY_ROLLBACK_ALARM_PREFIX=dualkey-rollback-",
			"DUALKEY_IAM_PROPAGATION_BUDGET=10s",
			"DUALKEY_STRIPE_API_URL=" + w.stripeURL,
			"DUALKEY_TWILIO_API_URL=" + w.twilioURL,
			"DUALKEY_TWILIO_IAM_URL=" + w.twilioURL,
			"DUALKEY_TWILIO_ACCOUNTS_URL=" + w.twilioURL,
			"DUALKEY_SENDGRID_API_URL=" + w.sendgridURL,
			"DUALKEY_DB_CA_BUNDLE=" + w.pg.CAFile, // one CA signs every dbtest server
		}
		names := []string{fn}
		if fn == "retire" {
			env = append(env, "DUALKEY_SWEEP_CURSOR_SECRET="+w.cursorARN)
			names = append(names, retireLimited)
		}
		for _, name := range names {
			env := env
			if name == retireLimited {
				env = append(slices.Clone(env), "DUALKEY_SWEEP_MAX_WORK=1")
			}
			port, err := lambdarie.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			p, err := lambdarie.Start(w.ctx, rie, filepath.Join(dir, fn), port, env)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close() })
			w.procs[name] = p
		}
	}
}

func (w *policyWorld) logs() string {
	var b strings.Builder
	for _, fn := range slices.Sorted(maps.Keys(w.procs)) {
		fmt.Fprintf(&b, "--- %s ---\n%s\n", fn, w.procs[fn].Logs())
	}
	return b.String()
}

// tags returns the tags of a managed secret of provider, drain 0s, plus
// extra key/value pairs.
func (w *policyWorld) tags(provider string, extra ...string) []types.Tag {
	tg := []types.Tag{
		{Key: aws.String(lifecycle.TagManaged), Value: aws.String("true")},
		{Key: aws.String(lifecycle.TagProvider), Value: aws.String(provider)},
		{Key: aws.String(lifecycle.TagDrain), Value: aws.String("0s")},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		tg = append(tg, types.Tag{Key: aws.String(extra[i]), Value: aws.String(extra[i+1])})
	}
	return tg
}

// create makes a secret and remembers its tags (no function may change
// them, but for dualkey:state*).
func (w *policyWorld) create(name, value string, tg []types.Tag) string {
	w.t.Helper()
	out, err := w.sm.CreateSecret(w.ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value), Tags: tg})
	if err != nil {
		w.t.Fatal(err)
	}
	arn := aws.ToString(out.ARN)
	w.initialTags[arn] = map[string]string{}
	for _, tag := range tg {
		w.initialTags[arn][aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	return arn
}

// tag sets a tag on a secret as the operator does (and remembers it, as
// create does).
func (w *policyWorld) tag(arn, key, value string) {
	w.t.Helper()
	if _, err := w.sm.TagResource(w.ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(arn),
		Tags: []types.Tag{{Key: aws.String(key), Value: aws.String(value)}}}); err != nil {
		w.t.Fatal(err)
	}
	w.initialTags[arn][key] = value
	delete(w.facts, arn)
}

// adminSecret makes an untagged secret holding an admin credential that
// managed secrets name in master_secret_arn; its ARN goes into the
// AdminSecretArns parameter.
func (w *policyWorld) adminSecret(name, value string) string {
	arn := w.create(name, value, nil)
	w.adminSecrets = append(w.adminSecrets, arn)
	return arn
}

// refreshTag registers the ECS service policy/<name> and returns the tag
// (key, value) that makes a secret's rotation function redeploy it after
// each promotion.
func (w *policyWorld) refreshTag(name string) []string {
	w.emu.ECS.AddService(policyCluster, name, name+":1", 1)
	return []string{notify.TagRefresh, "ecs:" + policyCluster + "/" + name}
}

// checkRefreshed requires that the promotions of arn redeployed the ECS
// service policy/<name> times times and recorded it in dualkey:state-refresh.
func (w *policyWorld) checkRefreshed(arn, name string, times int) {
	w.t.Helper()
	d, err := w.sm.DescribeSecret(w.ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		w.t.Fatal(err)
	}
	note := ""
	for _, tag := range d.Tags {
		if aws.ToString(tag.Key) == notify.TagRefreshState {
			note = aws.ToString(tag.Value)
		}
	}
	if n := w.emu.ECS.ForcedDeployments(policyCluster, name); n != times || !strings.Contains(note, "ecs:"+policyCluster+"/"+name+"=ok") {
		w.t.Fatalf("%s: ECS service %s/%s was redeployed %d times (want %d), %s = %q\n%s", arn, policyCluster, name, n, times, notify.TagRefreshState, note, w.logs())
	}
}

// hold makes the rotations of arn stop after RotateSecret's placeholder,
// as if its function could not be reached: the test delivers the steps.
func (w *policyWorld) hold(arn string) {
	w.mu.Lock()
	w.held[arn] = true
	w.mu.Unlock()
}

// startRotation calls RotateSecret with function dualkey-<fn> and returns
// the new version's token.
func (w *policyWorld) startRotation(arn, fn string) string {
	w.t.Helper()
	out, err := w.sm.RotateSecret(w.ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(arn),
		RotationLambdaARN: aws.String("arn:aws:lambda:" + awsemu.DefaultRegion + ":" + awsemu.DefaultAccountID + ":function:" + policyStack + "-" + fn)})
	if err != nil {
		w.t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

// rotate runs a whole rotation of arn by dualkey-<fn> and requires it to
// succeed.
func (w *policyWorld) rotate(arn, fn string) {
	w.t.Helper()
	w.startRotation(arn, fn)
	recs := w.emu.Rotations()
	if last := recs[len(recs)-1]; !last.Succeeded {
		w.t.Fatalf("rotation of %s failed at %s: %s\n%s", arn, last.FailedStep, last.Error, w.logs())
	}
}

// step delivers one rotation step of a held secret to its function.
func (w *policyWorld) step(fn, arn, token, step string) error {
	ev, _ := json.Marshal(map[string]string{"Step": step, "SecretId": arn, "ClientRequestToken": token})
	_, err := w.procs[fn].Invoke(w.ctx, ev)
	return err
}

func (w *policyWorld) invoke(fn string, payload []byte) {
	w.t.Helper()
	if _, err := w.procs[fn].Invoke(w.ctx, payload); err != nil {
		w.t.Fatalf("%s: %v\n%s", fn, err, w.logs())
	}
}

// retire runs the retire function once, as its schedule does.
func (w *policyWorld) retire() {
	w.t.Helper()
	ev, err := os.ReadFile("events/retire-schedule.json")
	if err != nil {
		w.t.Fatal(err)
	}
	w.invoke("retire", ev)
}

// sweepCursor makes a retire sweep stop early and the next one resume: the
// limited process retires one secret and saves the cursor (the first
// secret with work it did not reach) on the cursor secret, then a full run
// resumes there and clears it. The sweep reads the cursor at every run.
func (w *policyWorld) sweepCursor() {
	w.t.Helper()
	ev, err := os.ReadFile("events/retire-schedule.json")
	if err != nil {
		w.t.Fatal(err)
	}
	cursor := func() (string, bool) {
		d, err := w.sm.DescribeSecret(w.ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(w.cursorARN)})
		if err != nil {
			w.t.Fatal(err)
		}
		for _, tag := range d.Tags {
			if aws.ToString(tag.Key) == lifecycle.TagSweepCursor {
				return aws.ToString(tag.Value), true
			}
		}
		return "", false
	}
	if c, ok := cursor(); ok {
		w.t.Fatalf("before the limited sweep the cursor is %q: the full runs should leave none", c)
	}
	// Two secrets with work (an old key past its drain), whatever the
	// scenarios left.
	for _, name := range []string{"sweep/a", "sweep/b"} {
		arn := w.create(name, `{"api_key":"policy-test-sweep-key-0123456789abcdefgh"}`, w.tags("servicekey"))
		w.rotate(arn, "servicekey")
	}
	w.invoke(retireLimited, ev)
	c, ok := cursor()
	if !ok || c == "" || !strings.Contains(w.procs[retireLimited].Logs(), "DUALKEY_SWEEP_MAX_WORK=1") {
		w.t.Fatalf("a sweep limited to one secret saved no cursor (%q, %v) or did not say why it stopped\n%s", c, ok, w.logs())
	}
	w.invoke("retire", ev)
	if c, ok := cursor(); ok {
		w.t.Fatalf("the full run resumed at the cursor but left it at %q\n%s", c, w.logs())
	}
}

// alarm sends the rollback function the event of alarm name entering ALARM.
func (w *policyWorld) alarm(name string) {
	w.t.Helper()
	now := time.Now().UTC()
	ev, _ := json.Marshal(map[string]any{
		"version": "0", "id": "7d3c2a10-0000-4000-8000-000000000001", "detail-type": "CloudWatch Alarm State Change",
		"source": "aws.cloudwatch", "account": awsemu.DefaultAccountID, "time": now.Format(time.RFC3339), "region": awsemu.DefaultRegion,
		"resources": []string{"arn:aws:cloudwatch:" + awsemu.DefaultRegion + ":" + awsemu.DefaultAccountID + ":alarm:" + name},
		"detail": map[string]any{
			"alarmName":     name,
			"state":         map[string]any{"value": "ALARM", "reason": "test", "timestamp": now.Format("2006-01-02T15:04:05.000-0700")},
			"previousState": map[string]any{"value": "OK", "timestamp": now.Add(-time.Hour).Format("2006-01-02T15:04:05.000-0700")},
		},
	})
	w.invoke("rollback", ev)
}

// secretTags returns the secret's tags.
func (w *policyWorld) secretTags(arn string) map[string]string {
	w.t.Helper()
	d, err := w.sm.DescribeSecret(w.ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]string{}
	for _, tag := range d.Tags {
		out[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	return out
}

// stages returns the secret's version-to-stages map.
func (w *policyWorld) stages(arn string) map[string][]string {
	w.t.Helper()
	d, err := w.sm.DescribeSecret(w.ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		w.t.Fatal(err)
	}
	return d.VersionIdsToStages
}

// value returns the JSON value of arn's version holding stage.
func (w *policyWorld) value(arn, stage string) map[string]any {
	w.t.Helper()
	out, err := w.sm.GetSecretValue(w.ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String(stage)})
	if err != nil {
		w.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &m); err != nil {
		w.t.Fatalf("%s %s is not JSON: %v", arn, stage, err)
	}
	return m
}

// metricEmitted reports whether fn's log has an EMF line with metric = 1
// for the secret named name.
func (w *policyWorld) metricEmitted(fn, metric, name string) bool {
	for line := range strings.Lines(w.procs[fn].Logs()) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if v, ok := m[metric].(float64); ok && v == 1 && m["SecretName"] == name && m["_aws"] != nil {
			return true
		}
	}
	return false
}

// checkTagsUntouched: the template lets the functions write only
// dualkey:state* tags (aws:TagKeys) and retire remove dualkey:emergency:
// every other tag is as the test set it.
func (w *policyWorld) checkTagsUntouched() {
	t := w.t
	for arn, want := range w.initialTags {
		d, err := w.sm.DescribeSecret(w.ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, tag := range d.Tags {
			k, v := aws.ToString(tag.Key), aws.ToString(tag.Value)
			got[k] = v
			if _, set := want[k]; !set && !strings.HasPrefix(k, rotation.StateTagPrefix) {
				t.Errorf("%s: a function wrote tag %s=%s, outside %s* (the template would refuse it)", arn, k, v, rotation.StateTagPrefix)
			}
		}
		for k, v := range want {
			if _, kept := got[k]; !kept && k == lifecycle.TagEmergency {
				continue // retire clears it once the leaked credential is switched off (the template allows it)
			}
			if got[k] != v {
				t.Errorf("%s: tag %s is %q, want %q as the test set it (the template lets the functions change only %s* tags)", arn, k, got[k], v, rotation.StateTagPrefix)
			}
		}
	}
}

// evaluatedAction reports whether the test evaluates action's statements with
// their resources and conditions: Secrets Manager's, EventBridge's
// PutEvents and ECS's UpdateService (the recording proxy sees what they
// act on).
func evaluatedAction(action string) bool {
	return strings.HasPrefix(action, "secretsmanager:") || action == "events:PutEvents" || action == "ecs:UpdateService"
}

// secretFacts is what IAM's conditions read of a resource: a secret's ARN,
// tags and rotation function, or an event bus's ARN.
type secretFacts struct {
	arn            string
	tags           map[string]string
	rotationLambda string
}

// resourceFacts resolves what a call acts on: the event bus of an event,
// or the secret a SecretId (name or ARN) names, as Secrets Manager does.
// Calls without a secret (ListSecrets, GetRandomPassword) get none.
func (w *policyWorld) resourceFacts(c smCall) (secretFacts, error) {
	if c.Action == "ecs:UpdateService" {
		cluster := c.Cluster
		if i := strings.LastIndex(cluster, "/"); i >= 0 {
			cluster = cluster[i+1:] // a cluster ARN
		}
		return secretFacts{arn: "arn:aws:ecs:" + awsemu.DefaultRegion + ":" + awsemu.DefaultAccountID + ":service/" + cluster + "/" + c.Service}, nil
	}
	if c.Action == "events:PutEvents" {
		bus := c.EventBus
		if bus == "" {
			bus = "default"
		}
		if !strings.HasPrefix(bus, "arn:") {
			bus = "arn:aws:events:" + awsemu.DefaultRegion + ":" + awsemu.DefaultAccountID + ":event-bus/" + bus
		}
		return secretFacts{arn: bus}, nil
	}
	id := c.SecretID
	if id == "" {
		return secretFacts{}, nil
	}
	if f, ok := w.facts[id]; ok {
		return f, nil
	}
	d, err := w.sm.DescribeSecret(w.ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		return secretFacts{}, fmt.Errorf("describe the secret it named: %w", err)
	}
	f := secretFacts{arn: aws.ToString(d.ARN), tags: map[string]string{}, rotationLambda: aws.ToString(d.RotationLambdaARN)}
	for _, tag := range d.Tags {
		f.tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	w.facts[id] = f
	return f, nil
}

// smCall is one Secrets Manager request as the recording proxy saw it
// (the signing key, the action, the secret and the tag keys it writes or
// removes), one entry of an EventBridge PutEvents request (its bus and
// source), or an ECS UpdateService (its cluster and service). No secret
// value is kept.
type smCall struct {
	Key, Action, SecretID string
	TagKeys               []string
	EventBus, Source      string
	Cluster, Service      string
}

func (c smCall) describe(f secretFacts) string {
	if c.Action == "events:PutEvents" {
		return fmt.Sprintf("%s to %s with source %q", c.Action, f.arn, c.Source)
	}
	if c.Action == "ecs:UpdateService" {
		return c.Action + " of " + f.arn
	}
	if c.SecretID == "" {
		return c.Action
	}
	s := fmt.Sprintf("%s on %s (%s=%q, %s=%q, rotation function %q)", c.Action, f.arn,
		lifecycle.TagManaged, f.tags[lifecycle.TagManaged], lifecycle.TagProvider, f.tags[lifecycle.TagProvider], f.rotationLambda)
	if len(c.TagKeys) > 0 {
		s += fmt.Sprintf(", tag keys %v", c.TagKeys)
	}
	return s
}

// smRecorder is a reverse proxy in front of the emulator that records every
// Secrets Manager request, every event put to EventBridge and every ECS
// UpdateService. The
// signature stays valid: the request reaches the emulator with the Host
// header it was signed with.
type smRecorder struct {
	url   string
	mu    sync.Mutex
	calls []smCall
}

var credentialPattern = regexp.MustCompile(`Credential=([A-Z0-9]+)/`)

func (r *smRecorder) handler(target *url.URL) http.Handler {
	proxy := httputil.NewSingleHostReverseProxy(target)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		key := ""
		if m := credentialPattern.FindStringSubmatch(req.Header.Get("Authorization")); m != nil {
			key = m[1]
		}
		if req.Header.Get("X-Amz-Target") == "AWSEvents.PutEvents" {
			var in struct {
				Entries []struct{ EventBusName, Source string }
			}
			_ = json.Unmarshal(body, &in)
			r.mu.Lock()
			for _, e := range in.Entries {
				r.calls = append(r.calls, smCall{Key: key, Action: "events:PutEvents", EventBus: e.EventBusName, Source: e.Source})
			}
			r.mu.Unlock()
		}
		if req.Header.Get("X-Amz-Target") == ecsemu.TargetPrefix+".UpdateService" {
			var in struct{ Cluster, Service string }
			_ = json.Unmarshal(body, &in)
			r.mu.Lock()
			r.calls = append(r.calls, smCall{Key: key, Action: "ecs:UpdateService", Cluster: in.Cluster, Service: in.Service})
			r.mu.Unlock()
		}
		if action, ok := strings.CutPrefix(req.Header.Get("X-Amz-Target"), "secretsmanager."); ok {
			var in struct {
				SecretId string
				Tags     []struct{ Key string }
				TagKeys  []string
			}
			_ = json.Unmarshal(body, &in)
			c := smCall{Key: key, Action: "secretsmanager:" + action, SecretID: in.SecretId, TagKeys: in.TagKeys}
			for _, tg := range in.Tags {
				c.TagKeys = append(c.TagKeys, tg.Key)
			}
			r.mu.Lock()
			r.calls = append(r.calls, c)
			r.mu.Unlock()
		}
		proxy.ServeHTTP(w, req)
	})
}

func (r *smRecorder) byKey() map[string][]smCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]smCall{}
	for _, c := range r.calls {
		out[c.Key] = append(out[c.Key], c)
	}
	return out
}

// iamStatement is a Secrets Manager statement with its Resource and
// Condition resolved for one deployment (parameter and pseudo-parameter
// values): enough of IAM's evaluation for the template's statements.
type iamStatement struct {
	sid        string
	actions    []string
	resources  []string
	conditions map[string]map[string][]string // operator -> key -> values
}

// parseStatement resolves a statement with vars (pseudo parameters and
// template parameters). Constructs it cannot evaluate are errors, so a new
// kind of statement cannot pass unchecked.
func parseStatement(st roleStatement, vars map[string][]string) (*iamStatement, error) {
	p := &iamStatement{sid: st.sid, actions: st.actions(), conditions: map[string]map[string][]string{}}
	var err error
	if p.resources, err = resolve(mapGet(st.node, "Resource"), vars); err != nil {
		return nil, fmt.Errorf("Resource: %w", err)
	}
	if len(p.resources) == 0 {
		return nil, errors.New("no Resource")
	}
	cond := mapGet(st.node, "Condition")
	for i := 0; cond != nil && i+1 < len(cond.Content); i += 2 {
		op, m := cond.Content[i].Value, cond.Content[i+1]
		p.conditions[op] = map[string][]string{}
		for j := 0; j+1 < len(m.Content); j += 2 {
			vals, err := resolve(m.Content[j+1], vars)
			if err != nil {
				return nil, fmt.Errorf("Condition %s %s: %w", op, m.Content[j].Value, err)
			}
			p.conditions[op][m.Content[j].Value] = vals
		}
	}
	return p, nil
}

var subVar = regexp.MustCompile(`\$\{([^}]+)\}`)

// resolve evaluates a plain string, !Sub, !Ref or a list of them.
func resolve(n *yaml.Node, vars map[string][]string) ([]string, error) {
	if n == nil {
		return nil, nil
	}
	switch {
	case n.Kind == yaml.SequenceNode && (n.Tag == "" || n.Tag == "!!seq"):
		var out []string
		for _, c := range n.Content {
			v, err := resolve(c, vars)
			if err != nil {
				return nil, err
			}
			out = append(out, v...)
		}
		return out, nil
	case n.Kind != yaml.ScalarNode:
		return nil, fmt.Errorf("cannot evaluate %s %v", n.Tag, n.Kind)
	case n.Tag == "!Ref":
		v, ok := vars[n.Value]
		if !ok {
			return nil, fmt.Errorf("!Ref %s: no value in this test", n.Value)
		}
		return v, nil
	case n.Tag == "!Sub":
		var err error
		s := subVar.ReplaceAllStringFunc(n.Value, func(m string) string {
			name := m[2 : len(m)-1]
			v, ok := vars[name]
			if !ok || len(v) != 1 {
				err = fmt.Errorf("!Sub %s: no single value for %s in this test", n.Value, name)
				return m
			}
			return v[0]
		})
		return []string{s}, err
	case n.Tag == "!!str" || n.Tag == "":
		return []string{n.Value}, nil
	}
	return nil, fmt.Errorf("cannot evaluate %s %q", n.Tag, n.Value)
}

// glob matches IAM's * and ? wildcards.
func glob(pattern, s string) bool {
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	return regexp.MustCompile(re).MatchString(s)
}

// allows reports whether the statement allows call c on the secret f.
func (p *iamStatement) allows(c smCall, f secretFacts) (bool, error) {
	if !slices.Contains(p.actions, c.Action) {
		return false, nil
	}
	if !slices.ContainsFunc(p.resources, func(r string) bool {
		if f.arn == "" {
			return r == "*" // actions without a resource need Resource "*"
		}
		return glob(r, f.arn)
	}) {
		return false, nil
	}
	for op, byKey := range p.conditions {
		for key, want := range byKey {
			var have []string
			switch {
			case strings.HasPrefix(key, "secretsmanager:ResourceTag/"):
				if v, ok := f.tags[strings.TrimPrefix(key, "secretsmanager:ResourceTag/")]; ok {
					have = []string{v}
				}
			case key == "secretsmanager:resource/AllowRotationLambdaArn":
				if f.rotationLambda != "" {
					have = []string{f.rotationLambda}
				}
			case key == "aws:TagKeys":
				have = c.TagKeys
			case key == "events:source":
				have = []string{c.Source}
			default:
				return false, fmt.Errorf("this test cannot evaluate condition key %s: teach iamStatement.allows", key)
			}
			var match func(pattern, s string) bool
			forAll := false
			switch op {
			case "StringEquals":
				match = func(a, b string) bool { return a == b }
			case "StringLike":
				match = glob
			case "ForAllValues:StringLike":
				match, forAll = glob, true
			case "ForAllValues:StringEquals":
				match, forAll = func(a, b string) bool { return a == b }, true
			default:
				return false, fmt.Errorf("this test cannot evaluate condition operator %s: teach iamStatement.allows", op)
			}
			matchesOne := func(v string) bool { return slices.ContainsFunc(want, func(p string) bool { return match(p, v) }) }
			if forAll {
				// True when every value matches (and for no value at all,
				// as in IAM).
				if slices.ContainsFunc(have, func(v string) bool { return !matchesOne(v) }) {
					return false, nil
				}
				continue
			}
			if !slices.ContainsFunc(have, matchesOne) {
				return false, nil
			}
		}
	}
	return true, nil
}

// TestTemplatePolicyConditions checks the conditions that make the grants
// least privilege (issue 6, items 3 and 4): Secrets Manager statements need
// dualkey:managed, and a rotation function's also its provider tag and
// itself as the secret's rotation function; tag writes are limited to
// dualkey:state* (retire may also remove dualkey:emergency); IAM key
// actions need the user tag dualkey:managed=true. The exceptions are
// ReadAdminSecrets: GetSecretValue alone, on exactly the secrets the
// AdminSecretArns parameter lists, present only when it lists any; and the
// retire function's sweep cursor (RetireCursorSecret): DescribeSecret and
// its one tag.
func TestTemplatePolicyConditions(t *testing.T) {
	sts, names := roleStatements(t)
	for id, list := range sts {
		provider := ""
		if dir, ok := strings.CutPrefix(names[id], "${AWS::StackName}-"); ok && !slices.Contains(lifecycleFunctions, dir) {
			provider = dir
		}
		for _, st := range list {
			actions := st.actions()
			cond := mapGet(st.node, "Condition")
			eq := mapGet(cond, "StringEquals")
			val := func(n *yaml.Node, key string) string {
				if v := mapGet(n, key); v != nil {
					return v.Value
				}
				return ""
			}
			sid := st.sid
			if res := mapGet(st.node, "Resource"); res != nil && res.Tag == "!Ref" && res.Value == "AdminSecretArns" {
				if !slices.Equal(actions, []string{"secretsmanager:GetSecretValue"}) || st.condition != "HasAdminSecretArns" || sid != "ReadAdminSecrets" {
					t.Errorf("%s %s: a statement on AdminSecretArns must be ReadAdminSecrets, grant secretsmanager:GetSecretValue alone and sit under !If HasAdminSecretArns (the default is empty); got %v under %q", id, sid, actions, st.condition)
				}
				continue
			}
			if res := mapGet(st.node, "Resource"); res != nil && res.Tag == "!Ref" && res.Value == "RetireCursorSecret" {
				// The retire sweep's cursor: a secret of its own, not
				// dualkey:managed, whose one tag the sweep reads and writes.
				keys := seqItems(mapGet(mapGet(cond, "ForAllValues:StringEquals"), "aws:TagKeys"))
				ok := id == "RetireFunction" && st.condition == "" && len(actions) > 0
				for _, a := range actions {
					switch a {
					case "secretsmanager:DescribeSecret":
					case "secretsmanager:TagResource", "secretsmanager:UntagResource":
						ok = ok && len(keys) == 1 && keys[0].Value == lifecycle.TagSweepCursor
					default:
						ok = false
					}
				}
				if !ok {
					t.Errorf("%s %s: RetireCursorSecret may be granted only to the retire function, unconditionally: secretsmanager:DescribeSecret, and TagResource/UntagResource with ForAllValues:StringEquals aws:TagKeys [%s]; got %v", id, sid, lifecycle.TagSweepCursor, actions)
				}
				continue
			}
			if slices.Contains(actions, "logs:FilterLogEvents") {
				if res := mapGet(st.node, "Resource"); id != "RetireFunction" || res == nil || res.Tag != "!Ref" || res.Value != "UsageLogGroupArns" ||
					!slices.Equal(actions, []string{"logs:FilterLogEvents"}) || st.condition != "HasUsageLogGroupArns" {
					t.Errorf("%s %s: logs:FilterLogEvents may be granted only to the retire function, alone, on !Ref UsageLogGroupArns under !If HasUsageLogGroupArns; got %v under %q", id, sid, actions, st.condition)
				}
				continue
			}
			if slices.ContainsFunc(actions, func(a string) bool { return strings.HasPrefix(a, "ecs:") }) {
				if res := mapGet(st.node, "Resource"); provider == "" || res == nil || res.Tag != "!Ref" || res.Value != "RefreshServiceArns" ||
					!slices.Equal(actions, []string{"ecs:UpdateService"}) || st.condition != "HasRefreshServiceArns" {
					t.Errorf("%s %s: ECS may be granted only to rotation functions, ecs:UpdateService alone, on !Ref RefreshServiceArns under !If HasRefreshServiceArns; got %v under %q", id, sid, actions, st.condition)
				}
				continue
			}
			for _, a := range actions {
				switch {
				case a == "secretsmanager:ListSecrets" || a == "secretsmanager:GetRandomPassword":
					if res := mapGet(st.node, "Resource"); res == nil || res.Value != "*" {
						t.Errorf("%s %s: %s has no resource: want Resource \"*\"", id, sid, a)
					}
				case strings.HasPrefix(a, "secretsmanager:"):
					if val(eq, "secretsmanager:ResourceTag/dualkey:managed") != "true" {
						t.Errorf("%s %s: %s without secretsmanager:ResourceTag/dualkey:managed = true", id, sid, a)
					}
					if provider != "" {
						if val(eq, "secretsmanager:ResourceTag/dualkey:provider") != provider {
							t.Errorf("%s %s: %s without secretsmanager:ResourceTag/dualkey:provider = %s", id, sid, a, provider)
						}
						own := "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:" + names[id]
						if val(eq, "secretsmanager:resource/AllowRotationLambdaArn") != own {
							t.Errorf("%s %s: %s not bound to the function itself (secretsmanager:resource/AllowRotationLambdaArn = %s)", id, sid, a, own)
						}
					}
					if a == "secretsmanager:TagResource" || a == "secretsmanager:UntagResource" {
						// dualkey:state* or a narrower dualkey:state-...;
						// retire may also remove dualkey:emergency.
						var got []string
						for _, k := range seqItems(mapGet(mapGet(cond, "ForAllValues:StringLike"), "aws:TagKeys")) {
							got = append(got, k.Value)
						}
						if len(got) == 0 || slices.ContainsFunc(got, func(k string) bool {
							return !strings.HasPrefix(k, "dualkey:state") && !(k == "dualkey:emergency" && id == "RetireFunction" && a == "secretsmanager:UntagResource")
						}) {
							t.Errorf("%s %s: %s limited to tag keys %v (aws:TagKeys): want dualkey:state* or narrower (retire's UntagResource also dualkey:emergency)", id, sid, a, got)
						}
					}
				case a == "iam:GetUser":
					// Reads the user's tags, so the provider can name a missing one.
				case strings.HasPrefix(a, "iam:"):
					if val(eq, "iam:ResourceTag/dualkey:managed") != "true" {
						t.Errorf("%s %s: %s without iam:ResourceTag/dualkey:managed = true", id, sid, a)
					}
				}
				if strings.HasPrefix(a, "iam:") && !strings.Contains(mapGet(st.node, "Resource").Value, ":user${IAMUserPath}*") {
					t.Errorf("%s %s: %s not limited to users under IAMUserPath", id, sid, a)
				}
			}
		}
	}
}
