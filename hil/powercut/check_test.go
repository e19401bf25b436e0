package powercut

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/siteclock/siteclock/photoseal"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/queue"
	"github.com/siteclock/siteclock/sqlitedb"
)

// kiosk is a state folder as siteclockd leaves it: a device key, the
// company's photo key, punches with sealed photos and a Clock For crew,
// and the saved screens the agent would have reported for them.
type kiosk struct {
	dir   string
	key   *photoseal.PrivateKey
	saved []Saved
	ids   []string // in commit order
}

func newKiosk(t *testing.T) *kiosk {
	t.Helper()
	k := &kiosk{dir: t.TempDir()}
	_, dev, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(dev)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(k.dir, "device.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if k.key, err = photoseal.GenerateKey(nil); err != nil {
		t.Fatal(err)
	}
	db, err := queue.Open(k.dir, queue.Options{Key: dev})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.SetPhotoKey(k.key.Public()); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"Ben Cole", "Ana Ruiz", "Ben Cole"} {
		p := newPunch(name, []punch.Direction{punch.In, punch.Out}[i%2])
		k.commit(t, db, []punch.Punch{p}, photo(t, i))
	}
	crew := []punch.Punch{newPunch("Ben Cole", punch.Out), newPunch("Carla Diaz", punch.Out)}
	for i := range crew {
		crew[i].ClockedBy, crew[i].NoPhoto = "emp-Ana Ruiz", punch.ClockFor
	}
	k.commit(t, db, crew, nil)
	return k
}

func newPunch(name string, dir punch.Direction) punch.Punch {
	return punch.Punch{ID: uuid.NewString(), EmployeeID: "emp-" + name, EmployeeNumber: "1002", EmployeeName: name,
		Direction: dir, At: time.Now(), BootID: "boot-1"}
}

// commit commits ps and reports them saved, as the agent does.
func (k *kiosk) commit(t *testing.T, db *queue.DB, ps []punch.Punch, jpg []byte) {
	t.Helper()
	out, err := db.Commit(context.Background(), ps, jpg)
	if err != nil {
		t.Fatal(err)
	}
	crew := 0
	if len(out) > 1 {
		crew = len(out)
	}
	for _, p := range out {
		k.saved = append(k.saved, Saved{Boot: 1, Seq: p.Seq, ID: p.ID, Dir: p.Direction, Photo: p.Photo != "", Crew: crew, Name: p.EmployeeName})
		k.ids = append(k.ids, p.ID)
	}
}

