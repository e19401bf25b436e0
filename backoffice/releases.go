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
	"slices"
	"strings"
	"time"

	"github.com/siteclock/siteclock/durable"
	"github.com/siteclock/siteclock/firmware"
	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/sqlitedb"
)

// Releases: the signed builds of siteclockd the office hosts for its
// kiosks. Releases are signed offline with a release key the server never
// holds; the server keeps each signed manifest exactly as uploaded and
// checks only what it can without the key: that the binary is the one the
// manifest names (its size and SHA-256). Kiosks verify the signature
// before they install anything. An office that knows the release keys
// (ReleaseOptions.Keys, siteclock-server's -release-keys) also refuses
// manifests that do not verify, so that a mistake shows at upload rather
// than on every kiosk.
//
// A binary is the file releases/<sha256> in the data folder: written to a
// temporary file while it is hashed, fsync'd, renamed into place and the
// folder fsync'd, before the row that names it commits.

// ErrReleaseExists means a release of that version and architecture was
// uploaded already with other contents: a version is never replaced.
var ErrReleaseExists = errors.New("backoffice: release exists with other contents")

// ErrNoRelease means no release of the version asked for was uploaded.
var ErrNoRelease = errors.New("backoffice: no such release")

// errBinaryRead means reading an uploaded binary failed: the upload broke
// off, or went over its limit (the error wraps *http.MaxBytesError then).
var errBinaryRead = errors.New("backoffice: reading the binary failed")

// Release is one signed build of siteclockd for one architecture.
type Release struct {
	ID         string // what kiosks download it by (protocol.PathRelease + ID)
	Version    string
	Arch       string
	Size       int64
	SHA256     string // of the binary, lowercase hex
	Manifest   []byte // the signed manifest as uploaded (firmware.Signed as JSON)
	UploadedAt time.Time
	UploadedBy string
}

// Name is how people see a release: "siteclockd 1.4.0 (arm64)".
func (r Release) Name() string {
	return fmt.Sprintf("%s %s (%s)", firmware.Product, r.Version, r.Arch)
}

// ReleaseOptions tune AddRelease.
type ReleaseOptions struct {
	// Keys are the release keys the office trusts. When set, a manifest
	// whose signature none of them verifies is refused; when empty, the
	// manifest is stored unverified and kiosks verify it.
	Keys []ed25519.PublicKey
}

// releasePath is where the binary with hash sha is kept.
func (s *Store) releasePath(sha string) string {
	return filepath.Join(s.relDir, sha)
}

const releaseColumns = `id, version, arch, size, sha256, manifest, uploaded_at_ns, uploaded_by`

func scanRelease(sc interface{ Scan(...any) error }) (Release, error) {
	var r Release
	var at int64
	if err := sc.Scan(&r.ID, &r.Version, &r.Arch, &r.Size, &r.SHA256, &r.Manifest, &at, &r.UploadedBy); err != nil {
		return Release{}, err
	}
	r.UploadedAt = time.Unix(0, at)
	return r, nil
}

