package dualkey_test

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestTemplateBuildsEveryFunction checks that template.yaml deploys every
// function under functions/, each built by `sam build` through a
// build-<LogicalId> target of the Makefile as a static linux/arm64
// bootstrap for provided.al2023.
func TestTemplateBuildsEveryFunction(t *testing.T) {
	raw, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Globals struct {
			Function struct {
				Runtime       string   `yaml:"Runtime"`
				Handler       string   `yaml:"Handler"`
				Architectures []string `yaml:"Architectures"`
			} `yaml:"Function"`
		} `yaml:"Globals"`
		Resources map[string]struct {
			Type     string `yaml:"Type"`
			Metadata struct {
				BuildMethod string `yaml:"BuildMethod"`
			} `yaml:"Metadata"`
			Properties struct {
				CodeUri string `yaml:"CodeUri"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(raw, &tpl); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	g := tpl.Globals.Function
	if g.Runtime != "provided.al2023" || g.Handler != "bootstrap" || len(g.Architectures) != 1 || g.Architectures[0] != "arm64" {
		t.Fatalf("globals: %+v", g)
	}
	makefile, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	target := regexp.MustCompile(`(?m)^build-(\w+):\n\tGOARCH=arm64 \$\(GOBUILD\) -o \$\(ARTIFACTS_DIR\)/bootstrap \./functions/(\w+)$`)
	built := map[string]string{} // logical id -> function dir
	for _, m := range target.FindAllStringSubmatch(string(makefile), -1) {
		built[m[1]] = m[2]
	}
	covered := map[string]bool{}
	var ids []string
	for id, r := range tpl.Resources {
		if r.Type != "AWS::Serverless::Function" {
			continue
		}
		ids = append(ids, id)
		if r.Metadata.BuildMethod != "makefile" || r.Properties.CodeUri != "." {
			t.Errorf("%s: want BuildMethod makefile and CodeUri . (one root go.mod)", id)
		}
		dir, ok := built[id]
		if !ok {
			t.Errorf("%s: no build-%s target in the Makefile", id, id)
			continue
		}
		covered[dir] = true
	}
	dirs, _ := filepath.Glob("functions/*")
	for _, d := range dirs {
		if !covered[filepath.Base(d)] {
			t.Errorf("%s is not deployed by template.yaml", d)
		}
	}
	sort.Strings(ids)
	// make build: every function, both architectures, static.
	buildDir := t.TempDir()
	if b, err := exec.Command("make", "-s", "build", "BUILD="+buildDir).CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, b)
	}
	for _, d := range dirs {
		for arch, machine := range map[string]elf.Machine{"arm64": elf.EM_AARCH64, "amd64": elf.EM_X86_64} {
			checkStatic(t, filepath.Join(buildDir, filepath.Base(d), arch, "bootstrap"), machine)
		}
	}
	// Run the targets exactly as `sam build` does.
	for _, id := range ids {
		out := t.TempDir()
		cmd := exec.Command("make", "-s", "build-"+id, "ARTIFACTS_DIR="+out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make build-%s: %v\n%s", id, err, b)
		}
		checkStatic(t, filepath.Join(out, "bootstrap"), elf.EM_AARCH64)
	}
}

func checkStatic(t *testing.T, path string, machine elf.Machine) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s is not an ELF binary: %v", path, err)
	}
	defer f.Close()
	if f.Machine != machine || f.Section(".interp") != nil {
		t.Fatalf("%s is %v, dynamic=%v; want static %v", path, f.Machine, f.Section(".interp") != nil, machine)
	}
}

// TestEveryFunctionIsMonitored checks the block template.yaml repeats per
// function: its log group (/aws/lambda/<stack>-<folder>, its logging
// target), Errors and Throttles alarms on it to the alert topic, both
// metrics on the dashboard and its log group in a per-secret table; for a
// rotation function also the permission for Secrets Manager to invoke it
// and an <Id>Arn output (the RotationLambdaARN users give their secrets).
func TestEveryFunctionIsMonitored(t *testing.T) {
	raw, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	res := mapGet(root, "Resources")
	dash := parseDashboard(t, mapGet(mapGet(mapGet(res, "Dashboard"), "Properties"), "DashboardBody").Value)
	lines := map[string]bool{} // "Errors <Id>" on the dashboard
	var tables []string
	for _, w := range dash.Widgets {
		for _, m := range w.Properties.Metrics {
			if len(m) == 4 && m[0] == "AWS/Lambda" && m[2] == "FunctionName" {
				lines[fmt.Sprint(m[1], " ", m[3])] = true
			}
		}
		if w.Type == "log" {
			tables = append(tables, w.Properties.Query)
		}
	}
	_, names := roleStatements(t)
	for id, name := range names {
		dir := folderOf(t, id, name)
		t.Run(id, func(t *testing.T) {
			props := mapGet(mapGet(res, id), "Properties")
			logs := mapGet(res, id+"Logs")
			if lg := mapGet(mapGet(props, "LoggingConfig"), "LogGroup"); lg == nil || lg.Tag != "!Ref" || lg.Value != id+"Logs" ||
				mapGet(logs, "Type").Value != "AWS::Logs::LogGroup" ||
				mapGet(mapGet(logs, "Properties"), "LogGroupName").Value != "/aws/lambda/${AWS::StackName}-"+dir {
				t.Errorf("want LoggingConfig.LogGroup !Ref %sLogs, an AWS::Logs::LogGroup named /aws/lambda/${AWS::StackName}-%s", id, dir)
			}
			for _, metric := range []string{"Errors", "Throttles"} {
				a := mapGet(mapGet(res, id+metric+"Alarm"), "Properties")
				dims := seqItems(mapGet(a, "Dimensions"))
				if a == nil || mapGet(a, "MetricName").Value != metric || len(dims) != 1 || mapGet(dims[0], "Value").Value != id ||
					len(seqItems(mapGet(a, "AlarmActions"))) != 1 || seqItems(mapGet(a, "AlarmActions"))[0].Value != "AlertTopic" {
					t.Errorf("want %s%sAlarm on AWS/Lambda %s of FunctionName !Ref %s, to the AlertTopic", id, metric, metric, id)
				}
				if !lines[metric+" <"+id+">"] {
					t.Errorf("the dashboard's function panel has no %s line for ${%s}", metric, id)
				}
			}
			if !slices.ContainsFunc(tables, func(q string) bool { return strings.Contains(q, "SOURCE '<"+id+"Logs>'") }) {
				t.Errorf("no per-secret table of the dashboard reads ${%sLogs}", id)
			}
			if slices.Contains(lifecycleFunctions, dir) {
				return
			}
			perm := mapGet(mapGet(res, id+"InvokePermission"), "Properties")
			if fn := mapGet(perm, "FunctionName"); fn == nil || fn.Value != id+".Arn" || mapGet(perm, "Principal").Value != "secretsmanager.amazonaws.com" {
				t.Errorf("want %sInvokePermission letting secretsmanager.amazonaws.com invoke !GetAtt %s.Arn", id, id)
			}
			if out := mapGet(mapGet(mapGet(root, "Outputs"), id+"Arn"), "Value"); out == nil || out.Tag != "!GetAtt" || out.Value != id+".Arn" {
				t.Errorf("want an output %sArn: !GetAtt %s.Arn (the RotationLambdaARN of this provider's secrets)", id, id)
			}
		})
	}
}
