package stripefake

import (
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"unicode/utf8"
)

// Stripe's metadata limits.
const (
	maxMetadataKeys     = 50
	maxMetadataKeyLen   = 40
	maxMetadataValueLen = 500
	maxDescriptionLen   = 5000
)

var (
	eventTypeRE  = regexp.MustCompile(`^(\*|[a-z0-9_]+(\.[a-z0-9_]+)+)$`)
	apiVersionRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$`)
)

// render is the webhook endpoint object as the API returns it. The secret is
// only part of the answer to a create, as on Stripe.
func (e *endpoint) render(withSecret bool) map[string]any {
	status := "enabled"
	if e.Disabled {
		status = "disabled"
	}
	events := append([]string{}, e.EnabledEvents...)
	m := map[string]any{
		"id":             e.ID,
		"object":         "webhook_endpoint",
		"api_version":    nullable(e.APIVersion),
		"application":    nil,
		"created":        e.Created.Unix(),
		"description":    nullable(e.Description),
		"enabled_events": events,
		"livemode":       e.Live,
		"metadata":       cloneMap(e.Metadata),
		"status":         status,
		"url":            e.URL,
	}
	if withSecret {
		m["secret"] = e.Secret
	}
	return m
}

func validURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && len(raw) <= 5000
}

func checkEvents(events []string) *apiError {
	if len(events) == 0 {
		return errInvalidParam(CodeParameterInvalid, "enabled_events", "Invalid array: enabled_events must contain at least one event type.")
	}
	for i, ev := range events {
		if !eventTypeRE.MatchString(ev) {
			return errInvalidParam("", "enabled_events["+strconv.Itoa(i)+"]", "Invalid enabled_events[%d]: %q is not a valid event type.", i, ev)
		}
	}
	return nil
}

func checkMetadata(md map[string]string) *apiError {
	if len(md) > maxMetadataKeys {
		return errInvalidParam("", "metadata", "Invalid metadata: metadata can have at most %d keys.", maxMetadataKeys)
	}
	for k, v := range md {
		if k == "" || utf8.RuneCountInString(k) > maxMetadataKeyLen {
			return errInvalidParam("", "metadata", "Invalid metadata: keys must be 1 to %d characters long.", maxMetadataKeyLen)
		}
		if utf8.RuneCountInString(v) > maxMetadataValueLen {
			return errInvalidParam("", "metadata["+k+"]", "Invalid metadata[%s]: values can be at most %d characters long.", k, maxMetadataValueLen)
		}
	}
	return nil
}

func (s *Server) createEndpoint(c *call) (answer, *apiError) {
	if err := c.require(PermWebhookWrite); err != nil {
		return answer{}, err
	}
	p := c.p
	if err := p.check("url", "enabled_events", "api_version", "connect", "description", "metadata"); err != nil {
		return answer{}, err
	}
	rawURL, ok, err := p.str("url")
	if err != nil {
		return answer{}, err
	}
	if !ok {
		return answer{}, errMissingParam("url")
	}
	if !validURL(rawURL) {
		return answer{}, errInvalidParam(CodeURLInvalid, "url", "Invalid URL: %s", rawURL)
	}
	events, ok, err := p.list("enabled_events")
	if err != nil {
		return answer{}, err
	}
	if !ok {
		return answer{}, errMissingParam("enabled_events")
	}
	if err := checkEvents(events); err != nil {
		return answer{}, err
	}
	apiVersion, _, err := p.str("api_version")
	if err != nil {
		return answer{}, err
	}
	if apiVersion != "" && !apiVersionRE.MatchString(apiVersion) {
		return answer{}, errInvalidParam("", "api_version", "Invalid API version: %s", apiVersion)
	}
	connect, _, err := p.boolean("connect")
	if err != nil {
		return answer{}, err
	}
	if connect {
		return answer{}, errInvalidParam("", "connect", "stripefake does not model Connect endpoints: connect must be false.")
	}
	desc, _, err := p.str("description")
	if err != nil {
		return answer{}, err
	}
	if len(desc) > maxDescriptionLen {
		return answer{}, errInvalidParam("", "description", "Invalid description: at most %d characters.", maxDescriptionLen)
	}
	md, _, _, err := p.dict("metadata")
	if err != nil {
		return answer{}, err
	}
	for k, v := range md {
		if v == "" {
			delete(md, k)
		}
	}
	if err := checkMetadata(md); err != nil {
		return answer{}, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.endpoints {
		if e.AccountID == c.key.AccountID && e.Live == c.live {
			n++
		}
	}
	if n >= maxEndpoints {
		mode := "test"
		if c.live {
			mode = "live"
		}
		return answer{}, errInvalidParam(CodeWebhookEndpointLimit, "", "You have reached the maximum of %d %s webhook endpoints on this account.", maxEndpoints, mode)
	}
	s.seq++
	e := &endpoint{seq: s.seq, Endpoint: Endpoint{
		ID:            newID("we_", 24),
		AccountID:     c.key.AccountID,
		Live:          c.live,
		URL:           rawURL,
		Description:   desc,
		APIVersion:    apiVersion,
		EnabledEvents: events,
		Metadata:      md,
		Created:       s.now(),
		Secret:        newWebhookSecret(),
	}}
	s.endpoints[e.ID] = e
	return answer{http.StatusOK, e.render(true)}, nil
}

// lookupLocked finds an endpoint visible to the call's key (same account
// and mode).
func (s *Server) lookupLocked(c *call, id string) (*endpoint, *apiError) {
	e, ok := s.endpoints[id]
	if !ok || e.AccountID != c.key.AccountID || e.Live != c.live {
		return nil, errNoSuch("webhook endpoint", id, "")
	}
	return e, nil
}

func (s *Server) getEndpoint(c *call, id string) (answer, *apiError) {
	if err := c.require(PermWebhookRead); err != nil {
		return answer{}, err
	}
	if err := c.p.check(); err != nil {
		return answer{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.lookupLocked(c, id)
	if err != nil {
		return answer{}, err
	}
	return answer{http.StatusOK, e.render(false)}, nil
}

func (s *Server) updateEndpoint(c *call, id string) (answer, *apiError) {
	if err := c.require(PermWebhookWrite); err != nil {
		return answer{}, err
	}
	p := c.p
	if err := p.check("url", "enabled_events", "description", "disabled", "metadata"); err != nil {
		return answer{}, err
	}
	rawURL, hasURL, err := p.str("url")
	if err != nil {
		return answer{}, err
	}
	if hasURL && !validURL(rawURL) {
		return answer{}, errInvalidParam(CodeURLInvalid, "url", "Invalid URL: %s", rawURL)
	}
	events, hasEvents, err := p.list("enabled_events")
	if err != nil {
		return answer{}, err
	}
	if hasEvents {
		if err := checkEvents(events); err != nil {
			return answer{}, err
		}
	}
	desc, hasDesc, err := p.str("description")
	if err != nil {
		return answer{}, err
	}
	disabled, hasDisabled, err := p.boolean("disabled")
	if err != nil {
		return answer{}, err
	}
	md, clearMD, hasMD, err := p.dict("metadata")
	if err != nil {
		return answer{}, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	e, aerr := s.lookupLocked(c, id)
	if aerr != nil {
		return answer{}, aerr
	}
	// Validate the merged metadata before changing anything.
	newMD := cloneMap(e.Metadata)
	if hasMD {
		if clearMD {
			newMD = map[string]string{}
		}
		for k, v := range md {
			if v == "" {
				delete(newMD, k)
			} else {
				newMD[k] = v
			}
		}
		if err := checkMetadata(newMD); err != nil {
			return answer{}, err
		}
	}
	if hasURL {
		e.URL = rawURL
	}
	if hasEvents {
		e.EnabledEvents = events
	}
	if hasDesc {
		e.Description = desc
	}
	if hasDisabled {
		e.Disabled = disabled
	}
	e.Metadata = newMD
	return answer{http.StatusOK, e.render(false)}, nil
}

func (s *Server) deleteEndpoint(c *call, id string) (answer, *apiError) {
	if err := c.require(PermWebhookWrite); err != nil {
		return answer{}, err
	}
	if err := c.p.check(); err != nil {
		return answer{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.lookupLocked(c, id)
	if err != nil {
		return answer{}, err
	}
	delete(s.endpoints, e.ID)
	return answer{http.StatusOK, map[string]any{"id": e.ID, "object": "webhook_endpoint", "deleted": true}}, nil
}

// listLimit reads limit (1..100, default 10).
func listLimit(p *params) (int, *apiError) {
	s, ok, err := p.str("limit")
	if err != nil {
		return 0, err
	}
	if !ok {
		return 10, nil
	}
	n, cerr := strconv.Atoi(s)
	if cerr != nil {
		return 0, errInvalidParam(CodeParameterInvalidInt, "limit", "Invalid integer: %s", s)
	}
	if n < 1 || n > 100 {
		return 0, errInvalidParam("", "limit", "This value must be greater than or equal to 1 and less than or equal to 100 (it currently is '%d').", n)
	}
	return n, nil
}

// listEndpoints pages newest first, like every Stripe list.
func (s *Server) listEndpoints(c *call) (answer, *apiError) {
	if err := c.require(PermWebhookRead); err != nil {
		return answer{}, err
	}
	p := c.p
	if err := p.check("limit", "starting_after", "ending_before"); err != nil {
		return answer{}, err
	}
	limit, err := listLimit(p)
	if err != nil {
		return answer{}, err
	}
	after, hasAfter, err := p.str("starting_after")
	if err != nil {
		return answer{}, err
	}
	before, hasBefore, err := p.str("ending_before")
	if err != nil {
		return answer{}, err
	}
	if hasAfter && hasBefore && after != "" && before != "" {
		return answer{}, errInvalidParam("", "ending_before", "You may only specify one of these parameters: ending_before, starting_after.")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var all []*endpoint
	for _, e := range s.endpoints {
		if e.AccountID == c.key.AccountID && e.Live == c.live {
			all = append(all, e)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].seq > all[j].seq })
	index := func(id string) (int, *apiError) {
		for i, e := range all {
			if e.ID == id {
				return i, nil
			}
		}
		return 0, errNoSuch("webhook endpoint", id, "")
	}
	var page []*endpoint
	hasMore := false
	switch {
	case hasAfter && after != "":
		i, err := index(after)
		if err != nil {
			return answer{}, err
		}
		rest := all[i+1:]
		page, hasMore = rest, len(rest) > limit
		if hasMore {
			page = rest[:limit]
		}
	case hasBefore && before != "":
		i, err := index(before)
		if err != nil {
			return answer{}, err
		}
		rest := all[:i]
		page, hasMore = rest, len(rest) > limit
		if hasMore {
			page = rest[len(rest)-limit:]
		}
	default:
		page, hasMore = all, len(all) > limit
		if hasMore {
			page = all[:limit]
		}
	}
	data := make([]any, len(page))
	for i, e := range page {
		data[i] = e.render(false)
	}
	return answer{http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": hasMore, "url": "/v1/webhook_endpoints"}}, nil
}
