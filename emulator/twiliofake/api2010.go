package twiliofake

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// rfc2822 formats t as Twilio's 2010 API (and IAM v1 keys) do:
// "Mon, 13 Jun 2016 22:50:08 +0000".
func rfc2822(t time.Time) string { return t.UTC().Format("Mon, 02 Jan 2006 15:04:05 -0700") }

// iso8601 formats t as Accounts v1 does: "2015-07-31T04:00:00Z".
func iso8601(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// accountJSON is api.v2010.account.
type accountJSON struct {
	AuthToken       string            `json:"auth_token"`
	DateCreated     string            `json:"date_created"`
	DateUpdated     string            `json:"date_updated"`
	FriendlyName    string            `json:"friendly_name"`
	OwnerAccountSid string            `json:"owner_account_sid"`
	Sid             string            `json:"sid"`
	Status          string            `json:"status"`
	SubresourceURIs map[string]string `json:"subresource_uris"`
	Type            string            `json:"type"`
	URI             string            `json:"uri"`
}

// fetchAccount serves GET /2010-04-01/Accounts/{Sid}.json. Like Twilio, it
// includes the primary auth token (a caller allowed here may read it anyway).
func (s *Server) fetchAccount(q *req) *apiError {
	a := q.p.account
	base := "/2010-04-01/Accounts/" + a.sid
	subs := map[string]string{}
	for _, name := range []string{"Addresses", "Calls", "Keys", "Messages", "IncomingPhoneNumbers", "Recordings", "SigningKeys"} {
		subs[snake(name)] = base + "/" + name + ".json"
	}
	writeJSON(q.w, http.StatusOK, accountJSON{
		AuthToken: a.primary, DateCreated: rfc2822(a.created), DateUpdated: rfc2822(a.updated),
		FriendlyName: a.friendlyName, OwnerAccountSid: a.sid, Sid: a.sid, Status: "active",
		SubresourceURIs: subs, Type: "Full", URI: base + ".json",
	})
	return nil
}

// snake turns "IncomingPhoneNumbers" into "incoming_phone_numbers".
func snake(s string) string {
	var out []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			if i > 0 {
				out = append(out, '_')
			}
			c += 'a' - 'A'
		}
		out = append(out, c)
	}
	return string(out)
}

// key2010JSON is api.v2010.account.key (and new_key with Secret).
type key2010JSON struct {
	Sid          string `json:"sid"`
	FriendlyName string `json:"friendly_name"`
	DateCreated  string `json:"date_created"`
	DateUpdated  string `json:"date_updated"`
	Secret       string `json:"secret,omitempty"`
}

func key2010(k *key) key2010JSON {
	return key2010JSON{Sid: k.sid, FriendlyName: k.friendlyName, DateCreated: rfc2822(k.created), DateUpdated: rfc2822(k.updated)}
}

// page2010 is the paging envelope of 2010 list responses. Twilio's URIs are
// relative to https://api.twilio.com.
type page2010 struct {
	End             int     `json:"end"`
	FirstPageURI    string  `json:"first_page_uri"`
	NextPageURI     *string `json:"next_page_uri"`
	Page            int     `json:"page"`
	PageSize        int     `json:"page_size"`
	PreviousPageURI *string `json:"previous_page_uri"`
	Start           int     `json:"start"`
	URI             string  `json:"uri"`
}

func newPage2010(path string, n, size, page int) page2010 {
	uri := func(p int) string { return fmt.Sprintf("%s?PageSize=%d&Page=%d", path, size, p) }
	lo, hi := window(n, size, page)
	pg := page2010{FirstPageURI: uri(0), Page: page, PageSize: size, Start: lo, End: hi - 1, URI: uri(page)}
	if hi <= lo {
		pg.End = lo
	}
	if hi < n {
		next := uri(page + 1)
		pg.NextPageURI = &next
	}
	if page > 0 {
		prev := uri(page - 1)
		pg.PreviousPageURI = &prev
	}
	return pg
}

// listKeys2010 serves GET Accounts/{AccountSid}/Keys.json: every key of the
// account, whatever its kind.
func (s *Server) listKeys2010(q *req) *apiError {
	size, page, aerr := pageParams(q.r.URL.Query())
	if aerr != nil {
		return aerr
	}
	keys := sortedKeys(q.p.account)
	lo, hi := window(len(keys), size, page)
	out := struct {
		Keys []key2010JSON `json:"keys"`
		page2010
	}{Keys: []key2010JSON{}, page2010: newPage2010(q.r.URL.Path, len(keys), size, page)}
	for _, k := range keys[lo:hi] {
		out.Keys = append(out.Keys, key2010(k))
	}
	writeJSON(q.w, http.StatusOK, out)
	return nil
}

// createKey2010 serves POST Accounts/{AccountSid}/Keys.json: a standard key.
func (s *Server) createKey2010(q *req) *apiError {
	name, aerr := friendlyName(q.form)
	if aerr != nil {
		return aerr
	}
	k := s.addKeyLocked(q.p.account, KindStandard, name, nil)
	out := key2010(k)
	out.Secret = k.secret
	writeJSON(q.w, http.StatusCreated, out)
	return nil
}

