package backoffice

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/siteclock/siteclock/durable"
)

// jpegMagic starts every JPEG file (SOI and the first marker's 0xFF).
var jpegMagic = []byte{0xFF, 0xD8, 0xFF}

// photoPath is where the photo with hash sha is kept.
func (s *Store) photoPath(sha string) string {
	return filepath.Join(s.photoDir, sha+".jpg")
}

// MaxUnlinkedPhotos is how many photos a device may upload before the
// punches that name them: enough for a kiosk racing its own uploads, too
// few to fill the disk.
const MaxUnlinkedPhotos = 100

// PutPhoto stores a punch's photo from a device, idempotent by content:
// it returns duplicate true when a photo with that hash is stored already
// (or was, before the retention rule removed it), by this device — for
// this punch or another of its punches with the very same bytes. The file
// is durable before the row that names it commits. The photo and its
// punch are linked by the hash whichever arrives first; if the punch is
// already stored it must name this photo and come from this device
// (ErrPhotoConflict), and a photo stored by another device is refused.
func (s *Store) PutPhoto(deviceID, sha, punchID string, jpeg []byte, now time.Time) (duplicate bool, err error) {
	switch {
	case !ValidSHA256(sha):
		return false, invalid("photo hash %q is not 64 lowercase hex digits", sha)
	case !ValidPunchID(punchID):
		return false, invalid("punch ID %q is not a lowercase UUID", punchID)
	case !bytes.HasPrefix(jpeg, jpegMagic):
		return false, invalid("the photo is not a JPEG")
	}
	if sum := sha256.Sum256(jpeg); hex.EncodeToString(sum[:]) != sha {
		return false, invalid("unexpected checksum: got %x, want %s; the photo was damaged on the kiosk or on the way, keep it for a person", sum, sha)
	}
	var owner string
	switch err := s.r.QueryRow(`SELECT device_id FROM photos WHERE sha256 = ?`, sha).Scan(&owner); {
	case err == nil && owner != deviceID:
		return false, errorf(ErrPhotoConflict, "backoffice: this photo is stored already for another device")
	case err == nil:
		return true, nil
	case !errors.Is(err, sql.ErrNoRows):
		return false, s.wrap("look up photo "+sha, err)
	}
	path := s.photoPath(sha)
	if err := durable.WriteFile(path, jpeg); err != nil {
		return false, s.wrap("write photo "+sha, err)
	}
	err = s.write(func(tx *sql.Tx) error {
		duplicate = false
		if err := checkDevice(tx, s, deviceID); err != nil {
			return err
		}
		var owner, named string
		err := tx.QueryRow(`SELECT device_id, photo_sha256 FROM punches WHERE id = ?`, punchID).Scan(&owner, &named)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			// The photo came first. Bound what a device may park here
			// for punches it has not sent: a kiosk sends punches first.
			var parked int
			if err := tx.QueryRow(`SELECT count(*) FROM photos ph WHERE ph.device_id = ?
				AND NOT EXISTS (SELECT 1 FROM punches p WHERE p.id = ph.punch_id)`, deviceID).Scan(&parked); err != nil {
				return err
			}
			if parked >= MaxUnlinkedPhotos {
				return errorf(ErrPhotoConflict, "backoffice: %d photos from this device wait for punches it never sent; send the punches first", parked)
			}
		case err != nil:
			return err
		case owner != deviceID:
			return errorf(ErrPhotoConflict, "backoffice: punch %s was sent by another device", punchID)
		case named != sha:
			return errorf(ErrPhotoConflict, "backoffice: punch %s names another photo (%q)", punchID, named)
		}
		res, err := tx.Exec(`INSERT INTO photos (sha256, punch_id, device_id, size, received_at_ns) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (sha256) DO NOTHING`, sha, punchID, deviceID, len(jpeg), now.UnixNano())
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		duplicate = n == 0
		return nil
	})
	if err != nil {
		// Nothing names the file unless another upload of the same photo
		// committed meanwhile.
		var n int
		if qerr := s.r.QueryRow(`SELECT count(*) FROM photos WHERE sha256 = ?`, sha).Scan(&n); qerr == nil && n == 0 {
			os.Remove(path)
		}
		return false, s.wrap("store photo "+sha, err)
	}
	if duplicate {
		// A concurrent upload of the same photo won; if the retention rule
		// removed it meanwhile, the file just written must go too.
		var gone sql.NullInt64
		if err := s.r.QueryRow(`SELECT deleted_at_ns FROM photos WHERE sha256 = ?`, sha).Scan(&gone); err == nil && gone.Valid {
			os.Remove(path)
		}
		return true, nil
	}
	s.log.Debug("photo received", "device_id", deviceID, "punch_id", punchID, "bytes", len(jpeg))
	return false, nil
}

