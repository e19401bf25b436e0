package backoffice

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/siteclock/siteclock/photoseal"
	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/punch"
)

func TestPhotoKeyFile(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	key := s.PhotoKey()
	s.Close()
	path, pubPath := filepath.Join(dir, "photo-key"), filepath.Join(dir, "photo-key.pub")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("photo-key: %v, mode %v; want 0600", err, fi.Mode())
	}
	if text, err := os.ReadFile(pubPath); err != nil || string(text) != key.String()+"\n" {
		t.Errorf("photo-key.pub = %q, %v; want the public half", text, err)
	}

	reopen := func() (*Store, error) {
		s, err := Open(dir, Options{})
		if err == nil {
			t.Cleanup(func() { s.Close() })
		}
		return s, err
	}
	// Kept across starts; the public half is written again if it went.
	os.Remove(pubPath)
	if s, err := reopen(); err != nil || s.PhotoKey() != key {
		t.Fatalf("reopened: %v, same key %v", err, err == nil && s.PhotoKey() == key)
	}
	if _, err := os.Stat(pubPath); err != nil {
		t.Errorf("photo-key.pub not written again: %v", err)
	}

	// Damaged: refused, with what to do.
	good, _ := os.ReadFile(path)
	os.WriteFile(path, []byte("siteclock-photo-private-key AAAA\n"), 0o600)
	_, err = reopen()
	if !errors.Is(err, ErrPhotoKey) || !strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), "restore it from your backup") {
		t.Errorf("damaged key: %v", err)
	}
	// Missing beside its public half (a restore that forgot it): refused,
	// never replaced by a new key silently.
	os.Remove(path)
	_, err = reopen()
	if !errors.Is(err, ErrPhotoKey) || !strings.Contains(err.Error(), "is missing") || !strings.Contains(err.Error(), "restore photo-key") {
		t.Errorf("missing key: %v", err)
	}
	// Put back: all is well again.
	os.WriteFile(path, good, 0o600)
	if s, err := reopen(); err != nil || s.PhotoKey() != key {
		t.Fatalf("restored key: %v", err)
	}
}

// Another process made the key between our look and our write: its key
// is used, never replaced.
func TestPhotoKeyMadeByAnotherProcess(t *testing.T) {
	s := openStore(t)
	other := filepath.Join(s.dir, "other-key")
	theirs, _ := photoseal.GenerateKey(nil)
	text, _ := theirs.MarshalText()
	os.WriteFile(other, text, 0o600)
	k, err := s.newPhotoKey(other)
	if err != nil || k.Public() != theirs.Public() {
		t.Fatalf("newPhotoKey over an existing key = %v; want the existing key", err)
	}
	if got, _ := os.ReadFile(other); !bytes.Equal(got, text) {
		t.Error("the existing key was replaced")
	}
}

func TestSealedPhotoUpload(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	_, token := e.enroll()

	// The check-in hands out the company's public key.
	r := e.do("POST", protocol.PathCheckIn, token, protocol.CheckIn{DeviceTime: t0, BootID: "boot-a"})
	var ci protocol.CheckInResponse
	r.decode(t, &ci)
	key := e.store.PhotoKey()
	if !bytes.Equal(ci.PhotoKey, key[:]) {
		t.Fatalf("check-in photo_key = %x, want %x", ci.PhotoKey, key)
	}

	putSealed := func(sha, punchID string, body []byte) reply {
		return e.do("PUT", protocol.PathPhotos+sha, token, body, "Content-Type", protocol.ContentTypeSealedPhoto, protocol.HeaderPunchID, punchID)
	}
	withPhoto := func(seq int64, sha string) protocol.Punch {
		p := newPunch(e.ben, seq, punch.In, int(seq))
		p.NoPhoto, p.PhotoSHA256 = punch.PhotoTaken, sha
		e.postPunches(token, p)
		return p
	}
	seal := func(jpg []byte, to photoseal.PublicKey) []byte {
		b, err := photoseal.Seal(jpg, to, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	// Opened and stored as the JPEG it holds.
	jpg := testJPEG(1)
	sha := sha256hex(jpg)
	p1 := withPhoto(1, sha)
	var pr protocol.PhotoResponse
	putSealed(sha, p1.ID, seal(jpg, key)).decode(t, &pr)
	if pr.Status != protocol.Accepted {
		t.Fatalf("sealed photo: %+v", pr)
	}
	if b, err := e.store.Photo(sha); err != nil || !bytes.Equal(b, jpg) {
		t.Errorf("stored photo: %d bytes, %v; want the JPEG inside", len(b), err)
	}
	if got, _ := e.store.Punch(p1.ID); got.PhotoReceivedAt.IsZero() {
		t.Error("punch not linked to its sealed photo")
	}
	// Sealed again (other bytes, same JPEG): a duplicate, by the JPEG's
	// hash. A plain JPEG of it too.
	putSealed(sha, p1.ID, seal(jpg, key)).decode(t, &pr)
	if pr.Status != protocol.Duplicate {
		t.Errorf("sealed again: %+v", pr)
	}
	e.putPhoto(token, sha, p1.ID, jpg).decode(t, &pr)
	if pr.Status != protocol.Duplicate {
		t.Errorf("plain after sealed: %+v", pr)
	}

	jpg2 := testJPEG(2)
	sha2 := sha256hex(jpg2)
	p2 := withPhoto(2, sha2)
	sealed := seal(jpg2, key)
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 1
		return b
	}
	stranger, _ := photoseal.GenerateKey(nil)
	big := seal(append(bytes.Clone(jpg2), make([]byte, protocol.MaxPhotoBytes)...), key)
	for _, c := range []struct {
		name, sha string
		body      []byte
		status    int
		says      string
	}{
		{"altered on the SD card", sha2, flip(len(sealed) - 20), 400, "cannot be opened: it was altered"},
		{"hash in the clear altered", sha2, flip(len(photoseal.Magic) + 1), 400, "does not match the hash"},
		{"sealed to another company", sha2, seal(jpg2, stranger.Public()), 400, "another company's photo key"},
		{"a plain JPEG sent as sealed", sha2, jpg2, 400, "not a sealed photo"},
		{"path names another JPEG", sha, sealed, 400, "unexpected checksum"},
		{"over the limit", sha2, big, 413, ""},
	} {
		r := putSealed(c.sha, p2.ID, c.body)
		if r.status != c.status || !strings.Contains(string(r.body), c.says) {
			t.Errorf("%s: %d %s; want %d saying %q", c.name, r.status, r.body, c.status, c.says)
		}
	}
	if got, _ := e.store.Punch(p2.ID); !got.PhotoReceivedAt.IsZero() {
		t.Error("a refused photo was linked to its punch")
	}
	// The real one still goes in after all that.
	putSealed(sha2, p2.ID, sealed).decode(t, &pr)
	if pr.Status != protocol.Accepted {
		t.Errorf("sealed photo after refusals: %+v", pr)
	}
	if n := count(t, e.store, "photos"); n != 2 {
		t.Errorf("%d photos stored, want 2", n)
	}
}
