package dualkey_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/dualkey/dualkey/internal/lambdarie"
	"github.com/dualkey/dualkey/shared/providers/registry"
	"github.com/dualkey/dualkey/shared/rotation"
)

const module = "github.com/dualkey/dualkey"

// providerDirs lists shared/providers/<name> (the registry excluded).
func providerDirs(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob("shared/providers/*")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range dirs {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() || filepath.Base(d) == "registry" {
			continue
		}
		names = append(names, filepath.Base(d))
	}
	return names
}

// TestEveryProviderIsComplete checks that each provider has every part a
// provider needs: its function, its place in the registry, its template
// resource with a Makefile build target, a sample event per step, and a
// section in docs/providers.md. One name everywhere.
func TestEveryProviderIsComplete(t *testing.T) {
	makefile, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	target := regexp.MustCompile(`(?m)^build-(\w+):\n\tGOARCH=arm64 \$\(GOBUILD\) -o \$\(ARTIFACTS_DIR\)/bootstrap \./functions/(\w+)$`)
	logicalID := map[string]string{} // function dir -> logical id
	for _, m := range target.FindAllStringSubmatch(string(makefile), -1) {
		logicalID[m[2]] = m[1]
	}
	template, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := os.ReadFile("docs/providers.md")
	if err != nil {
		t.Fatal(err)
	}
	names := registry.Names()
	for _, name := range providerDirs(t) {
		t.Run(name, func(t *testing.T) {
			main, err := os.ReadFile(filepath.Join("functions", name, "main.go"))
			if err != nil {
				t.Fatalf("functions/%s/main.go: %v (every provider has its own rotation function)", name, err)
			}
			if !bytes.Contains(main, []byte(`"`+module+`/shared/providers/`+name+`"`)) || !bytes.Contains(main, []byte(name+".FromEnv")) {
				t.Errorf("functions/%s/main.go does not start lambdamain with %s.FromEnv", name, name)
			}
			if !slices.Contains(names, name) {
				t.Errorf("provider %s is not in shared/providers/registry", name)
			}
			id, ok := logicalID[name]
			if !ok {
				t.Errorf("the Makefile has no build-<LogicalId> target for ./functions/%s", name)
			} else if !regexp.MustCompile(`(?m)^  ` + id + `:\n    Type: AWS::Serverless::Function$`).Match(template) {
				t.Errorf("template.yaml has no AWS::Serverless::Function %s for provider %s", id, name)
			}
			for _, step := range []string{rotation.StepCreate, rotation.StepSet, rotation.StepTest, rotation.StepFinish} {
				p := filepath.Join("events", name+"-"+step+".json")
				b, err := os.ReadFile(p)
				if err != nil {
					t.Errorf("%s: %v (a sample event per step for sam local invoke and make invoke)", p, err)
					continue
				}
				var ev struct{ Step, SecretId, ClientRequestToken, RotationToken string }
				if err := json.Unmarshal(b, &ev); err != nil || ev.Step != step || ev.SecretId == "" || ev.ClientRequestToken == "" || ev.RotationToken == "" {
					t.Errorf("%s is not a %s rotation event with SecretId, ClientRequestToken and RotationToken (%v)", p, step, err)
				}
			}
			if !regexp.MustCompile("(?m)^## `" + name + "`").Match(docs) {
				t.Errorf("docs/providers.md has no section \"## `%s`\"", name)
			}
		})
	}
}

// exclusiveModules are the modules only one provider may link.
var exclusiveModules = map[string][]string{
	"iamkey":        {"github.com/aws/aws-sdk-go-v2/service/iam"}, // (sts is linked by config.LoadDefaultConfig for every function)
	"stripe":        {"github.com/stripe/stripe-go/v76"},
	"stripewebhook": {"github.com/stripe/stripe-go/v76"},
	"twilio":        {"github.com/twilio/twilio-go"},
	"twiliotoken":   {"github.com/twilio/twilio-go"},
	"postgres":      {"github.com/jackc/pgx/v5"},
	"mysql":         {"github.com/go-sql-driver/mysql"},
}

// maxBootstrap is the size limit of a rotation function's stripped bootstrap.
const maxBootstrap = 12 << 20

// largerBootstrap are the functions allowed more than maxBootstrap, and why.
var largerBootstrap = map[string]struct {
	limit int64
	why   string
}{
	// pgx v5 links its own type system, the pgconn wire protocol and
	// crypto/x509 for verify-full: 13.9 MB on linux/arm64 (as deployed),
	// 14.7 MB on linux/amd64. It loads in the same cold start budget
	// (docs/benchmarks.md); database rotation has no size anchor.
	"postgres": {16 << 20, "pgx v5 (PostgreSQL wire protocol and types)"},
}

// TestRotationFunctionsLinkOnlyTheirProvider builds every rotation function
// as deployed and checks with `go version -m` that it links no other
// provider's SDK, with `go list -deps` that it imports no other provider
// package (and neither the registry nor the lifecycle), and that it stays
// under 12 MB stripped (largerBootstrap names the exceptions).
func TestRotationFunctionsLinkOnlyTheirProvider(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every function")
	}
	providers := providerDirs(t)
	dir := t.TempDir()
	for _, name := range providers {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", "./functions/"+name).Output()
			if err != nil {
				t.Fatalf("go list -deps ./functions/%s: %v", name, err)
			}
			for _, pkg := range strings.Fields(string(out)) {
				rest, ok := strings.CutPrefix(pkg, module+"/shared/")
				if !ok {
					continue
				}
				if other, ok := strings.CutPrefix(rest, "providers/"); ok && strings.Split(other, "/")[0] != name {
					t.Errorf("functions/%s imports %s", name, pkg)
				}
				if rest == "lifecycle" || rest == "lifecyclemain" {
					t.Errorf("functions/%s imports %s (only retire and rollback need it)", name, pkg)
				}
			}
			bin, err := lambdarie.Build(context.Background(), name, dir)
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			fi, err := os.Stat(bin)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("functions/%s bootstrap: %.1f MB", name, float64(fi.Size())/(1<<20))
			limit, why := int64(maxBootstrap), ""
			if l, ok := largerBootstrap[name]; ok {
				limit, why = l.limit, " (allowed for "+l.why+")"
			}
			if fi.Size() > limit {
				t.Errorf("functions/%s bootstrap is %d bytes, more than %d MB%s", name, fi.Size(), limit>>20, why)
			}
			mods, err := exec.Command("go", "version", "-m", bin).Output()
			if err != nil {
				t.Fatalf("go version -m: %v", err)
			}
			linked := map[string]bool{}
			sc := bufio.NewScanner(bytes.NewReader(mods))
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) >= 2 && (f[0] == "dep" || f[0] == "=>") {
					linked[f[1]] = true
				}
			}
			for other, ms := range exclusiveModules {
				if other == name {
					continue
				}
				for _, m := range ms {
					if linked[m] && !slices.Contains(exclusiveModules[name], m) {
						t.Errorf("functions/%s links %s, the SDK of provider %s", name, m, other)
					}
				}
			}
		})
	}
}
