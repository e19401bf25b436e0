package queue

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteclock/siteclock/photoseal"
	"github.com/siteclock/siteclock/punch"
)

// fakeJPEG is a distinct "JPEG" per n: a JPEG's first bytes, then text
// that would show through a seal that did not hide it.
func fakeJPEG(n int) []byte {
	return append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte("face of worker "+string(rune('A'+n))+" "), 50)...)
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func photoKey(t testing.TB) *photoseal.PrivateKey {
	t.Helper()
	k, err := photoseal.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// commitPhoto commits a FaceFront punch with photo and returns it.
func commitPhoto(t testing.TB, db *DB, id string, photo []byte) punch.Punch {
	t.Helper()
	p := mkPunch(id, "e-"+id, punch.In, day0)
	p.NoPhoto = punch.PhotoTaken
	return commit(t, db, photo, p)[0]
}

func readFile(t testing.TB, db *DB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(db.Dir(), photosDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkSealed fails unless the stored file holds jpeg sealed to k, with
// nothing of the picture readable, and the queue names it by the JPEG's
// hash.
func checkSealed(t testing.TB, db *DB, k *photoseal.PrivateKey, name string, jpeg []byte) {
	t.Helper()
	b := readFile(t, db, name)
	if bytes.HasPrefix(b, []byte{0xFF, 0xD8}) || bytes.Contains(b, jpeg[4:40]) {
		t.Errorf("%s on disk is a JPEG or holds the JPEG's bytes", name)
	}
	got, err := k.Open(b)
	if err != nil || !bytes.Equal(got, jpeg) {
		t.Errorf("%s does not open to the photo taken: %v", name, err)
	}
	if sum, err := db.PhotoSHA256(name); err != nil || sum != hexSum(jpeg) {
		t.Errorf("PhotoSHA256(%s) = %s, %v; want the JPEG's %s", name, sum, err, hexSum(jpeg))
	}
}

func TestCommitSealsPhoto(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir, Options{})
	k := photoKey(t)
	if _, ok := db.PhotoKey(); ok {
		t.Fatal("a new queue has a photo key")
	}
	if err := db.SetPhotoKey(k.Public()); err != nil {
		t.Fatal(err)
	}
	jpeg := fakeJPEG(0)
	in := bytes.Clone(jpeg)
	p := commitPhoto(t, db, "s1", in)
	if !bytes.Equal(in, jpeg) {
		t.Error("Commit changed the caller's photo (the preview shows it)")
	}
	checkSealed(t, db, k, p.Photo, jpeg)
	// ReadPhoto gives the sealed bytes: what the uploader sends.
	if b, err := db.ReadPhoto(p.Photo); err != nil || !photoseal.IsSealed(b) {
		t.Errorf("ReadPhoto = sealed %v, %v", photoseal.IsSealed(b), err)
	}

	// The key is kept in the state folder for the next start, and read
	// by a read-only look too.
	text, err := os.ReadFile(filepath.Join(dir, "photo-key.pub"))
	if err != nil || !strings.HasPrefix(string(text), "siteclock-photo-public-key ") {
		t.Fatalf("photo-key.pub = %q, %v", text, err)
	}
	ro, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if got, ok := ro.PhotoKey(); !ok || got != k.Public() {
		t.Errorf("read-only queue's key = %v, %v", got, ok)
	}
	if err := ro.SetPhotoKey(k.Public()); err == nil {
		t.Error("a read-only queue stored a key")
	}
	db.Close()
	db = openTest(t, dir, Options{})
	if got, ok := db.PhotoKey(); !ok || got != k.Public() {
		t.Fatalf("after a restart the key is %v, %v", got, ok)
	}
	p2 := commitPhoto(t, db, "s2", fakeJPEG(1))
	checkSealed(t, db, k, p2.Photo, fakeJPEG(1))
}

// With no back office there is no key: photos are stored as taken (the
// daemon warns at start), then sealed, all of them, when the key comes.
func TestSetPhotoKeySealsStoredPhotos(t *testing.T) {
	db := openTest(t, "", Options{})
	var ps []punch.Punch
	for i := range 3 {
		ps = append(ps, commitPhoto(t, db, "u"+string(rune('1'+i)), fakeJPEG(i)))
	}
	for i, p := range ps {
		if b := readFile(t, db, p.Photo); !bytes.Equal(b, fakeJPEG(i)) {
			t.Fatalf("without a key %s is not the JPEG as taken", p.Photo)
		}
	}
	before := make([]string, len(ps))
	for i, p := range ps {
		var err error
		if before[i], err = db.PhotoSHA256(p.Photo); err != nil || before[i] != hexSum(fakeJPEG(i)) {
			t.Fatalf("PhotoSHA256 of an unsealed photo = %s, %v", before[i], err)
		}
	}
	// One was refused by the office (kept for a person), one is
	// acknowledged and gone; both kinds must end up fine.
	if err := db.MarkPhotoRejected(ps[1].ID, "unknown employee", day0); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkSent([]string{ps[2].ID}, day0); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkPhotoSent(ps[2].ID, day0); err != nil {
		t.Fatal(err)
	}

	k := photoKey(t)
	if err := db.SetPhotoKey(k.Public()); err != nil {
		t.Fatal(err)
	}
	for i, p := range ps[:2] {
		checkSealed(t, db, k, p.Photo, fakeJPEG(i))
	}
	if got := photoFiles(t, db); !reflect.DeepEqual(got, []string{"u1.jpg", "u2.jpg"}) {
		t.Errorf("photo files = %v, want the two kept, nothing else (no temporary files, the sent one not back)", got)
	}
	// The same key again changes nothing.
	b := readFile(t, db, ps[0].Photo)
	if err := db.SetPhotoKey(k.Public()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, db, ps[0].Photo), b) {
		t.Error("setting the same key sealed again")
	}
}

// A photo stored unsealed while the key file already says otherwise (a
// crash while sealing, or the office's photo-key.pub copied into the
// state folder of a kiosk provisioned by roster file) is sealed at start.
func TestOpenSealsWithKeyFile(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir, Options{})
	p := commitPhoto(t, db, "o1", fakeJPEG(0))
	db.Close()
	k := photoKey(t)
	text, _ := k.Public().MarshalText()
	if err := os.WriteFile(filepath.Join(dir, "photo-key.pub"), text, 0o600); err != nil {
		t.Fatal(err)
	}
	db = openTest(t, dir, Options{})
	checkSealed(t, db, k, p.Photo, fakeJPEG(0))
}

