package staged

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/dualkey/dualkey/shared/rotation"
)

// maxAnswer bounds how much of an answer is read (for the identity).
const maxAnswer = 1 << 20

// answer is what a probe found out, without any of the answer's body.
type answer struct {
	status int
	// identity is the value at probe.identity.pointer ("" when the probe
	// declares none or the answer has none).
	identity string
	// identityFound is false when the pointer did not resolve.
	identityFound bool
}

// send sends the probe of spec with the credential fields of creds.
func (p *Provider) send(ctx context.Context, spec *Probe, creds map[string]string) (*answer, error) {
	var body io.Reader
	if spec.Body != "" {
		body = strings.NewReader(spec.Body)
	}
	req, err := http.NewRequestWithContext(ctx, spec.method(), spec.URL, body)
	if err != nil {
		return nil, fmt.Errorf("build the probe request to %s: %w", rotation.SafeURL(spec.URL), errors.New("invalid request"))
	}
	for k, v := range spec.Headers {
		req.Header.Set(k, v)
	}
	if b := spec.Auth.Basic; b != nil {
		req.SetBasicAuth(creds[b.UsernameField], creds[b.PasswordField])
	} else {
		f := spec.Auth.Field
		if f == "" {
			f = "api_key"
		}
		req.Header.Set(spec.Auth.Header, spec.Auth.Prefix+creds[f])
	}
	resp, err := p.client.Do(req)
	if err != nil {
		// net/http quotes the URL, query included, in its errors.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("probe %s %s: %s", spec.method(), rotation.SafeURL(spec.URL), rotation.RedactURLs(err.Error()))
	}
	defer resp.Body.Close()
	a := &answer{status: resp.StatusCode}
	if spec.Identity == nil || !spec.ok(resp.StatusCode) {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
		return a, nil
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("probe %s %s: read the answer: %s", spec.method(), rotation.SafeURL(spec.URL), rotation.RedactURLs(err.Error()))
	}
	var doc any
	if json.Unmarshal(raw, &doc) == nil {
		a.identity, a.identityFound = pointer(doc, spec.Identity.Pointer)
	}
	return a, nil
}

// ok reports whether status is the one a working credential gets.
func (spec *Probe) ok(status int) bool {
	if spec.ExpectStatus != 0 {
		return status == spec.ExpectStatus
	}
	return status >= 200 && status <= 299
}

// pointer resolves an RFC 6901 JSON pointer; the value is rendered as a
// string (a JSON string's content, or the JSON text of anything else).
func pointer(doc any, ptr string) (string, bool) {
	cur := doc
	for _, tok := range strings.Split(ptr, "/")[1:] {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[tok]
			if !ok {
				return "", false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return "", false
			}
			cur = x[i]
		default:
			return "", false
		}
	}
	switch x := cur.(type) {
	case nil:
		return "", false
	case string:
		return x, x != ""
	default:
		b, _ := json.Marshal(x)
		return string(b), true
	}
}
