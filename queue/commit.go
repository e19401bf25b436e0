package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/siteclock/siteclock/durable"
	"github.com/siteclock/siteclock/punch"
)

// The range of wall times that Unix nanoseconds can hold.
var (
	minTime = time.Unix(0, -1<<63)
	maxTime = time.Unix(0, 1<<63-1)
)

// Commit durably stores punches, all or none, and the photo of a single
// punch. When it returns without error, the punches and photo survive a
// crash or power cut.
//
// photo, if not empty, is only allowed with exactly one punch, whose NoPhoto
// must then be punch.PhotoTaken; it is stored as photos/<ID>.jpg, fsync'd
// and renamed into place before the transaction that names it commits. The
// punches are inserted in one transaction, each taking the next sequence
// number (a single punch is one autocommit statement), chained to the punch
// before it and signed with Options.Key (see chain.go). Seq, Photo,
// PhotoSHA256, the chain fields and Clock.Anchored and Clock.Behind in the
// input are ignored; the returned copies have them filled in. Clock.Synced
// is the caller's.
//
// Invalid input (no punches, an empty or unusable ID, an ID twice, no
// employee, an unknown Direction or NoPhoto, a zero time) is refused before
// anything is written. On failure nothing is kept and a photo file written
// for the call is removed. Errors wrap ErrDuplicate when a punch ID is
// already committed and ErrDiskFull when the disk is full.
//
// The one failure that cannot promise "nothing kept" is an I/O error from
// the final COMMIT, after which the transaction may still turn out
// committed at the next start; the error says so and the photo file is kept
// for that case. Retrying with the same punch IDs settles it: ErrDuplicate
// then means the punches were saved.
func (db *DB) Commit(ctx context.Context, punches []punch.Punch, photo []byte) ([]punch.Punch, error) {
	if db.readOnly {
		return nil, errors.New("queue: opened read-only; only the running siteclockd commits punches")
	}
	if err := validate(punches, photo); err != nil {
		return nil, err
	}
	out := make([]punch.Punch, len(punches))
	copy(out, punches)
	first := out[0].ID

	db.commitMu.Lock()
	defer db.commitMu.Unlock()

	if len(photo) > 0 {
		// The UNIQUE constraint refuses a duplicate punch, but only after
		// its photo would have overwritten the committed one's.
		if err := db.checkNew(ctx, out); err != nil {
			return nil, err
		}
	}
	photoSum, err := photoSHA256(photo)
	if err != nil {
		return nil, fmt.Errorf("queue: commit punch %s: %w", first, err)
	}
	if !db.chain.known {
		if err := db.loadChain(ctx); err != nil {
			return nil, db.wrap("commit punch "+first+": read the chain state", err)
		}
	}
	for i := range out {
		out[i].Photo = ""
	}
	db.stamp(out, photoSum)
	var photoPath string
	if len(photo) > 0 {
		out[0].Photo = out[0].ID + ".jpg"
		photoPath = filepath.Join(db.photoDir, out[0].Photo)
		// Sealed to the company's key when the queue knows it (seal.go):
		// the plain JPEG never reaches the disk.
		if err := db.writePhoto(photoPath, photo); err != nil {
			return nil, db.wrap("commit punch "+first+": write photo", err)
		}
	}
	if err := db.insert(ctx, out); err != nil {
		// Read the chain's tail again before the next commit, whatever
		// happened: an uncertain commit may have reached the disk.
		db.chain.known = false
		var uncertain *uncertainCommit
		if errors.As(err, &uncertain) {
			// The photo stays: if the commit did reach the disk, its row
			// names the file.
			return nil, fmt.Errorf("queue: commit punch %s: the storage failed while saving (%w), so the punches may or may not be saved; "+
				"retry with the same punch IDs (a saved punch is refused as a duplicate) and replace the SD card if this repeats", first, uncertain.err)
		}
		if photoPath != "" {
			db.removePhoto(photoPath, out[0].ID)
		}
		if isUniqueID(err) {
			return nil, errorf(ErrDuplicate, "queue: punch %s is already committed", first)
		}
		return nil, db.wrap("commit punch "+first, err)
	}
	db.advance(out)
	for _, p := range out {
		db.log.Info("punch committed", "punch_id", p.ID, "seq", p.Seq, "direction", string(p.Direction), "photo", p.Photo != "")
		if p.Photo == "" && p.NoPhoto == punch.PhotoTaken {
			// The kiosk meant to take a photo but none came. The punch is
			// kept (losing it would be worse); the gap is worth a look.
			db.log.Warn("punch has no photo and no reason", "punch_id", p.ID)
		}
	}
	return out, nil
}

