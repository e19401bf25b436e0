package queue

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the roster test uses America/Chicago whatever the host has

	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/roster"
	"github.com/siteclock/siteclock/sqlitedb"
)

// openTest opens a queue in dir (a fresh temporary folder when empty) and
// closes it when the test ends.
func openTest(t testing.TB, dir string, opts Options) *DB {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var (
	cst   = time.FixedZone("CST", -6*3600)
	day0  = time.Date(2026, 11, 20, 7, 2, 3, 123456789, cst)
	bootA = "6b1f0c1e-1c1a-4d2e-9a51-0c1f3e4d5a6b"
)

// mkPunch is a valid punch without a photo.
func mkPunch(id, emp string, d punch.Direction, at time.Time) punch.Punch {
	return punch.Punch{
		ID: id, EmployeeID: emp, EmployeeNumber: "10" + emp, EmployeeName: "Worker " + emp,
		Direction: d, At: at, BootTime: 90*time.Second + 17*time.Nanosecond, BootID: bootA,
		NoPhoto: punch.NoConsent,
	}
}

// samePunch fails the test unless got and want agree in every field (At as
// the same instant). A want without a hash is a punch as given to Commit:
// what the queue stamps on it at commit (chain, photo hash, clock flags;
// chain_test.go checks those) is taken from got.
func samePunch(t testing.TB, got, want punch.Punch) {
	t.Helper()
	if want.Hash == nil {
		want.ChainID, want.PrevHash, want.Hash, want.Signature = got.ChainID, got.PrevHash, got.Hash, got.Signature
		want.PhotoSHA256, want.Clock.Anchored, want.Clock.Behind = got.PhotoSHA256, got.Clock.Anchored, got.Clock.Behind
	}
	gotAt, wantAt := got.At, want.At
	got.At, want.At = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) || !gotAt.Equal(wantAt) {
		got.At, want.At = gotAt, wantAt
		t.Errorf("punch %s:\n got %+v\nwant %+v", want.ID, got, want)
	}
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// rawDB opens a second connection to the queue's database file, as another
// program (the sqlite3 shell, say) would.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	s, err := sql.Open("sqlite3", sqlitedb.DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustExec(t testing.TB, s *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := s.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// failInserts makes SQLite itself abort, inside Commit's transaction, the
// insert of any punch for employee emp: a real failure after earlier
// statements of the transaction succeeded.
func failInserts(t testing.TB, db *DB, emp string) (undo func()) {
	t.Helper()
	raw := rawDB(t, db.Path())
	mustExec(t, raw, `CREATE TRIGGER test_fail BEFORE INSERT ON punches WHEN NEW.employee_id = '`+emp+`'
		BEGIN SELECT RAISE(ABORT, 'injected failure'); END`)
	return func() { mustExec(t, raw, `DROP TRIGGER test_fail`) }
}

func photoFiles(t testing.TB, db *DB) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(db.Dir(), photosDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func stats(t testing.TB, db *DB) Stats {
	t.Helper()
	s, err := db.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return s
}

func commit(t testing.TB, db *DB, photo []byte, ps ...punch.Punch) []punch.Punch {
	t.Helper()
	out, err := db.Commit(context.Background(), ps, photo)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return out
}

func TestCommitRoundTrip(t *testing.T) {
	db := openTest(t, "", Options{})
	in := punch.Punch{
		ID: "0b7e4c7a-3f0e-4a8e-8f57-5b0d9f3c2a11", Seq: 99, EmployeeID: "e-17", EmployeeNumber: "1017",
		EmployeeName: "Ana Ruiz Núñez", Direction: punch.Out, At: day0, BootTime: 3*time.Hour + 5*time.Nanosecond,
		BootID: bootA, ClockedBy: "e-01", Photo: "ignored.jpg", NoPhoto: punch.ClockFor,
		RosterVersion: "r42",
	}
	out := commit(t, db, nil, in)
	want := in
	want.Seq, want.Photo = out[0].Seq, ""
	if want.Seq <= 0 {
		t.Fatalf("Seq = %d, want > 0", want.Seq)
	}
	samePunch(t, out[0], want)
	got, err := db.Punch(in.ID)
	if err != nil {
		t.Fatalf("Punch: %v", err)
	}
	samePunch(t, got, want)
	if _, off := got.At.Zone(); off != -6*3600 {
		t.Errorf("At zone offset = %d, want the punch's own -21600", off)
	}
	if _, err := db.Punch("no-such-punch"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Punch(unknown) = %v, want ErrNotFound", err)
	}
	// A UTC time and one in 1970 (a Pi without a clock yet) survive too.
	early := mkPunch("early", "e-2", punch.In, time.Unix(12, 34).UTC())
	commit(t, db, nil, early)
	got, err = db.Punch("early")
	if err != nil {
		t.Fatal(err)
	}
	early.Seq = got.Seq
	samePunch(t, got, early)
}

func TestCommitRejectsInvalidInput(t *testing.T) {
	db := openTest(t, "", Options{})
	ok := mkPunch("ok", "e1", punch.In, day0)
	with := func(f func(p *punch.Punch)) punch.Punch { p := ok; f(&p); return p }
	photo := []byte("jpeg")
	taken := with(func(p *punch.Punch) { p.NoPhoto = punch.PhotoTaken })
	for _, tc := range []struct {
		name    string
		punches []punch.Punch
		photo   []byte
	}{
		{"no punches", nil, nil},
		{"empty ID", []punch.Punch{with(func(p *punch.Punch) { p.ID = "" })}, nil},
		{"ID with slash", []punch.Punch{with(func(p *punch.Punch) { p.ID = "../x" })}, photo},
		{"ID with dot first", []punch.Punch{with(func(p *punch.Punch) { p.ID = ".hidden" })}, nil},
		{"no employee", []punch.Punch{with(func(p *punch.Punch) { p.EmployeeID = "" })}, nil},
		{"bad direction", []punch.Punch{with(func(p *punch.Punch) { p.Direction = "IN" })}, nil},
		{"bad no-photo reason", []punch.Punch{with(func(p *punch.Punch) { p.NoPhoto = "shy" })}, nil},
		{"zero time", []punch.Punch{with(func(p *punch.Punch) { p.At = time.Time{} })}, nil},
		{"duplicate IDs in one call", []punch.Punch{ok, with(func(p *punch.Punch) { p.EmployeeID = "e2" })}, nil},
		{"photo with two punches", []punch.Punch{taken, with(func(p *punch.Punch) { p.ID = "ok2"; p.NoPhoto = punch.PhotoTaken })}, photo},
		{"photo but a no-photo reason", []punch.Punch{ok}, photo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := db.Commit(context.Background(), tc.punches, tc.photo); err == nil {
				t.Fatal("Commit succeeded, want an error")
			}
			if s := stats(t, db); s.Total != 0 {
				t.Errorf("Total = %d after a refused commit, want 0", s.Total)
			}
			if files := photoFiles(t, db); len(files) != 0 {
				t.Errorf("photos folder holds %v after a refused commit", files)
			}
		})
	}
}

func TestCommitDuplicateID(t *testing.T) {
	db := openTest(t, "", Options{})
	p := mkPunch("p1", "e1", punch.In, day0)
	p.NoPhoto = punch.PhotoTaken
	first := randomBytes(t, 1000)
	commit(t, db, first, p)

	_, err := db.Commit(context.Background(), []punch.Punch{p}, randomBytes(t, 1000))
	if !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second Commit of p1 = %v, want ErrDuplicate", err)
	}
	if s := stats(t, db); s.Total != 1 {
		t.Errorf("Total = %d, want 1", s.Total)
	}
	// The refused commit must not have overwritten the committed photo.
	got, err := db.ReadPhoto("p1.jpg")
	if err != nil || !bytes.Equal(got, first) {
		t.Errorf("photo of p1 changed by a refused duplicate (err %v)", err)
	}
}

