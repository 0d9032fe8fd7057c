package dualkey_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"gopkg.in/yaml.v3"

	"github.com/dualkey/dualkey/emulator/awsemu"
	"github.com/dualkey/dualkey/emulator/iamemu"
	"github.com/dualkey/dualkey/internal/lambdarie"
	"github.com/dualkey/dualkey/shared/lifecycle"
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

// grantedActions reads template.yaml and returns, per AWS::Serverless::Function
// logical id, the actions its role's inline policies allow (statements under
// Fn::If count as granted).
func grantedActions(t *testing.T) map[string][]string {
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
	out := map[string][]string{}
	for i := 0; i < len(resources.Content); i += 2 {
		id, r := resources.Content[i].Value, resources.Content[i+1]
		if typ := mapGet(r, "Type"); typ == nil || typ.Value != "AWS::Serverless::Function" {
			continue
		}
		role := mapGet(mapGet(r, "Properties"), "Role")
		if role == nil || role.Tag != "!GetAtt" || !strings.HasSuffix(role.Value, ".Arn") {
			t.Fatalf("%s: Role must be !GetAtt <its role>.Arn (an explicit least-privilege role), got %v", id, role)
		}
		roleRes := mapGet(resources, strings.TrimSuffix(role.Value, ".Arn"))
		if roleRes == nil {
			t.Fatalf("%s: role %s not in the template", id, role.Value)
		}
		set := map[string]bool{}
		for _, pol := range seqItems(mapGet(mapGet(roleRes, "Properties"), "Policies")) {
			for _, st := range seqItems(mapGet(mapGet(pol, "PolicyDocument"), "Statement")) {
				if st.Tag == "!If" && len(st.Content) == 3 {
					st = st.Content[1] // the statement the condition switches on
				}
				if eff := mapGet(st, "Effect"); eff == nil || eff.Value != "Allow" {
					t.Fatalf("%s: a statement of %s is not Effect: Allow", id, role.Value)
				}
				act := mapGet(st, "Action")
				if act == nil {
					t.Fatalf("%s: a statement of %s has no Action", id, role.Value)
				}
				if act.Kind == yaml.ScalarNode {
					set[act.Value] = true
				}
				for _, a := range act.Content {
					set[a.Value] = true
				}
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

// policyFunctions maps each function's logical id to its folder.
var policyFunctions = map[string]string{
	"ServiceKeyFunction": "servicekey",
	"IAMKeyFunction":     "iamkey",
	"RetireFunction":     "retire",
	"RollbackFunction":   "rollback",
}

// TestTemplateGrantsExactlyTheCallsEachFunctionMakes runs every function's
// real bootstrap under the Lambda RIE against the full emulator, each
// signing with its own IAM key, through scenarios that reach every path
// needing a permission: rotations of an internal key and of IAM keys, an
// IAM rotation that deletes a retired key to make room (and records it in
// the state tags), retire runs that deactivate and delete, a rollback alarm
// that reactivates an IAM key and one that restores AWSCURRENT. It then
// compares the actions each key was recorded calling with the actions the
// template grants that function: a grant no scenario uses, or a call the
// template does not grant, fails the test.
func TestTemplateGrantsExactlyTheCallsEachFunctionMakes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every function")
	}
	t.Parallel()
	ctx := context.Background()
	granted := grantedActions(t)
	for id := range granted {
		if _, ok := policyFunctions[id]; !ok {
			t.Fatalf("template function %s has no scenario in this test: add its folder to policyFunctions and drive every path of it that needs a permission", id)
		}
	}
	rie, err := lambdarie.FindRIE()
	if err != nil {
		t.Fatal(err)
	}

	// Rotation functions are invoked by the emulator's RotateSecret, so
	// their URLs are known before it starts.
	ports := map[string]int{}
	for _, fn := range []string{"servicekey", "iamkey"} {
		if ports[fn], err = lambdarie.FreePort(); err != nil {
			t.Fatal(err)
		}
	}
	rieURL := func(fn string) string {
		return "http://127.0.0.1:" + strconv.Itoa(ports[fn]) + lambdarie.InvokePath
	}
	emu, err := awsemu.NewFull(awsemu.Config{Lambdas: map[string]string{
		"dualkey-servicekey": rieURL("servicekey"),
		"dualkey-iamkey":     rieURL("iamkey"),
		// Nothing listens there: RotateSecret leaves its AWSPENDING
		// placeholder, and the test delivers the steps itself.
		"dualkey-unreachable": "http://127.0.0.1:1" + lambdarie.InvokePath,
	}}, iamemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	admin := awsemu.ClientConfig(url)
	sm, iamc := secretsmanager.NewFromConfig(admin), iam.NewFromConfig(admin)

	// One IAM user and key per function: its calls are recorded under it.
	keyOf := map[string]string{}
	procs := map[string]*lambdarie.Process{}
	dir := t.TempDir()
	for _, fn := range []string{"servicekey", "iamkey", "retire", "rollback"} {
		user := "dualkey-fn-" + fn
		if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user)}); err != nil {
			t.Fatal(err)
		}
		k, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
		if err != nil {
			t.Fatal(err)
		}
		keyOf[fn] = aws.ToString(k.AccessKey.AccessKeyId)
		bs, err := lambdarie.Build(ctx, fn, dir)
		if err != nil {
			t.Fatal(err)
		}
		port, ok := ports[fn]
		if !ok {
			if port, err = lambdarie.FreePort(); err != nil {
				t.Fatal(err)
			}
		}
		p, err := lambdarie.Start(ctx, rie, bs, port, []string{
			"AWS_ENDPOINT_URL=" + url,
			"AWS_ACCESS_KEY_ID=" + keyOf[fn],
			"AWS_SECRET_ACCESS_KEY=" + aws.ToString(k.AccessKey.SecretAccessKey),
			"AWS_REGION=" + awsemu.DefaultRegion,
			"DUALKEY_ROLLBACK_ALARM_PREFIX=dualkey-rollback-",
			"DUALKEY_IAM_PROPAGATION_BUDGET=10s",
		})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		procs[fn] = p
	}
	logs := func() string {
		var b strings.Builder
		for fn, p := range procs {
			fmt.Fprintf(&b, "--- %s ---\n%s\n", fn, p.Logs())
		}
		return b.String()
	}

	tags := func(provider string, extra ...string) []types.Tag {
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
	initialTags := map[string]map[string]string{} // secret ARN -> tags the test set
	create := func(name, value string, tg []types.Tag) string {
		t.Helper()
		out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value), Tags: tg})
		if err != nil {
			t.Fatal(err)
		}
		arn := aws.ToString(out.ARN)
		initialTags[arn] = map[string]string{}
		for _, tag := range tg {
			initialTags[arn][aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
		return arn
	}
	startRotation := func(arn, fn string) string {
		t.Helper()
		out, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(arn),
			RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:" + awsemu.DefaultAccountID + ":function:dualkey-" + fn)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.VersionId)
	}
	rotate := func(arn, fn string) {
		t.Helper()
		startRotation(arn, fn)
		recs := emu.Rotations()
		if last := recs[len(recs)-1]; !last.Succeeded {
			t.Fatalf("rotation of %s failed at %s: %s\n%s", arn, last.FailedStep, last.Error, logs())
		}
	}
	invoke := func(fn string, payload []byte) {
		t.Helper()
		if _, err := procs[fn].Invoke(ctx, payload); err != nil {
			t.Fatalf("%s: %v\n%s", fn, err, logs())
		}
	}
	retire := func() {
		t.Helper()
		ev, err := os.ReadFile("events/retire-schedule.json")
		if err != nil {
			t.Fatal(err)
		}
		invoke("retire", ev)
	}
	alarm := func(name string) {
		t.Helper()
		now := time.Now().UTC()
		ev, _ := json.Marshal(map[string]any{
			"version": "0", "id": "7d3c2a10-0000-4000-8000-000000000001", "detail-type": "CloudWatch Alarm State Change",
			"source": "aws.cloudwatch", "account": awsemu.DefaultAccountID, "time": now.Format(time.RFC3339), "region": awsemu.DefaultRegion,
			"resources": []string{"arn:aws:cloudwatch:us-east-1:" + awsemu.DefaultAccountID + ":alarm:" + name},
			"detail": map[string]any{
				"alarmName":     name,
				"state":         map[string]any{"value": "ALARM", "reason": "test", "timestamp": now.Format("2006-01-02T15:04:05.000-0700")},
				"previousState": map[string]any{"value": "OK", "timestamp": now.Add(-time.Hour).Format("2006-01-02T15:04:05.000-0700")},
			},
		})
		invoke("rollback", ev)
	}
	iamSecret := func(name string, extra ...string) (arn, user, oldKey string) {
		t.Helper()
		user = strings.ReplaceAll(name, "/", "-")
		if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user),
			Tags: []iamtypes.Tag{{Key: aws.String(rotation.TagManaged), Value: aws.String("true")}}}); err != nil {
			t.Fatal(err)
		}
		k, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := json.Marshal(map[string]string{"user_name": user, "access_key_id": aws.ToString(k.AccessKey.AccessKeyId),
			"secret_access_key": aws.ToString(k.AccessKey.SecretAccessKey)})
		return create(name, string(v), tags("iamkey", append([]string{lifecycle.TagQuiet, "1m"}, extra...)...)), user, aws.ToString(k.AccessKey.AccessKeyId)
	}
	keyStatus := func(user, id string) string {
		t.Helper()
		out, err := iamc.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range out.AccessKeyMetadata {
			if aws.ToString(k.AccessKeyId) == id {
				return string(k.Status)
			}
		}
		return "deleted"
	}

	// An internal key: rotated, switched off (label), rolled back with
	// AWSCURRENT restored.
	svc := create("svc/key", `{"api_key":"policy-test-initial-key-0123456789abcdef"}`,
		tags("servicekey", lifecycle.TagAlarm, "dualkey-rollback-svc", lifecycle.TagRestoreCurrent, "true"))
	rotate(svc, "servicekey")
	// IAM keys: a is deactivated, then reactivated by its alarm; b is
	// deactivated, then the next rotation deletes it to make room; c is
	// deactivated, then deleted by the next retire run.
	a, userA, oldA := iamSecret("iam/a", lifecycle.TagAlarm, "dualkey-rollback-a", lifecycle.TagGrace, "48h")
	b, userB, oldB := iamSecret("iam/b", lifecycle.TagGrace, "48h")
	c, userC, oldC := iamSecret("iam/c", lifecycle.TagGrace, "0s")
	for _, arn := range []string{a, b, c} {
		rotate(arn, "iamkey")
	}
	retire()
	for user, id := range map[string]string{userA: oldA, userB: oldB, userC: oldC} {
		if st := keyStatus(user, id); st != "Inactive" {
			t.Fatalf("after the retire run the old key of %s is %s, want Inactive\n%s", user, st, logs())
		}
	}
	alarm("dualkey-rollback-a")
	alarm("dualkey-rollback-svc")
	alarm("unrelated-alarm")
	if st := keyStatus(userA, oldA); st != "Active" {
		t.Fatalf("after its rollback alarm the old key of %s is %s, want Active\n%s", userA, st, logs())
	}
	rotate(b, "iamkey")
	if st := keyStatus(userB, oldB); st != "deleted" {
		t.Fatalf("the second rotation of %s left its retired key %s, want it deleted to make room\n%s", userB, st, logs())
	}
	retire()
	if st := keyStatus(userC, oldC); st != "deleted" {
		t.Fatalf("the second retire run left the old key of %s %s, want deleted (grace 0s)\n%s", userC, st, logs())
	}

	// IAM key d, its steps delivered one by one: createSecret meets a key
	// no version references, made moments ago and never used (another
	// delivery's, as far as it can tell) and refuses; once that key is gone
	// it creates one; the new key is found Inactive (a deactivated
	// discard whose value was stored after all) and setSecret switches it
	// back on.
	dArn, userD, _ := iamSecret("iam/d")
	token := startRotation(dArn, "unreachable")
	step := func(name string) error {
		ev, _ := json.Marshal(map[string]string{"Step": name, "SecretId": dArn, "ClientRequestToken": token})
		_, err := procs["iamkey"].Invoke(ctx, ev)
		return err
	}
	stray, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(userD)})
	if err != nil {
		t.Fatal(err)
	}
	if err := step(rotation.StepCreate); err == nil || !strings.Contains(err.Error(), "another delivery") {
		t.Fatalf("createSecret with a fresh unreferenced key: %v, want a refusal naming another delivery\n%s", err, logs())
	}
	if _, err := iamc.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(userD), AccessKeyId: stray.AccessKey.AccessKeyId}); err != nil {
		t.Fatal(err)
	}
	if err := step(rotation.StepCreate); err != nil {
		t.Fatalf("createSecret: %v\n%s", err, logs())
	}
	pend, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(dArn), VersionStage: aws.String(rotation.StagePending)})
	if err != nil {
		t.Fatal(err)
	}
	var pv struct {
		ID string `json:"access_key_id"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(pend.SecretString)), &pv); err != nil || pv.ID == "" {
		t.Fatalf("pending value of iam/d has no access_key_id (%v)", err)
	}
	if _, err := iamc.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(userD), AccessKeyId: aws.String(pv.ID), Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{rotation.StepSet, rotation.StepTest, rotation.StepFinish} {
		if err := step(st); err != nil {
			t.Fatalf("%s: %v\n%s", st, err, logs())
		}
	}
	if st := keyStatus(userD, pv.ID); st != "Active" {
		t.Fatalf("setSecret left the pending key %s, want Active", st)
	}

	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(svc)})
	if err != nil {
		t.Fatal(err)
	}
	if cur := d.VersionIdsToStages[rotation.Holder(d.VersionIdsToStages, rotation.StageCurrent)]; slices.Contains(cur, rotation.StagePrevious) || len(d.VersionIdsToStages) < 2 {
		t.Fatalf("svc/key after the rollback: %v", d.VersionIdsToStages)
	}

	// The template lets the functions write only dualkey:state* tags
	// (aws:TagKeys): every other tag is as the test set it.
	for arn, want := range initialTags {
		d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
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
			if got[k] != v {
				t.Errorf("%s: tag %s is %q, want %q as the test set it (the template lets the functions change only %s* tags)", arn, k, got[k], v, rotation.StateTagPrefix)
			}
		}
	}

	calls := emu.Calls()
	for id, fn := range policyFunctions {
		used := map[string]bool{}
		for action := range calls[keyOf[fn]] {
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
		t.Logf("%s calls %v", id, keys(calls[keyOf[fn]]))
		if len(unused) > 0 {
			t.Errorf("%s: template.yaml grants %v, which no scenario called: remove it, or add the scenario that needs it", id, unused)
		}
		if len(missing) > 0 {
			t.Errorf("%s: the function called %v, which template.yaml does not grant: it would fail with AccessDenied in AWS", id, missing)
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

// roleStatements returns, per AWS::Serverless::Function logical id, the
// statements of its role (a statement under Fn::If unwrapped) and its
// FunctionName (!Sub) value.
func roleStatements(t *testing.T) (map[string][]*yaml.Node, map[string]string) {
	t.Helper()
	raw, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	resources := mapGet(doc.Content[0], "Resources")
	sts, names := map[string][]*yaml.Node{}, map[string]string{}
	for i := 0; i+1 < len(resources.Content); i += 2 {
		id, r := resources.Content[i].Value, resources.Content[i+1]
		if typ := mapGet(r, "Type"); typ == nil || typ.Value != "AWS::Serverless::Function" {
			continue
		}
		props := mapGet(r, "Properties")
		if fn := mapGet(props, "FunctionName"); fn != nil {
			names[id] = fn.Value
		}
		role := mapGet(resources, strings.TrimSuffix(mapGet(props, "Role").Value, ".Arn"))
		for _, pol := range seqItems(mapGet(mapGet(role, "Properties"), "Policies")) {
			for _, st := range seqItems(mapGet(mapGet(pol, "PolicyDocument"), "Statement")) {
				if st.Tag == "!If" && len(st.Content) == 3 {
					st = st.Content[1]
				}
				sts[id] = append(sts[id], st)
			}
		}
	}
	return sts, names
}

// TestTemplatePolicyConditions checks the conditions that make the grants
// least privilege (issue 6, items 3 and 4): Secrets Manager statements need
// dualkey:managed, and a rotation function's also its provider tag and
// itself as the secret's rotation function; tag writes are limited to
// dualkey:state* (retire may also remove dualkey:emergency); IAM key
// actions need the user tag dualkey:managed=true.
func TestTemplatePolicyConditions(t *testing.T) {
	sts, names := roleStatements(t)
	provider := map[string]string{"ServiceKeyFunction": "servicekey", "IAMKeyFunction": "iamkey"}
	for id, list := range sts {
		for _, st := range list {
			var actions []string
			if a := mapGet(st, "Action"); a.Kind == yaml.ScalarNode {
				actions = []string{a.Value}
			} else {
				for _, n := range a.Content {
					actions = append(actions, n.Value)
				}
			}
			cond := mapGet(st, "Condition")
			eq := mapGet(cond, "StringEquals")
			val := func(n *yaml.Node, key string) string {
				if v := mapGet(n, key); v != nil {
					return v.Value
				}
				return ""
			}
			sid := val(st, "Sid")
			for _, a := range actions {
				switch {
				case a == "secretsmanager:ListSecrets" || a == "secretsmanager:GetRandomPassword":
					if res := mapGet(st, "Resource"); res == nil || res.Value != "*" {
						t.Errorf("%s %s: %s has no resource: want Resource \"*\"", id, sid, a)
					}
				case strings.HasPrefix(a, "secretsmanager:"):
					if val(eq, "secretsmanager:ResourceTag/dualkey:managed") != "true" {
						t.Errorf("%s %s: %s without secretsmanager:ResourceTag/dualkey:managed = true", id, sid, a)
					}
					if p, ok := provider[id]; ok {
						if val(eq, "secretsmanager:ResourceTag/dualkey:provider") != p {
							t.Errorf("%s %s: %s without secretsmanager:ResourceTag/dualkey:provider = %s", id, sid, a, p)
						}
						own := "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:" + names[id]
						if names[id] == "" || val(eq, "secretsmanager:resource/AllowRotationLambdaArn") != own {
							t.Errorf("%s %s: %s not bound to the function itself (secretsmanager:resource/AllowRotationLambdaArn = %s)", id, sid, a, own)
						}
					}
					if a == "secretsmanager:TagResource" || a == "secretsmanager:UntagResource" {
						want := []string{"dualkey:state*"}
						if id == "RetireFunction" && a == "secretsmanager:UntagResource" {
							want = append(want, "dualkey:emergency")
						}
						var got []string
						for _, k := range seqItems(mapGet(mapGet(cond, "ForAllValues:StringLike"), "aws:TagKeys")) {
							got = append(got, k.Value)
						}
						if !slices.Equal(got, want) {
							t.Errorf("%s %s: %s limited to tag keys %v, want %v (aws:TagKeys)", id, sid, a, got, want)
						}
					}
				case a == "iam:GetUser":
					// Reads the user's tags, so the provider can name a missing one.
				case strings.HasPrefix(a, "iam:"):
					if val(eq, "iam:ResourceTag/dualkey:managed") != "true" {
						t.Errorf("%s %s: %s without iam:ResourceTag/dualkey:managed = true", id, sid, a)
					}
				}
				if strings.HasPrefix(a, "iam:") && !strings.Contains(mapGet(st, "Resource").Value, ":user${IAMUserPath}*") {
					t.Errorf("%s %s: %s not limited to users under IAMUserPath", id, sid, a)
				}
			}
		}
	}
}
