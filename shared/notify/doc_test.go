package notify_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/dualkey/dualkey/shared/notify"
)

const docPath = "../../docs/evidence-and-refresh.md"

// codeBlocks returns the fenced blocks of a Markdown document by language.
func codeBlocks(t *testing.T, doc string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	re := regexp.MustCompile("(?s)```([a-z]*)\n(.*?)```")
	for _, m := range re.FindAllStringSubmatch(doc, -1) {
		out[m[1]] = append(out[m[1]], m[2])
	}
	return out
}

// patterns returns every EventBridge event pattern the document shows:
// JSON blocks with a "source" list, --event-pattern arguments of shell
// blocks, and EventPattern properties of YAML blocks.
func patterns(t *testing.T, blocks map[string][]string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, b := range blocks["json"] {
		var m map[string]any
		if json.Unmarshal([]byte(b), &m) == nil {
			if _, ok := m["source"].([]any); ok {
				out = append(out, m)
			}
		}
	}
	arg := regexp.MustCompile(`--event-pattern '([^']*)'`)
	for _, b := range blocks["sh"] {
		for _, m := range arg.FindAllStringSubmatch(b, -1) {
			var p map[string]any
			if err := json.Unmarshal([]byte(m[1]), &p); err != nil {
				t.Fatalf("--event-pattern in the document is not JSON: %v\n%s", err, m[1])
			}
			out = append(out, p)
		}
	}
	subst := strings.NewReplacer("${AWS::Region}", "us-east-1", "${AWS::AccountId}", "123456789012")
	for _, b := range blocks["yaml"] {
		var root yaml.Node
		if err := yaml.Unmarshal([]byte(b), &root); err != nil {
			t.Fatalf("a YAML block of the document does not parse: %v", err)
		}
		var walk func(n *yaml.Node)
		walk = func(n *yaml.Node) {
			if n.Kind == yaml.ScalarNode && n.Tag == "!Sub" {
				n.Tag, n.Value = "!!str", subst.Replace(n.Value)
			}
			for i, c := range n.Content {
				if n.Kind == yaml.MappingNode && i%2 == 1 && n.Content[i-1].Value == "EventPattern" {
					walk(c)
					var p map[string]any
					if err := c.Decode(&p); err != nil {
						t.Fatalf("EventPattern in the document: %v", err)
					}
					out = append(out, p)
					continue
				}
				walk(c)
			}
		}
		walk(&root)
	}
	return out
}

// match is EventBridge's matching for the subset of patterns the document
// uses: exact values and {"prefix": …}, in nested objects; a field whose
// event value is a list matches when any element does. It fails the test
// on any other operator, so the document stays within what is checked.
func match(t *testing.T, pattern map[string]any, event map[string]any) bool {
	t.Helper()
	for k, pv := range pattern {
		ev, ok := event[k]
		if !ok {
			return false
		}
		switch p := pv.(type) {
		case map[string]any:
			sub, ok := ev.(map[string]any)
			if !ok || !match(t, p, sub) {
				return false
			}
		case []any:
			values := []any{ev}
			if list, ok := ev.([]any); ok {
				values = list
			}
			hit := false
			for _, want := range p {
				for _, v := range values {
					hit = hit || matchValue(t, want, v)
				}
			}
			if !hit {
				return false
			}
		default:
			t.Fatalf("pattern field %q is %v: EventBridge wants a list or an object", k, pv)
		}
	}
	return true
}

func matchValue(t *testing.T, want, v any) bool {
	t.Helper()
	if op, ok := want.(map[string]any); ok {
		if len(op) != 1 {
			t.Fatalf("pattern operator %v: one operator per object", op)
		}
		prefix, ok := op["prefix"].(string)
		if !ok {
			t.Fatalf("pattern operator %v is not checked by this test; use exact values or prefix", op)
		}
		s, ok := v.(string)
		return ok && strings.HasPrefix(s, prefix)
	}
	return reflect.DeepEqual(want, v)
}

