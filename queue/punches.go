package queue

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/siteclock/siteclock/punch"
)

// punchColumns are the columns scanPunch reads, in its order.
const punchColumns = `seq, id, employee_id, employee_number, employee_name, direction,
	at_ns, at_offset, boot_time_ns, boot_id, clocked_by, photo, no_photo, roster_version,
	photo_sha256, clock_synced, clock_anchored, clock_behind, chain_id, prev_hash, hash, signature`

type scanner interface{ Scan(dest ...any) error }

func scanPunch(s scanner) (punch.Punch, error) {
	var (
		p         punch.Punch
		dir, no   string
		atNS, btN int64
		off       int
	)
	err := s.Scan(&p.Seq, &p.ID, &p.EmployeeID, &p.EmployeeNumber, &p.EmployeeName, &dir,
		&atNS, &off, &btN, &p.BootID, &p.ClockedBy, &p.Photo, &no, &p.RosterVersion,
		&p.PhotoSHA256, &p.Clock.Synced, &p.Clock.Anchored, &p.Clock.Behind, &p.ChainID, &p.PrevHash, &p.Hash, &p.Signature)
	if err != nil {
		return punch.Punch{}, err
	}
	if p.Hash == nil {
		// Committed before punches were chained.
		p.ChainID = ""
	}
	if len(p.PrevHash) == 0 {
		p.PrevHash = nil // the first of its chain, stored as an empty BLOB
	}
	p.Direction = punch.Direction(dir)
	p.NoPhoto = punch.NoPhoto(no)
	p.At = decodeTime(atNS, off)
	p.BootTime = time.Duration(btN)
	return p, nil
}

// Punch returns the committed punch with the given ID, or an error wrapping
// ErrNotFound.
func (db *DB) Punch(id string) (punch.Punch, error) {
	row := db.sql.QueryRow("SELECT "+punchColumns+" FROM punches WHERE id = ?", id)
	p, err := scanPunch(row)
	if errors.Is(err, sql.ErrNoRows) {
		return punch.Punch{}, errorf(ErrNotFound, "queue: punch %s not found", id)
	}
	if err != nil {
		return punch.Punch{}, db.wrap("read punch "+id, err)
	}
	return p, nil
}

// What waits for upload: neither acknowledged nor refused for good (see
// MarkRejected). The photo of a refused punch does not wait either: it stays
// on the kiosk with its punch.
const (
	waitingSQL      = "sent_at_ns IS NULL AND rejected_at_ns IS NULL"
	photoWaitingSQL = "photo <> '' AND photo_sent_at_ns IS NULL AND photo_rejected_at_ns IS NULL AND rejected_at_ns IS NULL"
)

// Unsent returns up to limit punches waiting for the back office (neither
// acknowledged nor refused), oldest (lowest Seq) first. limit <= 0 means
// all of them.
func (db *DB) Unsent(limit int) ([]punch.Punch, error) {
	return db.list("list unsent punches", waitingSQL, limit)
}

// All returns up to limit punches, sent or not, oldest first. limit <= 0
// means all of them.
func (db *DB) All(limit int) ([]punch.Punch, error) {
	return db.list("list punches", "1", limit)
}

// UnsentPhotos returns up to limit punches whose photo waits for the back
// office (not acknowledged, not refused, and its punch not refused), oldest
// first. limit <= 0 means all of them.
func (db *DB) UnsentPhotos(limit int) ([]punch.Punch, error) {
	return db.list("list unsent photos", photoWaitingSQL, limit)
}

// PhotosToUpload is UnsentPhotos restricted to punches the back office has
// acknowledged: the uploader sends a photo only after its punch. The punch
// names its photo by the hash of the file, and Reclaim may remove the file
// once the photo is acknowledged, so a photo sent first could leave its
// punch unable to name it.
func (db *DB) PhotosToUpload(limit int) ([]punch.Punch, error) {
	return db.list("list photos to upload", photoWaitingSQL+" AND sent_at_ns IS NOT NULL", limit)
}

// LastUsedBy returns the employee ID of whoever last used the kiosk: the
// foreman of a Clock For punch, else the employee who punched; "" when no
// punch was ever committed.
func (db *DB) LastUsedBy() (string, error) {
	var id string
	err := db.sql.QueryRow(`SELECT CASE WHEN clocked_by <> '' THEN clocked_by ELSE employee_id END
		FROM punches ORDER BY seq DESC LIMIT 1`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", db.wrap("read last user", err)
	}
	return id, nil
}

func (db *DB) list(op, where string, limit int) ([]punch.Punch, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := db.sql.Query("SELECT "+punchColumns+" FROM punches WHERE "+where+" ORDER BY seq LIMIT ?", limit)
	if err != nil {
		return nil, db.wrap(op, err)
	}
	defer rows.Close()
	var out []punch.Punch
	for rows.Next() {
		p, err := scanPunch(rows)
		if err != nil {
			return nil, db.wrap(op, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap(op, err)
	}
	return out, nil
}

// MarkSent records that the back office acknowledged the punches with the
// given IDs at the time at, and advances the device's last sync to at. It
// is idempotent: a punch already marked keeps its first acknowledgement
// time. IDs the queue does not hold are logged and skipped, so that one odd
// answer from the server cannot stall the upload.
func (db *DB) MarkSent(ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	if at.IsZero() {
		return errors.New("queue: mark punches sent: no time given")
	}
	ctx := context.Background()
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return db.wrap("mark punches sent", err)
	}
	defer tx.Rollback()
	var unknown []string
	for _, id := range ids {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM punches WHERE id = ?`, id).Scan(&n)
		if err != nil {
			return db.wrap("mark punch "+id+" sent", err)
		}
		if n == 0 {
			unknown = append(unknown, id)
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE punches SET sent_at_ns = ? WHERE id = ? AND sent_at_ns IS NULL`, at.UnixNano(), id); err != nil {
			return db.wrap("mark punch "+id+" sent", err)
		}
	}
	if err := advanceSync(ctx, tx, at); err != nil {
		return db.wrap("mark punches sent", err)
	}
	if err := tx.Commit(); err != nil {
		return db.wrap("mark punches sent", err)
	}
	if len(unknown) > 0 {
		db.log.Warn("server acknowledged punches this device does not hold", "punch_ids", strings.Join(unknown, ","))
	}
	return nil
}