func TestDamagedKeyFile(t *testing.T) {
	dir := t.TempDir()
	// The office's private key copied by mistake: refused, never used as
	// a public key (nothing sealed to it could be opened).
	k := photoKey(t)
	priv, _ := k.MarshalText()
	if err := os.WriteFile(filepath.Join(dir, "photo-key.pub"), priv, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	db := openTest(t, dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if _, ok := db.PhotoKey(); ok {
		t.Error("a private key was taken as the photo key")
	}
	if !strings.Contains(logs.String(), "photo key file is unusable") || !strings.Contains(logs.String(), "private photo key, not a public one") {
		t.Errorf("log does not say what is wrong: %s", logs.String())
	}
	// The kiosk still punches; the next check-in brings the key.
	p := commitPhoto(t, db, "d1", fakeJPEG(0))
	if err := db.SetPhotoKey(k.Public()); err != nil {
		t.Fatal(err)
	}
	checkSealed(t, db, k, p.Photo, fakeJPEG(0))
	if err := db.SetPhotoKey(photoseal.PublicKey{}); err == nil {
		t.Error("SetPhotoKey took the zero key")
	}
}

// A new key (not something the office does yet) seals new photos; those
// sealed before stay sealed to the old one.
func TestPhotoKeyChange(t *testing.T) {
	db := openTest(t, "", Options{})
	a, b := photoKey(t), photoKey(t)
	if err := db.SetPhotoKey(a.Public()); err != nil {
		t.Fatal(err)
	}
	pa := commitPhoto(t, db, "ka", fakeJPEG(0))
	if err := db.SetPhotoKey(b.Public()); err != nil {
		t.Fatal(err)
	}
	pb := commitPhoto(t, db, "kb", fakeJPEG(1))
	checkSealed(t, db, a, pa.Photo, fakeJPEG(0))
	checkSealed(t, db, b, pb.Photo, fakeJPEG(1))
}

func TestMarkPhotoSentRemovesFile(t *testing.T) {
	at := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	db := openTest(t, "", Options{Now: func() time.Time { return at }})
	if err := db.SetPhotoKey(photoKey(t).Public()); err != nil {
		t.Fatal(err)
	}
	p := commitPhoto(t, db, "m1", fakeJPEG(0))
	keep := commitPhoto(t, db, "m2", fakeJPEG(1))
	if err := db.MarkSent([]string{p.ID, keep.ID}, at); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkPhotoSent(p.ID, at); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ReadPhoto(p.Photo); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadPhoto after acknowledgement = %v, want ErrNotFound", err)
	}
	if got := photoFiles(t, db); !reflect.DeepEqual(got, []string{"m2.jpg"}) {
		t.Errorf("photo files = %v, want only the unacknowledged m2.jpg", got)
	}
	var sent, deleted *int64
	if err := db.sql.QueryRow(`SELECT photo_sent_at_ns, photo_deleted_at_ns FROM punches WHERE id = ?`, p.ID).Scan(&sent, &deleted); err != nil {
		t.Fatal(err)
	}
	if sent == nil || deleted == nil || *deleted != at.UnixNano() {
		t.Errorf("photo sent at %v, deleted at %v; want both recorded", sent, deleted)
	}
	// The punch stays, naming its (gone) photo; acknowledging again is
	// fine.
	if got, err := db.Punch(p.ID); err != nil || got.Photo != p.Photo {
		t.Errorf("punch after its photo went: %+v, %v", got, err)
	}
	if err := db.MarkPhotoSent(p.ID, at.Add(time.Hour)); err != nil {
		t.Errorf("second MarkPhotoSent = %v", err)
	}
	if s := stats(t, db); s.PhotosWaiting != 1 || s.Total != 2 {
		t.Errorf("Stats = %+v, want 1 photo waiting of 2 punches", s)
	}
}

// A crash between the acknowledgement and the removal: the next start
// removes the file and records it.
func TestOpenRemovesAcknowledgedPhotos(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir, Options{})
	p := commitPhoto(t, db, "c1", fakeJPEG(0))
	waiting := commitPhoto(t, db, "c2", fakeJPEG(1))
	ackLeavingFile(t, db, p.ID, day0)
	db.Close()
	db = openTest(t, dir, Options{})
	if got := photoFiles(t, db); !reflect.DeepEqual(got, []string{waiting.Photo}) {
		t.Errorf("photo files after restart = %v, want only %s", got, waiting.Photo)
	}
	var deleted *int64
	db.sql.QueryRow(`SELECT photo_deleted_at_ns FROM punches WHERE id = ?`, p.ID).Scan(&deleted)
	if deleted == nil {
		t.Error("removal at start not recorded")
	}
}

// Sealing the stored photos while the uploader acknowledges them: no
// acknowledged photo comes back, none is left unsealed, whatever the
// interleaving.
func TestSealWhileAcknowledging(t *testing.T) {
	db := openTest(t, "", Options{})
	var ps []punch.Punch
	for i := range 20 {
		ps = append(ps, commitPhoto(t, db, "r"+string(rune('a'+i)), fakeJPEG(i)))
	}
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	if err := db.MarkSent(ids, day0); err != nil {
		t.Fatal(err)
	}
	k := photoKey(t)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := db.SetPhotoKey(k.Public()); err != nil {
			t.Error(err)
		}
	})
	for _, p := range ps[:15] {
		if err := db.MarkPhotoSent(p.ID, day0); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
	var want []string
	for _, p := range ps[15:] {
		want = append(want, p.Photo)
	}
	if got := photoFiles(t, db); !reflect.DeepEqual(got, want) {
		t.Errorf("photo files = %v, want the 5 unacknowledged %v", got, want)
	}
	for i, p := range ps[15:] {
		checkSealed(t, db, k, p.Photo, fakeJPEG(15+i))
	}
}