// AddRelease stores a release: its signed manifest and its binary, read
// from binary to the end (streamed to disk, never held in memory). The
// binary must be exactly the size and SHA-256 the manifest names. It
// returns the release and whether it is new: uploading the very same
// manifest and binary again changes nothing (created false). A release of
// the same version and architecture with other contents is refused with
// ErrReleaseExists; a bad manifest, a binary that does not match it, or a
// signature that does not verify with opts.Keys with ErrInvalid. An error
// reading binary is returned wrapped, so that the caller can tell a body
// over its limit (*http.MaxBytesError).
func (s *Store) AddRelease(manifest []byte, binary io.Reader, by string, opts ReleaseOptions, now time.Time) (Release, bool, error) {
	m, err := firmware.Peek(manifest)
	if err != nil {
		return Release{}, false, invalid("%s", strings.TrimPrefix(err.Error(), "firmware: "))
	}
	if len(opts.Keys) > 0 {
		if _, err := firmware.Verify(manifest, opts.Keys); err != nil {
			return Release{}, false, invalid("the manifest of %s is not signed by a release key this server trusts (-release-keys): "+
				"it was altered, or signed with another key; sign the release with the release key (siteclockd release sign), or start the server with that key's public half", m.Name())
		}
	}
	if err := validText("uploaded by", by, true); err != nil {
		return Release{}, false, err
	}
	// A different release of this version is refused before its binary
	// is read: that may be hundreds of megabytes for nothing.
	old, found, err := s.releaseOf(m.Version, m.Arch)
	if err != nil {
		return Release{}, false, err
	}
	if found && !bytes.Equal(old.Manifest, manifest) {
		return Release{}, false, errExists(old)
	}
	tmp, err := s.receiveBinary(binary, m)
	if err != nil {
		return Release{}, false, err
	}
	if found {
		// The same manifest, and a binary that matches it: the same release.
		os.Remove(tmp)
		return old, false, nil
	}
	path := s.releasePath(m.SHA256)
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return Release{}, false, s.wrap("store release "+m.Name(), err)
	}
	if err := durable.SyncDir(s.relDir); err != nil {
		return Release{}, false, s.wrap("store release "+m.Name(), err)
	}
	rel := Release{ID: newReleaseID(), Version: m.Version, Arch: m.Arch, Size: m.Size, SHA256: m.SHA256,
		Manifest: bytes.Clone(manifest), UploadedAt: time.Unix(0, now.UnixNano()), UploadedBy: by}
	created := true
	err = s.write(func(tx *sql.Tx) error {
		created = true
		old, err := scanRelease(tx.QueryRow(`SELECT `+releaseColumns+` FROM releases WHERE version = ? AND arch = ?`, m.Version, m.Arch))
		switch {
		case err == nil && bytes.Equal(old.Manifest, manifest):
			// The same upload committed meanwhile.
			rel, created = old, false
			return nil
		case err == nil:
			return errExists(old)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err = tx.Exec(`INSERT INTO releases (`+releaseColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			rel.ID, rel.Version, rel.Arch, rel.Size, rel.SHA256, rel.Manifest, now.UnixNano(), by)
		return err
	})
	if err != nil {
		// Nothing names the file unless another release has the very
		// same binary (an armv6 build uploaded as armv7 too, say).
		var n int
		if qerr := s.r.QueryRow(`SELECT count(*) FROM releases WHERE sha256 = ?`, m.SHA256).Scan(&n); qerr == nil && n == 0 {
			os.Remove(path)
		}
		return Release{}, false, s.wrap("store release "+m.Name(), err)
	}
	if created {
		s.log.Info("release added", "release_id", rel.ID, "version", rel.Version, "arch", rel.Arch, "bytes", rel.Size, "by", by)
	}
	s.loadUpdates() // offers of it go out from the next check-in
	return rel, created, nil
}

func errExists(old Release) error {
	return errorf(ErrReleaseExists, "backoffice: %s was uploaded already (on %s by %s) with another binary or manifest; a release is never replaced: build and sign the change as a new version",
		old.Name(), old.UploadedAt.Format(time.DateOnly), old.UploadedBy)
}

// receiveBinary streams a release's binary into a temporary file in the
// releases folder, checking it against the manifest as it goes, and
// returns the fsync'd file's path. The file is removed on any error.
func (s *Store) receiveBinary(r io.Reader, m firmware.Manifest) (path string, err error) {
	f, err := os.CreateTemp(s.relDir, durable.TempPrefix+"*")
	if err != nil {
		return "", s.wrap("store release "+m.Name(), err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	// One byte more than the manifest says tells a longer binary apart.
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, m.Size+1))
	if err != nil {
		if sqlitedb.IsDiskFull(err) {
			return "", s.wrap("store release "+m.Name(), err)
		}
		return "", &kindError{kind: errBinaryRead, msg: fmt.Sprintf("backoffice: read the binary of %s: %v", m.Name(), err), err: err}
	}
	switch {
	case n > m.Size:
		return "", invalid("the binary is larger than the %d bytes the manifest of %s names; upload the binary the manifest was signed for", m.Size, m.Name())
	case n < m.Size:
		return "", invalid("the binary is %d bytes, but the manifest of %s names %d; upload the binary the manifest was signed for (a cut-off copy?)", n, m.Name(), m.Size)
	}
	if sum := h.Sum(nil); hex.EncodeToString(sum) != m.SHA256 {
		return "", invalid("unexpected checksum: got %x, want %s; the binary is not the one the manifest of %s was signed for, or was damaged on the way", sum, m.SHA256, m.Name())
	}
	if err := f.Sync(); err != nil {
		return "", s.wrap("store release "+m.Name(), err)
	}
	if err := f.Close(); err != nil {
		return "", s.wrap("store release "+m.Name(), err)
	}
	return f.Name(), nil
}

// newReleaseID is 16 random hex digits.
func newReleaseID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// releaseOf returns the release of a version and architecture, if any.
func (s *Store) releaseOf(version, arch string) (Release, bool, error) {
	r, err := scanRelease(s.r.QueryRow(`SELECT `+releaseColumns+` FROM releases WHERE version = ? AND arch = ?`, version, arch))
	if errors.Is(err, sql.ErrNoRows) {
		return Release{}, false, nil
	}
	if err != nil {
		return Release{}, false, s.wrap("read release "+version+" "+arch, err)
	}
	return r, true, nil
}

