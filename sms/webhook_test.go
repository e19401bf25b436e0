package sms

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var _ Sender = (*Webhook)(nil)

// gateway is a fake SMS gateway: it records what it was sent and answers
// with status and answer.
type gateway struct {
	status int
	answer string

	mu       sync.Mutex
	requests []gatewayRequest
}

// got returns the requests the gateway has had so far.
func (g *gateway) got() []gatewayRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.requests)
}

type gatewayRequest struct {
	method, path, contentType, auth string
	hasAuth                         bool
	msg                             map[string]any
}

func (g *gateway) start(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := gatewayRequest{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type")}
		req.auth, req.hasAuth = r.Header.Get("Authorization"), r.Header["Authorization"] != nil
		if err := json.NewDecoder(r.Body).Decode(&req.msg); err != nil {
			t.Errorf("gateway: decode body: %v", err)
		}
		g.mu.Lock()
		g.requests = append(g.requests, req)
		g.mu.Unlock()
		w.WriteHeader(g.status)
		io.WriteString(w, g.answer)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestWebhookPostsJSON(t *testing.T) {
	g := &gateway{status: http.StatusAccepted, answer: `{"id":"m1"}`}
	srv := g.start(t)
	w := &Webhook{URL: srv.URL + "/sms", Token: "s3cret", HTTP: srv.Client()}
	if err := w.Send(context.Background(), "+15552345678", "siteclock setup code for Acme: 12345678"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs := g.got()
	if len(reqs) != 1 {
		t.Fatalf("gateway got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.path != "/sms" {
		t.Errorf("request %s %s, want POST /sms", r.method, r.path)
	}
	if r.contentType != "application/json" {
		t.Errorf("Content-Type %q, want application/json", r.contentType)
	}
	if r.auth != "Bearer s3cret" {
		t.Errorf("Authorization %q, want Bearer s3cret", r.auth)
	}
	want := map[string]any{"to": "+15552345678", "body": "siteclock setup code for Acme: 12345678"}
	if len(r.msg) != len(want) || r.msg["to"] != want["to"] || r.msg["body"] != want["body"] {
		t.Errorf("body %v, want exactly %v", r.msg, want)
	}
}

func TestWebhookNoToken(t *testing.T) {
	g := &gateway{status: http.StatusNoContent}
	srv := g.start(t)
	w := &Webhook{URL: srv.URL, HTTP: srv.Client()}
	if err := w.Send(context.Background(), "+15552345678", "hi"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if r := g.got()[0]; r.hasAuth {
		t.Errorf("Authorization %q sent without a token", r.auth)
	}
}

func TestWebhookDefaultClient(t *testing.T) {
	g := &gateway{status: http.StatusOK}
	srv := g.start(t)
	w := &Webhook{URL: srv.URL} // HTTP nil
	if err := w.Send(context.Background(), "+15552345678", "hi"); err != nil {
		t.Fatalf("Send with the default client: %v", err)
	}
	if c, ok := defaultHTTP.(*http.Client); !ok || c.Timeout != 10*time.Second {
		t.Errorf("default HTTP = %#v, want an http.Client with a 10s timeout", defaultHTTP)
	}
}

func TestWebhookServerError(t *testing.T) {
	answer := "upstream carrier unavailable " + strings.Repeat("x", 171) + "BEYOND200"
	g := &gateway{status: http.StatusInternalServerError, answer: answer}
	srv := g.start(t)
	w := &Webhook{URL: srv.URL, Token: "s3cret", HTTP: srv.Client()}
	err := w.Send(context.Background(), "+15552345678", "hi")
	if err == nil {
		t.Fatal("Send to a gateway answering 500: no error")
	}
	msg := err.Error()
	for _, want := range []string{"500 Internal Server Error", answer[:200], "try again", "+*******5678"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	for _, leak := range []string{"BEYOND200", "s3cret", "5552345678"} {
		if strings.Contains(msg, leak) {
			t.Errorf("error %q contains %q", msg, leak)
		}
	}
}

func TestWebhookUnauthorized(t *testing.T) {
	g := &gateway{status: http.StatusUnauthorized, answer: "bad token"}
	srv := g.start(t)
	w := &Webhook{URL: srv.URL, Token: "wrong", HTTP: srv.Client()}
	err := w.Send(context.Background(), "+15552345678", "hi")
	if err == nil || !strings.Contains(err.Error(), "401 Unauthorized (check the SMS webhook token): bad token") {
		t.Errorf("Send with a refused token: %v", err)
	}
}

func TestWebhookContextTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // a gateway that never answers
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	w := &Webhook{URL: srv.URL, HTTP: srv.Client()}
	start := time.Now()
	err := w.Send(ctx, "+15552345678", "hi")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send to a silent gateway: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send took %v after a 50ms deadline", d)
	}
	if strings.Contains(err.Error(), "5552345678") {
		t.Errorf("error %q shows the whole number", err)
	}
}

// doerFunc is a Doer from a function.
type doerFunc func(*http.Request) (*http.Response, error)

func (f doerFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

func TestWebhookUsesDoer(t *testing.T) {
	down := errors.New("network is unreachable")
	var got *http.Request
	w := &Webhook{URL: "https://sms.example/send", HTTP: doerFunc(func(r *http.Request) (*http.Response, error) {
		got = r
		return nil, down
	})}
	err := w.Send(context.Background(), "+15552345678", "hi")
	if !errors.Is(err, down) {
		t.Errorf("Send: %v, want the Doer's error", err)
	}
	if got == nil || got.URL.String() != "https://sms.example/send" {
		t.Errorf("Doer got %v, want a request to https://sms.example/send", got)
	}
}

func TestWebhookNoURL(t *testing.T) {
	err := (&Webhook{}).Send(context.Background(), "+15552345678", "hi")
	if err == nil || !strings.Contains(err.Error(), "no SMS webhook URL") {
		t.Errorf("Send without a URL: %v", err)
	}
}
