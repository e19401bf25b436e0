package queue

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/sqlitedb"
)

// chainKey is a fixed device key for the tests (and the crash test's
// committer child).
var chainKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{42}, ed25519.SeedSize))

func chainPub() ed25519.PublicKey { return chainKey.Public().(ed25519.PublicKey) }

// checkChain fails the test unless ps (all of a database's punches, by
// seq) form one unbroken signed chain from the first chained punch on:
// consecutive sequence numbers, each naming the previous punch's hash, each
// hash the hash of the punch's message, each signature good.
func checkChain(t testing.TB, ps []punch.Punch, pub ed25519.PublicKey) {
	t.Helper()
	var prev *punch.Punch
	for i := range ps {
		p := &ps[i]
		if p.Hash == nil {
			if prev != nil {
				t.Errorf("seq %d (%s) is outside the chain after seq %d", p.Seq, p.ID, prev.Seq)
			}
			continue
		}
		if !bytes.Equal(p.Hash, punch.HashMessage(p.Message())) {
			t.Errorf("seq %d (%s): stored hash is not the hash of its message", p.Seq, p.ID)
		}
		if !p.Verify(pub) {
			t.Errorf("seq %d (%s): signature does not verify", p.Seq, p.ID)
		}
		switch {
		case prev == nil && len(p.PrevHash) != 0:
			t.Errorf("seq %d (%s): first chained punch names a previous hash %x", p.Seq, p.ID, p.PrevHash)
		case prev != nil && p.Seq != prev.Seq+1:
			t.Errorf("seq %d (%s) follows seq %d: a gap", p.Seq, p.ID, prev.Seq)
		case prev != nil && !bytes.Equal(p.PrevHash, prev.Hash):
			t.Errorf("seq %d (%s): previous hash %x, want seq %d's %x", p.Seq, p.ID, p.PrevHash, prev.Seq, prev.Hash)
		case prev != nil && p.ChainID != prev.ChainID:
			t.Errorf("seq %d (%s): chain %s, the punch before is in %s", p.Seq, p.ID, p.ChainID, prev.ChainID)
		}
		prev = p
	}
}

func allPunches(t testing.TB, db *DB) []punch.Punch {
	t.Helper()
	ps, err := db.All(0)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// Commit stamps each punch with the next sequence number, the chain, the
// previous punch's hash, its photo's hash and a signature; a crew is
// chained in order; what Commit returns is what is stored.
func TestCommitSignsAndChains(t *testing.T) {
	db := openTest(t, "", Options{Key: chainKey})
	chain, err := db.ChainID()
	if err != nil || len(chain) != 32 {
		t.Fatalf("ChainID = %q, %v", chain, err)
	}
	photo := randomBytes(t, 5000)
	a := commit(t, db, photo, withPhotoTaken(mkPunch("a", "e1", punch.In, day0)))[0]
	sum := sha256.Sum256(photo)
	if a.Seq != 1 || a.ChainID != chain || a.PrevHash != nil || a.PhotoSHA256 != hex.EncodeToString(sum[:]) || !a.Verify(chainPub()) {
		t.Errorf("first punch = %+v", a)
	}
	crew := commit(t, db, nil,
		mkPunch("c1", "e2", punch.In, day0.Add(time.Minute)),
		mkPunch("c2", "e3", punch.In, day0.Add(time.Minute)),
		mkPunch("c3", "e4", punch.In, day0.Add(time.Minute)))
	for i, p := range crew {
		if p.Seq != int64(2+i) || p.PhotoSHA256 != "" {
			t.Errorf("crew punch %d: seq %d, photo %q", i, p.Seq, p.PhotoSHA256)
		}
	}
	if !bytes.Equal(crew[0].PrevHash, a.Hash) || !bytes.Equal(crew[2].PrevHash, crew[1].Hash) {
		t.Error("the crew is not chained to the punch before it, in order")
	}
	stored := allPunches(t, db)
	for i, want := range append([]punch.Punch{a}, crew...) {
		samePunch(t, stored[i], want)
	}
	checkChain(t, stored, chainPub())

	// Without a key, punches are chained but unsigned.
	unsigned := openTest(t, "", Options{})
	p := commit(t, unsigned, nil, mkPunch("u", "e1", punch.In, day0))[0]
	if p.Signed() || len(p.Hash) != sha256.Size {
		t.Errorf("keyless punch: signed %v, hash %x", p.Signed(), p.Hash)
	}
}

func withPhotoTaken(p punch.Punch) punch.Punch {
	p.NoPhoto = punch.PhotoTaken
	return p
}

// The chain carries on across restarts and failed commits: the tail is
// read again, never guessed.
func TestChainContinuesAcrossRestartsAndFailures(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{Key: chainKey})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, db, nil, mkPunch("a", "e1", punch.In, day0))
	// A duplicate fails, and so does a crew that repeats an ID: neither
	// may take a sequence number or move the chain.
	if _, err := db.Commit(context.Background(), []punch.Punch{mkPunch("a", "e1", punch.In, day0)}, nil); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate commit: %v", err)
	}
	if _, err := db.Commit(context.Background(), []punch.Punch{mkPunch("x", "e1", punch.In, day0), mkPunch("a", "e2", punch.In, day0)}, nil); err == nil {
		t.Fatal("a crew repeating a committed ID was stored")
	}
	commit(t, db, nil, mkPunch("b", "e1", punch.Out, day0.Add(time.Hour)))
	db.Close()

	db = openTest(t, dir, Options{Key: chainKey})
	commit(t, db, nil, mkPunch("c", "e1", punch.In, day0.Add(2*time.Hour)))
	ps := allPunches(t, db)
	if len(ps) != 3 || ps[2].Seq != 3 {
		t.Fatalf("punches after restart: %d, last seq %d", len(ps), ps[len(ps)-1].Seq)
	}
	checkChain(t, ps, chainPub())
}

