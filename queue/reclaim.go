package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/siteclock/siteclock/durable"
)

// Reclaim frees disk space when the state folder runs short. While free
// space (Options.FreeSpace) is below MinFree it removes the photo files of
// punches whose photo the back office acknowledged, oldest punch first,
// checking the free space again after each one, and records the removal on
// the punch; the punch rows themselves are kept. Nothing unacknowledged is
// ever removed. It returns the number of files removed.
func (db *DB) Reclaim() (int, error) {
	free, err := db.free(db.dir)
	if err != nil {
		return 0, fmt.Errorf("queue: reclaim: free space of %s: %w", db.dir, err)
	}
	if free >= db.minFree {
		return 0, nil
	}
	type candidate struct {
		seq       int64
		id, photo string
	}
	// Read the candidates first: with one connection, the rows must be
	// closed before the updates below can run.
	rows, err := db.sql.Query(`SELECT seq, id, photo FROM punches
		WHERE photo <> '' AND photo_sent_at_ns IS NOT NULL AND photo_deleted_at_ns IS NULL
		ORDER BY seq`)
	if err != nil {
		return 0, db.wrap("reclaim: list uploaded photos", err)
	}
	var cands []candidate
	for rows.Next() {
		var c candidate
		if err := rows.Scan(&c.seq, &c.id, &c.photo); err != nil {
			rows.Close()
			return 0, db.wrap("reclaim: list uploaded photos", err)
		}
		cands = append(cands, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, db.wrap("reclaim: list uploaded photos", err)
	}

	removed := 0
	for _, c := range cands {
		// Remove the file first and record it after: a crash in between
		// leaves a row still listing a missing file, which the next Reclaim
		// records without harm; the other order could leak the file forever.
		err := os.Remove(filepath.Join(db.photoDir, c.photo))
		switch {
		case err == nil:
			removed++
		case errors.Is(err, os.ErrNotExist):
		default:
			return removed, fmt.Errorf("queue: reclaim: remove photo of punch %s: %w; check the permissions of %s", c.id, err, db.photoDir)
		}
		if _, err := db.sql.Exec(`UPDATE punches SET photo_deleted_at_ns = ? WHERE seq = ?`, db.now().UnixNano(), c.seq); err != nil {
			return removed, db.wrap("reclaim: record removal of photo of punch "+c.id, err)
		}
		db.log.Info("removed uploaded photo", "punch_id", c.id, "seq", c.seq)
		if free, err = db.free(db.dir); err != nil {
			return removed, fmt.Errorf("queue: reclaim: free space of %s: %w", db.dir, err)
		}
		if free >= db.minFree {
			break
		}
	}
	if removed > 0 {
		if err := durable.SyncDir(db.photoDir); err != nil {
			return removed, fmt.Errorf("queue: reclaim: sync %s: %w", db.photoDir, err)
		}
	}
	if free < db.minFree {
		db.log.Warn("disk still short after removing uploaded photos", "free_bytes", free, "min_free_bytes", db.minFree)
	}
	return removed, nil
}
