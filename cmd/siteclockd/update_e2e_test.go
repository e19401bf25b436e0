package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteclock/siteclock/firmware"
	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/sqlitedb"
)

var (
	buildsMu sync.Mutex
	builds   = map[string]string{}
)

// siteclockdVersion builds siteclockd stamped with version, as `make pi
// VERSION=...` does; broken makes it fail its health check (brokenBuild).
func siteclockdVersion(t *testing.T, version, broken string) string {
	t.Helper()
	buildsMu.Lock()
	defer buildsMu.Unlock()
	key := version + "/" + broken
	if p, ok := builds[key]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "siteclockd-"+version)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "siteclockd")
	ld := "-X github.com/siteclock/siteclock/firmware.Version=" + version
	if broken != "" {
		ld += " -X main.brokenBuild=" + broken
	}
	if out, err := exec.Command("go", "build", "-ldflags", ld, "-o", p, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", version, err, out)
	}
	builds[key] = p
	return p
}

// cutProxy stands between the kiosk and the office and drops the
// connection of the first release download after cutAt bytes; it keeps
// the Range header of every release download.
type cutProxy struct {
	proxy  *httputil.ReverseProxy
	cutAt  int
	mu     sync.Mutex
	ranges []string
}

func (p *cutProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, protocol.PathRelease) {
		p.proxy.ServeHTTP(w, r)
		return
	}
	p.mu.Lock()
	p.ranges = append(p.ranges, r.Header.Get("Range"))
	first := len(p.ranges) == 1
	p.mu.Unlock()
	if first {
		w = &cutWriter{ResponseWriter: w, left: p.cutAt}
	}
	p.proxy.ServeHTTP(w, r)
}

func (p *cutProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.ranges...)
}

type cutWriter struct {
	http.ResponseWriter
	left int
}

func (c *cutWriter) Write(b []byte) (int, error) {
	if len(b) > c.left {
		n, _ := c.ResponseWriter.Write(b[:c.left])
		c.left = 0
		return n, errors.New("cut")
	}
	c.left -= len(b)
	return c.ResponseWriter.Write(b)
}

// office is a running back office (the demo) and its database.
type office struct {
	t    *testing.T
	data string
	url  string
	code string
	db   *sql.DB
}

