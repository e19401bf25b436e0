package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/siteclock/siteclock/durable"
)

// A photo leaves the kiosk as soon as the back office acknowledged it:
// MarkPhotoSent removes its file. The punch row stays, and records when
// the file was removed (photo_deleted_at_ns). A crash between the
// acknowledgement and the removal leaves a file that Open removes at the
// next start, and Reclaim when the disk runs short.

// sentPhoto is an acknowledged photo whose file is not recorded removed.
type sentPhoto struct {
	seq       int64
	id, photo string
}

// sentPhotos lists the acknowledged photos whose files are not recorded
// removed, oldest punch first; where narrows the list.
func (db *DB) sentPhotos(where string, args ...any) ([]sentPhoto, error) {
	// Read them all first: with one connection, the rows must be closed
	// before the updates that follow can run.
	rows, err := db.sql.Query(`SELECT seq, id, photo FROM punches
		WHERE photo <> '' AND photo_sent_at_ns IS NOT NULL AND photo_deleted_at_ns IS NULL AND `+where+`
		ORDER BY seq`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sentPhoto
	for rows.Next() {
		var c sentPhoto
		if err := rows.Scan(&c.seq, &c.id, &c.photo); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// removeSent removes the file of an acknowledged photo and reports whether
// there was one; a file already gone is fine. The caller syncs the folder
// and then records the removal (recordRemoved).
func (db *DB) removeSent(c sentPhoto) (bool, error) {
	db.photoMu.Lock()
	defer db.photoMu.Unlock()
	err := os.Remove(filepath.Join(db.photoDir, c.photo))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("queue: remove uploaded photo of punch %s: %w; check the permissions of %s", c.id, err, db.photoDir)
}

// recordRemoved records that the file of an acknowledged photo is gone.
// Remove first, record after: a crash in between leaves a row still
// listing a missing file, which the next clean-up records without harm;
// the other order could leak the file forever.
func (db *DB) recordRemoved(c sentPhoto) error {
	_, err := db.sql.Exec(`UPDATE punches SET photo_deleted_at_ns = ? WHERE seq = ? AND photo_deleted_at_ns IS NULL`, db.now().UnixNano(), c.seq)
	return db.wrap("record removal of photo of punch "+c.id, err)
}

// deleteSentPhoto removes the photo of the acknowledged punch id from the
// disk, durably (the folder is fsync'd before the removal is recorded).
func (db *DB) deleteSentPhoto(id string) error {
	cands, err := db.sentPhotos("id = ?", id)
	if err != nil {
		return db.wrap("remove uploaded photo of punch "+id, err)
	}
	for _, c := range cands {
		if _, err := db.removeSent(c); err != nil {
			return err
		}
		if err := durable.SyncDir(db.photoDir); err != nil {
			return fmt.Errorf("queue: remove uploaded photo of punch %s: sync %s: %w", id, db.photoDir, err)
		}
		if err := db.recordRemoved(c); err != nil {
			return err
		}
		db.log.Debug("removed uploaded photo", "punch_id", c.id, "seq", c.seq)
	}
	return nil
}

// tidyPhotos, at start-up, removes the acknowledged photos a crash (or an
// older siteclockd, which kept them until the disk ran short) left behind,
// and seals the photos stored unsealed if the key is known. Failing here
// must not keep the kiosk from punching: it is logged, and tried again at
// the next start.
func (db *DB) tidyPhotos() {
	cands, err := db.sentPhotos("1")
	if err != nil {
		db.log.Error("listing uploaded photos to remove failed", "err", db.wrap("list uploaded photos", err))
	}
	removed := 0
	for _, c := range cands {
		ok, err := db.removeSent(c)
		if err != nil {
			db.log.Error("removing an uploaded photo failed", "punch_id", c.id, "err", err)
			break
		}
		if ok {
			removed++
		}
	}
	if len(cands) > 0 {
		err := durable.SyncDir(db.photoDir)
		for _, c := range cands {
			if err == nil {
				err = db.recordRemoved(c)
			}
		}
		if err != nil {
			db.log.Error("recording the removal of uploaded photos failed", "err", err)
		}
	}
	if removed > 0 {
		db.log.Info("removed photos the back office already has", "photos", removed)
	}
	if _, err := db.sealPhotos(); err != nil {
		db.log.Error("sealing the photos stored unsealed failed; they stay as they are until the next start", "err", err)
	}
}

// Reclaim frees disk space when the state folder runs short. While free
// space (Options.FreeSpace) is below MinFree it removes the photo files of
// punches whose photo the back office acknowledged, oldest punch first,
// checking the free space again after each one, and records the removal on
// the punch; the punch rows themselves are kept. Nothing unacknowledged is
// ever removed. As MarkPhotoSent removes a photo when it is acknowledged,
// there is something to reclaim only after a failure between the two. It
// returns the number of files removed.
func (db *DB) Reclaim() (int, error) {
	free, err := db.free(db.dir)
	if err != nil {
		return 0, fmt.Errorf("queue: reclaim: free space of %s: %w", db.dir, err)
	}
	if free >= db.minFree {
		return 0, nil
	}
	cands, err := db.sentPhotos("1")
	if err != nil {
		return 0, db.wrap("reclaim: list uploaded photos", err)
	}
	removed := 0
	for _, c := range cands {
		ok, err := db.removeSent(c)
		if err != nil {
			return removed, err
		}
		if ok {
			removed++
		}
		if err := db.recordRemoved(c); err != nil {
			return removed, err
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
