package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteclock/siteclock/backoffice"
	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/roster"
)

// syncBuffer is a bytes.Buffer a server goroutine writes while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := runContext(context.Background(), args, nil, &stdout, &stderr)
	return stdout.String(), err
}

var (
	codeRE   = regexp.MustCompile(`setup code: (\d{8}) \(changes `)
	listenRE = regexp.MustCompile(`serving the device API on (https?://\S+) `)
)

// server is siteclock-server running in-process.
type server struct {
	url    string
	stdout *syncBuffer
	stop   func() error
}

func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{stdout: &syncBuffer{}}
	errc := make(chan error, 1)
	go func() { errc <- runContext(ctx, args, nil, s.stdout, &syncBuffer{}) }()
	stopped := false
	s.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-errc:
			return err
		case <-time.After(15 * time.Second):
			t.Fatal("server did not stop")
			return nil
		}
	}
	t.Cleanup(func() { s.stop() })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := listenRE.FindStringSubmatch(s.stdout.String()); m != nil {
			s.url = m[1]
			return s
		}
		select {
		case err := <-errc:
			t.Fatalf("server stopped: %v\n%s", err, s.stdout)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("server did not start:\n%s", s.stdout)
	return nil
}

func postJSON(t *testing.T, client *http.Client, url, token string, in, out any) int {
	t.Helper()
	b, _ := json.Marshal(in)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func enrollBody(code string) protocol.EnrollRequest {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	return protocol.EnrollRequest{SetupCode: code, Nickname: "Gate", Hardware: "Simulator", Version: "test",
		InstallationID: "install-" + code, PublicKey: pub}
}

func TestCompanyCreateAndSetupCode(t *testing.T) {
	dir := t.TempDir()
	out, err := runCmd(t, "company", "create", "-data", dir, "-name", "Acme Framing")
	if err != nil {
		t.Fatal(err)
	}
	m := codeRE.FindStringSubmatch(out)
	if !strings.Contains(out, `created company "Acme Framing"`) || m == nil {
		t.Fatalf("company create printed:\n%s", out)
	}
	code := m[1]
	if _, err := runCmd(t, "company", "create", "-data", dir, "-name", "Again"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second company: %v", err)
	}
	out, err = runCmd(t, "setup-code", "-data", dir)
	if err != nil || !strings.Contains(out, "setup code: "+code) || !strings.Contains(out, "in 7 days)") {
		t.Errorf("setup-code: %v\n%s", err, out)
	}
	out, err = runCmd(t, "setup-code", "-data", dir, "-rotate")
	if m := codeRE.FindStringSubmatch(out); err != nil || m == nil || m[1] == code {
		t.Errorf("setup-code -rotate: %v\n%s", err, out)
	}
}

func TestFlagsFailEarly(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "say what to do"},
		{[]string{"launch"}, "unknown command"},
		{[]string{"serve"}, "-data DIR"},
		{[]string{"serve", "-data", dir, "-addr", "0.0.0.0:8080"}, "refusing plain HTTP on 0.0.0.0:8080"},
		{[]string{"serve", "-data", dir, "-addr", ":8080"}, "refusing plain HTTP"},
		{[]string{"serve", "-data", dir, "-addr", "192.168.1.10:8080"}, "refusing plain HTTP"},
		{[]string{"demo", "-data", dir, "-addr", "[::]:8080"}, "refusing plain HTTP"},
		{[]string{"serve", "-data", dir, "-tls-cert", "c.pem"}, "both -tls-cert and -tls-key"},
		{[]string{"serve", "-data", dir}, "company create"},
		{[]string{"company", "create", "-data", dir}, "-name NAME"},
		{[]string{"company", "list"}, "company create"},
		{[]string{"setup-code", "-data", dir}, "no company yet"},
	} {
		_, err := runCmd(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want it to say %q", c.args, err, c.want)
		}
	}
	for d, want := range map[time.Duration]string{
		7 * 24 * time.Hour: "7 days", 30 * time.Hour: "30 hours", time.Hour: "60 minutes", time.Minute: "1 minute", -time.Second: "0 minutes",
	} {
		if got := approx(d); got != want {
			t.Errorf("approx(%v) = %q, want %q", d, got, want)
		}
	}
	for addr, want := range map[string]bool{
		"127.0.0.1:80": true, "[::1]:80": true, "localhost:80": true, "127.1.2.3:80": true,
		":80": false, "0.0.0.0:80": false, "10.0.0.1:80": false, "example.com:80": false, "nonsense": false,
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %v", addr, got)
		}
	}
}

