package backoffice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/siteclock/siteclock/protocol"
)

// fakeSMS is an sms.Sender that records what it was asked to send, and
// fails when told to.
type fakeSMS struct {
	mu   sync.Mutex
	sent []sentSMS
	fail error
}

type sentSMS struct{ to, body string }

func (f *fakeSMS) Send(ctx context.Context, to, body string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.sent = append(f.sent, sentSMS{to, body})
	return nil
}

func (f *fakeSMS) messages() []sentSMS {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sentSMS(nil), f.sent...)
}

// syncLog is a log the server writes while the test reads it.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// officeEnv is env (the store, the device API, the clock, three
// employees) plus the admin side served with the device API on one
// server, as siteclock-server composes them, and one admin.
type officeEnv struct {
	*env
	office   *Office
	web      *httptest.Server
	sms      *fakeSMS
	log      *syncLog
	admin    Admin
	password string
}

const testPassword = "correct horse battery"

func newOfficeEnv(t testing.TB, opts OfficeOptions) *officeEnv {
	t.Helper()
	e := &officeEnv{env: newEnv(t, ServerOptions{}), sms: &fakeSMS{}, log: &syncLog{}, password: testPassword}
	if opts.Now == nil {
		opts.Now = e.clock.Now
	}
	if opts.SMS == nil {
		opts.SMS = e.sms
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	e.office = NewOffice(e.store, opts)
	mux := http.NewServeMux()
	mux.Handle("/api/device/", NewServer(e.store, ServerOptions{Now: e.clock.Now}).Handler())
	mux.Handle("/", e.office.Handler())
	e.web = httptest.NewServer(mux)
	t.Cleanup(e.web.Close)
	a, err := e.store.CreateAdmin("ada@example.com", testPassword, t0)
	if err != nil {
		t.Fatal(err)
	}
	e.admin = a
	return e
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so tests see them.
type browser struct {
	t      testing.TB
	base   string
	client *http.Client
}

func (e *officeEnv) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, base: e.web.URL, client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is an answer from the web UI.
type webReply struct {
	status   int
	header   http.Header
	body     string
	location string
}

func (b *browser) do(method, path string, form url.Values, header ...string) webReply {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return webReply{status: resp.StatusCode, header: resp.Header, body: string(raw), location: resp.Header.Get("Location")}
}

func (b *browser) get(path string) webReply { b.t.Helper(); return b.do("GET", path, nil) }

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the form token from a page.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	r := b.get(path)
	m := csrfRE.FindStringSubmatch(r.body)
	if m == nil {
		b.t.Fatalf("GET %s: %d, no CSRF token in\n%s", path, r.status, r.body)
	}
	return m[1]
}

// post sends a form with the token of the page it is on.
func (b *browser) post(from, path string, form url.Values) webReply {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", b.csrf(from))
	return b.do("POST", path, form)
}

// signIn signs in and returns the answer to the sign-in post.
func (b *browser) signIn(user, password string) webReply {
	b.t.Helper()
	token := b.csrf("/signin")
	return b.do("POST", "/signin", url.Values{"csrf": {token}, "username": {user}, "password": {password}})
}

// signedIn is a browser signed in as the env's admin.
func (e *officeEnv) signedIn() *browser {
	e.t.Helper()
	b := e.browser()
	if r := b.signIn(e.admin.Username, e.password); r.status != http.StatusSeeOther || r.location != "/devices" {
		e.t.Fatalf("sign in: %d to %q\n%s", r.status, r.location, r.body)
	}
	return b
}

// apiToken makes an admin API token for the env's admin.
func (e *officeEnv) apiToken() string {
	e.t.Helper()
	_, secret, err := e.store.CreateAPIToken(e.admin.ID, "test", e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// api calls the admin API; body is nil, a string, or a value sent as JSON.
func (e *officeEnv) api(method, path, token string, body any) reply {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.web.URL+apiPrefix+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// wantAPIError checks an admin API error answer.
func (r reply) wantAPIError(t testing.TB, status int, code, field string) apiErrorBody {
	t.Helper()
	var e apiErrorBody
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("status %d: body %q is not JSON: %v", r.status, r.body, err)
	}
	if r.status != status || e.Code != code || e.Message == "" || e.Field != field {
		t.Fatalf("got %d %+v, want %d %q field %q", r.status, e, status, code, field)
	}
	return e
}

// enrollDevice enrolls a kiosk through the device API with the current
// setup code and checks it in; it returns its ID and token.
func (e *officeEnv) enrollDevice(nickname string) (string, string) {
	e.t.Helper()
	req := enrollRequest(e.code(), nickname+"-installation")
	req.Nickname = nickname
	r := e.do("POST", protocol.PathEnroll, "", req)
	r.wantStatus(e.t, http.StatusOK)
	var er protocol.EnrollResponse
	r.decode(e.t, &er)
	v, err := e.store.RosterVersion()
	if err != nil {
		e.t.Fatal(err)
	}
	e.do("POST", protocol.PathCheckIn, er.Token, protocol.CheckIn{Version: "1.2.0", RosterVersion: v}).wantStatus(e.t, http.StatusOK)
	return er.DeviceID, er.Token
}

var errGateway = errors.New("gateway down")
