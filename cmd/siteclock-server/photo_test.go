package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/siteclock/siteclock/photoseal"
)

// A photo a kiosk kept (refused by the office, say) is copied off its SD
// card and opened with the company's key.
func TestPhotoOpen(t *testing.T) {
	data := t.TempDir()
	if _, err := runCmd(t, "company", "create", "-data", data, "-name", "Acme Framing"); err != nil {
		t.Fatal(err)
	}
	// The key is made with the company; its public half is what kiosks get.
	for _, name := range []string{"photo-key", "photo-key.pub"} {
		if fi, err := os.Stat(filepath.Join(data, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v", name, err)
		}
	}
	text, _ := os.ReadFile(filepath.Join(data, "photo-key.pub"))
	pub, err := photoseal.ParsePublicKey(text)
	if err != nil {
		t.Fatal(err)
	}
	jpeg := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte("face"), 100)...)
	sealed, err := photoseal.Seal(jpeg, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	kiosk := t.TempDir()
	in := filepath.Join(kiosk, "3b241101-e2bb-4255-8caf-4136c566a962.jpg")
	os.WriteFile(in, sealed, 0o600)
	out := t.TempDir()
	stdout, err := runCmd(t, "photo", "open", "-data", data, "-out", out, in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(out, "3b241101-e2bb-4255-8caf-4136c566a962.jpg"))
	if err != nil || !bytes.Equal(got, jpeg) || !strings.Contains(stdout, "->") {
		t.Errorf("opened photo: %d bytes, %v; printed %q", len(got), err, stdout)
	}
	// Never over an existing file (in the kiosk's folder: the original).
	if _, err := runCmd(t, "photo", "open", "-data", data, "-out", kiosk, in); err == nil || !strings.Contains(err.Error(), "-out") {
		t.Errorf("opening over the sealed original: %v", err)
	}
	if b, _ := os.ReadFile(in); !bytes.Equal(b, sealed) {
		t.Error("the sealed original was changed")
	}
	// Altered: refused with the reason.
	sealed[len(sealed)-5] ^= 1
	os.WriteFile(in, sealed, 0o600)
	if _, err := runCmd(t, "photo", "open", "-data", data, "-out", t.TempDir(), in); err == nil || !strings.Contains(err.Error(), "cannot be opened") {
		t.Errorf("altered photo: %v", err)
	}
	if _, err := runCmd(t, "photo", "open", "-data", data); err == nil {
		t.Error("photo open without files succeeded")
	}
}
