package powercut

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"image/jpeg"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/siteclock/siteclock/durable"
	"github.com/siteclock/siteclock/photoseal"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/queue"
	"github.com/siteclock/siteclock/sqlitedb"
	"github.com/siteclock/siteclock/uplink"
)

// Options are what Check needs beside the folder.
type Options struct {
	// PhotoKey opens the sealed photos: the private half of the
	// photo-key.pub the kiosk seals to. nil: photos must be plain JPEGs.
	PhotoKey *photoseal.PrivateKey
	// Cuts is how many power cuts the folder has been through. Each may
	// leave one whole photo that no row names: written, fsync'd and
	// renamed, with the power cut before its row committed.
	Cuts int
}

// Report is what Check found. Problems lists every failure in words; the
// folder passed when it is empty.
type Report struct {
	Punches    int   // rows in the queue
	Photos     int   // rows naming a photo (each checked)
	Saved      int   // punches reported saved (each looked for)
	Unreported int   // rows committed without a reported "saved" screen: the commit in flight at a cut
	Orphans    int   // whole photos no row names (from the commit in flight at a cut)
	TempFiles  int   // half-written photos (.tmp-*), which count as nothing
	WALBytes   int64 // the size of kiosk.db-wal as the cut left it: commits SQLite replays
	Lost       int   // punches reported saved that are not in the queue
	Corrupt    int   // rows, photos or the database damaged or not as reported
	Problems   []string
}

// OK reports whether the folder passed.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

func (r *Report) corrupt(format string, args ...any) {
	r.Corrupt++
	r.problem(format, args...)
}

// Check examines the kiosk state folder dir as a power cut left it,
// before siteclockd opens it (the daemon removes half-written photos at
// start), against saved, every punch whose saved screen was reported:
//
//   - the database opens (SQLite replays its WAL as at the daemon's start)
//     and PRAGMA integrity_check says ok;
//   - no sequence number or punch ID appears twice, the sequence has no
//     gap, and the signed chain is whole: each row's hash is the hash of
//     its contents, its signature verifies with the device key, and it
//     names the hash of the row before;
//   - every saved punch is there with the sequence number, name,
//     direction, photo and Clock For of its report;
//   - every photo a row names is there, sealed to the company's key, opens
//     with it, and its JPEG has the SHA-256 the row recorded at commit;
//   - the rows without a report are, in each boot, after all its reported
//     ones and one commit at most (a punch, or a crew): the commit in
//     flight at the cut;
//   - every other file in the photos folder is a half-written photo
//     (.tmp-*, counted as nothing) or a whole photo no row names, at most
//     one per cut.
func Check(dir string, saved []Saved, opts Options) Report {
	r := Report{Saved: len(saved)}
	// The photos folder first, as the cut left it.
	entries, err := os.ReadDir(filepath.Join(dir, "photos"))
	if err != nil {
		r.corrupt("read the photos folder: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "kiosk.db-wal")); err == nil {
		r.WALBytes = fi.Size()
	}
	if !checkDatabase(&r, filepath.Join(dir, "kiosk.db")) {
		return r
	}
	db, err := queue.Open(dir, queue.Options{ReadOnly: true})
	if err != nil {
		r.corrupt("open the queue: %v", err)
		return r
	}
	defer db.Close()
	all, err := db.All(0)
	if err != nil {
		r.corrupt("read the punches: %v", err)
		return r
	}
	r.Punches = len(all)
	checkChain(&r, all, dir)

	byID := make(map[string]punch.Punch, len(all))
	for _, p := range all {
		byID[p.ID] = p
	}
	named := map[string]bool{}
	for _, p := range all {
		if p.Photo == "" {
			continue
		}
		r.Photos++
		named[p.Photo] = true
		checkPhoto(&r, db, p, opts.PhotoKey)
	}
	reported := checkSaved(&r, saved, byID)
	checkUnreported(&r, all, reported)

	for _, e := range entries {
		name := e.Name()
		switch {
		case named[name]:
		case strings.HasPrefix(name, durable.TempPrefix):
			r.TempFiles++
		default:
			r.Orphans++
			if err := wholePhoto(filepath.Join(dir, "photos", name), opts.PhotoKey); err != nil {
				r.corrupt("photos/%s, which no row names, is not a whole photo: %v", name, err)
			}
		}
	}
	if r.Orphans > opts.Cuts {
		r.problem("%d whole photos no row names after %d power cuts: more than the one commit in flight at each cut", r.Orphans, opts.Cuts)
	}
	return r
}

// checkDatabase opens the database as the daemon does (read-write, WAL,
// synchronous=FULL: SQLite recovers the WAL here as it would at the
// daemon's start) and runs the full integrity check, and looks for
// sequence numbers and IDs twice in the rows themselves.
func checkDatabase(r *Report, path string) bool {
	if _, err := os.Stat(path); err != nil {
		r.corrupt("the database: %v", err)
		return false
	}
	s, err := sql.Open("sqlite3", sqlitedb.DSN(path))
	if err != nil {
		r.corrupt("open %s: %v", path, err)
		return false
	}
	defer s.Close()
	ctx := context.Background()
	rows, err := s.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		r.corrupt("integrity_check: %v", err)
		return false
	}
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			r.corrupt("integrity_check: %v", err)
			rows.Close()
			return false
		}
		msgs = append(msgs, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		r.corrupt("integrity_check: %v", err)
		return false
	}
	if !slices.Equal(msgs, []string{"ok"}) {
		r.corrupt("integrity_check: %s", strings.Join(msgs, "; "))
		return false
	}
	var n, seqs, ids int
	err = s.QueryRowContext(ctx, "SELECT count(*), count(DISTINCT seq), count(DISTINCT id) FROM punches").Scan(&n, &seqs, &ids)
	if err != nil {
		r.corrupt("count the punches: %v", err)
		return false
	}
	if seqs != n || ids != n {
		r.corrupt("%d punches, but %d distinct sequence numbers and %d distinct IDs", n, seqs, ids)
	}
	return true
}

