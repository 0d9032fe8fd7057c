package twilioprism

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// pagingURIs are the properties of the 2010 API's paging envelope. Twilio's
// document declares them `format: uri` (an absolute URI), but the real API,
// the document's own examples and twilio-go (which appends next_page_uri to
// https://api.twilio.com) all use paths relative to https://api.twilio.com,
// such as "/2010-04-01/Accounts/AC…/Keys.json?PageSize=50&Page=0".
var pagingURIs = []string{"first_page_uri", "next_page_uri", "previous_page_uri", "uri"}

// Errata writes a copy of the OpenAPI document at path into dir with the
// known defects of Twilio's documents corrected, and returns the copy's
// path. The documents in spec/ stay as Twilio publishes them. The one
// correction: the paging envelope's URIs (pagingURIs) lose `format: uri`,
// wherever a schema has a first_page_uri property. Nothing else changes, so
// every other shape is still checked as Twilio documents it.
func Errata(path, dir string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("twilioprism: read OpenAPI document: %w", err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return "", fmt.Errorf("twilioprism: parse %s: %w", filepath.Base(path), err)
	}
	walk(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("twilioprism: encode %s: %w", filepath.Base(path), err)
	}
	dst := filepath.Join(dir, filepath.Base(path))
	if err := os.WriteFile(dst, out, 0o600); err != nil {
		return "", fmt.Errorf("twilioprism: write %s: %w", dst, err)
	}
	return dst, nil
}

// walk applies the correction to every schema in v.
func walk(v any) {
	switch x := v.(type) {
	case map[string]any:
		if props, ok := x["properties"].(map[string]any); ok {
			if _, paging := props["first_page_uri"]; paging {
				for _, name := range pagingURIs {
					if p, ok := props[name].(map[string]any); ok && p["format"] == "uri" {
						delete(p, "format")
					}
				}
			}
		}
		for _, c := range x {
			walk(c)
		}
	case []any:
		for _, c := range x {
			walk(c)
		}
	}
}