func startOffice(t *testing.T) *office {
	data, addr := t.TempDir(), freeAddr(t)
	srv := exec.Command(siteclockServer(t), "demo", "-data", data, "-addr", addr)
	stdout, _ := srv.StdoutPipe()
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	o := &office{t: t, data: data, url: "http://" + addr}
	lines := bufio.NewScanner(stdout)
	re := regexp.MustCompile(`setup code: (\d{8})`)
	for lines.Scan() {
		if m := re.FindStringSubmatch(lines.Text()); m != nil {
			o.code = m[1]
		}
		if strings.Contains(lines.Text(), "serving") {
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if o.code == "" {
		t.Fatal("the demo printed no setup code")
	}
	db, err := sql.Open("sqlite3", sqlitedb.ReadOnlyDSN(filepath.Join(data, "office.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	o.db = db
	return o
}

// admin runs a siteclock-server command on the office's data folder.
func (o *office) admin(args ...string) string {
	o.t.Helper()
	full := append([]string{args[0], args[1], "-data", o.data}, args[2:]...)
	out, err := exec.Command(siteclockServer(o.t), full...).CombinedOutput()
	if err != nil {
		o.t.Fatalf("siteclock-server %s: %v\n%s", strings.Join(full, " "), err, out)
	}
	return string(out)
}

// publish uploads a release and makes it every device's target.
func (o *office) publish(manifest, binary, version string) {
	o.t.Helper()
	o.admin("release", "add", manifest, binary)
	o.admin("release", "target", version)
}

type deviceUpdate struct {
	Version, UpdateVersion, State, Detail string
}

func (o *office) device() deviceUpdate {
	var d deviceUpdate
	o.db.QueryRow(`SELECT version, update_version, update_state, update_detail FROM devices`).Scan(&d.Version, &d.UpdateVersion, &d.State, &d.Detail)
	return d
}

// waitFor waits until the office's device matches, poking the kiosk with
// poke (a punch, so that it checks in) every few seconds while no update
// is in progress.
func (o *office) waitFor(what string, poke func(), ok func(deviceUpdate) bool) deviceUpdate {
	o.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	nextPoke := time.Now()
	for {
		d := o.device()
		if ok(d) {
			return d
		}
		if time.Now().After(deadline) {
			o.t.Fatalf("the office never saw %s; it holds %+v", what, d)
		}
		// No punches while an update is on its way: it installs only
		// once the kiosk is left alone.
		busy := d.State == protocol.UpdateDownloading || d.State == protocol.UpdateReady || d.State == protocol.UpdateInstalling
		if poke != nil && !busy && time.Now().After(nextPoke) {
			poke()
			nextPoke = time.Now().Add(3 * time.Second)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestOverTheAirUpdates runs real builds of siteclockd under the
// supervisor against the real back office: 1.0.0 updates to 2.0.0 through
// a download cut in the middle; 3.0.0, which exits before it is ready,
// and 3.0.1, which stops its watchdog pings, are each rolled back to
// 2.0.0; a tampered manifest, a manifest signed by another key, a
// tampered binary and a downgrade are refused. The office hears each
// outcome.
func TestOverTheAirUpdates(t *testing.T) {
	if testing.Short() {
		t.Skip("builds siteclockd five times; make test runs it")
	}
	v1 := siteclockdVersion(t, "1.0.0", "")
	v2 := siteclockdVersion(t, "2.0.0", "")
	v3 := siteclockdVersion(t, "3.0.0", "exit")
	v301 := siteclockdVersion(t, "3.0.1", "hang")
	o := startOffice(t)
	dir := t.TempDir()

	// The release key, made and used with the real commands.
	keyFile := filepath.Join(dir, "release.key")
	out, err := exec.Command(v1, "release", "keygen", "-out", keyFile).CombinedOutput()
	if err != nil {
		t.Fatalf("release keygen: %v\n%s", err, out)
	}
	pub := regexp.MustCompile(`release_keys = \["([^"]+)"\]`).FindSubmatch(out)
	if pub == nil {
		t.Fatalf("release keygen printed no public key:\n%s", out)
	}
	sign := func(bin string) string {
		if out, err := exec.Command(v1, "release", "sign", "-key", keyFile, bin).CombinedOutput(); err != nil {
			t.Fatalf("release sign %s: %v\n%s", bin, err, out)
		}
		return bin + ".manifest"
	}
	// A build without a release version cannot be signed.
	if out, err := exec.Command(v1, "release", "sign", "-key", keyFile, siteclockd(t)).CombinedOutput(); err == nil || !strings.Contains(string(out), "version") {
		t.Errorf("signing a development build: %v\n%s", err, out)
	}

	// The kiosk enrols through a proxy that cuts the first download.
	target, _ := url.Parse(o.url)
	proxy := &cutProxy{proxy: httputil.NewSingleHostReverseProxy(target), cutAt: 3 << 20}
	ps := httptest.NewServer(proxy)
	defer ps.Close()
	state := filepath.Join(dir, "state")
	cfg := filepath.Join(dir, "siteclockd.toml")
	os.WriteFile(cfg, fmt.Appendf(nil, `state_dir = %q
[camera]
driver = "sim"
[server]
url = %q
[update]
release_keys = [%q]
ready_timeout = "20s"
probation = "3s"
quiet = "1s"
`, state, ps.URL, pub[1]), 0o600)
	if out, err := exec.Command(v1, "enroll", "-config", cfg, "-code", o.code).CombinedOutput(); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}

	o.publish(sign(v2), v2, "2.0.0")

	// The office takes a few seconds to see a release published from the
	// command line; punches make the kiosk check in again.
	// The packaged 1.0.0 runs under its supervisor, as the systemd unit
	// has it; the unit's watchdog is 4 s.
	sup := exec.Command(v1, "supervise", "-config", cfg, "-headless")
	sup.Env = append(os.Environ(), "WATCHDOG_USEC=4000000", "NOTIFY_SOCKET=")
	keys, _ := sup.StdinPipe()
	var logs bytes.Buffer
	sup.Stdout = io.Discard
	sup.Stderr = &syncWriter{w: &logs}
	if err := sup.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sup.Process.Signal(os.Interrupt)
		sup.Wait()
		if t.Failed() {
			t.Logf("supervisor and daemon logs:\n%s", logs.String())
		}
	}()
	direction := "o"
	punch := func() {
		// Carla (no photo): a punch makes the kiosk sync at once.
		direction = map[string]string{"i": "o", "o": "i"}[direction]
		io.WriteString(keys, "3333#"+direction)
	}

	d := o.waitFor("2.0.0 installed", punch, func(d deviceUpdate) bool {
		return d.State == protocol.UpdateInstalled && d.UpdateVersion == "2.0.0" && d.Version == "2.0.0"
	})
	t.Logf("1.0.0 -> 2.0.0: %+v", d)
	if r := proxy.seen(); len(r) < 2 || r[0] != "" || !strings.HasPrefix(r[1], "bytes=") || r[1] == "bytes=0-" {
		t.Errorf("release downloads' ranges %q: want a first download, cut, then one resumed with a Range", r)
	}
	if cur, _ := os.Readlink(filepath.Join(state, "firmware", "current")); cur != "versions/2.0.0" {
		t.Errorf("the current link is %q, want versions/2.0.0", cur)
	}

	// 3.0.0 exits at start: rolled back to 2.0.0.
	o.publish(sign(v3), v3, "3.0.0")
	d = o.waitFor("3.0.0 rolled back", punch, func(d deviceUpdate) bool {
		return d.State == protocol.UpdateRolledBack && d.UpdateVersion == "3.0.0" && d.Version == "2.0.0"
	})
	t.Logf("3.0.0: %+v", d)
	if !strings.Contains(d.Detail, "exited") {
		t.Errorf("rollback of 3.0.0 says %q; want why (it exited)", d.Detail)
	}

	// 3.0.1 says ready, then its loop hangs: no more watchdog pings.
	o.publish(sign(v301), v301, "3.0.1")
	d = o.waitFor("3.0.1 rolled back", punch, func(d deviceUpdate) bool {
		return d.State == protocol.UpdateRolledBack && d.UpdateVersion == "3.0.1" && d.Version == "2.0.0"
	})
	t.Logf("3.0.1: %+v", d)
	if !strings.Contains(d.Detail, "watchdog") {
		t.Errorf("rollback of 3.0.1 says %q; want why (no watchdog pings)", d.Detail)
	}
	// The packaged program's status tells the same story on the kiosk.
	out, err = exec.Command(v1, "status", "-config", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "2.0.0 installed over the air (the package is 1.0.0)") ||
		!strings.Contains(string(out), "last update:  rolled_back 3.0.1: it stopped its watchdog pings") {
		t.Errorf("siteclockd status: %v\n%s", err, out)
	}

	// Refusals. Each is published as the office would any release; the
	// office does not check signatures, the kiosk does.
	v2bytes, _ := os.ReadFile(v2)
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	key, err := firmware.LoadKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	manifest := func(version string, k ed25519.PrivateKey) []byte {
		sum := sha256.Sum256(v2bytes)
		env, err := firmware.Sign(firmware.Manifest{Product: firmware.Product, Version: version, Arch: firmware.Arch(),
			Size: int64(len(v2bytes)), SHA256: hex.EncodeToString(sum[:]), Created: time.Now().UTC()}, k)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	bin := write("siteclockd.bin", v2bytes)

	// A manifest whose version was changed after it was signed.
	var s firmware.Signed
	json.Unmarshal(manifest("4.0.0", key), &s)
	s.Manifest = bytes.Replace(s.Manifest, []byte(`"4.0.0"`), []byte(`"4.1.0"`), 1)
	tampered, _ := json.Marshal(s)
	for _, c := range []struct {
		version string
		env     []byte
		reason  string
	}{
		{"4.1.0", tampered, "signature does not verify"},
		{"4.2.0", manifest("4.2.0", otherKey), "signature does not verify"},
		{"1.5.0", manifest("1.5.0", key), "downgrades are refused"},
	} {
		o.publish(write(c.version+".manifest", c.env), bin, c.version)
		d = o.waitFor(c.version+" refused", punch, func(d deviceUpdate) bool {
			return d.State == protocol.UpdateRefused && d.UpdateVersion == c.version
		})
		t.Logf("%s: %+v", c.version, d)
		if !strings.Contains(d.Detail, c.reason) || d.Version != "2.0.0" {
			t.Errorf("%s: the office heard %+v; want refused because %q, 2.0.0 running", c.version, d, c.reason)
		}
	}

	// A binary altered on the office's disk after it was uploaded.
	o.publish(write("4.3.0.manifest", manifest("4.3.0", key)), bin, "4.3.0")
	sum := sha256.Sum256(v2bytes)
	stored := filepath.Join(o.data, "releases", hex.EncodeToString(sum[:]))
	altered := append([]byte(nil), v2bytes...)
	altered[len(altered)/2] ^= 0xff
	if err := os.WriteFile(stored, altered, 0o600); err != nil {
		t.Fatalf("alter the stored binary: %v (is it stored at releases/SHA256?)", err)
	}
	d = o.waitFor("4.3.0 refused", punch, func(d deviceUpdate) bool {
		return d.State == protocol.UpdateRefused && d.UpdateVersion == "4.3.0"
	})
	if !strings.Contains(d.Detail, "unexpected checksum") || d.Version != "2.0.0" {
		t.Errorf("4.3.0 with an altered binary: %+v; want refused for its checksum", d)
	}
	if cur, _ := os.Readlink(filepath.Join(state, "firmware", "current")); cur != "versions/2.0.0" {
		t.Errorf("after the refusals the current link is %q, want versions/2.0.0", cur)
	}
}

// syncWriter lets two processes' output share a buffer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}
