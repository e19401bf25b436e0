package queue

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/siteclock/siteclock/punch"
)

// checkRefusedAsCorrupt opens dir, expects the refusal for a damaged
// database, and checks that the file was left exactly as it was.
func checkRefusedAsCorrupt(t *testing.T, dir string, wantInMessage string) {
	t.Helper()
	path := filepath.Join(dir, dbName)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 2; attempt++ { // and it does not start over the second time either
		db, err := Open(dir, Options{})
		if err == nil {
			db.Close()
			t.Fatalf("Open #%d of a damaged database succeeded", attempt)
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open #%d = %v, want ErrCorrupt", attempt, err)
		}
		msg := err.Error()
		for _, want := range []string{path + " is damaged", wantInMessage, "will not start over", "mv kiosk.db kiosk.db.damaged", ".recover"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q\ndoes not contain %q", msg, want)
			}
		}
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(after, before) {
			t.Fatalf("Open #%d changed the damaged file", attempt)
		}
	}
	// The lock is released, so the operator's next start (after moving the
	// file aside) works.
	if err := os.Rename(path, path+".damaged"); err != nil {
		t.Fatal(err)
	}
	os.Rename(path+"-wal", path+".damaged-wal")
	os.Remove(path + "-shm")
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open after moving the damaged file aside: %v", err)
	}
	db.Close()
}

func TestOpenRefusesRandomBytes(t *testing.T) {
	dir := t.TempDir()
	junk := make([]byte, 64<<10)
	rand.NewChaCha8([32]byte{1}).Read(junk)
	if err := os.WriteFile(filepath.Join(dir, dbName), junk, 0o600); err != nil {
		t.Fatal(err)
	}
	checkRefusedAsCorrupt(t, dir, "(file is not a database)")
}

func TestOpenRefusesDamagedDatabase(t *testing.T) {
	const pageSize = 4096
	overwriteMiddle := func(fill func([]byte)) func(*os.File, int64) error {
		return func(f *os.File, pages int64) error {
			b := make([]byte, pageSize)
			fill(b)
			_, err := f.WriteAt(b, (pages/2)*pageSize)
			return err
		}
	}
	for _, tc := range []struct {
		name   string
		damage func(f *os.File, pages int64) error
		want   string
	}{
		{"random bytes over a page", overwriteMiddle(func(b []byte) { rand.NewChaCha8([32]byte{2}).Read(b) }), "quick_check"},
		{"zeros over a page", overwriteMiddle(func(b []byte) { clear(b) }), "quick_check"}, // a block the disk lost
		// A damage SQLite reads without error, that only the check finds.
		{"wrong freelist count", func(f *os.File, _ int64) error {
			_, err := f.WriteAt([]byte{0, 0, 0, 5}, 36)
			return err
		}, "Freelist: size is 0 but should be 5"},
	} {
		t.Run(tc.name, func(t *testing.T) { testDamagedDB(t, tc.damage, tc.want) })
	}
}

func testDamagedDB(t *testing.T, damage func(f *os.File, pages int64) error, want string) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Enough punches for trees of many pages.
	for c := range 10 {
		var crew []punch.Punch
		for i := range 40 {
			p := mkPunch(fmt.Sprintf("damage-%s-%03d-%02d", strings.Repeat("x", 40), c, i), "e"+strconv.Itoa(i), punch.In, day0)
			p.EmployeeName = strings.Repeat("Long Name ", 20)
			crew = append(crew, p)
		}
		commit(t, db, nil, crew...)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, dbName)
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Fatal("WAL left after Close; the damage below would not be in the file SQLite reads first")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	pages := fi.Size() / 4096
	if pages < 20 {
		t.Fatalf("database has %d pages, want a multi-page tree", pages)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := damage(f, pages); err != nil {
		t.Fatal(err)
	}
	f.Close()

	checkRefusedAsCorrupt(t, dir, want)
}