func TestCrewCommitAllOrNothing(t *testing.T) {
	db := openTest(t, "", Options{})
	commit(t, db, nil, mkPunch("a", "e1", punch.In, day0))
	before := stats(t, db)
	statusBefore, err := db.Statuses()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("already committed ID", func(t *testing.T) {
		crew := []punch.Punch{
			mkPunch("x", "e2", punch.In, day0), mkPunch("a", "e3", punch.In, day0), mkPunch("y", "e4", punch.In, day0),
		}
		if _, err := db.Commit(context.Background(), crew, nil); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("Commit = %v, want ErrDuplicate", err)
		}
	})
	t.Run("failure after the first insert", func(t *testing.T) {
		undo := failInserts(t, db, "boom")
		defer undo()
		crew := []punch.Punch{
			mkPunch("x", "e2", punch.In, day0), mkPunch("z", "boom", punch.In, day0), mkPunch("y", "e4", punch.In, day0),
		}
		_, err := db.Commit(context.Background(), crew, nil)
		if err == nil || !strings.Contains(err.Error(), "injected failure") {
			t.Fatalf("Commit = %v, want the injected failure", err)
		}
	})
	if after := stats(t, db); after != before {
		t.Errorf("Stats changed by failed crew commits: %+v, was %+v", after, before)
	}
	for _, id := range []string{"x", "y", "z"} {
		if _, err := db.Punch(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Punch(%s) = %v, want ErrNotFound", id, err)
		}
	}
	statusAfter, err := db.Statuses()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(statusAfter, statusBefore) {
		t.Errorf("Statuses changed by failed crew commits: %v, was %v", statusAfter, statusBefore)
	}

	// The same crew goes through once the cause is gone.
	out := commit(t, db, nil, mkPunch("x", "e2", punch.In, day0), mkPunch("y", "e4", punch.In, day0))
	if out[0].Seq >= out[1].Seq {
		t.Errorf("crew seqs %d, %d not increasing", out[0].Seq, out[1].Seq)
	}
	if s := stats(t, db); s.Waiting != before.Waiting+2 {
		t.Errorf("Waiting = %d, want %d", s.Waiting, before.Waiting+2)
	}
}

