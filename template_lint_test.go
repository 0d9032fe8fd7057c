package dualkey_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// toolHint is how to get AWS's template tools on a machine that lacks them.
// They are pip packages (cfn-lint, aws-sam-translator) and come with the
// project's machines (pyenv Python 3.11); nothing here can install them.
const toolHint = "cfn-lint and aws-sam-translator are AWS's pip packages (pip install cfn-lint aws-sam-translator, into the python3 on PATH); the project's machines ship them with pyenv's Python 3.11"

// needTool returns the path of a command, skipping the test outside CI and
// failing it in CI (CI=true) when the command is missing.
func needTool(t *testing.T, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found on PATH: %s", name, hint)
	}
	t.Skipf("%s not found on PATH (%s); CI fails here", name, hint)
	return ""
}

// needSAMTranslator returns a python3 that imports samtranslator.
func needSAMTranslator(t *testing.T) string {
	t.Helper()
	py := needTool(t, "python3", toolHint)
	if out, err := exec.Command(py, "-c", "import samtranslator").CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s cannot import samtranslator (%v: %s): %s", py, err, bytes.TrimSpace(out), toolHint)
		}
		t.Skipf("%s cannot import samtranslator: %s", py, toolHint)
	}
	return py
}

// cfnLint runs cfn-lint with the informational rules included (-c I), so
// that an error, a warning or an informational finding fails the test.
func cfnLint(t *testing.T, args ...string) {
	t.Helper()
	bin := needTool(t, "cfn-lint", toolHint)
	cmd := exec.Command(bin, append([]string{"--non-zero-exit-code", "informational", "-c", "I", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cfn-lint -c I %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Fatalf("cfn-lint printed findings:\n%s", s)
	}
}

// TestTemplateLint runs AWS's cfn-lint on template.yaml (with its SAM
// transform, every parameter at its default) and on the example stacks:
// no error, warning or informational finding.
func TestTemplateLint(t *testing.T) {
	t.Parallel()
	examples, err := filepath.Glob("examples/*.yaml")
	if err != nil || len(examples) == 0 {
		t.Fatalf("no example stacks in examples/ (%v)", err)
	}
	cfnLint(t, append([]string{"template.yaml"}, examples...)...)
}

// parameterSets are the deployments the template must support: the
// defaults, VPC and a customer-managed KMS key for each function family
// (rotation, database, lifecycle), tracing, an e-mail subscription and
// rollback alarms by name only.
var parameterSets = map[string]map[string]any{
	"defaults": {},
	"vpc-kms-tracing": {
		"RotationSubnetIds":         []string{"subnet-0123456789abcdef0", "subnet-0123456789abcdef1"},
		"RotationSecurityGroupIds":  []string{"sg-0123456789abcdef0"},
		"DatabaseSubnetIds":         []string{"subnet-0123456789abcdef3", "subnet-0123456789abcdef4"},
		"DatabaseSecurityGroupIds":  []string{"sg-0123456789abcdef3"},
		"DatabaseCABundle":          "db-ca-bundle.pem",
		"LifecycleSubnetIds":        []string{"subnet-0123456789abcdef2"},
		"LifecycleSecurityGroupIds": []string{"sg-0123456789abcdef1", "sg-0123456789abcdef2"},
		"SecretsKmsKeyArn":          "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"Tracing":                   "Active",
		"LogRetentionInDays":        "30",
		"AdminSecretArns": []string{"arn:aws:secretsmanager:us-east-1:123456789012:secret:stripe/webhook-admin-AbCdEf",
			"arn:aws:secretsmanager:us-east-1:123456789012:secret:db/master-??????"},
		"Confirm":            "12h",
		"RefreshServiceArns": []string{"arn:aws:ecs:us-east-1:123456789012:service/prod/*", "arn:aws:ecs:us-east-1:123456789012:service/staging/payments-api"},
		"UsageLogGroupArns":  []string{"arn:aws:logs:us-east-1:123456789012:log-group:/ecs/payments-*:*"},
	},
	"lifecycle-vpc-only-no-events": {
		"LifecycleSubnetIds":        []string{"subnet-0123456789abcdef2"},
		"LifecycleSecurityGroupIds": []string{"sg-0123456789abcdef1"},
		"PublishEvents":             "false",
		"EventBusName":              "payments-bus",
		"StageLead":                 "72h",
	},
	"kms-only-email-named-alarms": {
		"SecretsKmsKeyArn":         "arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab",
		"AlertEmail":               "oncall@example.com",
		"RollbackAlarmPrefix":      "",
		"RollbackAlarmNames":       []string{"api-5xx", "payments-401"},
		"IAMUserPath":              "/rotated/",
		"DatabaseSubnetIds":        []string{"subnet-0123456789abcdef3"},
		"DatabaseSecurityGroupIds": []string{"sg-0123456789abcdef3"},
	},
}

// translateScript runs the SAM transform (aws-sam-translator, the library
// CloudFormation's AWS::Serverless transform is built from) on template.yaml
// once per parameter set, after rewriting each local CodeUri to an S3 URI as
// `sam deploy` does when it packages, and writes each result as JSON.
const translateScript = `
import copy, json, os, sys
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
from samtranslator.yaml_helper import yaml_parse
from samtranslator.translator.transform import transform
from samtranslator.public.exceptions import InvalidDocumentException

class NoManagedPolicies:
    def load(self):
        raise RuntimeError("the template names an AWS managed policy by name; use its ARN")

src, out, sets = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
with open(src) as f:
    tpl = yaml_parse(f.read())
for r in tpl.get("Resources", {}).values():
    if r.get("Type") == "AWS::Serverless::Function" and r.get("Properties", {}).get("CodeUri") == ".":
        r["Properties"]["CodeUri"] = "s3://dualkey-artifacts/bootstrap.zip"
failed = False
for name, params in sorted(sets.items()):
    try:
        res = transform(copy.deepcopy(tpl), params, NoManagedPolicies())
    except InvalidDocumentException as e:
        for c in e.causes:
            print(name + ": SAM transform failed: " + c.message)
        failed = True
        continue
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(res, f, indent=1, sort_keys=True)
sys.exit(1 if failed else 0)
`

// TestTemplateTransformsAndLintsWithParameters runs the SAM transform with
// every parameter set and cfn-lint on the transformed template with those
// values (cfn-lint resolves Ref and Fn::If with a parameter file's values;
// it ignores them on a template that still has the SAM transform), and
// checks what each set must change: VPC, KMS, tracing, e-mail, rules.
func TestTemplateTransformsAndLintsWithParameters(t *testing.T) {
	t.Parallel()
	py := needSAMTranslator(t)
	dir := t.TempDir()
	setsFile := filepath.Join(dir, "sets.json")
	b, _ := json.Marshal(parameterSets)
	if err := os.WriteFile(setsFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "translate.py")
	if err := os.WriteFile(script, []byte(translateScript), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, script, "template.yaml", dir, setsFile)
	cmd.Env = append(os.Environ(), "AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("SAM transform: %v\n%s", err, out)
	}
	translated := map[string]map[string]any{}
	var paramFiles []string
	for name, params := range parameterSets {
		raw, err := os.ReadFile(filepath.Join(dir, name+".json"))
		if err != nil {
			t.Fatalf("SAM transform wrote no output for %s: %v", name, err)
		}
		var tpl map[string]any
		if err := json.Unmarshal(raw, &tpl); err != nil {
			t.Fatal(err)
		}
		translated[name] = tpl
		var pf []map[string]any
		for k, v := range params {
			pf = append(pf, map[string]any{"ParameterKey": k, "ParameterValue": v})
		}
		if pf == nil {
			pf = []map[string]any{{"ParameterKey": "Drain", "ParameterValue": "1h"}}
		}
		p := filepath.Join(dir, "params-"+name+".json")
		b, _ := json.Marshal(pf)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paramFiles = append(paramFiles, p)
	}
	// Explicit roles keep the transform independent of parameter values: one
	// transformed template serves every deployment, so it is linted once
	// with every parameter set.
	for name, tpl := range translated {
		if !reflect.DeepEqual(tpl, translated["defaults"]) {
			t.Errorf("the SAM transform with %s differs from the one with the defaults", name)
		}
	}
	args := append([]string{"--non-zero-exit-code", "informational", "-c", "I", "--parameter-files"}, paramFiles...)
	args = append(args, "--", filepath.Join(dir, "defaults.json"))
	cmd = exec.Command(needTool(t, "cfn-lint", toolHint), args...)
	cmd.Env = append(os.Environ(), "AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true")
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("cfn-lint of the transformed template with %v: %v\n%s", paramFiles, err, out)
	}
	checkTransformed(t, translated["defaults"])
}

// checkTransformed checks, on the transformed template, what the parameters
// switch: each function's VpcConfig and VPC policy follow its family's
// condition, the KMS statements exist only with a key and are bound to
// Secrets Manager and this account's secrets, X-Ray only with tracing.
func checkTransformed(t *testing.T, tpl map[string]any) {
	t.Helper()
	res := tpl["Resources"].(map[string]any)
	// Each function's family: retire and rollback are the lifecycle
	// family, the database functions (databaseFunctions) run in the
	// databases' VPC, every other function is a rotation function.
	families := map[string]string{}
	for id, r := range res {
		r := r.(map[string]any)
		if r["Type"] != "AWS::Lambda::Function" {
			continue
		}
		name := jsonOf(r["Properties"].(map[string]any)["FunctionName"])
		families[id] = "RotationInVpc"
		for fns, family := range map[*[]string]string{&lifecycleFunctions: "LifecycleInVpc", &databaseFunctions: "DatabaseInVpc"} {
			for _, fn := range *fns {
				if name == `{"Fn::Sub":"${AWS::StackName}-`+fn+`"}` {
					families[id] = family
				}
			}
		}
	}
	if len(families) < 4 {
		t.Errorf("the transformed template has %d functions: %v", len(families), families)
	}
	for fn, cond := range families {
		r, ok := res[fn].(map[string]any)
		if !ok || r["Type"] != "AWS::Lambda::Function" {
			t.Errorf("%s: not a Lambda function after the transform", fn)
			continue
		}
		props := r["Properties"].(map[string]any)
		if got := jsonOf(props["VpcConfig"]); !strings.HasPrefix(got, `{"Fn::If":["`+cond+`",`) || !strings.HasSuffix(got, `{"Ref":"AWS::NoValue"}]}`) {
			t.Errorf("%s VpcConfig = %s, want Fn::If on %s, else no VPC", fn, got, cond)
		}
		if got := jsonOf(props["TracingConfig"]); got != `{"Mode":{"Ref":"Tracing"}}` {
			t.Errorf("%s TracingConfig = %s", fn, got)
		}
		role := res[fn+"Role"].(map[string]any)["Properties"].(map[string]any)
		if got := jsonOf(role["ManagedPolicyArns"]); got != `[{"Fn::If":["`+cond+`",{"Fn::Sub":"arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"},{"Ref":"AWS::NoValue"}]}]` {
			t.Errorf("%sRole ManagedPolicyArns = %s: want the VPC policy only in a VPC, and no other managed policy", fn, got)
		}
		pol := jsonOf(role["Policies"])
		for _, want := range []string{
			`{"Fn::If":["HasKmsKey",{"Action":`,
			`"kms:EncryptionContext:SecretARN":{"Fn::Sub":"arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"}`,
			`"kms:ViaService":{"Fn::Sub":"secretsmanager.${AWS::Region}.amazonaws.com"}`,
			`{"Fn::If":["TracingActive",{"Action":["xray:PutTraceSegments","xray:PutTelemetryRecords"]`,
			`{"Fn::If":["PublishesEvents",{"Action":"events:PutEvents","Condition":{"StringEquals":{"events:source":"dualkey"}}`,
		} {
			if !strings.Contains(pol, want) {
				t.Errorf("%sRole policy lacks %s", fn, want)
			}
		}
		for _, st := range statements(role) {
			if plain, ok := st.(map[string]any); ok && strings.Contains(jsonOf(plain["Action"]), `"kms:`) {
				t.Errorf("%sRole: kms actions granted without a key (not under HasKmsKey): %s", fn, jsonOf(plain))
			}
			if plain, ok := st.(map[string]any); ok && strings.Contains(jsonOf(plain["Action"]), `"ecs:`) {
				t.Errorf("%sRole: ECS actions granted without RefreshServiceArns (not under HasRefreshServiceArns): %s", fn, jsonOf(plain))
			}
			if plain, ok := st.(map[string]any); ok && strings.Contains(jsonOf(plain["Action"]), `"events:`) {
				t.Errorf("%sRole: events actions granted whatever PublishEvents says (not under PublishesEvents): %s", fn, jsonOf(plain))
			}
			// These lists default to empty: a statement on one without
			// its condition would deploy an empty Resource.
			for param, cond := range map[string]string{"AdminSecretArns": "HasAdminSecretArns", "RefreshServiceArns": "HasRefreshServiceArns", "UsageLogGroupArns": "HasUsageLogGroupArns"} {
				if got := jsonOf(st); strings.Contains(got, `{"Ref":"`+param+`"}`) && !strings.HasPrefix(got, `{"Fn::If":["`+cond+`",`) {
					t.Errorf("%sRole: a statement on %s not under Fn::If %s: %s", fn, param, cond, got)
				}
			}
		}
	}
	for id, cond := range map[string]string{
		"AlertEmailSubscription":        "HasAlertEmail",
		"RollbackAlarmPrefixRule":       "HasRollbackAlarmPrefix",
		"RollbackAlarmPrefixPermission": "HasRollbackAlarmPrefix",
		"RollbackAlarmNamesRule":        "HasRollbackAlarmNames",
		"RollbackAlarmNamesPermission":  "HasRollbackAlarmNames",
	} {
		if r, ok := res[id].(map[string]any); !ok || r["Condition"] != cond {
			t.Errorf("%s: want Condition %s", id, cond)
		}
	}
	for _, fn := range []string{"RetireFunction", "RollbackFunction"} {
		eic, ok := res[fn+"EventInvokeConfig"].(map[string]any)
		if got := jsonOf(eic["Properties"]); !ok || !strings.Contains(got, `"OnFailure":{"Destination":{"Fn::GetAtt":["LifecycleFailureQueue","Arn"]}}`) {
			t.Errorf("%s: no on-failure destination to LifecycleFailureQueue: %s", fn, got)
		}
	}
}

// statements returns the statements of a role's inline policies as written
// (a statement under Fn::If stays wrapped).
func statements(role map[string]any) []any {
	var out []any
	pols, _ := role["Policies"].([]any)
	for _, p := range pols {
		doc, _ := p.(map[string]any)["PolicyDocument"].(map[string]any)
		sts, _ := doc["Statement"].([]any)
		out = append(out, sts...)
	}
	return out
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestEnvJSONOverridesOnlyDeclaredVariables: `sam local invoke --env-vars
// events/env.json` overrides only variables the template declares, so
// every variable in env.json must be declared for the functions it names
// (Parameters: for every function, through Globals), and the endpoint
// variables that reach the emulator must be declared empty (real AWS).
func TestEnvJSONOverridesOnlyDeclaredVariables(t *testing.T) {
	raw, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	vars := func(fn *yaml.Node) map[string]string {
		out := map[string]string{}
		v := mapGet(mapGet(fn, "Environment"), "Variables")
		for i := 0; v != nil && i+1 < len(v.Content); i += 2 {
			out[v.Content[i].Value] = v.Content[i+1].Value
		}
		return out
	}
	globals := vars(mapGet(mapGet(doc.Content[0], "Globals"), "Function"))
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_STS"} {
		if v, ok := globals[k]; !ok || v != "" {
			t.Errorf("Globals.Function.Environment must declare %s empty (real AWS), got %q, declared %v", k, v, ok)
		}
	}
	functions := map[string]map[string]string{}
	res := mapGet(doc.Content[0], "Resources")
	for i := 0; i+1 < len(res.Content); i += 2 {
		if typ := mapGet(res.Content[i+1], "Type"); typ != nil && typ.Value == "AWS::Serverless::Function" {
			functions[res.Content[i].Value] = vars(mapGet(res.Content[i+1], "Properties"))
		}
	}
	b, err := os.ReadFile("events/env.json")
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]map[string]string
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("events/env.json: %v", err)
	}
	if !strings.HasPrefix(env["Parameters"]["AWS_ENDPOINT_URL"], "http://host.docker.internal:") {
		t.Errorf("events/env.json: Parameters.AWS_ENDPOINT_URL = %q, want the emulator on the Docker host", env["Parameters"]["AWS_ENDPOINT_URL"])
	}
	for key, set := range env {
		for v := range set {
			if _, ok := globals[v]; ok {
				continue
			}
			if key == "Parameters" {
				t.Errorf("events/env.json: Parameters.%s is not declared in Globals.Function.Environment, so sam local ignores it", v)
				continue
			}
			fv, ok := functions[key]
			if !ok {
				t.Errorf("events/env.json: %s is not a function of template.yaml", key)
				break
			}
			if _, ok := fv[v]; !ok {
				t.Errorf("events/env.json: %s.%s is not declared in the function's Environment, so sam local ignores it", key, v)
			}
		}
	}
}

