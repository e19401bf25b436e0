package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siteclock/siteclock/firmware"
)

// writeRelease writes a signed manifest and its binary as
// `siteclockd release sign` leaves them, and returns their paths.
func writeRelease(t *testing.T, key ed25519.PrivateKey, version, arch string, bin []byte) (string, string) {
	t.Helper()
	sum := sha256.Sum256(bin)
	env, err := firmware.Sign(firmware.Manifest{Product: firmware.Product, Version: version, Arch: arch, Size: int64(len(bin)),
		SHA256: hex.EncodeToString(sum[:]), Created: time.Now()}, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	manifest, binary := filepath.Join(dir, "siteclockd.manifest"), filepath.Join(dir, "siteclockd")
	if err := os.WriteFile(manifest, env, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(binary, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return manifest, binary
}

func TestReleaseCommands(t *testing.T) {
	data := t.TempDir()
	if _, err := runCmd(t, "company", "create", "-data", data, "-name", "Acme Framing"); err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	bin := []byte(strings.Repeat("siteclockd 1.3.0 for arm64 ", 1000))
	manifest, binary := writeRelease(t, key, "1.3.0", "arm64", bin)

	out, err := runCmd(t, "release", "list", "-data", data)
	if err != nil || !strings.Contains(out, "no releases") || !strings.Contains(out, "all devices: no version chosen") {
		t.Fatalf("empty list: %q %v", out, err)
	}
	// Signed by another key than the one given: refused.
	if _, err := runCmd(t, "release", "add", "-data", data, "-release-keys", firmware.PublicKeyText(otherPub), manifest, binary); err == nil ||
		!strings.Contains(err.Error(), "not signed by a release key this server trusts") {
		t.Errorf("another key: %v", err)
	}
	if _, err := runCmd(t, "release", "add", "-data", data, "-release-keys", "not-a-key", manifest, binary); err == nil || !strings.Contains(err.Error(), "44 characters") {
		t.Errorf("a bad key: %v", err)
	}
	out, err = runCmd(t, "release", "add", "-data", data, "-by", "ada", "-release-keys", firmware.PublicKeyText(otherPub)+","+firmware.PublicKeyText(pub), manifest, binary)
	if err != nil || !strings.Contains(out, "added siteclockd 1.3.0 (arm64)") {
		t.Fatalf("add: %q %v", out, err)
	}
	if out, err := runCmd(t, "release", "add", "-data", data, manifest, binary); err != nil || !strings.Contains(out, "uploaded already, the very same") {
		t.Errorf("again: %q %v", out, err)
	}
	// A binary that is not the manifest's.
	os.WriteFile(binary, append(bin, '!'), 0o755)
	if _, err := runCmd(t, "release", "add", "-data", data, manifest, binary); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("wrong binary: %v", err)
	}
	// Another 1.3.0 for arm64: refused; for armv7: added.
	m2, b2 := writeRelease(t, otherKey, "1.3.0", "arm64", []byte("another build"))
	if _, err := runCmd(t, "release", "add", "-data", data, m2, b2); err == nil || !strings.Contains(err.Error(), "never replaced") {
		t.Errorf("another 1.3.0: %v", err)
	}
	m3, b3 := writeRelease(t, key, "1.3.0", "armv7", []byte("armv7 build"))
	if _, err := runCmd(t, "release", "add", "-data", data, m3, b3); err != nil {
		t.Fatal(err)
	}
	if _, err := runCmd(t, "release", "add", "-data", data, manifest); err == nil {
		t.Error("add without the binary succeeded")
	}

	if _, err := runCmd(t, "release", "target", "-data", data, "2.0.0"); err == nil || !strings.Contains(err.Error(), "no release of version") {
		t.Errorf("target never uploaded: %v", err)
	}
	if out, err := runCmd(t, "release", "target", "-data", data, "-by", "ada", "1.3.0"); err != nil || !strings.Contains(out, "all devices should run 1.3.0") {
		t.Fatalf("target: %q %v", out, err)
	}
	out, err = runCmd(t, "release", "list", "-data", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1.3.0    arm64", "1.3.0    armv7", hex.EncodeToString(sha256Of(bin)), "all devices: 1.3.0 (set by ada"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if out, err := runCmd(t, "release", "target", "-data", data, "-clear"); err != nil || !strings.Contains(out, "no version chosen for all devices") {
		t.Errorf("clear: %q %v", out, err)
	}
	if _, err := runCmd(t, "release", "target", "-data", data, "-device", "nope", "1.3.0"); err == nil {
		t.Error("target for an unknown device succeeded")
	}
	// serve checks -release-keys before it starts.
	if _, err := runCmd(t, "serve", "-data", data, "-release-keys", "nope"); err == nil || !strings.Contains(err.Error(), "-release-keys") {
		t.Errorf("serve with a bad key: %v", err)
	}
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
