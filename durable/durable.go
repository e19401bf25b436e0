// Package durable writes files so that, once a call returns, they survive a
// crash or a power cut: data fsync'd, names fsync'd in their folder.
package durable

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// TempPrefix starts the names of files WriteFile has not finished; a crash
// may leave them behind, and their owner removes them at start-up.
const TempPrefix = ".tmp-"

// SyncDir fsyncs a folder so that names created or removed in it are
// durable; given a file, it fsyncs the file.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// WriteFile stores data at path (mode 0600): a temporary file in the same
// folder is written, fsync'd and closed, renamed over path, and the folder
// fsync'd. A crash at any point leaves either no file at path or all of it.
func WriteFile(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), TempPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if err == nil {
			return
		}
		f.Close()
		if renamed {
			os.Remove(path)
		} else {
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	renamed = true
	return SyncDir(filepath.Dir(path))
}

// ReplaceFile puts data at path (mode 0600) in place of what is there,
// atomically, as WriteFile does; unlike WriteFile it never removes path on
// a late failure: once renamed, path holds data whole, and it may be the
// only copy of what it holds (a sealed photo, an updater's state).
func ReplaceFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), TempPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// RemoveTemp deletes the unfinished files (TempPrefix) a crash left in dir
// during WriteFile, and returns how many it removed.
func RemoveTemp(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), TempPrefix) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, err
		}
		removed++
	}
	return removed, nil
}