// Serve creates the company, enrolls a kiosk with the printed code, and
// shuts down cleanly when its context ends.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "serve", "-data", dir, "-addr", "127.0.0.1:0", "-company", "Acme Framing")
	m := codeRE.FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("no setup code printed:\n%s", s.stdout)
	}
	var er protocol.EnrollResponse
	if st := postJSON(t, http.DefaultClient, s.url+protocol.PathEnroll, "", enrollBody(m[1]), &er); st != 200 {
		t.Fatalf("enroll: %d", st)
	}
	var ci protocol.CheckInResponse
	if st := postJSON(t, http.DefaultClient, s.url+protocol.PathCheckIn, er.Token, protocol.CheckIn{Version: "test"}, &ci); st != 200 || ci.RosterVersion != "r1" {
		t.Fatalf("check-in: %d %+v", st, ci)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if _, err := http.Get(s.url + protocol.PathRoster); err == nil {
		t.Errorf("server still answering after shutdown")
	}
	// The data survived and the folder is free for the next start.
	store, err := backoffice.Open(dir, backoffice.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if ds, _ := store.Devices(); len(ds) != 1 || ds[0].Version != "test" {
		t.Errorf("devices after restart: %+v", ds)
	}
}

func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	s := startServer(t, "serve", "-data", dir, "-addr", "127.0.0.1:0", "-company", "Acme", "-tls-cert", certFile, "-tls-key", keyFile)
	if !strings.HasPrefix(s.url, "https://") {
		t.Fatalf("url %s", s.url)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var pe protocol.Error
	if st := postJSON(t, client, s.url+protocol.PathEnroll, "", enrollBody("00000000"), &pe); st != 403 && st != 410 {
		t.Errorf("enroll over TLS with a wrong code: %d %+v", st, pe)
	}
}

func TestDemoSeedsOnce(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "demo", "-data", dir, "-addr", "127.0.0.1:0")
	out := s.stdout.String()
	if !strings.Contains(out, "seeded the demo company") || codeRE.FindStringSubmatch(out) == nil {
		t.Errorf("demo printed:\n%s", out)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	s = startServer(t, "demo", "-data", dir, "-addr", "127.0.0.1:0")
	if strings.Contains(s.stdout.String(), "seeded") {
		t.Errorf("second demo start seeded again:\n%s", s.stdout)
	}
	s.stop()

	store, err := backoffice.Open(dir, backoffice.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	r, err := store.Roster()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		name, role string
		consent    bool
		lang       roster.Lang
		faceFront  bool
	}{
		"1111": {"Ana Ruiz", "foreman", true, "", true},
		"2222": {"Ben Cole", "worker", true, "", true},
		"3333": {"Carla Diaz", "office", false, "", false},
		"4444": {"Diego Soto", "worker", true, roster.Spanish, true},
		"5555": {"Erin Walsh", "office", false, "", false},
	}
	if len(r.Employees()) != len(want) {
		t.Errorf("%d employees, want %d", len(r.Employees()), len(want))
	}
	for pin, w := range want {
		e, ok := r.MatchPIN(pin)
		if !ok || e.Name != w.name || e.RoleID != w.role || e.PhotoConsent != w.consent || e.Language != w.lang || r.RoleOf(e).FaceFront != w.faceFront {
			t.Errorf("PIN %s: %+v (role %+v), want %+v", pin, e, r.RoleOf(e), w)
		}
	}
	if ana, _ := r.MatchPIN("1111"); !r.RoleOf(ana).ClockFor {
		t.Errorf("Ana cannot Clock For")
	}
	if r.Settings.Nickname != "Demo site trailer" {
		t.Errorf("settings %+v", r.Settings)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "siteclock test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