func photo(t *testing.T, shade int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for x := range 64 {
		for y := range 48 {
			img.Set(x, y, color.RGBA{uint8(40 * shade), uint8(x * 4), uint8(y * 5), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func (k *kiosk) check(cuts int) Report {
	return Check(k.dir, k.saved, Options{PhotoKey: k.key, Cuts: cuts})
}

func (k *kiosk) photoPath(i int) string { return filepath.Join(k.dir, "photos", k.ids[i]+".jpg") }

// sqlExec changes the database behind the queue's back.
func (k *kiosk) sqlExec(t *testing.T, q string, args ...any) {
	t.Helper()
	s, err := sql.Open("sqlite3", sqlitedb.DSN(filepath.Join(k.dir, "kiosk.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

func wantProblem(t *testing.T, r Report, want string) {
	t.Helper()
	for _, p := range r.Problems {
		if strings.Contains(p, want) {
			return
		}
	}
	t.Errorf("no problem mentions %q; problems: %q", want, r.Problems)
}

func TestCheckPasses(t *testing.T) {
	k := newKiosk(t)
	r := k.check(0)
	if !r.OK() {
		t.Fatalf("problems in an intact folder: %q", r.Problems)
	}
	if r.Punches != 5 || r.Photos != 3 || r.Saved != 5 || r.Unreported != 0 || r.Orphans != 0 || r.Lost != 0 || r.Corrupt != 0 {
		t.Errorf("report %+v", r)
	}
}

// The check must be able to fail: each kind of damage a power cut could
// do is found.
func TestCheckFinds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, k *kiosk)
		cuts   int
		want   string
		lost   int
	}{
		{"photo removed", func(t *testing.T, k *kiosk) { os.Remove(k.photoPath(1)) }, 0, "not found", 0},
		{"photo cut short", func(t *testing.T, k *kiosk) {
			b, _ := os.ReadFile(k.photoPath(0))
			os.WriteFile(k.photoPath(0), b[:len(b)/2], 0o600)
		}, 0, "the photo of seq 1", 0},
		{"photo with a byte changed", func(t *testing.T, k *kiosk) {
			b, _ := os.ReadFile(k.photoPath(2))
			b[len(b)-10] ^= 1
			os.WriteFile(k.photoPath(2), b, 0o600)
		}, 0, "cannot be opened", 0},
		{"photo replaced by another punch's", func(t *testing.T, k *kiosk) {
			b, _ := os.ReadFile(k.photoPath(0))
			os.WriteFile(k.photoPath(2), b, 0o600)
		}, 0, "the row recorded", 0},
		{"photo stored unsealed", func(t *testing.T, k *kiosk) {
			os.WriteFile(k.photoPath(1), photo(t, 1), 0o600)
		}, 0, "not a sealed photo", 0},
		{"saved punch missing", func(t *testing.T, k *kiosk) {
			k.saved = append(k.saved, Saved{Boot: 2, Seq: 6, ID: uuid.NewString(), Dir: punch.In, Photo: true, Name: "Ben Cole"})
		}, 0, "LOST", 1},
		{"last saved punch rolled back", func(t *testing.T, k *kiosk) {
			k.sqlExec(t, "DELETE FROM punches WHERE seq >= 4")
		}, 0, "LOST", 2},
		{"saved with another direction", func(t *testing.T, k *kiosk) { k.saved[0].Dir = punch.Out }, 0, "not as its saved screen", 0},
		{"saved with another sequence number", func(t *testing.T, k *kiosk) { k.saved[3].Seq = 3; k.saved[4].Seq = 5 }, 0, "reported after", 0},
		{"sequence number changed", func(t *testing.T, k *kiosk) {
			k.sqlExec(t, "UPDATE punches SET seq = 9 WHERE seq = 3")
		}, 0, "a gap", 0},
		{"row changed", func(t *testing.T, k *kiosk) {
			k.sqlExec(t, "UPDATE punches SET direction = 'out' WHERE seq = 1")
		}, 0, "not the hash of its contents", 0},
		{"two commits not reported", func(t *testing.T, k *kiosk) { k.saved = k.saved[:1] }, 0, "more than one commit", 0},
		{"an unreported commit before a reported one", func(t *testing.T, k *kiosk) {
			k.saved = append(k.saved[:1:1], k.saved[2:]...)
		}, 0, "never reported itself", 0},
		{"whole photo without a row, no cut", func(t *testing.T, k *kiosk) {
			b, _ := os.ReadFile(k.photoPath(0))
			os.WriteFile(filepath.Join(k.dir, "photos", uuid.NewString()+".jpg"), b, 0o600)
		}, 0, "whole photos no row names", 0},
		{"half a photo without a row", func(t *testing.T, k *kiosk) {
			b, _ := os.ReadFile(k.photoPath(0))
			os.WriteFile(filepath.Join(k.dir, "photos", uuid.NewString()+".jpg"), b[:100], 0o600)
		}, 1, "is not a whole photo", 0},
		{"database damaged", func(t *testing.T, k *kiosk) {
			f, err := os.OpenFile(filepath.Join(k.dir, "kiosk.db"), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fi, _ := f.Stat()
			junk := bytes.Repeat([]byte{0xa5}, 4096)
			for off := int64(4096); off < fi.Size(); off += 8192 {
				f.WriteAt(junk, off)
			}
		}, 0, "", 0},
		{"database gone", func(t *testing.T, k *kiosk) { os.Remove(filepath.Join(k.dir, "kiosk.db")) }, 0, "the database", 0},
		{"device key gone", func(t *testing.T, k *kiosk) { os.Remove(filepath.Join(k.dir, "device.key")) }, 0, "the device key", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKiosk(t)
			// The queue checkpoints its WAL into kiosk.db when it closes;
			// damage goes to the files as they are now.
			tc.damage(t, k)
			r := k.check(tc.cuts)
			if r.OK() {
				t.Fatalf("the check passed: %+v", r)
			}
			t.Logf("found: %q", r.Problems)
			if tc.want != "" {
				wantProblem(t, r, tc.want)
			}
			if r.Lost != tc.lost {
				t.Errorf("lost %d, want %d: %q", r.Lost, tc.lost, r.Problems)
			}
		})
	}
}

// What a cut may leave is not a failure: a half-written photo, one whole
// photo without a row a cut, and one commit without its saved screen.
func TestCheckAllowsTheCommitInFlight(t *testing.T) {
	k := newKiosk(t)
	b, _ := os.ReadFile(k.photoPath(0))
	os.WriteFile(filepath.Join(k.dir, "photos", ".tmp-123"), b[:100], 0o600)
	os.WriteFile(filepath.Join(k.dir, "photos", uuid.NewString()+".jpg"), b, 0o600)
	k.saved = k.saved[:3] // the crew's screen never reported
	r := k.check(1)
	if !r.OK() {
		t.Fatalf("problems: %q", r.Problems)
	}
	if r.TempFiles != 1 || r.Orphans != 1 || r.Unreported != 2 {
		t.Errorf("report %+v, want 1 temp file, 1 orphan, 2 unreported", r)
	}
}

func TestSavedLines(t *testing.T) {
	s := Saved{Boot: 3, Seq: 17, ID: uuid.NewString(), Dir: punch.Out, Photo: true, Crew: 0, Name: `Ana "la jefa" Ruiz`}
	got, ok := ParseSaved(s.String())
	if !ok || got != s {
		t.Fatalf("ParseSaved(%q) = %+v, %v", s.String(), got, ok)
	}
	line := s.String()
	for _, bad := range []string{line[:len(line)-3], "x" + line, strings.Replace(line, "dir=out", "dir=up", 1), line + " "} {
		if _, ok := ParseSaved(bad); ok {
			t.Errorf("ParseSaved accepted %q", bad)
		}
	}
	all, err := ReadSaved(strings.NewReader("[ 1.2] kernel says hi\n" + line + "\nSAVED boot=1 cut sh"))
	if err != nil || len(all) != 1 || all[0] != s {
		t.Errorf("ReadSaved = %+v, %v", all, err)
	}
}