// A kiosk that updates keeps its earlier punches as they were (outside the
// chain, unsigned); the chain starts with the first punch after the update.
func TestChainStartsAfterOlderPunches(t *testing.T) {
	dir := t.TempDir()
	raw := rawDB(t, filepath.Join(dir, dbName))
	if _, err := sqlitedb.Migrate(context.Background(), raw, migrations[:3]); err != nil {
		t.Fatal(err)
	}
	mustExec(t, raw, `INSERT INTO punches (id, employee_id, employee_number, employee_name, direction,
		at_ns, at_offset, boot_time_ns, boot_id, clocked_by, photo, no_photo, committed_at_ns)
		VALUES ('old', 'e1', '101', 'W', 'in', ?1, 0, 0, 'b', '', '', 'no_consent', 1)`, day0.UnixNano())
	raw.Close()

	db := openTest(t, dir, Options{Key: chainKey})
	old, err := db.Punch("old")
	if err != nil || old.Hash != nil || old.Signed() || old.ChainID != "" {
		t.Fatalf("punch from before chaining = %+v, %v", old, err)
	}
	p := commit(t, db, nil, mkPunch("new", "e1", punch.Out, day0.Add(time.Hour)))[0]
	if p.Seq != 2 || p.PrevHash != nil || !p.Verify(chainPub()) {
		t.Errorf("first chained punch = %+v", p)
	}
	checkChain(t, allPunches(t, db), chainPub())
}

