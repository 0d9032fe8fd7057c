package dualkey_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
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