// TestDocumentedRulesMatchPublishedEvents publishes events through the
// real client into the emulator and checks every event pattern of
// docs/evidence-and-refresh.md against their envelopes: each uses only
// dualkey's source, detail types and detail fields, and selects some
// events but not all.
func TestDocumentedRulesMatchPublishedEvents(t *testing.T) {
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	blocks := codeBlocks(t, string(raw))
	pats := patterns(t, blocks)
	if len(pats) < 5 {
		t.Fatalf("found %d event patterns in %s, want at least 5", len(pats), docPath)
	}

	e := start(t)
	p := publisher(t, e.eb, notify.Config{Now: e.clock.Now})
	const arnPrefix = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"
	var evs []notify.Event
	for _, name := range []string{"prod/payments/stripe", "prod/payments/braintree", "staging/payments/stripe", "prod/search/key"} {
		for _, dt := range notify.DetailTypes {
			ev := rotated()
			ev.DetailType, ev.SecretName, ev.SecretARN = dt, name, arnPrefix+name+"-AbCdEf"
			evs = append(evs, ev)
		}
	}
	if _, err := p.Publish(ctx(), evs...); err != nil {
		t.Fatal(err)
	}
	var envelopes []map[string]any
	for _, ev := range e.events.Events() {
		b, err := ev.Envelope()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		envelopes = append(envelopes, m)
	}

	detailFields := jsonFields(reflect.TypeOf(notify.Detail{}))
	for i, pat := range pats {
		name := fmt.Sprintf("pattern %d %v", i+1, pat)
		for k := range pat {
			if !slices.Contains([]string{"source", "detail-type", "resources", "detail"}, k) {
				t.Errorf("%s: field %q", name, k)
			}
		}
		if !reflect.DeepEqual(pat["source"], []any{"dualkey"}) {
			t.Errorf("%s: source is not [\"dualkey\"]", name)
		}
		if dts, ok := pat["detail-type"].([]any); ok {
			for _, dt := range dts {
				if s, _ := dt.(string); !slices.Contains(notify.DetailTypes, s) {
					t.Errorf("%s: detail-type %v is not one dualkey publishes", name, dt)
				}
			}
		}
		if d, ok := pat["detail"].(map[string]any); ok {
			for k := range d {
				if !slices.Contains(detailFields, k) {
					t.Errorf("%s: detail field %q does not exist (fields: %v)", name, k, detailFields)
				}
			}
		}
		n := 0
		for _, env := range envelopes {
			if match(t, pat, env) {
				n++
			}
		}
		if n == 0 || n == len(envelopes) {
			t.Errorf("%s selects %d of %d published events; want some, not all", name, n, len(envelopes))
		}
	}
}

// TestDocumentedEventExample decodes the example event of the document
// strictly: every detail field it shows exists.
func TestDocumentedEventExample(t *testing.T) {
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, b := range codeBlocks(t, string(raw))["json"] {
		var env struct {
			Source     string          `json:"source"`
			DetailType string          `json:"detail-type"`
			Resources  []string        `json:"resources"`
			Detail     json.RawMessage `json:"detail"`
		}
		if json.Unmarshal([]byte(b), &env) != nil || env.Source != notify.Source {
			continue
		}
		found++
		dec := json.NewDecoder(bytes.NewReader(env.Detail))
		dec.DisallowUnknownFields()
		var d notify.Detail
		if err := dec.Decode(&d); err != nil {
			t.Errorf("the example's detail: %v", err)
		}
		if !slices.Contains(notify.DetailTypes, env.DetailType) || len(env.Resources) != 1 || env.Resources[0] != d.SecretARN || d.SchemaVersion != notify.SchemaVersion {
			t.Errorf("example event: %+v %+v", env, d)
		}
	}
	if found == 0 {
		t.Fatal("the document shows no example event")
	}
}

func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		out = append(out, name)
	}
	return out
}