// uncertainCommit is a COMMIT that failed with an I/O error. In WAL mode the
// commit record may have reached the log before the failing fsync, and then
// the transaction is committed after a restart although SQLite reported an
// error now.
type uncertainCommit struct{ err error }

func (e *uncertainCommit) Error() string { return e.err.Error() }
func (e *uncertainCommit) Unwrap() error { return e.err }

// validate refuses input that must never reach the database.
func validate(punches []punch.Punch, photo []byte) error {
	if len(punches) == 0 {
		return errors.New("queue: commit: no punches")
	}
	if len(photo) > 0 && len(punches) != 1 {
		return fmt.Errorf("queue: commit: a photo goes with exactly one punch, not %d", len(punches))
	}
	seen := make(map[string]bool, len(punches))
	for i, p := range punches {
		if err := validID(p.ID); err != nil {
			return fmt.Errorf("queue: commit: punch %d: %w", i, err)
		}
		if seen[p.ID] {
			return fmt.Errorf("queue: commit: punch ID %s appears twice", p.ID)
		}
		seen[p.ID] = true
		switch {
		case p.EmployeeID == "":
			return fmt.Errorf("queue: commit punch %s: no employee ID", p.ID)
		case !p.Direction.Valid():
			return fmt.Errorf("queue: commit punch %s: direction %q is not in or out", p.ID, p.Direction)
		case !p.NoPhoto.Valid():
			return fmt.Errorf("queue: commit punch %s: unknown no-photo reason %q", p.ID, p.NoPhoto)
		case len(photo) > 0 && p.NoPhoto != punch.PhotoTaken:
			return fmt.Errorf("queue: commit punch %s: a photo was given but the punch says none was taken (%s)", p.ID, p.NoPhoto)
		case p.At.IsZero():
			return fmt.Errorf("queue: commit punch %s: no time", p.ID)
		case p.At.Before(minTime) || p.At.After(maxTime):
			return fmt.Errorf("queue: commit punch %s: time %v out of range", p.ID, p.At)
		}
	}
	return nil
}

// validID accepts IDs that are safe as file names: the photo of a punch is
// stored under its ID. UUIDs pass.
func validID(id string) error {
	if id == "" {
		return errors.New("empty ID")
	}
	if len(id) > 128 {
		return fmt.Errorf("ID %.20q... longer than 128 bytes", id)
	}
	if id[0] == '.' {
		return fmt.Errorf("ID %q starts with a dot", id)
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return fmt.Errorf("ID %q has a character other than letters, digits, '-', '_' and '.'", id)
		}
	}
	return nil
}