// advanceSync moves the device's last sync forward to at, never back.
func advanceSync(ctx context.Context, tx *sql.Tx, at time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE device SET last_sync_ns = ?1 WHERE id = 1 AND (last_sync_ns IS NULL OR last_sync_ns < ?1)`, at.UnixNano())
	return err
}

// MarkPhotoSent records that the back office acknowledged the photo of the
// punch punchID at the time at, then removes the photo's file, durably, and
// records that too: the office has the photo, and a kiosk holds no photo
// longer than it must. A crash in between leaves the file for the next
// start to remove. It is idempotent. It fails with ErrNotFound for an
// unknown punch and for a punch without a photo.
func (db *DB) MarkPhotoSent(punchID string, at time.Time) error {
	if at.IsZero() {
		return errors.New("queue: mark photo sent: no time given")
	}
	var photo string
	err := db.sql.QueryRow(`SELECT photo FROM punches WHERE id = ?`, punchID).Scan(&photo)
	if errors.Is(err, sql.ErrNoRows) {
		return errorf(ErrNotFound, "queue: mark photo sent: punch %s not found", punchID)
	}
	if err != nil {
		return db.wrap("mark photo of punch "+punchID+" sent", err)
	}
	if photo == "" {
		return errorf(ErrNotFound, "queue: mark photo sent: punch %s has no photo", punchID)
	}
	_, err = db.sql.Exec(`UPDATE punches SET photo_sent_at_ns = ? WHERE id = ? AND photo_sent_at_ns IS NULL`, at.UnixNano(), punchID)
	if err != nil {
		return db.wrap("mark photo of punch "+punchID+" sent", err)
	}
	return db.deleteSentPhoto(punchID)
}

// ReadPhoto returns the bytes of the photo stored under name (a Punch's
// Photo): sealed (package photoseal) when the queue had the company's key,
// a plain JPEG otherwise. It refuses names that are not a plain file name,
// and fails with ErrNotFound when the file is gone (removed after upload).
func (db *DB) ReadPhoto(name string) ([]byte, error) {
	path, err := db.photoPath(name)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, photoReadError(name, err)
	}
	return b, nil
}

// Status is an employee's last punch.
type Status struct {
	Direction punch.Direction
	At        time.Time
}

// Statuses returns each employee's last punch (the one with the highest
// Seq), by employee ID. It reads every punch, once, when the kiosk starts;
// keeping a status table up to date instead would cost every commit.
func (db *DB) Statuses() (map[string]Status, error) {
	// SQLite takes the bare columns from the row holding max(seq).
	rows, err := db.sql.Query(`SELECT employee_id, direction, at_ns, at_offset, max(seq) FROM punches GROUP BY employee_id`)
	if err != nil {
		return nil, db.wrap("read statuses", err)
	}
	defer rows.Close()
	out := make(map[string]Status)
	for rows.Next() {
		var (
			id, dir string
			ns, seq int64
			off     int
		)
		if err := rows.Scan(&id, &dir, &ns, &off, &seq); err != nil {
			return nil, db.wrap("read statuses", err)
		}
		out[id] = Status{Direction: punch.Direction(dir), At: decodeTime(ns, off)}
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap("read statuses", err)
	}
	return out, nil
}

// Stats summarises the queue for the status line and the back office.
type Stats struct {
	Waiting       int       // punches waiting for upload (not acknowledged, not refused)
	OldestWaiting time.Time // wall time of the oldest waiting punch; zero when none
	PhotosWaiting int       // photos waiting for upload
	Rejected      int       // punches whose punch or photo the back office refused for good (see Rejected)
	LastSync      time.Time // last acknowledgement from the back office; zero when never
	Total         int       // punches ever committed on this database (the highest Seq: rows are never deleted)
}

// Stats returns the queue's counts, read in one statement so they agree.
func (db *DB) Stats() (Stats, error) {
	var (
		s             Stats
		oldNS, oldOff *int64
		lastSync      *int64
	)
	err := db.sql.QueryRow(`SELECT
		(SELECT count(*) FROM punches WHERE `+waitingSQL+`),
		(SELECT at_ns FROM punches WHERE `+waitingSQL+` ORDER BY seq LIMIT 1),
		(SELECT at_offset FROM punches WHERE `+waitingSQL+` ORDER BY seq LIMIT 1),
		(SELECT count(*) FROM punches WHERE `+photoWaitingSQL+`),
		(SELECT count(*) FROM punches WHERE rejected_at_ns IS NOT NULL OR photo_rejected_at_ns IS NOT NULL),
		(SELECT last_sync_ns FROM device WHERE id = 1),
		(SELECT coalesce(max(seq), 0) FROM punches)`).Scan(&s.Waiting, &oldNS, &oldOff, &s.PhotosWaiting, &s.Rejected, &lastSync, &s.Total)
	if err != nil {
		return Stats{}, db.wrap("read stats", err)
	}
	if oldNS != nil && oldOff != nil {
		s.OldestWaiting = decodeTime(*oldNS, int(*oldOff))
	}
	s.LastSync = nullTime(lastSync)
	return s, nil
}
