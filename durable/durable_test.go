package durable

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFile(t *testing.T) {
	for name, write := range map[string]func(string, []byte) error{"WriteFile": WriteFile, "ReplaceFile": ReplaceFile} {
		t.Run(name, func(t *testing.T) { testWrite(t, write) })
	}
}

func testWrite(t *testing.T, write func(string, []byte) error) {
	dir := t.TempDir()
	path := filepath.Join(dir, "photo.jpg")
	for _, data := range [][]byte{[]byte("first"), bytes.Repeat([]byte("second "), 10000)} {
		if err := write(path, data); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes, %v; want %d", len(got), err, len(data))
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), TempPrefix) {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestWriteFileMissingFolder(t *testing.T) {
	if err := WriteFile(filepath.Join(t.TempDir(), "no", "such", "x"), []byte("x")); err == nil {
		t.Error("write into a missing folder succeeded")
	}
	if err := ReplaceFile(filepath.Join(t.TempDir(), "no", "such", "x"), []byte("x")); err == nil {
		t.Error("replace into a missing folder succeeded")
	}
}

func TestSyncDirMissing(t *testing.T) {
	if err := SyncDir(filepath.Join(t.TempDir(), "gone")); err == nil {
		t.Error("SyncDir of a missing folder succeeded")
	}
}

func TestRemoveTemp(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{TempPrefix + "1", TempPrefix + "2", "keep.jpg"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n, err := RemoveTemp(dir)
	if err != nil || n != 2 {
		t.Fatalf("RemoveTemp = %d, %v; want 2", n, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "keep.jpg" {
		t.Errorf("left %v, want only keep.jpg", entries)
	}
}
