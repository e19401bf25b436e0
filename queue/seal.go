package queue

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/siteclock/siteclock/durable"
	"github.com/siteclock/siteclock/photoseal"
)

// photoKeyName is the company's public photo key in the state folder, as
// the back office sent it (or as copied there from the office's data
// folder, for a kiosk provisioned by roster file).
const photoKeyName = "photo-key.pub"

// Photos at rest. Once the queue knows the company's public photo key,
// every photo is sealed to it (package photoseal) before it touches the
// disk, and photos stored before the key was known are sealed when it
// arrives; the kiosk itself can never open them again. The screen's
// preview comes from the camera's bytes in memory, never from these files.
//
// A kiosk with no back office has no key: its photos are stored as plain
// JPEGs, and the daemon says so in its log at start. Sealing them later
// replaces each file whole, but the flash blocks that held the plain
// picture are freed, not wiped (wear levelling keeps software from
// wiping them), so a kiosk should get its key before it takes photos.

// loadPhotoKey reads the key file, if any. A damaged file is reported and
// ignored rather than stopping the kiosk: punches matter more, and the
// next check-in brings the key again.
func (db *DB) loadPhotoKey() {
	path := filepath.Join(db.dir, photoKeyName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var k photoseal.PublicKey
	if err == nil {
		k, err = photoseal.ParsePublicKey(b)
	}
	if err != nil {
		db.log.Error("the company's photo key file is unusable; photos are stored unsealed until the back office sends the key again at the next check-in (or the office's photo-key.pub is copied over it)",
			"path", path, "err", err)
		return
	}
	db.photoKey = &k
}

// PhotoKey returns the company's public photo key, and false when the
// queue has none (photos are then stored unsealed).
func (db *DB) PhotoKey() (photoseal.PublicKey, bool) {
	db.photoMu.Lock()
	defer db.photoMu.Unlock()
	if db.photoKey == nil {
		return photoseal.PublicKey{}, false
	}
	return *db.photoKey, true
}

// SetPhotoKey makes k the key photos are sealed to: it is kept in the
// state folder (photo-key.pub) for the next start, every photo committed
// from now on is sealed to it, and the photos still stored unsealed are
// sealed now. Setting the key the queue already has does nothing.
//
// A different key replaces the old one for new photos; photos sealed to
// the old key stay as they are (the kiosk cannot open them to seal them
// again), so the office needs the old private key for them. The office
// does not rotate its key yet.
func (db *DB) SetPhotoKey(k photoseal.PublicKey) error {
	if db.readOnly {
		return errors.New("queue: opened read-only; only the running siteclockd stores the photo key")
	}
	if _, err := photoseal.NewPublicKey(k[:]); err != nil {
		return fmt.Errorf("queue: store photo key: %w", err)
	}
	db.photoMu.Lock()
	old := db.photoKey
	if old != nil && *old == k {
		db.photoMu.Unlock()
		return nil
	}
	text, _ := k.MarshalText()
	if err := durable.WriteFile(filepath.Join(db.dir, photoKeyName), text); err != nil {
		db.photoMu.Unlock()
		return db.wrap("store photo key", err)
	}
	db.photoKey = &k
	db.photoMu.Unlock()
	if old != nil {
		db.log.Warn("the company's photo key changed; photos sealed to the old key stay sealed to it",
			"old_key", old.Fingerprint(), "key", k.Fingerprint())
	} else {
		db.log.Info("the company's photo key is known; photos are sealed from now on", "key", k.Fingerprint())
	}
	_, err := db.sealPhotos()
	return err
}

// sealPhotos seals every photo file still stored unsealed, one at a time
// (a Commit waits for one file at most), and returns how many it sealed.
func (db *DB) sealPhotos() (int, error) {
	if _, ok := db.PhotoKey(); !ok {
		return 0, nil
	}
	entries, err := os.ReadDir(db.photoDir)
	if err != nil {
		return 0, fmt.Errorf("queue: seal stored photos: %w; check the permissions of %s", err, db.photoDir)
	}
	n := 0
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		sealed, err := db.sealPhoto(filepath.Join(db.photoDir, e.Name()))
		if err != nil {
			return n, err
		}
		if sealed {
			n++
		}
	}
	if n > 0 {
		db.log.Info("sealed photos stored before the photo key was known", "photos", n)
	}
	return n, nil
}

// sealPhoto seals the file at path in place unless it is sealed already or
// gone (acknowledged and removed meanwhile: photoMu keeps this from
// writing it back).
func (db *DB) sealPhoto(path string) (bool, error) {
	db.photoMu.Lock()
	defer db.photoMu.Unlock()
	head, err := readHead(path, len(photoseal.Magic))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("queue: seal photo %s: %w", filepath.Base(path), err)
	}
	if photoseal.IsSealed(head) {
		return false, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("queue: seal photo %s: %w", filepath.Base(path), err)
	}
	sealed, err := photoseal.Seal(b, *db.photoKey, nil)
	if err != nil {
		return false, fmt.Errorf("queue: seal photo %s: %w", filepath.Base(path), err)
	}
	if err := durable.ReplaceFile(path, sealed); err != nil {
		return false, db.wrap("seal photo "+filepath.Base(path), err)
	}
	return true, nil
}

// writePhoto stores a new photo at path, sealed when the key is known, so
// that the plain JPEG never reaches the disk.
func (db *DB) writePhoto(path string, jpeg []byte) error {
	db.photoMu.Lock()
	defer db.photoMu.Unlock()
	data := jpeg
	if db.photoKey != nil {
		var err error
		if data, err = photoseal.Seal(jpeg, *db.photoKey, nil); err != nil {
			return err
		}
	}
	return durable.WriteFile(path, data)
}

// PhotoSHA256 returns the hex SHA-256 of the JPEG stored under name (a
// Punch's Photo): the protocol's name for the photo. For a sealed photo it
// is the hash written when it was sealed, as the kiosk cannot open it; for
// an unsealed one, the file's hash. It fails with ErrNotFound when the file
// is gone.
func (db *DB) PhotoSHA256(name string) (string, error) {
	path, err := db.photoPath(name)
	if err != nil {
		return "", err
	}
	head, err := readHead(path, photoseal.Overhead)
	if err != nil {
		return "", photoReadError(name, err)
	}
	if photoseal.IsSealed(head) {
		sum, err := photoseal.Hash(head)
		if err != nil {
			return "", fmt.Errorf("queue: photo %s: %w (cut short: the storage may be failing)", name, err)
		}
		return hex.EncodeToString(sum[:]), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", photoReadError(name, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", photoReadError(name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// photoPath is the path of the photo file name, refusing anything but a
// plain file name in the photos folder.
func (db *DB) photoPath(name string) (string, error) {
	if name == "" || name != filepath.Base(name) || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return "", fmt.Errorf("queue: read photo %q: not a photo file name", name)
	}
	return filepath.Join(db.photoDir, name), nil
}

func photoReadError(name string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return errorf(ErrNotFound, "queue: photo %s not found (removed after upload, or never stored): %w", name, err)
	}
	return fmt.Errorf("queue: read photo %s: %w", name, err)
}

// readHead returns the first n bytes of the file at path, fewer if it is
// shorter.
func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	m, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:m], nil
}
