package stripefake

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// entry is one form value: name[sub]=value, or name=value when !bracket.
type entry struct {
	sub     string
	bracket bool
	value   string
}

// params are decoded Stripe form parameters (bracket notation, one level:
// the only nesting the routes here accept).
type params struct {
	byName map[string][]entry
}

// parseParams decodes url.Values such as enabled_events[0]=a,
// enabled_events[]=b, metadata[k]=v and url=... .
func parseParams(v url.Values) (*params, *apiError) {
	p := &params{byName: map[string][]entry{}}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name, sub, bracket := k, "", false
		if i := strings.IndexByte(k, '['); i >= 0 {
			if !strings.HasSuffix(k, "]") || i == 0 {
				return nil, errInvalidParam(CodeParameterUnknown, k, "Invalid parameter name: %s", k)
			}
			name, sub, bracket = k[:i], k[i+1:len(k)-1], true
			if strings.ContainsAny(sub, "[]") {
				return nil, errUnknownParam(k)
			}
		}
		for _, val := range v[k] {
			p.byName[name] = append(p.byName[name], entry{sub: sub, bracket: bracket, value: val})
		}
	}
	return p, nil
}

// check refuses any parameter not in allowed (expand is always allowed).
func (p *params) check(allowed ...string) *apiError {
	ok := map[string]bool{"expand": true}
	for _, a := range allowed {
		ok[a] = true
	}
	names := make([]string, 0, len(p.byName))
	for n := range p.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !ok[n] {
			return errUnknownParam(n)
		}
	}
	return nil
}

func (p *params) has(name string) bool { _, ok := p.byName[name]; return ok }

// str returns a scalar parameter (the last value if repeated).
func (p *params) str(name string) (string, bool, *apiError) {
	es, ok := p.byName[name]
	if !ok {
		return "", false, nil
	}
	e := es[len(es)-1]
	if e.bracket {
		return "", false, errInvalidParam(CodeParameterUnknown, name, "Invalid %s: must be a string", name)
	}
	return e.value, true, nil
}

// boolean returns a "true"/"false" parameter.
func (p *params) boolean(name string) (bool, bool, *apiError) {
	s, ok, err := p.str(name)
	if err != nil || !ok {
		return false, ok, err
	}
	switch s {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, false, errInvalidParam("", name, "Invalid boolean: %s", s)
}

// list returns an array parameter given as name[]=a&name[]=b or
// name[0]=a&name[1]=b (in index order). "name=" alone is an empty list.
func (p *params) list(name string) ([]string, bool, *apiError) {
	es, ok := p.byName[name]
	if !ok {
		return nil, false, nil
	}
	type iv struct {
		i int
		v string
	}
	var indexed []iv
	var out []string
	for _, e := range es {
		switch {
		case !e.bracket:
			if e.value != "" {
				return nil, false, errInvalidParam(CodeParameterInvalid, name, "Invalid array")
			}
		case e.sub == "":
			out = append(out, e.value)
		default:
			i, err := strconv.Atoi(e.sub)
			if err != nil || i < 0 {
				return nil, false, errInvalidParam(CodeParameterInvalid, name, "Invalid array")
			}
			indexed = append(indexed, iv{i, e.value})
		}
	}
	sort.SliceStable(indexed, func(a, b int) bool { return indexed[a].i < indexed[b].i })
	for _, x := range indexed {
		out = append(out, x.v)
	}
	if out == nil {
		out = []string{}
	}
	return out, true, nil
}

// dict returns a hash parameter given as name[k]=v. "name=" alone (unset
// all) returns clear=true.
func (p *params) dict(name string) (m map[string]string, clear bool, present bool, err *apiError) {
	es, ok := p.byName[name]
	if !ok {
		return nil, false, false, nil
	}
	m = map[string]string{}
	for _, e := range es {
		switch {
		case !e.bracket && e.value == "":
			clear = true
		case !e.bracket || e.sub == "":
			return nil, false, false, errInvalidParam(CodeParameterInvalid, name, "Invalid hash")
		default:
			m[e.sub] = e.value
		}
	}
	return m, clear, true, nil
}
