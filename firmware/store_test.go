package firmware

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteclock/siteclock/protocol"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// stage puts a verified-looking binary into the store as version.
func stage(t *testing.T, s *Store, version string, content []byte) {
	t.Helper()
	p := filepath.Join(s.Dir(), "download", version+".part")
	if err := os.WriteFile(p, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Install(version, p); err != nil {
		t.Fatal(err)
	}
}

func TestStoreSwitchCommitRollback(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if cur, err := s.Current(); cur != "" || err != nil {
		t.Fatalf("a new store's current = %q, %v; want none (the packaged binary)", cur, err)
	}
	stage(t, s, "2.0.0", []byte("v2"))
	if fi, err := os.Stat(s.Binary("2.0.0")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("installed binary: %v, %v", fi, err)
	}
	if err := s.Switch("1.0.0", "", t0); err == nil {
		t.Error("switched to a version that is not installed")
	}
	if err := s.Switch("2.0.0", "", t0); err != nil {
		t.Fatal(err)
	}
	cur, _ := s.Current()
	st, _ := s.State()
	if cur != "2.0.0" || st.Trial == nil || st.Trial.Version != "2.0.0" || st.Highest != "2.0.0" || st.Report.State != protocol.UpdateInstalling {
		t.Fatalf("after the switch: current %q, state %+v", cur, st)
	}
	if err := s.Commit(t0); err != nil {
		t.Fatal(err)
	}
	st, _ = s.State()
	if st.Trial != nil || st.Report.State != protocol.UpdateInstalled || st.Report.Version != "2.0.0" {
		t.Fatalf("after the commit: %+v", st)
	}

	// 3.0.0 fails: back to 2.0.0, never again, and no downgrade below it.
	stage(t, s, "3.0.0", []byte("v3"))
	if err := s.Switch("3.0.0", "2.0.0", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollback("it did not report ready within 2m", t0); err != nil {
		t.Fatal(err)
	}
	cur, _ = s.Current()
	st, _ = s.State()
	if cur != "2.0.0" || st.Trial != nil || st.Highest != "3.0.0" || len(st.Failed) != 1 || st.Failed[0] != "3.0.0" ||
		st.Report.State != protocol.UpdateRolledBack || !strings.Contains(st.Report.Detail, "within 2m; back to 2.0.0") {
		t.Fatalf("after the rollback: current %q, state %+v %+v", cur, st, st.Report)
	}
	if err := s.Switch("3.0.0", "2.0.0", t0); err == nil {
		t.Error("switched again to a version that failed")
	}
	stage(t, s, "2.5.0", []byte("v2.5"))
	if err := s.Switch("2.5.0", "2.0.0", t0); err == nil {
		t.Error("switched to a version below the highest installed")
	}

	// A rollback to the packaged binary removes the link.
	stage(t, s, "4.0.0", []byte("v4"))
	os.Remove(filepath.Join(s.Dir(), "current"))
	if err := s.Switch("4.0.0", "", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollback("it exited", t0); err != nil {
		t.Fatal(err)
	}
	if cur, _ := s.Current(); cur != "" {
		t.Errorf("after a rollback to the packaged binary, current = %q", cur)
	}
}

// TestStoreRepair: what a cut between the steps of a switch leaves is
// repaired at the next start, into exactly one version to run.
func TestStoreRepair(t *testing.T) {
	dir := t.TempDir()
	s, _ := OpenStore(dir)
	stage(t, s, "2.0.0", []byte("v2"))
	// Cut after state.json named the trial, before the link moved.
	s.Update(func(st *State) error {
		st.Trial = &Trial{Version: "2.0.0", Since: t0}
		st.Highest = "2.0.0"
		return nil
	})
	// A half-made version folder and a stray new link from the cut.
	os.MkdirAll(filepath.Join(dir, "versions", "3.0.0.tmp"), 0o700)
	os.Symlink("versions/3.0.0", filepath.Join(dir, "current.new"))
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "versions", "3.0.0.tmp")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a half-installed version folder survived OpenStore")
	}
	if err := s.Repair(); err != nil {
		t.Fatal(err)
	}
	if cur, _ := s.Current(); cur != "2.0.0" {
		t.Errorf("after repair current = %q, want the trial 2.0.0", cur)
	}
	// A trial whose version vanished is dropped.
	s.Update(func(st *State) error {
		st.Trial = &Trial{Version: "5.0.0", Previous: "2.0.0"}
		return nil
	})
	if err := s.Repair(); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.State(); st.Trial != nil {
		t.Errorf("trial of a missing version kept: %+v", st.Trial)
	}
	// A damaged state file says what to do.
	os.WriteFile(filepath.Join(dir, "state.json"), []byte("{"), 0o600)
	if _, err := s.State(); err == nil || !strings.Contains(err.Error(), "remove it") {
		t.Errorf("damaged state: %v", err)
	}
}

// server serves one release binary like the back office (http.ServeContent,
// with Range), and counts the requests and their ranges.
type server struct {
	mu     sync.Mutex
	ranges []string
	bin    []byte
	cutAt  int // first request: the connection drops after this many bytes
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	first := len(s.ranges) == 1
	s.mu.Unlock()
	if first && s.cutAt > 0 {
		w.Header().Set("Content-Length", strconv.Itoa(len(s.bin)))
		w.Write(s.bin[:s.cutAt])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection drops
	}
	http.ServeContent(w, r, "siteclockd", t0, bytes.NewReader(s.bin))
}

type httpSource struct{ url string }

func (h httpSource) Fetch(ctx context.Context, path string, offset int64) (io.ReadCloser, int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.url+path, nil)
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	start := int64(0)
	if resp.StatusCode == http.StatusPartialContent {
		first, _, _ := strings.Cut(strings.TrimPrefix(resp.Header.Get("Content-Range"), "bytes "), "-")
		start, _ = strconv.ParseInt(first, 10, 64)
	}
	return resp.Body, start, nil
}