// accountKey finds a key of the principal's account.
func accountKey(q *req, sid string) (*key, *apiError) {
	k, ok := q.p.account.keys[sid]
	if !ok {
		return nil, errNotFound(q.r.URL.Path)
	}
	return k, nil
}

// writeKey answers the key sid of the principal's account, as view shows
// it.
func writeKey(q *req, sid string, view func(*key) any) *apiError {
	k, aerr := accountKey(q, sid)
	if aerr != nil {
		return aerr
	}
	writeJSON(q.w, http.StatusOK, view(k))
	return nil
}

// deleteKey deletes the key sid of the principal's account.
func (s *Server) deleteKey(q *req, sid string) *apiError {
	k, aerr := accountKey(q, sid)
	if aerr != nil {
		return aerr
	}
	s.removeKeyLocked(q.p.account, k.sid)
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) fetchKey2010(q *req) *apiError {
	return writeKey(q, q.vars[1], func(k *key) any { return key2010(k) })
}

func (s *Server) updateKey2010(q *req) *apiError {
	k, aerr := accountKey(q, q.vars[1])
	if aerr != nil {
		return aerr
	}
	if _, ok := q.form["FriendlyName"]; ok {
		name, aerr := friendlyName(q.form)
		if aerr != nil {
			return aerr
		}
		k.friendlyName, k.updated = name, s.now().UTC()
	}
	writeJSON(q.w, http.StatusOK, key2010(k))
	return nil
}

func (s *Server) deleteKey2010(q *req) *apiError { return s.deleteKey(q, q.vars[1]) }

// messageJSON is api.v2010.account.message.
type messageJSON struct {
	AccountSid          string            `json:"account_sid"`
	APIVersion          string            `json:"api_version"`
	Body                string            `json:"body"`
	DateCreated         string            `json:"date_created"`
	DateSent            *string           `json:"date_sent"`
	DateUpdated         string            `json:"date_updated"`
	Direction           string            `json:"direction"`
	ErrorCode           *int              `json:"error_code"`
	ErrorMessage        *string           `json:"error_message"`
	From                string            `json:"from"`
	MessagingServiceSid *string           `json:"messaging_service_sid"`
	NumMedia            string            `json:"num_media"`
	NumSegments         string            `json:"num_segments"`
	Price               *string           `json:"price"`
	PriceUnit           string            `json:"price_unit"`
	Sid                 string            `json:"sid"`
	Status              string            `json:"status"`
	SubresourceURIs     map[string]string `json:"subresource_uris"`
	To                  string            `json:"to"`
	URI                 string            `json:"uri"`
}

func messageOut(a *account, m *message) messageJSON {
	uri := "/2010-04-01/Accounts/" + a.sid + "/Messages/" + m.sid
	return messageJSON{AccountSid: a.sid, APIVersion: "2010-04-01", Body: m.body,
		DateCreated: rfc2822(m.created), DateUpdated: rfc2822(m.created), Direction: "outbound-api",
		From: m.from, NumMedia: "0", NumSegments: strconv.Itoa(1 + len(m.body)/160), PriceUnit: "USD",
		Sid: m.sid, Status: "queued", SubresourceURIs: map[string]string{"media": uri + "/Media.json"},
		To: m.to, URI: uri + ".json"}
}

// createMessage serves POST Accounts/{AccountSid}/Messages.json. It records
// the message (it is never delivered) so a test can count a consumer's
// traffic.
func (s *Server) createMessage(q *req) *apiError {
	to, from, body := q.form.Get("To"), q.form.Get("From"), q.form.Get("Body")
	switch {
	case to == "":
		return &apiError{Status: http.StatusBadRequest, Code: CodeToRequired, Message: "A 'To' phone number is required."}
	case from == "" && q.form.Get("MessagingServiceSid") == "":
		return &apiError{Status: http.StatusBadRequest, Code: CodeFromRequired, Message: "A 'From' phone number is required."}
	case body == "" && q.form.Get("MediaUrl") == "" && q.form.Get("ContentSid") == "":
		return &apiError{Status: http.StatusBadRequest, Code: CodeBodyRequired, Message: "Message body is required."}
	}
	m := &message{sid: newSid("SM"), to: to, from: from, body: body, created: s.now().UTC()}
	q.p.account.messages = append(q.p.account.messages, m)
	writeJSON(q.w, http.StatusCreated, messageOut(q.p.account, m))
	return nil
}

// listMessages serves GET Accounts/{AccountSid}/Messages.json, newest first
// as Twilio lists them.
func (s *Server) listMessages(q *req) *apiError {
	size, page, aerr := pageParams(q.r.URL.Query())
	if aerr != nil {
		return aerr
	}
	msgs := q.p.account.messages
	lo, hi := window(len(msgs), size, page)
	out := struct {
		Messages []messageJSON `json:"messages"`
		page2010
	}{Messages: []messageJSON{}, page2010: newPage2010(q.r.URL.Path, len(msgs), size, page)}
	for i := lo; i < hi; i++ {
		out.Messages = append(out.Messages, messageOut(q.p.account, msgs[len(msgs)-1-i]))
	}
	writeJSON(q.w, http.StatusOK, out)
	return nil
}
