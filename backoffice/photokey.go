package backoffice

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/siteclock/siteclock/durable"
	"github.com/siteclock/siteclock/photoseal"
)

// The company's photo key. Kiosks seal every photo to its public half (sent
// at check-in) the moment they store it, so a stolen kiosk's SD card holds
// no viewable faces; the office opens them with the private half, kept in
// the data folder beside the database, and stores them as plain JPEGs (the
// office is trusted). Back up photo-key with office.db: without it, photos
// still on the kiosks can never be opened.
//
// photo-key.pub, the public half, is there for two reasons: it is what to
// copy into the state folder of a kiosk provisioned by roster file, and it
// shows that a key was made, so that a photo-key missing beside it (a
// restore that forgot it) is an error rather than a new key made silently.
const (
	photoKeyName    = "photo-key"
	photoKeyPubName = "photo-key.pub"
)

// ErrPhotoKey means the company's photo key file is missing or damaged;
// the error says what to do.
var ErrPhotoKey = errors.New("backoffice: photo key unusable")

// loadPhotoKey reads the data folder's photo key, making one at the first
// start (a new data folder, or one from before photo keys).
func (s *Store) loadPhotoKey() error {
	path := filepath.Join(s.dir, photoKeyName)
	pubPath := filepath.Join(s.dir, photoKeyPubName)
	text, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if _, perr := os.Stat(pubPath); perr == nil {
			return errorf(ErrPhotoKey, "backoffice: the company's photo key %s is missing, but %s shows one was made: "+
				"restore %s from your backup of the data folder (kiosks seal photos to it, and the photos they still hold cannot be opened without it); "+
				"if it is lost for good, delete %s and start again: a new key is made, kiosks take it at their next check-in, "+
				"and photos sealed to the lost key are refused and stay on the kiosks", path, photoKeyPubName, photoKeyName, pubPath)
		}
		k, err := s.newPhotoKey(path)
		if err != nil {
			return err
		}
		s.photoKey = k
	case err != nil:
		return errorf(ErrPhotoKey, "backoffice: read the company's photo key: %v; check that the server may read %s", err, path)
	default:
		k, err := photoseal.ParsePrivateKey(text)
		if err != nil {
			return errorf(ErrPhotoKey, "backoffice: the company's photo key %s is damaged (%v): restore it from your backup of the data folder "+
				"(kiosks seal photos to it); if it is lost for good, move it and %s aside and start again: a new key is made, "+
				"and photos sealed to the lost key are refused and stay on the kiosks", path, err, photoKeyPubName)
		}
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			s.log.Warn("the company's photo key can be read by other users; make it readable by the server only (chmod 600)", "path", path)
		}
		s.photoKey = k
	}
	// The public half is derived: write it whenever it is not right.
	want, _ := s.photoKey.Public().MarshalText()
	if got, err := os.ReadFile(pubPath); err != nil || string(got) != string(want) {
		if err := durable.WriteFile(pubPath, want); err != nil {
			return s.wrap("write "+photoKeyPubName, err)
		}
	}
	return nil
}

// newPhotoKey makes the company's photo key and stores it at path, unless
// another process (the command line beside the server) made one first:
// then that one is read and used, so that both hold the same key.
func (s *Store) newPhotoKey(path string) (*photoseal.PrivateKey, error) {
	k, err := photoseal.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("backoffice: make the company's photo key: %w", err)
	}
	text, _ := k.MarshalText()
	f, err := os.CreateTemp(s.dir, durable.TempPrefix+"*")
	if err != nil {
		return nil, s.wrap("make the company's photo key", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, s.wrap("make the company's photo key", err)
	}
	// A link, unlike a rename, never replaces a key that is there.
	if err := os.Link(tmp, path); errors.Is(err, os.ErrExist) {
		text, err := os.ReadFile(path)
		if err != nil {
			return nil, s.wrap("read the company's photo key", err)
		}
		if k, err = photoseal.ParsePrivateKey(text); err != nil {
			return nil, errorf(ErrPhotoKey, "backoffice: the photo key %s another process just made is unusable (%v); stop every siteclock-server on this data folder, delete it and start again", path, err)
		}
		return k, nil
	} else if err != nil {
		return nil, s.wrap("store the company's photo key", err)
	}
	if err := durable.SyncDir(s.dir); err != nil {
		return nil, s.wrap("store the company's photo key", err)
	}
	if n, _ := s.countDevices(); n > 0 {
		s.log.Warn("made a new photo key although kiosks are enrolled; photos they sealed to an earlier key (if this data folder lost one) cannot be opened",
			"path", path, "key", k.Public().Fingerprint(), "devices", n)
	} else {
		s.log.Info("made the company's photo key; back it up with the database", "path", path, "key", k.Public().Fingerprint())
	}
	return k, nil
}

func (s *Store) countDevices() (int, error) {
	var n int
	err := s.r.QueryRow(`SELECT count(*) FROM devices`).Scan(&n)
	return n, err
}

// PhotoKey returns the company's public photo key, which kiosks seal
// their photos to.
func (s *Store) PhotoKey() photoseal.PublicKey { return s.photoKey.Public() }

// OpenSealedPhoto returns the JPEG inside a photo a kiosk sealed to the
// company's key. One that cannot be opened is refused (ErrInvalid) with the
// reason: it is not a sealed photo, it was altered on the kiosk's storage or
// on the way, or it was sealed to another key.
func (s *Store) OpenSealedPhoto(sealed []byte) ([]byte, error) {
	jpeg, err := s.photoKey.Open(sealed)
	switch {
	case err == nil:
		return jpeg, nil
	case errors.Is(err, photoseal.ErrNotSealed):
		return nil, invalid("the photo is not a sealed photo (it does not start with %q, or is cut short)", strings.TrimSpace(photoseal.Magic))
	case errors.Is(err, photoseal.ErrCannotOpen):
		return nil, invalid("the sealed photo cannot be opened: it was altered on the kiosk's storage or on the way, or sealed to another company's photo key; keep it for a person")
	case errors.Is(err, photoseal.ErrHashMismatch):
		return nil, invalid("the sealed photo does not match the hash written on it: it was altered on the kiosk's storage; keep it for a person")
	}
	return nil, invalid("the sealed photo cannot be opened: %v", err)
}

// PutSealedPhoto opens a photo a kiosk sealed to the company's key
// (OpenSealedPhoto) and stores the JPEG inside as PutPhoto does, after the
// same checks: sha is the JPEG's hash.
func (s *Store) PutSealedPhoto(deviceID, sha, punchID string, sealed []byte, now time.Time) (duplicate bool, err error) {
	jpeg, err := s.OpenSealedPhoto(sealed)
	if err != nil {
		return false, err
	}
	return s.PutPhoto(deviceID, sha, punchID, jpeg, now)
}
