package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a server that counts what reaches it and answers each
// request with its number, so the client can tell which answer it got.
type recorder struct {
	mu     sync.Mutex
	bodies []string
	reqs   []*http.Request
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.bodies = append(rec.bodies, string(b))
	rec.reqs = append(rec.reqs, r)
	n := len(rec.bodies)
	rec.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Answer", fmt.Sprint(n))
	fmt.Fprintf(w, `{"answer": %d, "padding": "%s"}`, n, strings.Repeat("x", 64))
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.bodies)
}

// rig is a server behind a proxy.
type rig struct {
	rec   *recorder
	proxy *Proxy
	url   string // the proxy's
	front *httptest.Server
}

func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	if cfg.Target == "" {
		cfg.Target = srv.URL
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)
	return &rig{rec: rec, proxy: p, url: front.URL, front: front}
}

func TestPassesRequestsThrough(t *testing.T) {
	r := newRig(t, Config{Seed: 1})
	req, _ := http.NewRequest("PUT", r.url+"/api/device/v1/photos/abc?x=1", strings.NewReader("jpeg bytes"))
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("X-Punch-ID", "p1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !strings.Contains(string(b), `"answer": 1`) || resp.Header.Get("X-Answer") != "1" {
		t.Fatalf("answer %d %q %v, headers %v", resp.StatusCode, b, err, resp.Header)
	}
	got := r.rec.reqs[0]
	if got.Method != "PUT" || got.URL.Path != "/api/device/v1/photos/abc" || got.URL.RawQuery != "x=1" ||
		got.Header.Get("Authorization") != "Bearer secret" || got.Header.Get("X-Punch-ID") != "p1" || r.rec.bodies[0] != "jpeg bytes" {
		t.Errorf("the server got %s %s?%s %v %q", got.Method, got.URL.Path, got.URL.RawQuery, got.Header, r.rec.bodies[0])
	}
	if s := r.proxy.Stats(); s.Requests != 1 || s.Forwarded != 1 || s.Total() != 0 {
		t.Errorf("stats = %v", s)
	}
}