// checkChain checks the sequence and the signed hash chain.
func checkChain(r *Report, all []punch.Punch, dir string) {
	pub, keyErr := devicePublicKey(dir)
	var prev *punch.Punch
	for i := range all {
		p := &all[i]
		if want := int64(i + 1); p.Seq != want {
			r.corrupt("punch %s has sequence number %d where %d was due: a gap or a number twice", p.ID, p.Seq, want)
		}
		if p.Hash == nil {
			r.corrupt("seq %d (%s) is not chained", p.Seq, p.ID)
			prev = p
			continue
		}
		if !bytes.Equal(p.Hash, punch.HashMessage(p.Message())) {
			r.corrupt("seq %d (%s): its hash is not the hash of its contents", p.Seq, p.ID)
		}
		switch {
		case keyErr != nil:
			if i == 0 {
				r.corrupt("the device key: %v", keyErr)
			}
		case !p.Verify(pub):
			r.corrupt("seq %d (%s): the signature does not verify with the device key", p.Seq, p.ID)
		}
		switch {
		case prev == nil && len(p.PrevHash) != 0:
			r.corrupt("seq %d (%s): the first punch names a previous hash", p.Seq, p.ID)
		case prev != nil && !bytes.Equal(p.PrevHash, prev.Hash):
			r.corrupt("seq %d (%s): its previous hash is not the hash of seq %d", p.Seq, p.ID, prev.Seq)
		case prev != nil && p.ChainID != prev.ChainID:
			r.corrupt("seq %d (%s): chain %s, the punch before is in %s", p.Seq, p.ID, p.ChainID, prev.ChainID)
		}
		prev = p
	}
}

// devicePublicKey is the public half of the key the daemon signs with.
func devicePublicKey(dir string) (ed25519.PublicKey, error) {
	k, err := uplink.ReadDeviceKey(dir)
	if err != nil {
		return nil, err
	}
	return k.Public().(ed25519.PublicKey), nil
}

// checkPhoto checks the photo a row names: there, whole, and the JPEG the
// row's hash names.
func checkPhoto(r *Report, db *queue.DB, p punch.Punch, key *photoseal.PrivateKey) {
	if p.Photo != p.ID+".jpg" {
		r.corrupt("seq %d (%s) names the photo %q, not its own", p.Seq, p.ID, p.Photo)
		return
	}
	b, err := db.ReadPhoto(p.Photo)
	if err != nil {
		r.corrupt("the photo of seq %d (%s): %v", p.Seq, p.ID, err)
		return
	}
	jpg, err := openPhoto(b, key)
	if err != nil {
		r.corrupt("the photo of seq %d (%s): %v", p.Seq, p.ID, err)
		return
	}
	sum := sha256.Sum256(jpg)
	if got := hex.EncodeToString(sum[:]); got != p.PhotoSHA256 {
		r.corrupt("the photo of seq %d (%s) has SHA-256 %s; the row recorded %s", p.Seq, p.ID, got, p.PhotoSHA256)
		return
	}
	if _, err := jpeg.DecodeConfig(bytes.NewReader(jpg)); err != nil {
		r.corrupt("the photo of seq %d (%s) is not a JPEG: %v", p.Seq, p.ID, err)
	}
}

