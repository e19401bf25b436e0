// Package faultproxy is an HTTP proxy that breaks requests on purpose. It
// sits between a kiosk's uplink and the back office and, at configured
// rates, resets the connection, answers 500 or 503 itself, stalls until
// the client gives up, cuts the answer off halfway, or delivers the request
// to the server twice and returns one answer. It exists to prove that
// punches and photos arrive exactly once whatever the network does
// (docs/RELIABILITY.md); cmd/faultproxy runs it as a command.
//
// The faults that matter most are the ones that strike after the server
// acted: the server stored the punches but the kiosk never hears so, and
// sends them again. So a reset, a 500, a 503 or a stall hits either before
// the request reaches the server or after the server answered, each half
// of the time; a truncated answer and a doubled request always reach the
// server.
//
// The proxy is deterministic for a given seed: which fault hits which
// request is drawn from a generator seeded with Config.Seed, in the order
// the requests arrive, so a client that sends one request at a time meets
// the same faults on every run.
package faultproxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kind is a kind of fault.
type Kind string

// The faults the proxy injects.
const (
	// Reset closes the client's connection without an answer, with a TCP
	// RST where the connection allows it.
	Reset Kind = "reset"
	// Status500 answers 500 Internal Server Error, as a broken gateway
	// would (plain text, not the protocol's JSON error).
	Status500 Kind = "500"
	// Status503 answers 503 Service Unavailable, plain text.
	Status503 Kind = "503"
	// Stall holds the answer until the client gives up (its timeout) or
	// Config.StallFor passes, then drops the connection.
	Stall Kind = "stall"
	// Truncate sends the server's status and headers and half of its
	// body, then drops the connection: the client reads an unexpected EOF.
	Truncate Kind = "truncate"
	// Twice forwards the request to the server twice, one after the
	// other, and returns the second answer.
	Twice Kind = "twice"
)

// Kinds lists every fault kind, in a fixed order.
var Kinds = []Kind{Reset, Status500, Status503, Stall, Truncate, Twice}

// ParseKind returns the Kind named s.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("faultproxy: no fault kind %q; the kinds are %s", s, kindList())
}

func kindList() string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// Uniform splits the fault rate total evenly over every kind: Uniform(0.3)
// breaks 30% of requests, 5% of them with each kind.
func Uniform(total float64) map[Kind]float64 {
	r := make(map[Kind]float64, len(Kinds))
	for _, k := range Kinds {
		r[k] = total / float64(len(Kinds))
	}
	return r
}

// ParseRates reads rates written as "0.3" (Uniform) or as
// "reset=0.05,500=0.05,stall=0.02" (kinds not named get none).
func ParseRates(s string) (map[Kind]float64, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "=") {
		total, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("faultproxy: rate %q: want a number such as 0.3, or kind=rate pairs such as reset=0.1,stall=0.05", s)
		}
		r := Uniform(total)
		return r, checkRates(r)
	}
	r := make(map[Kind]float64)
	for _, pair := range strings.Split(s, ",") {
		name, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return nil, fmt.Errorf("faultproxy: rate %q: want kind=rate", pair)
		}
		k, err := ParseKind(strings.TrimSpace(name))
		if err != nil {
			return nil, err
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return nil, fmt.Errorf("faultproxy: rate of %s %q is not a number", k, v)
		}
		r[k] = f
	}
	return r, checkRates(r)
}

func checkRates(r map[Kind]float64) error {
	sum := 0.0
	for k, f := range r {
		if _, err := ParseKind(string(k)); err != nil {
			return err
		}
		if f < 0 || f > 1 || f != f {
			return fmt.Errorf("faultproxy: rate of %s is %v; want a fraction between 0 and 1", k, f)
		}
		sum += f
	}
	if sum > 1+1e-9 {
		return fmt.Errorf("faultproxy: the rates add up to %v; at most 1 (every request) can fail", sum)
	}
	return nil
}