// get sends one request and reports what the client saw.
func get(t *testing.T, c *http.Client, url string) (status int, body string, err error) {
	t.Helper()
	resp, err := c.Post(url+"/x", "text/plain", strings.NewReader("payload"))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestEachKind(t *testing.T) {
	const n = 20
	for _, tc := range []struct {
		kind Kind
		// check is what the client must see for each request.
		check func(t *testing.T, status int, body string, err error)
		// twice: the server sees each request two times.
		twice bool
	}{
		{Reset, func(t *testing.T, status int, body string, err error) {
			if err == nil {
				t.Errorf("a reset request got an answer: %d %q", status, body)
			}
		}, false},
		{Status500, func(t *testing.T, status int, body string, err error) {
			if err != nil || status != 500 || !strings.Contains(body, "injected 500") {
				t.Errorf("got %d %q %v, want an injected 500", status, body, err)
			}
		}, false},
		{Status503, func(t *testing.T, status int, body string, err error) {
			if err != nil || status != 503 || !strings.Contains(body, "injected 503") {
				t.Errorf("got %d %q %v, want an injected 503", status, body, err)
			}
		}, false},
		{Stall, func(t *testing.T, status int, body string, err error) {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("got %d %q %v, want the client's timeout", status, body, err)
			}
		}, false},
		{Truncate, func(t *testing.T, status int, body string, err error) {
			if status != 200 || !errors.Is(err, io.ErrUnexpectedEOF) || !strings.HasPrefix(body, `{"answer": `) || strings.HasSuffix(body, "}") {
				t.Errorf("got %d %q %v, want the start of the answer and an unexpected EOF", status, body, err)
			}
		}, false},
		{Twice, func(t *testing.T, status int, body string, err error) {
			if err != nil || status != 200 || !strings.HasPrefix(body, `{"answer": `) {
				t.Errorf("got %d %q %v, want the server's answer", status, body, err)
			}
		}, true},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			// The stall lasts until the client's timeout; StallFor is a
			// backstop far beyond it.
			r := newRig(t, Config{Seed: 7, Rates: map[Kind]float64{tc.kind: 1}, StallFor: time.Minute})
			c := &http.Client{Timeout: 50 * time.Millisecond}
			if tc.kind != Stall {
				c.Timeout = time.Minute
			}
			for range n {
				before := r.rec.count()
				status, body, err := get(t, c, r.url)
				tc.check(t, status, body, err)
				if tc.twice {
					if r.rec.count() != before+2 {
						t.Fatalf("the server saw the request %d times, want 2", r.rec.count()-before)
					}
					if want := fmt.Sprintf(`{"answer": %d,`, before+2); !strings.HasPrefix(body, want) {
						t.Errorf("client got %q, want the second answer %s", body, want)
					}
				}
			}
			// Wait for the proxy's handlers: a request the client gave
			// up on may still be on its way to the server.
			r.front.Close()
			s := r.proxy.Stats()
			if s.Requests != n || s.Faults[tc.kind] != n || s.Total() != n {
				t.Errorf("stats = %v, want %d requests all with %s", s, n, tc.kind)
			}
			// The server saw exactly the requests whose fault struck
			// after it.
			want := s.AfterServer
			if tc.twice {
				want *= 2
			}
			if got := r.rec.count(); got != want || s.Forwarded != want {
				t.Errorf("the server saw %d requests and the proxy forwarded %d, want %d (stats %v)", got, s.Forwarded, want, s)
			}
			switch tc.kind {
			case Truncate, Twice:
				if s.AfterServer != n {
					t.Errorf("%d of %d after the server, want all", s.AfterServer, n)
				}
			default:
				if s.AfterServer == 0 || s.AfterServer == n {
					t.Errorf("%d of %d after the server; want some before and some after", s.AfterServer, n)
				}
			}
			for _, b := range r.rec.bodies {
				if b != "payload" {
					t.Errorf("the server got body %q", b)
				}
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	draw := func(seed uint64, rates map[Kind]float64) []plan {
		p, err := New(Config{Target: "http://127.0.0.1:1", Seed: seed, Rates: rates})
		if err != nil {
			t.Fatal(err)
		}
		out := make([]plan, 10000)
		for i := range out {
			out[i] = p.decide()
		}
		return out
	}
	a, b := draw(42, Uniform(0.3)), draw(42, Uniform(0.3))
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Error("the same seed gave different faults")
	}
	if c := draw(43, Uniform(0.3)); fmt.Sprint(a) == fmt.Sprint(c) {
		t.Error("another seed gave the same faults")
	}
	counts := map[Kind]int{}
	for _, pl := range a {
		counts[pl.kind]++
	}
	// 10,000 draws at 5% each: 500 expected, a standard deviation of 22.
	for _, k := range Kinds {
		if c := counts[k]; c < 400 || c > 600 {
			t.Errorf("%s struck %d times in 10000 at 5%%", k, c)
		}
	}
	if c := counts[""]; c < 6700 || c > 7300 {
		t.Errorf("%d of 10000 requests unharmed at a 30%% fault rate", c)
	}
	// Changing the rates does not shift the sequence: with the rates at
	// zero every request passes, and the draws after are those of the
	// same seed.
	p, _ := New(Config{Target: "http://127.0.0.1:1", Seed: 42, Rates: Uniform(0.3)})
	p.SetRates(nil)
	for range 100 {
		if pl := p.decide(); pl.kind != "" {
			t.Fatalf("a fault with no rates: %v", pl)
		}
	}
	p.SetRates(Uniform(0.3))
	for i := 100; i < 200; i++ {
		if pl := p.decide(); pl != a[i] {
			t.Fatalf("draw %d = %v after a rate change, want %v", i, pl, a[i])
		}
	}
}

func TestServerUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	r := newRig(t, Config{Target: "http://" + addr})
	status, body, err := get(t, http.DefaultClient, r.url)
	if err != nil || status != http.StatusBadGateway || !strings.Contains(body, "unreachable") {
		t.Errorf("got %d %q %v, want 502", status, body, err)
	}
	if s := r.proxy.Stats(); s.Unreachable != 1 {
		t.Errorf("stats = %v", s)
	}
}

func TestBodyLimit(t *testing.T) {
	r := newRig(t, Config{MaxBody: 10})
	resp, err := http.Post(r.url+"/x", "text/plain", strings.NewReader(strings.Repeat("a", 11)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || r.rec.count() != 0 {
		t.Errorf("status %d, server saw %d", resp.StatusCode, r.rec.count())
	}
}

func TestParseRates(t *testing.T) {
	r, err := ParseRates("0.3")
	if err != nil || len(r) != len(Kinds) || r[Stall] < 0.0499 || r[Stall] > 0.0501 {
		t.Errorf("ParseRates(0.3) = %v, %v", r, err)
	}
	r, err = ParseRates("reset=0.1, stall=0.05")
	if err != nil || len(r) != 2 || r[Reset] != 0.1 || r[Stall] != 0.05 {
		t.Errorf("ParseRates(pairs) = %v, %v", r, err)
	}
	for _, bad := range []string{"", "x", "reset=x", "bogus=0.1", "reset", "reset=-0.1", "reset=0.6,500=0.6", "1.5", "NaN"} {
		if _, err := ParseRates(bad); err == nil {
			t.Errorf("ParseRates(%q) accepted", bad)
		}
	}
	if _, err := New(Config{Target: "ftp://x"}); err == nil {
		t.Error("New accepted an ftp target")
	}
}