func TestCommitPhoto(t *testing.T) {
	db := openTest(t, "", Options{})
	p := mkPunch("4f5c7d0e-8a5b-4c3e-9d1f-2b6a7c8d9e0f", "e1", punch.In, day0)
	p.NoPhoto = punch.PhotoTaken
	photo := randomBytes(t, 50_000)
	out := commit(t, db, photo, p)

	wantName := p.ID + ".jpg"
	if out[0].Photo != wantName {
		t.Errorf("returned Photo = %q, want %q", out[0].Photo, wantName)
	}
	stored, err := db.Punch(p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Photo != wantName {
		t.Errorf("stored Photo = %q, want %q", stored.Photo, wantName)
	}
	path := filepath.Join(db.Dir(), photosDir, wantName)
	onDisk, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(onDisk, photo) {
		t.Fatalf("photo file %s: err %v, equal %v", path, err, bytes.Equal(onDisk, photo))
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("photo file mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := db.ReadPhoto(wantName)
	if err != nil || !bytes.Equal(got, photo) {
		t.Errorf("ReadPhoto: err %v, equal %v", err, bytes.Equal(got, photo))
	}
	if files := photoFiles(t, db); !reflect.DeepEqual(files, []string{wantName}) {
		t.Errorf("photos folder holds %v, want only %s", files, wantName)
	}
	if s := stats(t, db); s.PhotosWaiting != 1 {
		t.Errorf("PhotosWaiting = %d, want 1", s.PhotosWaiting)
	}
}

func TestFailedCommitRemovesPhoto(t *testing.T) {
	db := openTest(t, "", Options{})
	p := mkPunch("p-fail", "boom", punch.In, day0)
	p.NoPhoto = punch.PhotoTaken
	photo := randomBytes(t, 20_000)

	undo := failInserts(t, db, "boom")
	if _, err := db.Commit(context.Background(), []punch.Punch{p}, photo); err == nil {
		t.Fatal("Commit succeeded despite the failing insert")
	}
	if files := photoFiles(t, db); len(files) != 0 {
		t.Errorf("photos folder holds %v after a failed commit, want nothing", files)
	}
	if _, err := db.Punch(p.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Punch = %v, want ErrNotFound", err)
	}
	undo()

	// A retry of the same punch succeeds: the failed attempt left no trace.
	out := commit(t, db, photo, p)
	if got, err := db.ReadPhoto(out[0].Photo); err != nil || !bytes.Equal(got, photo) {
		t.Errorf("photo after retry: err %v", err)
	}
}

func TestSeqIncreasesAndIsNeverReused(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	for i, id := range []string{"s1", "s2", "s3", "s4"} {
		out := commit(t, db, nil, mkPunch(id, "e1", punch.Direction([]string{"in", "out"}[i%2]), day0))
		if out[0].Seq <= last {
			t.Fatalf("seq %d after %d", out[0].Seq, last)
		}
		last = out[0].Seq
	}
	db.Close()

	// Even if the newest row disappears (say someone repaired the file by
	// hand), its number is not handed out again.
	raw := rawDB(t, filepath.Join(dir, dbName))
	mustExec(t, raw, `DELETE FROM punches WHERE seq = ?`, last)
	raw.Close()

	db = openTest(t, dir, Options{})
	out := commit(t, db, nil, mkPunch("s5", "e1", punch.In, day0))
	if out[0].Seq <= last {
		t.Errorf("seq after reopen = %d, want > %d (never reused)", out[0].Seq, last)
	}
}

func TestStatuses(t *testing.T) {
	db := openTest(t, "", Options{})
	if st, err := db.Statuses(); err != nil || len(st) != 0 {
		t.Fatalf("Statuses of an empty queue = %v, %v", st, err)
	}
	t1, t2, t3 := day0, day0.Add(4*time.Hour), day0.Add(5*time.Hour)
	commit(t, db, nil, mkPunch("1", "ana", punch.In, t1))
	commit(t, db, nil, mkPunch("2", "bo", punch.In, t1))
	commit(t, db, nil, mkPunch("3", "ana", punch.Out, t2))
	// A crew punch counts too, and a later punch with an earlier wall
	// time (the clock was set back) still wins: order is by seq.
	crew := []punch.Punch{mkPunch("4", "bo", punch.Out, t3), mkPunch("5", "cy", punch.In, t1.Add(-time.Hour))}
	for i := range crew {
		crew[i].ClockedBy, crew[i].NoPhoto = "ana", punch.ClockFor
	}
	commit(t, db, nil, crew...)

	got, err := db.Statuses()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Status{
		"ana": {punch.Out, t2},
		"bo":  {punch.Out, t3},
		"cy":  {punch.In, t1.Add(-time.Hour)},
	}
	if len(got) != len(want) {
		t.Fatalf("Statuses = %v, want %v", got, want)
	}
	for id, w := range want {
		g := got[id]
		if g.Direction != w.Direction || !g.At.Equal(w.At) {
			t.Errorf("status of %s = %v, want %v", id, g, w)
		}
	}
}

func TestUnsentMarkSentStats(t *testing.T) {
	db := openTest(t, "", Options{})
	if s := stats(t, db); s != (Stats{}) {
		t.Errorf("Stats of an empty queue = %+v, want zero", s)
	}
	var ids []string
	for i := range 5 {
		p := mkPunch("u"+string(rune('0'+i)), "e1", punch.In, day0.Add(time.Duration(i)*time.Minute))
		var photo []byte
		if i == 1 || i == 3 {
			p.NoPhoto = punch.PhotoTaken
			photo = []byte{0xff, 0xd8, byte(i)}
		}
		commit(t, db, photo, p)
		ids = append(ids, p.ID)
	}
	idsOf := func(ps []punch.Punch) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	unsent, err := db.Unsent(0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(idsOf(unsent), ids) {
		t.Errorf("Unsent(0) = %v, want %v", idsOf(unsent), ids)
	}
	if two, _ := db.Unsent(2); !reflect.DeepEqual(idsOf(two), ids[:2]) {
		t.Errorf("Unsent(2) = %v, want %v", idsOf(two), ids[:2])
	}
	s := stats(t, db)
	if s.Waiting != 5 || s.PhotosWaiting != 2 || s.Total != 5 || !s.OldestWaiting.Equal(day0) || !s.LastSync.IsZero() {
		t.Errorf("Stats = %+v, want 5 waiting since %v, 2 photos, 5 total, never synced", s, day0)
	}

	t1 := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	if err := db.MarkSent(append(ids[:3:3], "unknown-id"), t1); err != nil {
		t.Fatalf("MarkSent: %v", err)
	}
	unsent, _ = db.Unsent(0)
	if !reflect.DeepEqual(idsOf(unsent), ids[3:]) {
		t.Errorf("Unsent after MarkSent = %v, want %v", idsOf(unsent), ids[3:])
	}
	s = stats(t, db)
	if s.Waiting != 2 || s.Total != 5 || !s.OldestWaiting.Equal(day0.Add(3*time.Minute)) || !s.LastSync.Equal(t1) {
		t.Errorf("Stats = %+v, want 2 waiting since %v, last sync %v", s, day0.Add(3*time.Minute), t1)
	}

	// Idempotent: marking again keeps the first acknowledgement time, and
	// the last sync never moves back.
	t2 := t1.Add(time.Hour)
	if err := db.MarkSent(ids[:1], t2); err != nil {
		t.Fatal(err)
	}
	var sentAt int64
	if err := db.sql.QueryRow(`SELECT sent_at_ns FROM punches WHERE id = ?`, ids[0]).Scan(&sentAt); err != nil || sentAt != t1.UnixNano() {
		t.Errorf("sent_at of %s = %d (%v), want the first acknowledgement %d", ids[0], sentAt, err, t1.UnixNano())
	}
	if err := db.MarkSent(ids[:1], t1.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if s := stats(t, db); !s.LastSync.Equal(t2) {
		t.Errorf("LastSync = %v, want %v", s.LastSync, t2)
	}
	if err := db.MarkSent(nil, time.Time{}); err != nil {
		t.Errorf("MarkSent(nil) = %v, want nil", err)
	}

	// Photos are acknowledged separately.
	if ps, _ := db.UnsentPhotos(0); !reflect.DeepEqual(idsOf(ps), []string{ids[1], ids[3]}) {
		t.Errorf("UnsentPhotos = %v", idsOf(ps))
	}
	if err := db.MarkPhotoSent(ids[1], t2); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkPhotoSent(ids[1], t2.Add(time.Hour)); err != nil {
		t.Errorf("second MarkPhotoSent = %v, want nil (idempotent)", err)
	}
	if ps, _ := db.UnsentPhotos(0); !reflect.DeepEqual(idsOf(ps), []string{ids[3]}) {
		t.Errorf("UnsentPhotos after MarkPhotoSent = %v", idsOf(ps))
	}
	if s := stats(t, db); s.PhotosWaiting != 1 {
		t.Errorf("PhotosWaiting = %d, want 1", s.PhotosWaiting)
	}
	if err := db.MarkPhotoSent(ids[0], t2); !errors.Is(err, ErrNotFound) {
		t.Errorf("MarkPhotoSent(punch without photo) = %v, want ErrNotFound", err)
	}
	if err := db.MarkPhotoSent("nope", t2); !errors.Is(err, ErrNotFound) {
		t.Errorf("MarkPhotoSent(unknown) = %v, want ErrNotFound", err)
	}
}

func TestReadPhotoRefusesPaths(t *testing.T) {
	db := openTest(t, "", Options{})
	// Something worth stealing one folder up.
	if err := os.WriteFile(filepath.Join(db.Dir(), "secret.jpg"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", ".", "..", "../secret.jpg", "../kiosk.db", "a/b.jpg", `a\b.jpg`, "/etc/passwd", ".tmp-123"} {
		if _, err := db.ReadPhoto(name); err == nil {
			t.Errorf("ReadPhoto(%q) succeeded, want refusal", name)
		}
	}
	if _, err := db.ReadPhoto("missing.jpg"); !errors.Is(err, ErrNotFound) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadPhoto(missing) = %v, want ErrNotFound", err)
	}
}

func TestDeviceRoundTrip(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := db.Device()
	if err != nil || d != (Device{}) {
		t.Fatalf("Device of a new queue = %+v, %v; want zero", d, err)
	}
	want := Device{Provisioned: true, Disabled: true, LastSync: time.Date(2026, 11, 21, 8, 9, 10, 11, time.UTC)}
	if err := db.SetDevice(want); err != nil {
		t.Fatal(err)
	}
	check := func(db *DB, want Device) {
		t.Helper()
		got, err := db.Device()
		if err != nil {
			t.Fatal(err)
		}
		if got.Provisioned != want.Provisioned || got.Disabled != want.Disabled || !got.LastSync.Equal(want.LastSync) {
			t.Errorf("Device = %+v, want %+v", got, want)
		}
	}
	check(db, want)
	db.Close()
	db = openTest(t, dir, Options{})
	check(db, want)
	want = Device{Provisioned: true}
	if err := db.SetDevice(want); err != nil {
		t.Fatal(err)
	}
	check(db, want)
}

var testKDF = roster.KDF{Salt: []byte("0123456789abcdef"), Iterations: roster.MinIterations}

// fullRoster sets every field the roster has, none at its default.
func fullRoster(t testing.TB, version string) *roster.Roster {
	t.Helper()
	s := roster.Settings{
		Nickname: "Main St trailer", Timezone: "America/Chicago", Language: roster.Spanish, PhotoRotation: 270,
		ScreenTimeout: 45 * time.Second, SavedScreen: 2500 * time.Millisecond, PhotoCountdown: 7 * time.Second,
		PhotoPreview: 1234 * time.Millisecond, MessageScreen: 4*time.Second + 1,
	}
	roles := []roster.Role{
		{ID: "foreman", Name: "Foreman", FaceFront: true, ClockFor: true},
		{ID: "crew", Name: "Crew", FaceFront: true},
		{ID: "office", Name: "Office"},
	}
	emps := []roster.Employee{
		{ID: "e-9", Number: "1009", Name: "Zoe Ng", RoleID: "office", Active: true, PINHash: roster.HashPIN(testKDF, "9999")},
		{ID: "e-1", Number: "1001", Name: "Ana Ruiz", RoleID: "foreman", Active: true, PhotoConsent: true,
			Language: roster.Spanish, PINHash: roster.HashPIN(testKDF, "4821")},
		{ID: "e-2", Number: "1002", Name: "Bo Li", RoleID: "crew", PhotoConsent: true, Language: roster.English,
			PINHash: roster.HashPIN(testKDF, "4821")}, // inactive: may share a PIN
	}
	r, err := roster.New(version, testKDF, s, roles, emps)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func smallRoster(t testing.TB, version string) *roster.Roster {
	t.Helper()
	kdf := roster.KDF{Salt: []byte("another-salt"), Iterations: 2000}
	r, err := roster.New(version, kdf, roster.Settings{},
		[]roster.Role{{ID: "crew", Name: "Crew"}},
		[]roster.Employee{{Number: "2001", Name: "Cy Ode", RoleID: "crew", Active: true, PINHash: roster.HashPIN(kdf, "1111")}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sameRoster(t testing.TB, got, want *roster.Roster) {
	t.Helper()
	if got == nil {
		t.Fatal("roster is nil")
	}
	if got.Version != want.Version || !bytes.Equal(got.KDF.Salt, want.KDF.Salt) || got.KDF.Iterations != want.KDF.Iterations {
		t.Errorf("roster %q KDF %+v, want %q %+v", got.Version, got.KDF, want.Version, want.KDF)
	}
	if got.Settings != want.Settings {
		t.Errorf("settings\n got %+v\nwant %+v", got.Settings, want.Settings)
	}
	if !reflect.DeepEqual(got.Roles(), want.Roles()) {
		t.Errorf("roles\n got %+v\nwant %+v", got.Roles(), want.Roles())
	}
	if !reflect.DeepEqual(got.Employees(), want.Employees()) {
		t.Errorf("employees\n got %+v\nwant %+v", got.Employees(), want.Employees())
	}
}

func TestRosterRoundTrip(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := db.Roster(); r != nil || !errors.Is(err, ErrNoRoster) {
		t.Fatalf("Roster of a new queue = %v, %v; want nil, ErrNoRoster", r, err)
	}
	want := fullRoster(t, "2026-11-22.1")
	if err := db.ReplaceRoster(want); err != nil {
		t.Fatal(err)
	}
	got, err := db.Roster()
	if err != nil {
		t.Fatal(err)
	}
	sameRoster(t, got, want)
	if e, ok := got.MatchPIN("4821"); !ok || e.ID != "e-1" {
		t.Errorf("MatchPIN on the stored roster = %v, %v; want e-1", e, ok)
	}
	if d, _ := db.Device(); !d.Provisioned {
		t.Error("device not provisioned after ReplaceRoster")
	}
	db.Close()

	db = openTest(t, dir, Options{})
	got, err = db.Roster()
	if err != nil {
		t.Fatal(err)
	}
	sameRoster(t, got, want)

	// A smaller roster replaces the whole of the old one.
	small := smallRoster(t, "2026-11-23.1")
	if err := db.ReplaceRoster(small); err != nil {
		t.Fatal(err)
	}
	got, err = db.Roster()
	if err != nil {
		t.Fatal(err)
	}
	sameRoster(t, got, small)
}

func TestReplaceRosterIsAtomic(t *testing.T) {
	db := openTest(t, "", Options{})
	good := smallRoster(t, "v1")

	// Rosters that the database's own checks refuse part-way: the
	// employees are already inserted when the settings (or, later still,
	// the PIN hashing parameters) fail.
	badSettings := *fullRoster(t, "v2-bad-rotation")
	badSettings.Settings.PhotoRotation = 45
	badKDF := *fullRoster(t, "v2-bad-kdf")
	badKDF.KDF.Iterations = 10

	// On a new device the failed load must not mark it provisioned.
	if err := db.ReplaceRoster(&badSettings); err == nil {
		t.Fatal("ReplaceRoster(bad settings) succeeded")
	}
	if d, _ := db.Device(); d.Provisioned {
		t.Error("device provisioned by a failed ReplaceRoster")
	}
	if _, err := db.Roster(); !errors.Is(err, ErrNoRoster) {
		t.Errorf("Roster after a failed first load = %v, want ErrNoRoster", err)
	}

	if err := db.ReplaceRoster(good); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []*roster.Roster{&badSettings, &badKDF} {
		err := db.ReplaceRoster(bad)
		if err == nil {
			t.Fatalf("ReplaceRoster(%s) succeeded", bad.Version)
		}
		if !strings.Contains(err.Error(), "previous roster stays in use") {
			t.Errorf("error %q does not say the old roster is kept", err)
		}
		got, err := db.Roster()
		if err != nil {
			t.Fatal(err)
		}
		sameRoster(t, got, good)
	}
	if err := db.ReplaceRoster(nil); err == nil {
		t.Error("ReplaceRoster(nil) succeeded")
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	withPhoto := mkPunch("r1", "e1", punch.In, day0)
	withPhoto.NoPhoto = punch.PhotoTaken
	photo := randomBytes(t, 30_000)
	var committed []punch.Punch
	committed = append(committed, commit(t, db, photo, withPhoto)...)
	committed = append(committed, commit(t, db, nil, mkPunch("r2", "e2", punch.In, day0), mkPunch("r3", "e3", punch.Out, day0))...)
	if err := db.MarkSent([]string{"r2"}, day0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	r := fullRoster(t, "keep")
	if err := db.ReplaceRoster(r); err != nil {
		t.Fatal(err)
	}
	if err := db.SetDevice(Device{Provisioned: true, Disabled: true, LastSync: day0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	wantStats := stats(t, db)
	wantStatuses, _ := db.Statuses()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openTest(t, dir, Options{})
	for _, p := range committed {
		got, err := db.Punch(p.ID)
		if err != nil {
			t.Fatal(err)
		}
		samePunch(t, got, p)
	}
	if got, err := db.ReadPhoto(committed[0].Photo); err != nil || !bytes.Equal(got, photo) {
		t.Errorf("photo after reopen: err %v", err)
	}
	if s := stats(t, db); s.Waiting != wantStats.Waiting || s.Total != wantStats.Total || s.PhotosWaiting != wantStats.PhotosWaiting ||
		!s.LastSync.Equal(wantStats.LastSync) || !s.OldestWaiting.Equal(wantStats.OldestWaiting) {
		t.Errorf("Stats after reopen = %+v, want %+v", s, wantStats)
	}
	if st, _ := db.Statuses(); len(st) != len(wantStatuses) {
		t.Errorf("Statuses after reopen = %v, want %v", st, wantStatuses)
	}
	got, err := db.Roster()
	if err != nil {
		t.Fatal(err)
	}
	sameRoster(t, got, r)
	if d, _ := db.Device(); !d.Provisioned || !d.Disabled || !d.LastSync.Equal(day0.Add(time.Hour)) {
		t.Errorf("Device after reopen = %+v", d)
	}
}

func TestOpenRefusesSecondUser(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir, Options{})
	if db2, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		if db2 != nil {
			db2.Close()
		}
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	db.Close()
	db3, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	db3.Close()
}

func TestOpenRemovesUnfinishedPhotos(t *testing.T) {
	dir := t.TempDir()
	photos := filepath.Join(dir, photosDir)
	if err := os.MkdirAll(photos, 0o700); err != nil {
		t.Fatal(err)
	}
	// What a crash mid-write leaves, and a whole photo with no row (its
	// database may have been moved aside for rescue): only the first goes.
	for _, name := range []string{tmpPrefix + "123", "orphan.jpg"} {
		if err := os.WriteFile(filepath.Join(photos, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db := openTest(t, dir, Options{})
	if files := photoFiles(t, db); !reflect.DeepEqual(files, []string{"orphan.jpg"}) {
		t.Errorf("photos after Open = %v, want only orphan.jpg", files)
	}
}

func TestReadOnlyBesideTheDaemon(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir, Options{})
	commit(t, db, nil, mkPunch("ro-1", "e1", punch.In, day0))

	// The daemon holds the folder; a reader still gets in and sees it all.
	ro, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open beside the daemon: %v", err)
	}
	defer ro.Close()
	if st, err := ro.Stats(); err != nil || st.Waiting != 1 {
		t.Errorf("read-only Stats = %+v, %v", st, err)
	}
	commit(t, db, nil, mkPunch("ro-2", "e1", punch.Out, day0))
	if ps, err := ro.Unsent(0); err != nil || len(ps) != 2 {
		t.Errorf("read-only Unsent sees %d punches (%v), want the daemon's latest 2", len(ps), err)
	}
	if _, err := ro.Commit(context.Background(), []punch.Punch{mkPunch("ro-3", "e1", punch.In, day0)}, nil); err == nil {
		t.Error("a read-only queue took a commit")
	}
	if _, err := Open(filepath.Join(dir, "elsewhere"), Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "no queue") {
		t.Errorf("read-only open of an empty folder: %v", err)
	}
}