// alertMetrics are the emitted metrics that need a person: each has an
// alarm. Every other metric the functions emit is progress, which the
// dashboard shows (it shows these too).
var alertMetrics = []string{
	"RotationFailed", "OldCredentialInUse", "OldCredentialStillValid", "RotationOverdue", "RotationIncomplete",
	"RetireFailed", "RollbackPerformed", "SweepBacklog", "RefreshFailed", "EventPublishFailed", "KeyNotStaged",
}

// TestAlarmsAndDashboardUseEmittedMetrics: the dashboard body is valid JSON
// with the panels issue 10 asks for; every dualkey metric an alarm or the
// dashboard reads is one the functions emit (a renamed metric would leave
// an alarm silently without data); and every metric the functions emit
// (found in shared/rotation and shared/lifecycle by their syntax:
// MetricDatum{Name: "..."}, l.metric(s, "..."), alert{..., "..."}) is on
// the dashboard, with an alarm when it is in alertMetrics.
func TestAlarmsAndDashboardUseEmittedMetrics(t *testing.T) {
	raw, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	res := mapGet(doc.Content[0], "Resources")
	body := mapGet(mapGet(mapGet(res, "Dashboard"), "Properties"), "DashboardBody")
	if body == nil || body.Tag != "!Sub" {
		t.Fatal("Dashboard: no DashboardBody !Sub")
	}
	dash := parseDashboard(t, body.Value)
	shown := map[string]bool{} // dualkey metrics the dashboard shows
	logTables := 0
	for _, w := range dash.Widgets {
		if w.Type == "log" {
			logTables++
			if !strings.Contains(w.Properties.Query, "SecretName") {
				t.Errorf("dashboard table %q does not show SecretName", w.Properties.Title)
			}
		}
		for _, m := range w.Properties.Metrics {
			if len(m) >= 2 && m[0] == "dualkey" {
				shown[m[1].(string)] = true
			}
			if len(m) == 1 {
				if e, ok := m[0].(map[string]any); ok {
					for _, name := range regexp.MustCompile(`MetricName="(\w+)"`).FindAllStringSubmatch(fmt.Sprint(e["expression"]), -1) {
						shown[name[1]] = true
					}
				}
			}
		}
	}
	if logTables < 2 {
		t.Errorf("the dashboard has %d per-secret tables, want rotation failures and lifecycle events", logTables)
	}
	alarmed := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)Namespace: dualkey, MetricName: (\w+)|Namespace: dualkey\n\s+MetricName: (\w+)`).FindAllStringSubmatch(string(raw), -1) {
		alarmed[m[1]+m[2]] = true
	}
	emitted := emittedMetrics(t, "shared/rotation", "shared/lifecycle")
	if len(emitted) < 10 {
		t.Fatalf("found only %d metrics emitted by shared/rotation and shared/lifecycle: %v", len(emitted), emitted)
	}
	for name := range shown {
		if !emitted[name] {
			t.Errorf("the dashboard shows metric dualkey/%s, which shared/rotation and shared/lifecycle never emit", name)
		}
	}
	for name := range alarmed {
		if !emitted[name] {
			t.Errorf("an alarm reads metric dualkey/%s, which shared/rotation and shared/lifecycle never emit", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(emitted)) {
		if !shown[name] {
			t.Errorf("the functions emit dualkey/%s, which the dashboard does not show", name)
		}
		if slices.Contains(alertMetrics, name) != alarmed[name] {
			t.Errorf("metric dualkey/%s: alarm %v, want an alarm exactly for the metrics in alertMetrics (a new metric that needs a person: add it there and an alarm to template.yaml)", name, alarmed[name])
		}
	}
	for _, name := range alertMetrics {
		if !emitted[name] {
			t.Errorf("alertMetrics names %s, which the functions do not emit", name)
		}
	}
}

// dashboard is the part of a CloudWatch dashboard body the tests read.
type dashboard struct {
	Widgets []struct {
		Type       string `json:"type"`
		Properties struct {
			Title   string  `json:"title"`
			Metrics [][]any `json:"metrics"`
			Query   string  `json:"query"`
		} `json:"properties"`
	} `json:"widgets"`
}

// parseDashboard decodes a DashboardBody !Sub, each ${...} replaced by the
// name it substitutes (so references stay visible).
func parseDashboard(t *testing.T, body string) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal([]byte(regexp.MustCompile(`\$\{([^}]+)\}`).ReplaceAllString(body, "<$1>")), &d); err != nil {
		t.Fatalf("DashboardBody is not JSON: %v", err)
	}
	return d
}

// emittedMetrics finds the EMF metric names the Go code in dirs emits: the
// Name of a MetricDatum literal, the last argument of a call to a method
// named metric, the second element of an alert literal. A name that is
// not a string literal there is an error (the test could not see it).
func emittedMetrics(t *testing.T, dirs ...string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	fset := token.NewFileSet()
	inWrapper := false // inside func metric, whose callers' names are collected
	lit := func(e ast.Expr, where string) {
		b, ok := e.(*ast.BasicLit)
		if !ok || b.Kind != token.STRING {
			if _, isSel := e.(*ast.SelectorExpr); isSel && where == "metric" {
				return // l.metric(s, a.metric): the name comes from an alert literal
			}
			if _, isIdent := e.(*ast.Ident); isIdent && inWrapper {
				return // func metric(s, name string): its callers pass literals
			}
			t.Errorf("%s: a metric name that is not a string literal (%s): this test cannot see it", fset.Position(e.Pos()), where)
			return
		}
		name, _ := strconv.Unquote(b.Value)
		out[name] = true
	}
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.FuncDecl:
					inWrapper = n.Name.Name == "metric"
				case *ast.CompositeLit:
					typ := ""
					switch tt := n.Type.(type) {
					case *ast.Ident:
						typ = tt.Name
					case *ast.SelectorExpr:
						typ = tt.Sel.Name
					}
					switch typ {
					case "MetricDatum":
						for _, e := range n.Elts {
							if kv, ok := e.(*ast.KeyValueExpr); ok && fmt.Sprint(kv.Key) == "Name" {
								lit(kv.Value, "MetricDatum.Name")
							}
						}
					case "alert":
						if len(n.Elts) == 2 {
							lit(n.Elts[1], "alert")
						}
					}
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "metric" && len(n.Args) > 0 {
						lit(n.Args[len(n.Args)-1], "metric")
					}
				}
				return true
			})
		}
	}
	return out
}
