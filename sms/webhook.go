package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Doer sends an HTTP request; *http.Client is one, and tests pass fakes.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// defaultHTTP is used when Webhook.HTTP is nil. The timeout bounds a gateway
// that accepts the connection and never answers, even under a context
// without a deadline.
var defaultHTTP Doer = &http.Client{Timeout: 10 * time.Second}

// Webhook posts {"to": "+15551234567", "body": "..."} as JSON to URL (with
// "Authorization: Bearer TOKEN" when Token is set) through HTTP (nil = an
// http.Client with a 10 s timeout). A non-2xx answer is an error naming the
// status and the first 200 bytes of the body.
type Webhook struct {
	URL, Token string
	HTTP       Doer
}

// Send posts one message. Its errors carry the number masked and never the
// token.
func (w *Webhook) Send(ctx context.Context, to, body string) error {
	if w.URL == "" {
		return errors.New("sms: no SMS webhook URL configured; set it, or use the log sender when there is no SMS gateway")
	}
	payload, err := json.Marshal(struct {
		To   string `json:"to"`
		Body string `json:"body"`
	}{to, body})
	if err != nil {
		return fmt.Errorf("sms: encode message: %w", err) // cannot happen for two strings
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("sms: SMS webhook URL: %w; check the configured URL", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if w.Token != "" {
		req.Header.Set("Authorization", "Bearer "+w.Token)
	}
	doer := w.HTTP
	if doer == nil {
		doer = defaultHTTP
	}
	resp, err := doer.Do(req)
	if err != nil {
		return fmt.Errorf("sms: send to %s: %w", Mask(to), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return fmt.Errorf("sms: send to %s: SMS gateway answered %s%s: %s",
			Mask(to), resp.Status, advice(resp.StatusCode), strings.ToValidUTF8(string(b), "\uFFFD"))
	}
	// Read a little of the answer so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	return nil
}

// advice says what a person can do about a gateway's refusal.
func advice(status int) string {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return " (check the SMS webhook token)"
	case status == http.StatusNotFound:
		return " (check the SMS webhook URL)"
	case status == http.StatusTooManyRequests || status >= 500:
		return " (the gateway is busy or failing; try again in a few minutes)"
	}
	return ""
}