// openPhoto returns the JPEG in a stored photo: sealed when there is a key.
func openPhoto(b []byte, key *photoseal.PrivateKey) ([]byte, error) {
	if key == nil {
		return b, nil
	}
	if !photoseal.IsSealed(b) {
		return nil, fmt.Errorf("not a sealed photo though the kiosk has the photo key: %d bytes starting %q", len(b), b[:min(len(b), 8)])
	}
	return key.Open(b)
}

// wholePhoto checks a photo file no row names: it must still be whole
// (the queue renames a photo into place only after it is on disk).
func wholePhoto(path string, key *photoseal.PrivateKey) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	jpg, err := openPhoto(b, key)
	if err != nil {
		return err
	}
	_, err = jpeg.DecodeConfig(bytes.NewReader(jpg))
	return err
}

// checkSaved looks for every reported punch and returns the IDs found.
func checkSaved(r *Report, saved []Saved, byID map[string]punch.Punch) map[string]bool {
	found := make(map[string]bool, len(saved))
	var lastSeq int64
	for _, s := range saved {
		if s.Seq <= lastSeq {
			r.problem("saved screens out of order: seq %d (%s) reported after seq %d", s.Seq, s.ID, lastSeq)
		}
		lastSeq = s.Seq
		if found[s.ID] {
			r.problem("punch %s reported saved twice", s.ID)
			continue
		}
		p, ok := byID[s.ID]
		if !ok {
			r.Lost++
			r.problem("LOST: punch %s (seq %d, %s %s, boot %d) was shown saved but is not in the queue", s.ID, s.Seq, s.Name, s.Dir, s.Boot)
			continue
		}
		found[s.ID] = true
		var diffs []string
		if p.Seq != s.Seq {
			diffs = append(diffs, fmt.Sprintf("seq %d, reported %d", p.Seq, s.Seq))
		}
		if p.EmployeeName != s.Name || p.Direction != s.Dir {
			diffs = append(diffs, fmt.Sprintf("%s %s, shown %s %s", p.EmployeeName, p.Direction, s.Name, s.Dir))
		}
		if (p.Photo != "") != s.Photo {
			diffs = append(diffs, fmt.Sprintf("photo %q, the screen said photo saved: %v", p.Photo, s.Photo))
		}
		if (p.ClockedBy != "") != (s.Crew > 0) {
			diffs = append(diffs, fmt.Sprintf("clocked by %q, shown in a crew of %d", p.ClockedBy, s.Crew))
		}
		if len(diffs) > 0 {
			r.corrupt("punch %s is not as its saved screen showed it: %s", s.ID, strings.Join(diffs, "; "))
		}
	}
	return found
}

// checkUnreported allows, in each boot, one commit beyond the reported
// ones: the one the cut caught between the commit and its screen (or its
// console line). A crew is one commit.
func checkUnreported(r *Report, all []punch.Punch, reported map[string]bool) {
	type bootPunches struct {
		lastReported int64
		extra        []punch.Punch
	}
	boots := map[string]*bootPunches{}
	var order []string
	for _, p := range all {
		b := boots[p.BootID]
		if b == nil {
			b = &bootPunches{}
			boots[p.BootID] = b
			order = append(order, p.BootID)
		}
		if reported[p.ID] {
			b.lastReported = p.Seq
		} else {
			b.extra = append(b.extra, p)
		}
	}
	for _, id := range order {
		b := boots[id]
		r.Unreported += len(b.extra)
		if len(b.extra) == 0 {
			continue
		}
		first := b.extra[0]
		crew := first.ClockedBy != ""
		for i, p := range b.extra {
			if p.Seq < b.lastReported {
				r.problem("seq %d (%s) of boot %s was committed before seq %d, which was reported saved, but was never reported itself", p.Seq, p.ID, id, b.lastReported)
			}
			if i > 0 && (!crew || p.ClockedBy != first.ClockedBy || p.Seq != b.extra[i-1].Seq+1) {
				r.problem("boot %s has %d punches from seq %d on without a reported saved screen, in more than one commit: more than the one in flight at the cut", id, len(b.extra), first.Seq)
				break
			}
		}
	}
}
