package queue

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/siteclock/siteclock/punch"
)

// fakeDisk is a disk of capacity bytes on which only the photos take space,
// so free space follows what Reclaim removes.
type fakeDisk struct{ capacity uint64 }

func (d *fakeDisk) free(dir string) (uint64, error) {
	entries, err := os.ReadDir(filepath.Join(dir, photosDir))
	if err != nil {
		return 0, err
	}
	var used uint64
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			return 0, err
		}
		used += uint64(fi.Size())
	}
	if used > d.capacity {
		return 0, nil
	}
	return d.capacity - used, nil
}

// ackLeavingFile marks the photo of punch id acknowledged without
// removing its file: what a crash between MarkPhotoSent's two steps, or an
// older siteclockd, leaves for Reclaim.
func ackLeavingFile(t testing.TB, db *DB, id string, at time.Time) {
	t.Helper()
	if _, err := db.sql.Exec(`UPDATE punches SET photo_sent_at_ns = ? WHERE id = ?`, at.UnixNano(), id); err != nil {
		t.Fatal(err)
	}
}

func TestReclaim(t *testing.T) {
	disk := &fakeDisk{capacity: 2000}
	deleted := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	db := openTest(t, "", Options{MinFree: 1000, FreeSpace: disk.free, Now: func() time.Time { return deleted }})

	// Six punches with 300-byte photos: 1800 used, 200 free.
	var ids []string
	for i := range 6 {
		p := mkPunch("rc"+string(rune('1'+i)), "e1", punch.In, day0.Add(time.Duration(i)*time.Minute))
		p.NoPhoto = punch.PhotoTaken
		commit(t, db, make([]byte, 300), p)
		ids = append(ids, p.ID)
	}
	// A plain punch, acknowledged, without a photo: nothing to remove.
	commit(t, db, nil, mkPunch("plain", "e2", punch.In, day0))
	if err := db.MarkSent([]string{"plain"}, day0); err != nil {
		t.Fatal(err)
	}
	// Photos 1, 2, 4 and 5 acknowledged; 3 and 6 not. Punch rc3 itself is
	// acknowledged but its photo is not, so its photo must stay.
	for _, i := range []int{0, 1, 3, 4} {
		ackLeavingFile(t, db, ids[i], day0.Add(time.Hour))
	}
	if err := db.MarkSent(ids[2:3], day0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	n, err := db.Reclaim()
	if err != nil {
		t.Fatal(err)
	}
	// Oldest first until free >= 1000: rc1 (500 free), rc2 (800), rc4 (1100).
	if n != 3 {
		t.Errorf("Reclaim removed %d files, want 3", n)
	}
	wantLeft := []string{"rc3.jpg", "rc5.jpg", "rc6.jpg"}
	if got := photoFiles(t, db); !reflect.DeepEqual(got, wantLeft) {
		t.Errorf("photos left = %v, want %v", got, wantLeft)
	}
	for i, id := range ids {
		p, err := db.Punch(id)
		if err != nil {
			t.Fatalf("punch %s gone after Reclaim: %v", id, err)
		}
		if p.Photo != id+".jpg" {
			t.Errorf("punch %s Photo = %q, want its file name kept", id, p.Photo)
		}
		var del *int64
		if err := db.sql.QueryRow(`SELECT photo_deleted_at_ns FROM punches WHERE id = ?`, id).Scan(&del); err != nil {
			t.Fatal(err)
		}
		wantDeleted := i == 0 || i == 1 || i == 3
		if (del != nil) != wantDeleted || del != nil && *del != deleted.UnixNano() {
			t.Errorf("punch %s photo_deleted_at = %v, want recorded: %v", id, del, wantDeleted)
		}
		if wantDeleted {
			if _, err := db.ReadPhoto(p.Photo); !errors.Is(err, ErrNotFound) {
				t.Errorf("ReadPhoto(%s) after Reclaim = %v, want ErrNotFound", p.Photo, err)
			}
		}
	}
	if s := stats(t, db); s.Total != 7 || s.PhotosWaiting != 2 {
		t.Errorf("Stats after Reclaim = %+v, want 7 punches and 2 photos waiting", s)
	}

	// Enough space now: nothing more goes, though rc5 could.
	if n, err := db.Reclaim(); err != nil || n != 0 {
		t.Errorf("second Reclaim = %d, %v; want 0", n, err)
	}

	// A smaller disk: Reclaim removes every acknowledged photo and stops
	// there, still short, never touching the unacknowledged ones.
	disk.capacity = 1000
	if n, err := db.Reclaim(); err != nil || n != 1 {
		t.Errorf("Reclaim on a short disk = %d, %v; want 1 (rc5)", n, err)
	}
	if got := photoFiles(t, db); !reflect.DeepEqual(got, []string{"rc3.jpg", "rc6.jpg"}) {
		t.Errorf("photos left = %v, want the unacknowledged rc3 and rc6", got)
	}
	if n, err := db.Reclaim(); err != nil || n != 0 {
		t.Errorf("Reclaim with nothing acknowledged left = %d, %v; want 0", n, err)
	}
}

func TestReclaimFileAlreadyGone(t *testing.T) {
	// A crash between removing a file and recording it: the next Reclaim
	// records it without counting it and without failing.
	db := openTest(t, "", Options{MinFree: 1 << 62, FreeSpace: func(string) (uint64, error) { return 0, nil }})
	p := mkPunch("gone", "e1", punch.In, day0)
	p.NoPhoto = punch.PhotoTaken
	out := commit(t, db, []byte("jpeg"), p)
	ackLeavingFile(t, db, p.ID, day0)
	if err := os.Remove(filepath.Join(db.Dir(), photosDir, out[0].Photo)); err != nil {
		t.Fatal(err)
	}
	if n, err := db.Reclaim(); err != nil || n != 0 {
		t.Errorf("Reclaim = %d, %v; want 0, nil", n, err)
	}
	var del *int64
	db.sql.QueryRow(`SELECT photo_deleted_at_ns FROM punches WHERE id = ?`, p.ID).Scan(&del)
	if del == nil {
		t.Error("removal of the missing file not recorded")
	}
}

func TestDefaultFreeSpace(t *testing.T) {
	free, err := statfsFree(t.TempDir())
	if err != nil || free == 0 {
		t.Fatalf("statfsFree = %d, %v", free, err)
	}
	// With the real disk and a tiny MinFree there is nothing to do.
	db := openTest(t, "", Options{MinFree: 1})
	if n, err := db.Reclaim(); err != nil || n != 0 {
		t.Errorf("Reclaim = %d, %v", n, err)
	}
}