func binary(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestDownloadResumesAfterACut(t *testing.T) {
	bin := binary(300_000)
	srv := &server{bin: bin, cutAt: 120_000}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	s, _ := OpenStore(t.TempDir())
	m := manifestFor("2.0.0", "arm64", bin)
	var seen int64
	if _, err := s.Download(context.Background(), m, httpSource{ts.URL}, "/bin", func(n int64) { seen = n }); err == nil || IsRefusal(err) {
		t.Fatalf("a cut download: %v, want a failure to retry", err)
	}
	if seen < 120_000 {
		t.Fatalf("progress reached %d before the cut, want 120000", seen)
	}
	part, err := s.Download(context.Background(), m, httpSource{ts.URL}, "/bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(part); !bytes.Equal(got, bin) {
		t.Fatal("the resumed download differs from the binary")
	}
	if len(srv.ranges) != 2 || srv.ranges[0] != "" || srv.ranges[1] != "bytes=120000-" {
		t.Errorf("requests' ranges = %q, want none then bytes=120000-", srv.ranges)
	}
}

func TestDownloadRefusesAnotherBinary(t *testing.T) {
	bin := binary(50_000)
	ts := httptest.NewServer(&server{bin: bin})
	defer ts.Close()
	s, _ := OpenStore(t.TempDir())

	tampered := manifestFor("2.0.0", "arm64", append([]byte{1}, bin[1:]...)) // another hash, same size
	if _, err := s.Download(context.Background(), tampered, httpSource{ts.URL}, "/bin", nil); !IsRefusal(err) || !strings.Contains(err.Error(), "unexpected checksum") {
		t.Errorf("a binary with another hash: %v, want a refusal", err)
	}
	short := manifestFor("2.0.0", "arm64", bin[:40_000])
	if _, err := s.Download(context.Background(), short, httpSource{ts.URL}, "/bin", nil); !IsRefusal(err) {
		t.Errorf("a binary longer than the manifest says: %v, want a refusal", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir(), "download")); len(ents) > 1 {
		t.Errorf("refused downloads left %d files", len(ents))
	}
}

// memSource is a Source with no network: the office's answers in memory.
type memSource struct {
	bin   []byte
	calls int
}

func (m *memSource) Fetch(ctx context.Context, path string, offset int64) (io.ReadCloser, int64, error) {
	m.calls++
	return io.NopCloser(bytes.NewReader(m.bin[offset:])), offset, nil
}

func TestUpdaterDecides(t *testing.T) {
	pub, priv := testKey(t)
	_, otherPriv := testKey(t)
	bin := binary(10_000)
	signed := func(version, arch string, key ed25519.PrivateKey) *protocol.UpdateOffer {
		env, err := Sign(manifestFor(version, arch, bin), key)
		if err != nil {
			t.Fatal(err)
		}
		return &protocol.UpdateOffer{Manifest: env, Path: protocol.PathRelease + "x"}
	}
	newUpdater := func() (*Updater, *[]string) {
		s, _ := OpenStore(t.TempDir())
		var changes []string
		u := &Updater{Store: s, Keys: []ed25519.PublicKey{pub}, Running: "2.0.0", Arch: "arm64", Supervised: true,
			Now: func() time.Time { return t0 },
			Changed: func(v string, pct int, ready bool) {
				changes = append(changes, v+" "+strconv.Itoa(pct)+" "+strconv.FormatBool(ready))
			}}
		u.init()
		return u, &changes
	}
	for _, c := range []struct {
		name   string
		offer  *protocol.UpdateOffer
		reason string
	}{
		{"older", signed("1.9.0", "arm64", priv), "downgrades are refused"},
		{"other arch", signed("3.0.0", "armv7", priv), "built for armv7"},
		{"other key", signed("3.0.0", "arm64", otherPriv), "signature does not verify"},
	} {
		u, _ := newUpdater()
		src := &memSource{bin: bin}
		u.handle(context.Background(), &offer{*c.offer, src})
		r := u.Report()
		if r == nil || r.State != protocol.UpdateRefused || !strings.Contains(r.Detail, c.reason) || src.calls != 0 {
			t.Errorf("%s: report %+v after %d downloads; want refused, %q, nothing downloaded", c.name, r, src.calls, c.reason)
		}
		if u.Ready() != "" {
			t.Errorf("%s: ready %q", c.name, u.Ready())
		}
	}

	// The same version as runs: nothing to do, nothing said.
	u, _ := newUpdater()
	u.handle(context.Background(), &offer{*signed("2.0.0", "arm64", priv), &memSource{bin: bin}})
	if r := u.Report(); r != nil {
		t.Errorf("an offer of the running version: report %+v", r)
	}

	// A good offer is downloaded, verified, installed and waits.
	u, changes := newUpdater()
	u.handle(context.Background(), &offer{*signed("3.0.0", "arm64", priv), &memSource{bin: bin}})
	if u.Ready() != "3.0.0" || !u.Store.Installed("3.0.0") || u.Report().State != protocol.UpdateReady {
		t.Fatalf("good offer: ready %q, report %+v", u.Ready(), u.Report())
	}
	if last := (*changes)[len(*changes)-1]; last != "3.0.0 100 true" {
		t.Errorf("the kiosk was last told %q, want 3.0.0 ready", last)
	}
	if err := u.Install(); err != nil {
		t.Fatal(err)
	}
	if cur, _ := u.Store.Current(); cur != "3.0.0" {
		t.Errorf("after Install current = %q", cur)
	}

	// A version that failed here before is refused, and so is any
	// version not above the highest installed.
	u.Store.Rollback("it exited", t0)
	u.handle(context.Background(), &offer{*signed("3.0.0", "arm64", priv), &memSource{bin: bin}})
	if r := u.Report(); r.State != protocol.UpdateRefused || !strings.Contains(r.Detail, "failed its health check") {
		t.Errorf("the failed version offered again: %+v", r)
	}

	// Unsupervised, an update waits and Install refuses to switch.
	u, changes = newUpdater()
	u.Supervised = false
	u.handle(context.Background(), &offer{*signed("3.0.0", "arm64", priv), &memSource{bin: bin}})
	if err := u.Install(); err == nil || !strings.Contains(err.Error(), "supervise") {
		t.Errorf("Install without a supervisor: %v", err)
	}
	if last := (*changes)[len(*changes)-1]; last != "3.0.0 100 false" {
		t.Errorf("unsupervised, the kiosk was last told %q: it must not try to install", last)
	}
}
