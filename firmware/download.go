package firmware

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// A Source fetches a release's binary: the office's device API. Fetch
// asks for the bytes from offset on (an HTTP Range request) and returns
// the body and where it starts: offset when the server honoured the
// range, 0 when it sent the whole file.
type Source interface {
	Fetch(ctx context.Context, path string, offset int64) (body io.ReadCloser, start int64, err error)
}

// A Refusal is an update the kiosk will not install: its signature, size
// or checksum is wrong, it is not newer, or it is for another machine.
// It is reported to the office and not retried.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return "firmware: refused: " + r.Reason }

func refuse(format string, args ...any) error { return &Refusal{Reason: fmt.Sprintf(format, args...)} }

// IsRefusal reports whether err is a Refusal.
func IsRefusal(err error) bool {
	var r *Refusal
	return errors.As(err, &r)
}

// Digest reads r to its end and returns its size and SHA-256 (lowercase
// hex), as a manifest names a binary.
func Digest(r io.Reader) (size int64, sha string, err error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return n, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// partPath is where m's binary is downloaded to.
func (s *Store) partPath(m Manifest) string {
	return s.path("download", m.SHA256+".part")
}

// Download fetches m's binary from src at path into the download folder,
// going on from what an earlier, cut download left, and checks its size
// and SHA-256 against the manifest. It returns the path of the verified
// file. progress, if set, is told the bytes held so far. A cut leaves
// the part downloaded for the next try; a binary that is not the one the
// manifest names is removed and refused.
func (s *Store) Download(ctx context.Context, m Manifest, src Source, path string, progress func(done int64)) (string, error) {
	part := s.partPath(m)
	s.dropOtherDownloads(part)
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("firmware: download %s: %w", m.Name(), err)
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return "", fmt.Errorf("firmware: download %s: %w", m.Name(), err)
	}
	if have > m.Size {
		have = 0
	}
	if have < m.Size {
		if have, err = fetch(ctx, f, m, src, path, have, progress); err != nil {
			return "", err
		}
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("firmware: download %s: %w", m.Name(), err)
	}
	crash("download-done")
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("firmware: download %s: %w", m.Name(), err)
	}
	n, got, err := Digest(f)
	if err != nil {
		return "", fmt.Errorf("firmware: check %s: %w", m.Name(), err)
	}
	if n != m.Size {
		os.Remove(part)
		return "", refuse("%s: the download holds %d bytes, the manifest says %d", m.Name(), n, m.Size)
	}
	if got != m.SHA256 {
		os.Remove(part)
		return "", refuse("%s: unexpected checksum: got %s, want %s (the binary was altered or damaged; upload the release again)", m.Name(), got, m.SHA256)
	}
	return part, nil
}

// fetch appends the binary's bytes from have on to f and returns how
// many f holds.
func fetch(ctx context.Context, f *os.File, m Manifest, src Source, path string, have int64, progress func(int64)) (int64, error) {
	body, start, err := src.Fetch(ctx, path, have)
	if err != nil {
		return have, fmt.Errorf("firmware: download %s: %w", m.Name(), err)
	}
	defer body.Close()
	if start != have {
		if start != 0 {
			return have, fmt.Errorf("firmware: download %s: asked for bytes from %d, the server sent from %d", m.Name(), have, start)
		}
		// The server sent the whole file: start again.
		if err := f.Truncate(0); err != nil {
			return have, fmt.Errorf("firmware: download %s: %w", m.Name(), err)
		}
		have = 0
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return have, fmt.Errorf("firmware: download %s: %w", m.Name(), err)
	}
	buf := make([]byte, 64<<10)
	// One byte more than the manifest allows, to catch a longer binary.
	r := io.LimitReader(body, m.Size-have+1)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if have+int64(n) > m.Size {
				f.Truncate(0)
				return 0, refuse("%s: the server sent more than the manifest's %d bytes", m.Name(), m.Size)
			}
			if _, err := f.Write(buf[:n]); err != nil {
				return have, fmt.Errorf("firmware: download %s: write: %w (is the disk full?)", m.Name(), err)
			}
			have += int64(n)
			if progress != nil {
				progress(have)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			f.Sync()
			return have, fmt.Errorf("firmware: download %s cut at %d of %d bytes (it resumes from there): %w", m.Name(), have, m.Size, rerr)
		}
	}
	if have < m.Size {
		f.Sync()
		return have, fmt.Errorf("firmware: download %s cut at %d of %d bytes (it resumes from there)", m.Name(), have, m.Size)
	}
	return have, nil
}

// dropOtherDownloads removes parts of releases other than the one being
// fetched: only the newest offer matters.
func (s *Store) dropOtherDownloads(keep string) {
	ents, _ := os.ReadDir(s.path("download"))
	for _, e := range ents {
		if p := s.path("download", e.Name()); p != keep {
			os.Remove(p)
		}
	}
}
