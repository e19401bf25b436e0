package queue

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/sqlitedb"
)

func punchIDs(ps []punch.Punch) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func TestMarkRejected(t *testing.T) {
	db := openTest(t, "", Options{})
	ok := mkPunch("ok", "e1", punch.In, day0)
	ghost := mkPunch("ghost", "e-gone", punch.In, day0.Add(time.Minute))
	ghost.NoPhoto = punch.PhotoTaken
	later := mkPunch("later", "e1", punch.Out, day0.Add(2*time.Minute))
	commit(t, db, nil, ok)
	commit(t, db, []byte("jpeg of ghost"), ghost)
	commit(t, db, nil, later)

	t1 := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	if err := db.MarkSent([]string{"ok"}, t1); err != nil {
		t.Fatal(err)
	}
	t2 := t1.Add(time.Minute)
	if err := db.MarkRejected("ghost", "  unknown employee e-gone ", t2); err != nil {
		t.Fatalf("MarkRejected: %v", err)
	}

	// A refused punch no longer waits, nor does its photo; it is kept.
	if ps, _ := db.Unsent(0); !reflect.DeepEqual(punchIDs(ps), []string{"later"}) {
		t.Errorf("Unsent = %v, want [later]", punchIDs(ps))
	}
	if ps, _ := db.UnsentPhotos(0); len(ps) != 0 {
		t.Errorf("UnsentPhotos = %v, want none: the photo of a refused punch stays with it", punchIDs(ps))
	}
	s := stats(t, db)
	if s.Waiting != 1 || !s.OldestWaiting.Equal(later.At) || s.PhotosWaiting != 0 || s.Rejected != 1 || s.Total != 3 || !s.LastSync.Equal(t2) {
		t.Errorf("Stats = %+v, want 1 waiting since %v, no photo waiting, 1 rejected, 3 total, last sync %v (a refusal is an answer)", s, later.At, t2)
	}
	rej, err := db.Rejected()
	if err != nil {
		t.Fatal(err)
	}
	if len(rej) != 1 {
		t.Fatalf("Rejected = %+v, want ghost", rej)
	}
	r := rej[0]
	if r.Punch.ID != "ghost" || r.Punch.Photo != "ghost.jpg" || r.Reason != "unknown employee e-gone" || !r.At.Equal(t2) || r.PhotoReason != "" || !r.PhotoAt.IsZero() {
		t.Errorf("Rejected[0] = %+v", r)
	}
	want := ghost
	want.Seq, want.Photo = 2, "ghost.jpg"
	samePunch(t, r.Punch, want)
	if b, err := db.ReadPhoto(r.Punch.Photo); err != nil || string(b) != "jpeg of ghost" {
		t.Errorf("photo of the refused punch = %q, %v; want it kept", b, err)
	}

	// Idempotent: the first refusal stays.
	if err := db.MarkRejected("ghost", "something else", t2.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if rej, _ := db.Rejected(); len(rej) != 1 || rej[0].Reason != "unknown employee e-gone" || !rej[0].At.Equal(t2) {
		t.Errorf("after a second MarkRejected: %+v, want the first refusal kept", rej)
	}
	// An acknowledged punch stays acknowledged.
	if err := db.MarkRejected("ok", "late refusal", t2); err != nil {
		t.Fatal(err)
	}
	if rej, _ := db.Rejected(); len(rej) != 1 {
		t.Errorf("Rejected after refusing an acknowledged punch = %+v, want only ghost", rej)
	}

	if err := db.MarkRejected("nope", "why", t2); !errors.Is(err, ErrNotFound) {
		t.Errorf("MarkRejected(unknown) = %v, want ErrNotFound", err)
	}
	if err := db.MarkRejected("later", " ", t2); err == nil {
		t.Error("MarkRejected without a reason succeeded")
	}
	if err := db.MarkRejected("later", "why", time.Time{}); err == nil {
		t.Error("MarkRejected without a time succeeded")
	}
	if ps, _ := db.Unsent(0); len(ps) != 1 {
		t.Errorf("refused calls changed the queue: Unsent = %v", punchIDs(ps))
	}
}

func TestMarkPhotoRejected(t *testing.T) {
	db := openTest(t, "", Options{MinFree: 1 << 62, FreeSpace: func(string) (uint64, error) { return 0, nil }})
	p := mkPunch("p1", "e1", punch.In, day0)
	p.NoPhoto = punch.PhotoTaken
	commit(t, db, []byte("not really a jpeg"), p)
	commit(t, db, nil, mkPunch("plain", "e1", punch.Out, day0.Add(time.Minute)))
	at := day0.Add(time.Hour)
	if err := db.MarkSent([]string{"p1", "plain"}, at); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkPhotoRejected("p1", "not a JPEG", at); err != nil {
		t.Fatalf("MarkPhotoRejected: %v", err)
	}
	if ps, _ := db.UnsentPhotos(0); len(ps) != 0 {
		t.Errorf("UnsentPhotos = %v, want none", punchIDs(ps))
	}
	s := stats(t, db)
	if s.PhotosWaiting != 0 || s.Rejected != 1 || s.Waiting != 0 {
		t.Errorf("Stats = %+v, want nothing waiting and 1 rejected", s)
	}
	rej, err := db.Rejected()
	if err != nil || len(rej) != 1 || rej[0].Punch.ID != "p1" || rej[0].Reason != "" || !rej[0].At.IsZero() ||
		rej[0].PhotoReason != "not a JPEG" || !rej[0].PhotoAt.Equal(at) {
		t.Fatalf("Rejected = %+v, %v", rej, err)
	}
	// Never acknowledged, so never reclaimed: the file stays for a person.
	if n, err := db.Reclaim(); err != nil || n != 0 {
		t.Errorf("Reclaim = %d, %v; want 0", n, err)
	}
	if _, err := db.ReadPhoto("p1.jpg"); err != nil {
		t.Errorf("refused photo gone: %v", err)
	}
	if err := db.MarkPhotoRejected("plain", "why", at); !errors.Is(err, ErrNotFound) {
		t.Errorf("MarkPhotoRejected(punch without photo) = %v, want ErrNotFound", err)
	}
	if err := db.MarkPhotoRejected("nope", "why", at); !errors.Is(err, ErrNotFound) {
		t.Errorf("MarkPhotoRejected(unknown) = %v, want ErrNotFound", err)
	}
}

func TestPhotosToUploadFollowTheirPunch(t *testing.T) {
	db := openTest(t, "", Options{})
	for _, id := range []string{"a", "b", "c"} {
		p := mkPunch(id, "e1", punch.In, day0)
		p.NoPhoto = punch.PhotoTaken
		commit(t, db, []byte("jpeg "+id), p)
	}
	if ps, _ := db.PhotosToUpload(0); len(ps) != 0 {
		t.Errorf("PhotosToUpload before any punch went up = %v, want none", punchIDs(ps))
	}
	if err := db.MarkSent([]string{"a", "c"}, day0); err != nil {
		t.Fatal(err)
	}
	if ps, _ := db.PhotosToUpload(0); !reflect.DeepEqual(punchIDs(ps), []string{"a", "c"}) {
		t.Errorf("PhotosToUpload = %v, want [a c]", punchIDs(ps))
	}
	if ps, _ := db.PhotosToUpload(1); !reflect.DeepEqual(punchIDs(ps), []string{"a"}) {
		t.Errorf("PhotosToUpload(1) = %v, want [a]", punchIDs(ps))
	}
	if err := db.MarkPhotoSent("a", day0); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkPhotoRejected("c", "too large", day0); err != nil {
		t.Fatal(err)
	}
	if ps, _ := db.PhotosToUpload(0); len(ps) != 0 {
		t.Errorf("PhotosToUpload = %v, want none", punchIDs(ps))
	}
}

func TestLastUsedByAndRosterVersion(t *testing.T) {
	db := openTest(t, "", Options{})
	if who, err := db.LastUsedBy(); err != nil || who != "" {
		t.Errorf("LastUsedBy of an empty queue = %q, %v", who, err)
	}
	commit(t, db, nil, mkPunch("p1", "e1", punch.In, day0))
	if who, _ := db.LastUsedBy(); who != "e1" {
		t.Errorf("LastUsedBy = %q, want e1", who)
	}
	crew := []punch.Punch{mkPunch("c1", "e2", punch.In, day0), mkPunch("c2", "e3", punch.In, day0)}
	for i := range crew {
		crew[i].ClockedBy, crew[i].NoPhoto = "foreman", punch.ClockFor
	}
	commit(t, db, nil, crew...)
	if who, _ := db.LastUsedBy(); who != "foreman" {
		t.Errorf("LastUsedBy after Clock For = %q, want the foreman at the kiosk", who)
	}

	if v, err := db.RosterVersion(); err != nil || v != "" {
		t.Errorf("RosterVersion with none = %q, %v", v, err)
	}
	if err := db.ReplaceRoster(smallRoster(t, "v7")); err != nil {
		t.Fatal(err)
	}
	if v, err := db.RosterVersion(); err != nil || v != "v7" {
		t.Errorf("RosterVersion = %q, %v; want v7", v, err)
	}
}

func TestMarkSynced(t *testing.T) {
	db := openTest(t, "", Options{})
	t1 := day0.Add(time.Hour)
	if err := db.MarkSynced(t1); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkSynced(day0); err != nil {
		t.Fatal(err)
	}
	if s := stats(t, db); !s.LastSync.Equal(t1) {
		t.Errorf("LastSync = %v, want %v (never back)", s.LastSync, t1)
	}
	if err := db.MarkSynced(time.Time{}); err == nil {
		t.Error("MarkSynced(zero) succeeded")
	}
}

// A kiosk in the field holds a schema 1 database: opening it with this
// build adds the refusal columns and keeps every punch waiting.
func TestMigrateFromSchema1(t *testing.T) {
	dir := t.TempDir()
	raw := rawDB(t, filepath.Join(dir, dbName))
	if _, err := sqlitedb.Migrate(context.Background(), raw, migrations[:1]); err != nil {
		t.Fatal(err)
	}
	mustExec(t, raw, `INSERT INTO punches (id, employee_id, employee_number, employee_name, direction,
		at_ns, at_offset, boot_time_ns, boot_id, clocked_by, photo, no_photo, committed_at_ns, sent_at_ns)
		VALUES ('old', 'e1', '101', 'W', 'in', ?1, 0, 0, 'b', '', '', 'no_consent', 1, NULL),
		       ('old-sent', 'e1', '101', 'W', 'out', ?1, 0, 0, 'b', '', '', 'no_consent', 1, 5)`, day0.UnixNano())
	raw.Close()

	db := openTest(t, dir, Options{})
	if v := userVersion(t, db.sql); v != len(migrations) {
		t.Errorf("user_version = %d, want %d", v, len(migrations))
	}
	if ps, err := db.Unsent(0); err != nil || !reflect.DeepEqual(punchIDs(ps), []string{"old"}) {
		t.Errorf("Unsent after migration = %v, %v; want [old]", punchIDs(ps), err)
	}
	if rej, err := db.Rejected(); err != nil || len(rej) != 0 {
		t.Errorf("Rejected after migration = %+v, %v; want none", rej, err)
	}
	if err := db.MarkRejected("old", "unknown employee", day0); err != nil {
		t.Errorf("MarkRejected on a migrated punch: %v", err)
	}
	// Schema 3: punches from before it carry no roster version.
	if p, err := db.Punch("old-sent"); err != nil || p.RosterVersion != "" {
		t.Errorf("migrated punch: RosterVersion %q, %v; want \"\"", p.RosterVersion, err)
	}
}