// Config configures a Proxy.
type Config struct {
	// Target is the server requests go to, such as
	// "http://127.0.0.1:8080"; the request's path and query are kept.
	Target string
	// Seed seeds the choice of faults.
	Seed uint64
	// Rates is, per kind, the fraction of requests that meet it; they
	// add up to at most 1. nil or empty: no faults.
	Rates map[Kind]float64
	// StallFor is the longest a stall holds an answer when the client
	// does not give up sooner; 0 means 30 seconds. Give the client a
	// shorter timeout than this.
	StallFor time.Duration
	// MaxBody is the largest request and answer body the proxy buffers;
	// 0 means 16 MiB. A larger request is refused with 413.
	MaxBody int64
	// Transport sends requests to Target; nil means a fresh
	// http.Transport, so that connections to the server are the proxy's
	// own.
	Transport http.RoundTripper
}

// Stats counts what the proxy did.
type Stats struct {
	Requests  int // requests from clients
	Forwarded int // requests sent to the server (a doubled one counts twice)
	// Faults counts the requests that met each kind of fault.
	Faults map[Kind]int
	// AfterServer counts the faulted requests the server had already
	// answered when the fault struck: the client cannot know whether its
	// request took effect.
	AfterServer int
	// Unreachable counts requests the server could not be reached for
	// (answered 502 Bad Gateway).
	Unreachable int
}

// Total is the number of faults injected.
func (s Stats) Total() int {
	n := 0
	for _, c := range s.Faults {
		n += c
	}
	return n
}

// String is the counts on one line, kinds in a fixed order.
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests, %d forwarded, %d faults (", s.Requests, s.Forwarded, s.Total())
	for i, k := range Kinds {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k, s.Faults[k])
	}
	fmt.Fprintf(&b, "), %d after the server acted, %d with the server unreachable", s.AfterServer, s.Unreachable)
	return b.String()
}

// Proxy is the fault-injecting proxy; it is an http.Handler. Its methods
// are safe for concurrent use.
type Proxy struct {
	target    *url.URL
	transport http.RoundTripper
	stallFor  time.Duration
	maxBody   int64

	mu    sync.Mutex
	rng   *rand.Rand
	rates map[Kind]float64
	stats Stats
}

// New checks cfg and returns a Proxy.
func New(cfg Config) (*Proxy, error) {
	u, err := url.Parse(cfg.Target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: target %q: want http://host:port or https://host:port", cfg.Target)
	}
	if err := checkRates(cfg.Rates); err != nil {
		return nil, err
	}
	p := &Proxy{
		target:    u,
		transport: cfg.Transport,
		stallFor:  cfg.StallFor,
		maxBody:   cfg.MaxBody,
		rng:       rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed)),
		rates:     maps.Clone(cfg.Rates),
		stats:     Stats{Faults: make(map[Kind]int)},
	}
	if p.transport == nil {
		p.transport = &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     30 * time.Second,
		}
	}
	if p.stallFor <= 0 {
		p.stallFor = 30 * time.Second
	}
	if p.maxBody <= 0 {
		p.maxBody = 16 << 20
	}
	return p, nil
}

// SetRates changes the fault rates from the next request on; nil stops
// the faults (to let a test drain, say).
func (p *Proxy) SetRates(r map[Kind]float64) error {
	if err := checkRates(r); err != nil {
		return err
	}
	p.mu.Lock()
	p.rates = maps.Clone(r)
	p.mu.Unlock()
	return nil
}

// Stats returns the counts so far.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Faults = maps.Clone(p.stats.Faults)
	return s
}

// plan is what the proxy does to one request.
type plan struct {
	kind  Kind // "" for none
	after bool // the server sees the request before the fault strikes
}

// decide draws the plan for the next request. It always draws twice, so
// that the rates can change without shifting the sequence of draws.
func (p *Proxy) decide() plan {
	p.mu.Lock()
	defer p.mu.Unlock()
	x, coin := p.rng.Float64(), p.rng.IntN(2) == 1
	p.stats.Requests++
	var pl plan
	acc := 0.0
	for _, k := range Kinds {
		acc += p.rates[k]
		if x < acc {
			pl.kind = k
			break
		}
	}
	switch pl.kind {
	case "":
		return pl
	case Truncate, Twice:
		pl.after = true
	default:
		pl.after = coin
	}
	p.stats.Faults[pl.kind]++
	if pl.after {
		p.stats.AfterServer++
	}
	return pl
}

