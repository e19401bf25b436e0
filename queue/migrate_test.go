package queue

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/siteclock/siteclock/punch"
)

func userVersion(t testing.TB, s *sql.DB) int {
	t.Helper()
	var v int
	if err := s.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestFreshDatabase(t *testing.T) {
	// Open makes the missing folders; odd characters must not confuse the
	// SQLite URI.
	dir := filepath.Join(t.TempDir(), "state", "site clock #1?%20")
	db := openTest(t, dir, Options{})
	if db.Path() != filepath.Join(dir, "kiosk.db") {
		t.Errorf("Path = %s", db.Path())
	}
	if _, err := os.Stat(db.Path()); err != nil {
		t.Errorf("database file not where Path says: %v", err)
	}
	if v := userVersion(t, db.sql); v != len(migrations) {
		t.Errorf("user_version = %d, want %d", v, len(migrations))
	}
	for pragma, want := range map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1"} {
		var got string
		if err := db.sql.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil || got != want {
			t.Errorf("PRAGMA %s = %q (%v), want %q", pragma, got, err, want)
		}
	}
	for _, d := range []string{dir, filepath.Join(dir, photosDir)} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s mode %v, want 0700", d, fi.Mode().Perm())
		}
	}
}

func TestOpenIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	for i := range 3 {
		db, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("Open #%d: %v", i+1, err)
		}
		if v := userVersion(t, db.sql); v != len(migrations) {
			t.Errorf("Open #%d: user_version = %d, want %d", i+1, v, len(migrations))
		}
		if i == 0 {
			commit(t, db, nil, mkPunch("kept", "e1", punch.In, day0))
		}
		if s := stats(t, db); s.Total != 1 {
			t.Errorf("Open #%d: Total = %d, want 1", i+1, s.Total)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, db, nil, mkPunch("p", "e1", punch.In, day0))
	path := db.Path()
	db.Close()
	future := len(migrations) + 1
	raw := rawDB(t, path)
	mustExec(t, raw, "PRAGMA user_version = "+strconv.Itoa(future))
	raw.Close()

	_, err = Open(dir, Options{})
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Open = %v, want ErrNewerSchema", err)
	}
	want := path + " was written by a newer siteclockd (schema " + strconv.Itoa(future) + ", this build knows " + strconv.Itoa(len(migrations)) +
		"); install the newer version or restore a backup"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q\ndoes not contain %q", err, want)
	}
	// Refused means untouched: the version and the punch are still there.
	raw = rawDB(t, path)
	if v := userVersion(t, raw); v != future {
		t.Errorf("user_version after refusal = %d, want %d", v, future)
	}
	var n int
	if err := raw.QueryRow("SELECT count(*) FROM punches").Scan(&n); err != nil || n != 1 {
		t.Errorf("punches after refusal = %d (%v), want 1", n, err)
	}
}
