package twilioprism

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/dualkey/dualkey/emulator/twiliofake"
)

// TestErrataOnlyRelaxesPagingURIs: the corrected copy differs from Twilio's
// document only in the format of the paging envelope's URIs.
func TestErrataOnlyRelaxesPagingURIs(t *testing.T) {
	src := twiliofake.SpecPath(twiliofake.SpecAPI)
	dst, err := Errata(src, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	load := func(p string) map[string]any {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	orig, fixed := load(src), load(dst)
	schema := func(doc map[string]any) map[string]any {
		p := doc["paths"].(map[string]any)["/2010-04-01/Accounts/{AccountSid}/Keys.json"].(map[string]any)
		return p["get"].(map[string]any)["responses"].(map[string]any)["200"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["properties"].(map[string]any)
	}
	for _, name := range pagingURIs {
		if schema(orig)[name].(map[string]any)["format"] != "uri" {
			t.Fatalf("Twilio's document no longer declares %s as format uri: drop the erratum", name)
		}
		if _, has := schema(fixed)[name].(map[string]any)["format"]; has {
			t.Fatalf("%s keeps its format in the corrected copy", name)
		}
	}
	// Nothing else differs: the copy is exactly the original with walk
	// applied, and walk only deletes those formats.
	walk(orig)
	a, _ := json.Marshal(orig)
	b, _ := json.Marshal(fixed)
	if string(a) != string(b) {
		t.Fatal("the corrected copy differs from the original beyond the erratum")
	}
	if filepath.Base(dst) != twiliofake.SpecAPI {
		t.Fatalf("copy named %s", filepath.Base(dst))
	}
}