// Photo returns the JPEG with hash sha: ErrNotFound if it never arrived,
// ErrPhotoDeleted if the retention rule removed it.
func (s *Store) Photo(sha string) ([]byte, error) {
	var gone sql.NullInt64
	err := s.r.QueryRow(`SELECT deleted_at_ns FROM photos WHERE sha256 = ?`, sha).Scan(&gone)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, errorf(ErrNotFound, "backoffice: no photo %s", sha)
	case err != nil:
		return nil, s.wrap("read photo "+sha, err)
	case gone.Valid:
		return nil, errorf(ErrPhotoDeleted, "backoffice: photo %s was deleted on %s under the photo retention rule",
			sha, time.Unix(0, gone.Int64).Format(time.DateOnly))
	}
	b, err := os.ReadFile(s.photoPath(sha))
	if err != nil {
		return nil, fmt.Errorf("backoffice: read photo %s: %w; restore the photos folder from a backup", sha, err)
	}
	return b, nil
}

// PurgePhotos deletes the photos received more than the company's photo
// retention days before now (none when retention is 0) and returns how
// many. A purged photo's row stays, marked deleted, so that the timecards
// can say why there is no photo and a kiosk sending it again is told
// "duplicate".
func (s *Store) PurgePhotos(now time.Time) (int, error) {
	c, err := s.Company()
	if err != nil {
		return 0, err
	}
	if c.PhotoRetentionDays == 0 {
		return 0, nil
	}
	cutoff := now.AddDate(0, 0, -c.PhotoRetentionDays)
	rows, err := s.r.Query(`SELECT sha256 FROM photos WHERE deleted_at_ns IS NULL AND received_at_ns < ?`, cutoff.UnixNano())
	if err != nil {
		return 0, s.wrap("purge photos", err)
	}
	var shas []string
	for rows.Next() {
		var sha string
		if err := rows.Scan(&sha); err != nil {
			rows.Close()
			return 0, s.wrap("purge photos", err)
		}
		shas = append(shas, sha)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, s.wrap("purge photos", err)
	}
	// Remove the files first, then mark the rows: a crash in between
	// leaves rows that the next purge marks (removing a missing file is
	// fine), never a file that nothing will remove.
	for _, sha := range shas {
		if err := os.Remove(s.photoPath(sha)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("backoffice: purge photo %s: %w", sha, err)
		}
	}
	if len(shas) > 0 {
		if err := durable.SyncDir(s.photoDir); err != nil {
			return 0, fmt.Errorf("backoffice: purge photos: sync %s: %w", s.photoDir, err)
		}
	}
	err = s.write(func(tx *sql.Tx) error {
		for _, sha := range shas {
			if _, err := tx.Exec(`UPDATE photos SET deleted_at_ns = ? WHERE sha256 = ?`, now.UnixNano(), sha); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, s.wrap("purge photos", err)
	}
	if len(shas) > 0 {
		s.log.Info("photos deleted under the retention rule", "photos", len(shas), "retention_days", c.PhotoRetentionDays)
	}
	return len(shas), nil
}
