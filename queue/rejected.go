package queue

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/siteclock/siteclock/punch"
)

// Rejection is a punch the back office refused for good, or whose photo it
// refused. The punch (and its photo file) stay on the kiosk for a person to
// see; neither is sent again.
type Rejection struct {
	Punch punch.Punch
	// Reason and At say why and when the punch was refused; empty and zero
	// when only its photo was.
	Reason string
	At     time.Time
	// PhotoReason and PhotoAt say why and when the photo was refused;
	// empty and zero when it was not.
	PhotoReason string
	PhotoAt     time.Time
}

// MarkRejected records that the back office refused the punch id for good
// at the time at, for reason (what it said, for a person to read). The
// punch stops waiting for upload, with its photo, and is listed by
// Rejected; it is never deleted. Like an acknowledgement, a refusal is an
// answer from the back office, so it advances the last sync. Marking again
// keeps the first refusal, and a punch already acknowledged stays
// acknowledged. It fails with ErrNotFound for an unknown punch.
func (db *DB) MarkRejected(id, reason string, at time.Time) error {
	return db.markRejected("mark punch "+id+" rejected", "punch", id, reason, at,
		`SELECT 1 FROM punches WHERE id = ?`,
		`UPDATE punches SET rejected_at_ns = ?, rejected_reason = ? WHERE id = ? AND sent_at_ns IS NULL AND rejected_at_ns IS NULL`)
}

// MarkPhotoRejected records that the back office refused the photo of the
// punch id for good (or that it cannot be sent at all, the file being
// gone) at the time at, for reason. The photo stops waiting for upload and
// its punch is listed by Rejected; the file is kept. Marking again keeps
// the first refusal; an acknowledged photo stays acknowledged. It fails
// with ErrNotFound for an unknown punch and for a punch without a photo.
func (db *DB) MarkPhotoRejected(id, reason string, at time.Time) error {
	return db.markRejected("mark photo of punch "+id+" rejected", "photo", id, reason, at,
		`SELECT 1 FROM punches WHERE id = ? AND photo <> ''`,
		`UPDATE punches SET photo_rejected_at_ns = ?, photo_rejected_reason = ? WHERE id = ? AND photo_sent_at_ns IS NULL AND photo_rejected_at_ns IS NULL`)
}

func (db *DB) markRejected(op, what, id, reason string, at time.Time, exists, update string) error {
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return errors.New("queue: " + op + ": no reason given")
	case at.IsZero():
		return errors.New("queue: " + op + ": no time given")
	}
	ctx := context.Background()
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return db.wrap(op, err)
	}
	defer tx.Rollback()
	var one int
	err = tx.QueryRowContext(ctx, exists, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		if what == "photo" {
			return errorf(ErrNotFound, "queue: %s: no such punch with a photo", op)
		}
		return errorf(ErrNotFound, "queue: %s: no such punch", op)
	}
	if err != nil {
		return db.wrap(op, err)
	}
	if _, err := tx.ExecContext(ctx, update, at.UnixNano(), reason, id); err != nil {
		return db.wrap(op, err)
	}
	if err := advanceSync(ctx, tx, at); err != nil {
		return db.wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return db.wrap(op, err)
	}
	db.log.Warn("back office refused a "+what+"; it is kept for a person to see", "punch_id", id, "reason", reason)
	return nil
}

// Rejected returns every punch whose punch or photo the back office
// refused, oldest first, for a person to look at. There are few: a refusal
// is an exception someone must deal with.
func (db *DB) Rejected() ([]Rejection, error) {
	const op = "list rejected punches"
	rows, err := db.sql.Query(`SELECT ` + punchColumns + `,
		rejected_at_ns, coalesce(rejected_reason, ''), photo_rejected_at_ns, coalesce(photo_rejected_reason, '')
		FROM punches WHERE rejected_at_ns IS NOT NULL OR photo_rejected_at_ns IS NOT NULL ORDER BY seq`)
	if err != nil {
		return nil, db.wrap(op, err)
	}
	defer rows.Close()
	var out []Rejection
	for rows.Next() {
		var (
			r          Rejection
			at, photAt *int64
		)
		p, err := scanPunch(scanFunc(func(dest ...any) error {
			return rows.Scan(append(dest, &at, &r.Reason, &photAt, &r.PhotoReason)...)
		}))
		if err != nil {
			return nil, db.wrap(op, err)
		}
		r.Punch, r.At, r.PhotoAt = p, nullTime(at), nullTime(photAt)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap(op, err)
	}
	return out, nil
}

// scanFunc lets scanPunch read the leading columns of a wider row.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }
