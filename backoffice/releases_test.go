package backoffice

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siteclock/siteclock/firmware"
	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/sqlitedb"
)

// releaser signs releases as `siteclockd release sign` does, with a key
// made for the test.
type releaser struct {
	t   testing.TB
	pub ed25519.PublicKey
	key ed25519.PrivateKey
}

func newReleaser(t testing.TB) *releaser {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &releaser{t: t, pub: pub, key: key}
}

// fakeBinary is n bytes that differ for each seed.
func fakeBinary(n int, seed string) []byte {
	b := make([]byte, 0, n+32)
	for i := 0; len(b) < n; i++ {
		h := sha256.Sum256([]byte(fmt.Sprintf("%s-%d", seed, i)))
		b = append(b, h[:]...)
	}
	return b[:n]
}

// sign returns the signed manifest of binary as version and arch.
func (r *releaser) sign(version, arch string, binary []byte) []byte {
	r.t.Helper()
	sum := sha256.Sum256(binary)
	env, err := firmware.Sign(firmware.Manifest{Product: firmware.Product, Version: version, Arch: arch,
		Size: int64(len(binary)), SHA256: hex.EncodeToString(sum[:]), Created: t0}, r.key)
	if err != nil {
		r.t.Fatal(err)
	}
	return env
}

// add uploads a release of version and arch to the store.
func (r *releaser) add(s *Store, version, arch string, binary []byte) Release {
	r.t.Helper()
	rel, created, err := s.AddRelease(r.sign(version, arch, binary), bytes.NewReader(binary), "ada@example.com", ReleaseOptions{}, t0)
	if err != nil || !created {
		r.t.Fatalf("add %s %s: created %v, %v", version, arch, created, err)
	}
	return rel
}