// Releases returns every release, newest version first, then by
// architecture.
func (s *Store) Releases() ([]Release, error) {
	rows, err := s.r.Query(`SELECT ` + releaseColumns + ` FROM releases`)
	if err != nil {
		return nil, s.wrap("list releases", err)
	}
	defer rows.Close()
	var out []Release
	for rows.Next() {
		r, err := scanRelease(rows)
		if err != nil {
			return nil, s.wrap("list releases", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("list releases", err)
	}
	slices.SortFunc(out, func(a, b Release) int {
		if c := compareVersions(b.Version, a.Version); c != 0 {
			return c
		}
		return strings.Compare(a.Arch, b.Arch)
	})
	return out, nil
}

// compareVersions orders versions as semantic versions, and those that
// compare equal (or are not versions) by their text.
func compareVersions(a, b string) int {
	if c := firmware.Compare(a, b); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// sameVersion reports whether two version strings name the same version
// ("1.4.0" and "v1.4.0").
func sameVersion(a, b string) bool {
	if a == b {
		return true
	}
	return firmware.ValidVersion(a) && firmware.ValidVersion(b) && firmware.Compare(a, b) == 0
}

// Release returns the release with this ID, or ErrNotFound.
func (s *Store) Release(id string) (Release, error) {
	r, err := scanRelease(s.r.QueryRow(`SELECT `+releaseColumns+` FROM releases WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Release{}, errorf(ErrNotFound, "backoffice: no release %q", id)
	}
	if err != nil {
		return Release{}, s.wrap("read release "+id, err)
	}
	return r, nil
}

// OpenRelease opens the binary of the release with this ID for reading;
// the caller closes it. ErrNotFound if there is no such release.
func (s *Store) OpenRelease(id string) (*os.File, Release, error) {
	r, err := s.Release(id)
	if err != nil {
		return nil, Release{}, err
	}
	f, err := os.Open(s.releasePath(r.SHA256))
	if err != nil {
		return nil, Release{}, fmt.Errorf("backoffice: open the binary of %s: %w; restore the data folder's releases/ from a backup, or upload the release again under a new version", r.Name(), err)
	}
	return f, r, nil
}

// releaseWriteTimeout is how long a kiosk may take to download a release:
// far longer than the server's usual write timeout, for a 15 MB binary
// over a slow site link. A download cut off anyway resumes with Range.
const releaseWriteTimeout = 30 * time.Minute

// release serves a release's binary to an enabled device: with Range
// requests (a cut download resumes where it stopped), and the binary's
// SHA-256 as its ETag (for If-Range).
func (s *Server) release(w http.ResponseWriter, r *http.Request, d deviceAuth) {
	if d.Disabled {
		writeError(w, http.StatusForbidden, protocol.ErrForbidden,
			"this device is disabled and gets no updates; send what it holds, then say goodbye")
		return
	}
	id := r.PathValue("id")
	f, rel, err := s.store.OpenRelease(id)
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, protocol.ErrNotFound,
			fmt.Sprintf("no release %q here; check in again for the release offered now", id))
		return
	}
	if err != nil {
		s.fail(w, r, d.ID, err)
		return
	}
	defer f.Close()
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(releaseWriteTimeout))
	h := w.Header()
	h.Set("ETag", `"`+rel.SHA256+`"`)
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "private, no-cache")
	s.log.Debug("release download", "device_id", d.ID, "release_id", rel.ID, "range", r.Header.Get("Range"))
	http.ServeContent(&jsonErrors{ResponseWriter: w}, r, "", rel.UploadedAt, f)
}

// jsonErrors answers the errors http.ServeContent writes as plain text
// (416 for a range outside the file, 412 for a failed precondition) with
// a protocol.Error, as every device API error is; the plain text is
// dropped.
type jsonErrors struct {
	http.ResponseWriter
	failed bool
}

func (j *jsonErrors) WriteHeader(code int) {
	if code < 400 {
		j.ResponseWriter.WriteHeader(code)
		return
	}
	j.failed = true
	h := j.Header()
	h.Del("Content-Length")
	h.Del("ETag")
	msg := "the request's preconditions do not hold for this release; download it whole, without If-Match or If-Unmodified-Since"
	if code == http.StatusRequestedRangeNotSatisfiable {
		// Content-Range stays: it says the binary's size.
		msg = "the requested range is outside the release's binary; download it again from the start"
	}
	writeError(j.ResponseWriter, code, protocol.ErrBadRequest, msg)
}

func (j *jsonErrors) Write(b []byte) (int, error) {
	if j.failed {
		return len(b), nil
	}
	return j.ResponseWriter.Write(b)
}