// A clock that reads earlier than the latest time the kiosk recorded (a
// punch's, or one noted while idle) is not taken as truth: the punch keeps
// the reading, flagged, and the mark survives a restart. The server's time
// brings down a mark that a clock running ahead left in the future.
func TestClockBehind(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t1 := day0.Add(8 * time.Hour)
	if p := commit(t, db, nil, mkPunch("a", "e1", punch.In, t1))[0]; p.Clock.Behind {
		t.Error("the first punch is behind nothing")
	}
	// A reboot without RTC: 1970.
	early := time.Unix(3600, 0)
	if p := commit(t, db, nil, mkPunch("b", "e1", punch.Out, early))[0]; !p.Clock.Behind || !p.At.Equal(early) {
		t.Errorf("punch at %v after one at %v: behind %v, at %v", early, t1, p.Clock.Behind, p.At)
	}
	// Noted while idle, then power lost; the clock comes back at the last
	// fake-hwclock save, between the punch and the noted time.
	if err := db.NoteTime(t1.Add(50 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.NoteTime(t1.Add(10 * time.Minute)); err != nil { // backwards: logged, the mark stays
		t.Fatal(err)
	}
	db.Close()

	db = openTest(t, dir, Options{})
	if m, _ := db.WallMark(); !m.Equal(t1.Add(50 * time.Minute)) {
		t.Errorf("wall mark after restart = %v, want %v", m, t1.Add(50*time.Minute))
	}
	if p := commit(t, db, nil, mkPunch("c", "e1", punch.In, t1.Add(20*time.Minute)))[0]; !p.Clock.Behind {
		t.Error("a punch before the noted time is not flagged")
	}
	if p := commit(t, db, nil, mkPunch("d", "e1", punch.Out, t1.Add(time.Hour)))[0]; p.Clock.Behind {
		t.Error("a punch past the mark is flagged")
	}
	// A punch's own time counts towards the mark even though the mark
	// was last written before it.
	db.Close()
	db = openTest(t, dir, Options{})
	if m, _ := db.WallMark(); !m.Equal(t1.Add(time.Hour)) {
		t.Errorf("wall mark after a punch and a restart = %v, want %v", m, t1.Add(time.Hour))
	}

	// A clock once far ahead left the mark in 2040; the server says it is
	// t1+2h and the clock agrees again.
	future := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := db.NoteTime(future); err != nil {
		t.Fatal(err)
	}
	now := t1.Add(2 * time.Hour)
	if err := db.RecordAnchor(Anchor{BootID: bootA, ServerTime: now, BootTime: time.Hour, DeviceTime: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if m, _ := db.WallMark(); !m.Equal(now) {
		t.Errorf("wall mark after the server's time = %v, want %v", m, now)
	}
	if p := commit(t, db, nil, mkPunch("e", "e1", punch.In, now.Add(time.Minute)))[0]; p.Clock.Behind {
		t.Error("flagged behind a mark the server's time corrected")
	}
	// The server's time never raises the mark: a clock a second slow
	// against the server must not flag the next punches.
	if err := db.RecordAnchor(Anchor{BootID: bootA, ServerTime: now.Add(time.Hour), BootTime: 2 * time.Hour, DeviceTime: now.Add(time.Hour - time.Second)}); err != nil {
		t.Fatal(err)
	}
	if p := commit(t, db, nil, mkPunch("f", "e1", punch.Out, now.Add(time.Hour-time.Second/2)))[0]; p.Clock.Behind {
		t.Error("flagged behind the server's time")
	}
}

// Punches of a boot in which the kiosk heard the server's time are
// anchored; those of another boot are not, and the anchor survives a
// restart of the daemon.
func TestAnchored(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db.LatestAnchor(); ok || err != nil {
		t.Errorf("LatestAnchor of a new queue: %v, %v", ok, err)
	}
	if p := commit(t, db, nil, mkPunch("a", "e1", punch.In, day0))[0]; p.Clock.Anchored {
		t.Error("anchored before any check-in")
	}
	a := Anchor{BootID: bootA, ServerTime: day0.Add(time.Minute), BootTime: 95 * time.Second, DeviceTime: day0.Add(time.Minute)}
	if err := db.RecordAnchor(a); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openTest(t, dir, Options{})
	if got, ok, err := db.LatestAnchor(); !ok || err != nil || got.BootID != a.BootID || !got.ServerTime.Equal(a.ServerTime) || got.BootTime != a.BootTime {
		t.Errorf("LatestAnchor = %+v, %v, %v; want %+v", got, ok, err, a)
	}
	if p := commit(t, db, nil, mkPunch("b", "e1", punch.Out, day0.Add(2*time.Minute)))[0]; !p.Clock.Anchored {
		t.Error("a punch of the anchored boot is not anchored")
	}
	other := mkPunch("c", "e1", punch.In, day0.Add(3*time.Minute))
	other.BootID = "another-boot"
	if p := commit(t, db, nil, other)[0]; p.Clock.Anchored {
		t.Error("a punch of another boot is anchored")
	}
	if err := db.RecordAnchor(Anchor{BootID: "x"}); err == nil {
		t.Error("an anchor without times was kept")
	}
}
