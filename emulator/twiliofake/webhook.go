package twiliofake

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// SignatureHeader is the header Twilio signs webhook requests with.
const SignatureHeader = "X-Twilio-Signature"

// Signature computes X-Twilio-Signature for a form-encoded webhook request
// to webhookURL with params, keyed with token: base64(HMAC-SHA1(token, URL +
// every parameter name and value, sorted by name)). Twilio signs with the
// account's primary auth token.
func Signature(token, webhookURL string, params url.Values) string {
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(webhookURL)
	for _, k := range names {
		vs := append([]string{}, params[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SignWebhook returns the X-Twilio-Signature Twilio would send now for the
// account: signed with its current primary auth token (so the signature
// changes when a secondary is promoted).
func (s *Server) SignWebhook(accountSid, webhookURL string, params url.Values) (string, error) {
	s.mu.Lock()
	a, ok := s.accounts[accountSid]
	var token string
	if ok {
		token = a.primary
	}
	s.mu.Unlock()
	if !ok {
		return "", ErrNoAccount
	}
	return Signature(token, webhookURL, params), nil
}

// SendWebhook POSTs params, form-encoded, to webhookURL with the signature
// the account's primary token gives, as Twilio delivers a status callback,
// and returns the receiver's status. The AccountSid parameter is set to the
// account. hc is the client to send with (http.DefaultClient when nil).
func (s *Server) SendWebhook(ctx context.Context, hc *http.Client, accountSid, webhookURL string, params url.Values) (int, error) {
	p := url.Values{}
	for k, v := range params {
		p[k] = append([]string{}, v...)
	}
	p.Set("AccountSid", accountSid)
	sig, err := s.SignWebhook(accountSid, webhookURL, p)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, strings.NewReader(p.Encode()))
	if err != nil {
		return 0, fmt.Errorf("twiliofake: webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(SignatureHeader, sig)
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("twiliofake: deliver webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}