// ServeHTTP forwards r to the target, breaking it as planned.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, p.maxBody+1))
	if err != nil {
		// The client went away while sending: nothing to answer.
		return
	}
	if int64(len(body)) > p.maxBody {
		http.Error(w, fmt.Sprintf("faultproxy: request body over %d bytes", p.maxBody), http.StatusRequestEntityTooLarge)
		return
	}
	pl := p.decide()
	if pl.kind != "" && !pl.after {
		p.strike(w, r, pl.kind, nil)
		return
	}
	resp, err := p.forward(r, body)
	if err == nil && pl.kind == Twice {
		resp, err = p.forward(r, body)
	}
	if err != nil {
		p.mu.Lock()
		p.stats.Unreachable++
		p.mu.Unlock()
		http.Error(w, "faultproxy: the server is unreachable: "+err.Error(), http.StatusBadGateway)
		return
	}
	if pl.kind != "" && pl.kind != Twice {
		p.strike(w, r, pl.kind, resp)
		return
	}
	resp.write(w)
}

// answer is a buffered response from the server.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a *answer) write(w http.ResponseWriter) {
	h := w.Header()
	for k, vs := range a.header {
		h[k] = slices.Clone(vs)
	}
	h.Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(a.status)
	w.Write(a.body)
}

// hopHeaders concern one connection, not the request (RFC 9110 7.6.1).
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// forward sends a copy of r with body to the target and reads the whole
// answer. It is not tied to the client's context: the server finishes a
// request the client gave up on, as it would across a real network.
func (p *Proxy) forward(r *http.Request, body []byte) (*answer, error) {
	u := *p.target
	u.Path = strings.TrimRight(p.target.Path, "/") + r.URL.Path
	u.RawPath = ""
	u.RawQuery = r.URL.RawQuery
	ctx, cancel := context.WithTimeout(context.Background(), p.stallFor+time.Minute)
	defer cancel()
	out, err := http.NewRequestWithContext(ctx, r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	out.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	out.ContentLength = int64(len(body))
	p.mu.Lock()
	p.stats.Forwarded++
	p.mu.Unlock()
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, p.maxBody+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > p.maxBody {
		return nil, fmt.Errorf("answer over %d bytes", p.maxBody)
	}
	h := resp.Header.Clone()
	for _, k := range hopHeaders {
		h.Del(k)
	}
	return &answer{status: resp.StatusCode, header: h, body: b}, nil
}

// strike carries out the fault k; resp is the server's answer when the
// server has seen the request, nil when not.
func (p *Proxy) strike(w http.ResponseWriter, r *http.Request, k Kind, resp *answer) {
	switch k {
	case Reset:
		drop(w, true)
	case Status500:
		http.Error(w, "faultproxy: injected 500", http.StatusInternalServerError)
	case Status503:
		http.Error(w, "faultproxy: injected 503", http.StatusServiceUnavailable)
	case Stall:
		t := time.NewTimer(p.stallFor)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-t.C:
		}
		drop(w, true)
	case Truncate:
		if resp == nil || len(resp.body) < 2 {
			// Nothing to cut in half: the answer is lost whole.
			drop(w, true)
			return
		}
		h := w.Header()
		for k, vs := range resp.header {
			h[k] = slices.Clone(vs)
		}
		h.Set("Content-Length", strconv.Itoa(len(resp.body)))
		w.WriteHeader(resp.status)
		w.Write(resp.body[:len(resp.body)/2])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		// A plain close after the data: the client reads half the body,
		// then an unexpected end.
		drop(w, false)
	}
}

// drop closes the client's connection without finishing the answer; with
// rst, as a TCP reset where it can (a TCP connection taken over from the
// server). Where the connection cannot be taken over it aborts the
// handler, which makes net/http close it.
func drop(w http.ResponseWriter, rst bool) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok && rst {
				tc.SetLinger(0) // close sends RST, not FIN
			}
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