// releaseFiles lists the releases folder.
func releaseFiles(t testing.TB, s *Store) []string {
	t.Helper()
	entries, err := os.ReadDir(s.relDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestAddRelease(t *testing.T) {
	s := openStore(t)
	rs := newReleaser(t)
	bin := fakeBinary(100_000, "1.3.0-arm64")
	manifest := rs.sign("1.3.0", "arm64", bin)

	rel, created, err := s.AddRelease(manifest, bytes.NewReader(bin), "ada@example.com", ReleaseOptions{}, t0)
	if err != nil || !created {
		t.Fatalf("add: %v, created %v", err, created)
	}
	if rel.Version != "1.3.0" || rel.Arch != "arm64" || rel.Size != int64(len(bin)) || rel.SHA256 != sha256hex(bin) ||
		!bytes.Equal(rel.Manifest, manifest) || rel.UploadedBy != "ada@example.com" || !rel.UploadedAt.Equal(t0) || len(rel.ID) != 16 {
		t.Errorf("release %+v", rel)
	}
	path := filepath.Join(s.Dir(), "releases", sha256hex(bin))
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("binary file: %v %v", fi, err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, bin) {
		t.Fatal("the stored binary differs")
	}

	// The very same upload again: accepted, nothing changes.
	again, created, err := s.AddRelease(manifest, bytes.NewReader(bin), "bob@example.com", ReleaseOptions{}, t0.Add(time.Hour))
	if err != nil || created || again.ID != rel.ID || again.UploadedBy != "ada@example.com" {
		t.Fatalf("identical re-upload: %+v created %v, %v", again, created, err)
	}

	refused := func(name string, manifest, binary []byte, opts ReleaseOptions, want error, says string) {
		t.Helper()
		_, _, err := s.AddRelease(manifest, bytes.NewReader(binary), "ada@example.com", opts, t0)
		if err == nil || !errors.Is(err, want) || !strings.Contains(err.Error(), says) {
			t.Errorf("%s: %v, want %v saying %q", name, err, want, says)
		}
	}
	other := fakeBinary(100_000, "something else")
	refused("size: shorter", rs.sign("1.4.0", "arm64", bin), bin[:len(bin)-1], ReleaseOptions{}, ErrInvalid, "the manifest of siteclockd 1.4.0 (arm64) names 100000")
	refused("size: longer", rs.sign("1.4.0", "arm64", bin), append(bytes.Clone(bin), 0), ReleaseOptions{}, ErrInvalid, "larger than the 100000 bytes")
	refused("hash", rs.sign("1.4.0", "arm64", bin), other, ReleaseOptions{}, ErrInvalid, "unexpected checksum: got "+sha256hex(other)+", want "+sha256hex(bin))
	refused("not a manifest", []byte(`{"hello": "world"}`), bin, ReleaseOptions{}, ErrInvalid, "signed manifest is not valid")
	refused("garbage", []byte("\x00\x01binary"), bin, ReleaseOptions{}, ErrInvalid, "signed manifest")
	refused("duplicate with another binary", rs.sign("1.3.0", "arm64", other), other, ReleaseOptions{}, ErrReleaseExists,
		"siteclockd 1.3.0 (arm64) was uploaded already")
	// Re-signed (another manifest) for the same binary: still another release.
	refused("duplicate with another manifest", newReleaser(t).sign("1.3.0", "arm64", bin), bin, ReleaseOptions{}, ErrReleaseExists, "never replaced")
	// The same manifest with a wrong binary is not "the same release".
	refused("same manifest, wrong binary", manifest, other, ReleaseOptions{}, ErrInvalid, "unexpected checksum")

	// With the release keys set, a manifest of another key is refused.
	keys := ReleaseOptions{Keys: []ed25519.PublicKey{rs.pub}}
	refused("another key", newReleaser(t).sign("1.5.0", "arm64", bin), bin, keys, ErrInvalid, "not signed by a release key this server trusts")
	if _, created, err := s.AddRelease(rs.sign("1.5.0", "arm64", bin), bytes.NewReader(bin), "ada@example.com", keys, t0); err != nil || !created {
		t.Errorf("signed with a trusted key: %v", err)
	}
	// The same binary as another architecture: its own release, one file.
	if _, created, err := s.AddRelease(rs.sign("1.3.0", "armv7", bin), bytes.NewReader(bin), "ada@example.com", ReleaseOptions{}, t0); err != nil || !created {
		t.Errorf("the same binary for armv7: %v", err)
	}

	list, err := s.Releases()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range list {
		names = append(names, r.Version+"/"+r.Arch)
	}
	if got := strings.Join(names, " "); got != "1.5.0/arm64 1.3.0/arm64 1.3.0/armv7" {
		t.Errorf("releases %s", got)
	}
	// Refused uploads left nothing behind: no temporary files, no binary
	// nothing names.
	if files := releaseFiles(t, s); len(files) != 1 || files[0] != sha256hex(bin) {
		t.Errorf("files in releases/: %v", files)
	}
	if _, err := s.Release("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown release: %v", err)
	}
}

// A binary that breaks off is not kept, and the store says so.
func TestAddReleaseBrokenUpload(t *testing.T) {
	s := openStore(t)
	rs := newReleaser(t)
	bin := fakeBinary(50_000, "x")
	r := io.MultiReader(bytes.NewReader(bin[:1000]), errReader{io.ErrUnexpectedEOF})
	if _, _, err := s.AddRelease(rs.sign("1.3.0", "arm64", bin), r, "ada@example.com", ReleaseOptions{}, t0); !errors.Is(err, errBinaryRead) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("broken upload: %v", err)
	}
	if files := releaseFiles(t, s); len(files) != 0 {
		t.Errorf("files left: %v", files)
	}
	if n := count(t, s, "releases"); n != 0 {
		t.Errorf("%d releases", n)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestUpdateTargets(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	rs := newReleaser(t)
	rs.add(e.store, "1.3.0", "arm64", fakeBinary(1000, "a"))
	rs.add(e.store, "1.4.0", "arm64", fakeBinary(1000, "b"))
	d1, _ := e.enroll()
	d2, _ := e.enroll()

	if _, err := e.store.SetUpdateTarget("", "1.9.0", "ada", t0); !errors.Is(err, ErrNoRelease) {
		t.Errorf("a version never uploaded: %v", err)
	}
	if _, err := e.store.SetUpdateTarget("no-such-device", "1.3.0", "ada", t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown device: %v", err)
	}
	if _, err := e.store.SetUpdateTarget("", "v1.3.0", "ada", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.SetUpdateTarget(d2, "1.4.0", "bob", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	ts, err := e.store.UpdateTargets()
	if err != nil {
		t.Fatal(err)
	}
	// The release's own spelling is kept; a device's own target wins.
	if t1, ok := ts.For(d1); !ok || t1.Version != "1.3.0" || t1.DeviceID != "" || t1.SetBy != "ada" || !t1.SetAt.Equal(t0) {
		t.Errorf("d1 follows all devices: %+v %v", t1, ok)
	}
	if t2, ok := ts.For(d2); !ok || t2.Version != "1.4.0" || t2.DeviceID != d2 || t2.SetBy != "bob" {
		t.Errorf("d2's own: %+v %v", t2, ok)
	}
	// Setting all devices' target again replaces it.
	if _, err := e.store.SetUpdateTarget("", "1.4.0", "carl", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Clearing d2's own: it follows all devices again.
	if err := e.store.ClearUpdateTarget(d2, "ada"); err != nil {
		t.Fatal(err)
	}
	if err := e.store.ClearUpdateTarget(d2, "ada"); err != nil {
		t.Errorf("clearing twice: %v", err)
	}
	ts, _ = e.store.UpdateTargets()
	if t2, ok := ts.For(d2); !ok || t2.DeviceID != "" || t2.Version != "1.4.0" || t2.SetBy != "carl" {
		t.Errorf("d2 after clearing: %+v", t2)
	}
	// Clearing all devices' target leaves none.
	if err := e.store.ClearUpdateTarget("", "ada"); err != nil {
		t.Fatal(err)
	}
	ts, _ = e.store.UpdateTargets()
	if _, ok := ts.For(d1); ok || ts.All != nil || len(ts.Devices) != 0 {
		t.Errorf("after clearing all: %+v", ts)
	}
	if err := e.store.ClearUpdateTarget("no-such-device", "ada"); !errors.Is(err, ErrNotFound) {
		t.Errorf("clearing an unknown device's: %v", err)
	}
}

// checkIn checks a kiosk in and returns the answer.
func (e *env) checkIn(token string, c protocol.CheckIn) protocol.CheckInResponse {
	e.t.Helper()
	r := e.do("POST", protocol.PathCheckIn, token, c)
	r.wantStatus(e.t, http.StatusOK)
	var resp protocol.CheckInResponse
	r.decode(e.t, &resp)
	return resp
}

func TestCheckInOffers(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	rs := newReleaser(t)
	bin := fakeBinary(5000, "1.3.0")
	rel := rs.add(e.store, "1.3.0", "arm64", bin)
	rs.add(e.store, "1.2.0", "arm64", fakeBinary(5000, "1.2.0"))
	pi, piToken := e.enroll()
	_, oldToken := e.enroll()
	_, pcToken := e.enroll()
	gone, goneToken := e.enroll()
	arm := protocol.CheckIn{Version: "1.2.0", Arch: "arm64"}

	if o := e.checkIn(piToken, arm).Update; o != nil {
		t.Fatalf("an offer before any target: %+v", o)
	}
	if _, err := e.store.SetUpdateTarget("", "1.3.0", "ada", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	o := e.checkIn(piToken, arm).Update
	if o == nil || o.Path != protocol.PathRelease+rel.ID || !bytes.Equal(o.Manifest, rel.Manifest) {
		t.Fatalf("offer %+v", o)
	}
	// What the kiosk gets verifies with the release key, and names the binary.
	if m, err := firmware.Verify(o.Manifest, []ed25519.PublicKey{rs.pub}); err != nil || m.SHA256 != sha256hex(bin) {
		t.Errorf("offered manifest: %+v %v", m, err)
	}
	for name, c := range map[string]protocol.CheckIn{
		"running it already":         {Version: "1.3.0", Arch: "arm64"},
		"running it, spelled v1.3.0": {Version: "v1.3.0", Arch: "arm64"},
		"no build for its arch":      {Version: "1.2.0", Arch: "armv7"},
		"no arch said":               {Version: "1.2.0"},
	} {
		if o := e.checkIn(oldToken, c).Update; o != nil {
			t.Errorf("%s: offered %+v", name, o)
		}
	}
	if o := e.checkIn(pcToken, protocol.CheckIn{Version: "1.2.0", Arch: "amd64"}).Update; o != nil {
		t.Errorf("amd64 offered %+v", o)
	}
	// A disabled device is offered nothing, and may not download.
	if err := e.store.DisableDevice(gone, "ada", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if o := e.checkIn(goneToken, arm).Update; o != nil {
		t.Errorf("disabled device offered %+v", o)
	}
	e.do("GET", protocol.PathRelease+rel.ID, goneToken, nil).wantError(t, http.StatusForbidden, protocol.ErrForbidden)

	// A device's own target overrides all devices': back to 1.2.0 (the
	// kiosk decides whether it takes an older version).
	if _, err := e.store.SetUpdateTarget(pi, "1.2.0", "ada", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if o := e.checkIn(piToken, protocol.CheckIn{Version: "1.3.0", Arch: "arm64"}).Update; o == nil || mustPeek(t, o.Manifest).Version != "1.2.0" {
		t.Errorf("own target 1.2.0: %+v", o)
	}
	if err := e.store.ClearUpdateTarget(pi, "ada"); err != nil {
		t.Fatal(err)
	}

	// A kiosk that rolled 1.3.0 back is not offered it again, until an
	// admin chooses it again.
	e.clock.Advance(time.Minute)
	rolled := protocol.CheckIn{Version: "1.2.0", Arch: "arm64", Update: &protocol.UpdateReport{Version: "1.3.0",
		State: protocol.UpdateRolledBack, Detail: "did not report ready within 2m", At: e.clock.Now()}}
	if o := e.checkIn(piToken, rolled).Update; o != nil {
		t.Errorf("offered in the answer to the rollback: %+v", o)
	}
	e.clock.Advance(time.Minute)
	if o := e.checkIn(piToken, arm).Update; o != nil {
		t.Errorf("offered after the rollback: %+v", o)
	}
	if _, err := e.store.SetUpdateTarget("", "1.3.0", "ada", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	if o := e.checkIn(piToken, arm).Update; o == nil {
		t.Error("not offered after the admin chose 1.3.0 again")
	}
	// A failure for now (no space, a cut download) is retried.
	failed := arm
	failed.Update = &protocol.UpdateReport{Version: "1.3.0", State: protocol.UpdateFailed, Detail: "no space left", At: e.clock.Now()}
	if o := e.checkIn(piToken, failed).Update; o == nil {
		t.Error("not offered after a failure for now")
	}
	// The memory survives a restart of the store: the rollback is read
	// back from the database.
	e.checkIn(piToken, rolled)
	dir := e.store.Dir()
	e.store.Close()
	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if resp, err := s2.CheckIn(pi, arm, e.clock.Now()); err != nil || resp.Update != nil {
		t.Errorf("after a restart: %+v %v", resp.Update, err)
	}
}

func mustPeek(t testing.TB, manifest []byte) firmware.Manifest {
	t.Helper()
	m, err := firmware.Peek(manifest)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestReleaseDownload(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	rs := newReleaser(t)
	bin := fakeBinary(300_001, "download")
	rel := rs.add(e.store, "1.3.0", "arm64", bin)
	_, token := e.enroll()
	path := protocol.PathRelease + rel.ID

	whole := e.do("GET", path, token, nil)
	whole.wantStatus(t, http.StatusOK)
	if !bytes.Equal(whole.body, bin) || whole.header.Get("ETag") != `"`+rel.SHA256+`"` ||
		whole.header.Get("Accept-Ranges") != "bytes" || whole.header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("whole: %d bytes, header %v", len(whole.body), whole.header)
	}
	// A download cut in the middle resumes there, and the two parts are
	// the binary.
	cut := 123_457
	first := e.do("GET", path, token, nil, "Range", "bytes=0-"+fmt.Sprint(cut-1))
	first.wantStatus(t, http.StatusPartialContent)
	rest := e.do("GET", path, token, nil, "Range", fmt.Sprintf("bytes=%d-", cut), "If-Range", first.header.Get("ETag"))
	rest.wantStatus(t, http.StatusPartialContent)
	if got := append(bytes.Clone(first.body), rest.body...); !bytes.Equal(got, bin) {
		t.Fatalf("resumed download: %d + %d bytes, not the binary", len(first.body), len(rest.body))
	}
	if cr := rest.header.Get("Content-Range"); cr != fmt.Sprintf("bytes %d-%d/%d", cut, len(bin)-1, len(bin)) {
		t.Errorf("Content-Range %q", cr)
	}
	// An If-Range naming another binary gets the whole current one.
	if r := e.do("GET", path, token, nil, "Range", "bytes=10-", "If-Range", `"`+sha256hex([]byte("old"))+`"`); r.status != http.StatusOK || !bytes.Equal(r.body, bin) {
		t.Errorf("stale If-Range: %d, %d bytes", r.status, len(r.body))
	}
	// A range past the end is refused in JSON, with the size.
	r := e.do("GET", path, token, nil, "Range", fmt.Sprintf("bytes=%d-", len(bin)+10))
	r.wantError(t, http.StatusRequestedRangeNotSatisfiable, protocol.ErrBadRequest)
	if cr := r.header.Get("Content-Range"); cr != fmt.Sprintf("bytes */%d", len(bin)) {
		t.Errorf("416 Content-Range %q", cr)
	}
	e.do("GET", protocol.PathRelease+"0123456789abcdef", token, nil).wantError(t, http.StatusNotFound, protocol.ErrNotFound)
	e.do("GET", path, "", nil).wantError(t, http.StatusUnauthorized, protocol.ErrUnauthorized)
	e.do("GET", path, "not-a-token", nil).wantError(t, http.StatusUnauthorized, protocol.ErrUnauthorized)
	e.do("POST", path, token, nil).wantError(t, http.StatusMethodNotAllowed, protocol.ErrBadRequest)
}

// What a kiosk reports of its update is kept with the device; garbage is
// refused and changes nothing.
func TestUpdateReport(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	id, token := e.enroll()
	at := t0.Add(-time.Minute).In(time.FixedZone("CST", -6*3600))
	e.checkIn(token, protocol.CheckIn{Version: "1.2.0", Arch: "arm64", Update: &protocol.UpdateReport{
		Version: "1.3.0", State: protocol.UpdateDownloading, Progress: 42, At: at}})
	d, err := e.store.Device(id)
	if err != nil {
		t.Fatal(err)
	}
	want := UpdateStatus{Version: "1.3.0", State: "downloading", Progress: 42, At: at, Received: t0}
	if d.Arch != "arm64" || d.Update.Version != want.Version || d.Update.State != want.State || d.Update.Progress != 42 ||
		!d.Update.At.Equal(at) || !d.Update.Received.Equal(t0) {
		t.Fatalf("device %+v %+v", d.Arch, d.Update)
	}
	// A check-in that says nothing of them keeps them.
	e.clock.Advance(time.Minute)
	e.checkIn(token, protocol.CheckIn{Version: "1.2.0"})
	if d, _ := e.store.Device(id); d.Arch != "arm64" || d.Update.State != "downloading" {
		t.Errorf("after a check-in without: %q %+v", d.Arch, d.Update)
	}

	for name, body := range map[string]string{
		"unknown state":   `{"version":"1.2.0","update":{"version":"1.3.0","state":"exploded","at":"2026-11-23T07:00:00Z"}}`,
		"progress 101":    `{"update":{"version":"1.3.0","state":"downloading","progress":101,"at":"2026-11-23T07:00:00Z"}}`,
		"negative":        `{"update":{"version":"1.3.0","state":"downloading","progress":-1,"at":"2026-11-23T07:00:00Z"}}`,
		"no version":      `{"update":{"state":"installed","at":"2026-11-23T07:00:00Z"}}`,
		"detail newline":  `{"update":{"version":"1.3.0","state":"failed","detail":"a\nb","at":"2026-11-23T07:00:00Z"}}`,
		"detail too long": `{"update":{"version":"1.3.0","state":"failed","detail":"` + strings.Repeat("x", 1001) + `","at":"2026-11-23T07:00:00Z"}}`,
		"unknown field":   `{"update":{"version":"1.3.0","state":"failed","colour":"red"}}`,
		"arch not text":   `{"arch":"arm\u0000"}`,
		"arch type":       `{"arch":64}`,
		"update type":     `{"update":"installed"}`,
	} {
		r := e.do("POST", protocol.PathCheckIn, token, body)
		if r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, r.status, r.body)
			continue
		}
		r.wantError(t, http.StatusBadRequest, protocol.ErrBadRequest)
	}
	if d, _ := e.store.Device(id); d.Arch != "arm64" || d.Update.State != "downloading" || d.Update.Progress != 42 {
		t.Errorf("refused check-ins changed the device: %q %+v", d.Arch, d.Update)
	}
	// A long detail within the limit is kept whole.
	long := strings.Repeat("signature does not verify; ", 40)[:900]
	e.checkIn(token, protocol.CheckIn{Update: &protocol.UpdateReport{Version: "1.3.0", State: protocol.UpdateRefused, Detail: long}})
	if d, _ := e.store.Device(id); d.Update.Detail != long || !d.Update.At.IsZero() {
		t.Errorf("long detail: %+v", d.Update)
	}
}

// undoSchema5 takes a database back from schema step 5, for the tests that
// build an older database by undoing steps.
var undoSchema5 = []string{
	`DROP INDEX update_targets_scope`,
	`DROP TABLE update_targets`,
	`DROP TABLE releases`,
	`ALTER TABLE devices DROP COLUMN arch`,
	`ALTER TABLE devices DROP COLUMN update_version`,
	`ALTER TABLE devices DROP COLUMN update_state`,
	`ALTER TABLE devices DROP COLUMN update_progress`,
	`ALTER TABLE devices DROP COLUMN update_detail`,
	`ALTER TABLE devices DROP COLUMN update_at_ns`,
	`ALTER TABLE devices DROP COLUMN update_received_ns`,
}

// A schema 4 database with devices takes schema 5: the devices have no
// architecture and no update report yet, and take both.
func TestSchema5Upgrade(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateCompany("Acme Framing", t0); err != nil {
		t.Fatal(err)
	}
	d, _, err := s.Enroll(enrollRequest(mustCode(t, s), "inst-1"), t0)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite3", sqlitedb.DSN(filepath.Join(dir, dbName)))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range append(undoSchema5, `PRAGMA user_version = 4`) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("open a schema 4 database: %v", err)
	}
	defer s.Close()
	got, err := s.Device(d.ID)
	if err != nil || got.Arch != "" || got.Update != (UpdateStatus{}) || got.Nickname != d.Nickname {
		t.Fatalf("device after the upgrade: %+v %v", got, err)
	}
	rs := newReleaser(t)
	rs.add(s, "1.3.0", "arm64", fakeBinary(100, "x"))
	if _, err := s.SetUpdateTarget(d.ID, "1.3.0", "ada", t0); err != nil {
		t.Fatal(err)
	}
	resp, err := s.CheckIn(d.ID, protocol.CheckIn{Version: "1.2.0", Arch: "arm64", Update: &protocol.UpdateReport{Version: "1.3.0", State: protocol.UpdateReady}}, t0)
	if err != nil || resp.Update == nil {
		t.Fatalf("check-in after the upgrade: %+v %v", resp.Update, err)
	}
	if got, _ := s.Device(d.ID); got.Arch != "arm64" || got.Update.State != "ready" {
		t.Errorf("device: %q %+v", got.Arch, got.Update)
	}
}
