package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/siteclock/siteclock/punch"
)

// smallDisk mounts a tmpfs of size bytes and returns its path.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("filling a real disk needs root to mount a small tmpfs; CI runs this as root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("root, but cannot mount a tmpfs (%v): the container lacks CAP_SYS_ADMIN", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// fillUp writes path until the disk is full.
func fillUp(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}

func TestDiskFull(t *testing.T) {
	disk := smallDisk(t, "2m")
	filler := filepath.Join(disk, "filler")
	if err := os.WriteFile(filler, make([]byte, 512<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(disk, "state")
	db := openTest(t, state, Options{})
	ctx := context.Background()

	type kept struct {
		p     punch.Punch
		photo [32]byte
	}
	var ok []kept
	check := func(db *DB) {
		t.Helper()
		for _, k := range ok {
			got, err := db.Punch(k.p.ID)
			if err != nil {
				t.Fatalf("committed punch %s lost: %v", k.p.ID, err)
			}
			samePunch(t, got, k.p)
			if k.p.Photo == "" {
				continue
			}
			b, err := db.ReadPhoto(k.p.Photo)
			if err != nil || sha256.Sum256(b) != k.photo {
				t.Errorf("photo of %s damaged or lost (err %v)", k.p.ID, err)
			}
		}
		if s := stats(t, db); s.Total != len(ok) {
			t.Errorf("Total = %d, want the %d that succeeded", s.Total, len(ok))
		}
		for _, name := range photoFiles(t, db) {
			if strings.HasPrefix(name, tmpPrefix) {
				t.Errorf("half-written photo %s left behind", name)
			}
		}
	}
	try := func(i int, photoSize int) error {
		p := mkPunch(fmt.Sprintf("full-%04d", i), "e1", punch.In, day0)
		var photo []byte
		if photoSize > 0 {
			p.NoPhoto = punch.PhotoTaken
			photo = bytes.Repeat([]byte{byte(i)}, photoSize)
		}
		out, err := db.Commit(ctx, []punch.Punch{p}, photo)
		if err != nil {
			if _, err2 := db.Punch(p.ID); !errors.Is(err2, ErrNotFound) {
				t.Errorf("failed punch %s was stored anyway (%v)", p.ID, err2)
			}
			if photoSize > 0 {
				if _, err2 := os.Stat(filepath.Join(state, photosDir, p.ID+".jpg")); err2 == nil {
					t.Errorf("photo of failed punch %s left behind", p.ID)
				}
			}
			return err
		}
		ok = append(ok, kept{out[0], sha256.Sum256(photo)})
		return nil
	}

	// Phase 1: 200 KB photos until the photo write hits ENOSPC.
	var err error
	i := 0
	for ; i < 50 && err == nil; i++ {
		err = try(i, 200<<10)
	}
	if err == nil {
		t.Fatal("50 photos of 200 KB fit on a 2 MiB disk")
	}
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Commit on a full disk = %v, want ErrDiskFull", err)
	}
	if !strings.Contains(err.Error(), "free space") {
		t.Errorf("error %q does not say what to do", err)
	}
	t.Logf("%d photos committed, then: %v", len(ok), err)
	if len(ok) == 0 {
		t.Fatal("no commit succeeded before the disk was full")
	}
	check(db)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := try(i, 200<<10); err != nil {
		t.Fatalf("Commit after freeing space: %v", err)
	}
	i++

	// Phase 2: no room left at all, punches without photos, until SQLite
	// itself cannot grow its log.
	fillUp(t, filler)
	err = nil
	for n := 0; n < 5000 && err == nil; n, i = n+1, i+1 {
		err = try(i, 0)
	}
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Commit without photo on a full disk = %v, want ErrDiskFull", err)
	}
	var se sqlite3.Error
	if !errors.As(err, &se) {
		t.Errorf("phase 2 failed outside SQLite (%v); want SQLITE_FULL", err)
	}
	t.Logf("then without photos: %v", err)
	check(db)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := try(i, 0); err != nil {
		t.Fatalf("Commit after freeing space: %v", err)
	}
	check(db)

	// And it all survives a restart.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openTest(t, state, Options{})
	check(db)
}