// checkNew refuses punches whose ID is already committed, before a photo
// file could overwrite the committed punch's photo.
func (db *DB) checkNew(ctx context.Context, ps []punch.Punch) error {
	ids := make([]any, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	q := "SELECT id FROM punches WHERE id IN (?" + strings.Repeat(",?", len(ps)-1) + ") LIMIT 1"
	var dup string
	err := db.sql.QueryRowContext(ctx, q, ids...).Scan(&dup)
	switch {
	case err == nil:
		return errorf(ErrDuplicate, "queue: punch %s is already committed", dup)
	case errors.Is(err, sql.ErrNoRows):
		return nil
	}
	return db.wrap("commit punch "+ps[0].ID, err)
}

// insertSQL stores one punch.
const insertSQL = `INSERT INTO punches (seq, id, employee_id, employee_number, employee_name, direction,
	at_ns, at_offset, boot_time_ns, boot_id, clocked_by, photo, no_photo, committed_at_ns, roster_version,
	photo_sha256, clock_synced, clock_anchored, clock_behind, chain_id, prev_hash, hash, signature)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// insert stores the punches, all or none, with the sequence numbers stamp
// gave them. One punch is one statement, which SQLite commits on its own
// (atomic and fsync'd like any transaction, without the BEGIN and COMMIT
// round trips); a crew is one transaction.
func (db *DB) insert(ctx context.Context, ps []punch.Punch) error {
	now := db.now().UnixNano()
	exec := func(stmt *sql.Stmt, p *punch.Punch) error {
		atNS, off := encodeTime(p.At)
		_, err := stmt.ExecContext(ctx, p.Seq, p.ID, p.EmployeeID, p.EmployeeNumber, p.EmployeeName, string(p.Direction),
			atNS, off, int64(p.BootTime), p.BootID, p.ClockedBy, p.Photo, string(p.NoPhoto), now, p.RosterVersion,
			p.PhotoSHA256, p.Clock.Synced, p.Clock.Anchored, p.Clock.Behind, p.ChainID, nonNil(p.PrevHash), p.Hash, p.Signature)
		return err
	}
	if len(ps) == 1 {
		return commitError(exec(db.insertStmt, &ps[0]))
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt := tx.StmtContext(ctx, db.insertStmt)
	for i := range ps {
		if err := exec(stmt, &ps[i]); err != nil {
			return err
		}
	}
	return commitError(tx.Commit())
}

// nonNil stores an empty byte string as an empty BLOB, not NULL: the
// first punch of a chain has an empty previous hash, which is not "none".
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// commitError marks an I/O error at commit as uncertain: in WAL mode the
// commit record may have reached the log before the failing fsync.
func commitError(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrIoErr {
		return &uncertainCommit{err}
	}
	return err
}

// isUniqueID reports whether err is the UNIQUE constraint on punches.id.
func isUniqueID(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique && strings.Contains(se.Error(), "punches.id")
}

// removePhoto undoes writePhoto after the punch's transaction failed. The
// file must not outlive the failure: nothing names it, and a retry with the
// same ID writes it again.
func (db *DB) removePhoto(path, punchID string) {
	db.photoMu.Lock()
	err := os.Remove(path)
	db.photoMu.Unlock()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		// The commit error is what the caller needs; a stray file costs
		// only space and is overwritten by a retry.
		db.log.Warn("remove photo of failed commit", "punch_id", punchID, "err", err)
		return
	}
	if err := durable.SyncDir(filepath.Dir(path)); err != nil {
		db.log.Warn("sync photos folder", "punch_id", punchID, "err", err)
	}
}

// removeTempPhotos deletes half-written photos a crash left behind. Whole
// photos without a row are kept: after a damaged database was moved aside,
// they belong to punches the office may still rescue from it.
func (db *DB) removeTempPhotos() error {
	removed, err := durable.RemoveTemp(db.photoDir)
	if err != nil {
		return fmt.Errorf("queue: remove unfinished photos: %w; check the permissions of %s", err, db.photoDir)
	}
	if removed > 0 {
		db.log.Info("removed unfinished photos", "count", removed)
	}
	return nil
}

// encodeTime splits t into Unix nanoseconds and its zone offset in seconds.
func encodeTime(t time.Time) (ns int64, offset int) {
	_, offset = t.Zone()
	return t.UnixNano(), offset
}

// decodeTime is the inverse of encodeTime. The result is the same instant
// (time.Time.Equal) in a zone with the stored offset: time.Local when it has
// that offset at that instant, UTC for 0, an unnamed fixed zone otherwise.
func decodeTime(ns int64, offset int) time.Time {
	t := time.Unix(0, ns)
	if _, off := t.Zone(); off == offset {
		return t
	}
	if offset == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", offset))
}

// nullTime decodes a nullable nanosecond column; NULL is the zero time.
func nullTime(ns *int64) time.Time {
	if ns == nil {
		return time.Time{}
	}
	return time.Unix(0, *ns)
}
