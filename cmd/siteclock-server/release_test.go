package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siteclock/siteclock/firmware"
	"github.com/siteclock/siteclock/protocol"
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

// A release added and chosen from the command line while the server runs
// on the same data folder is offered to a kiosk within seconds, and the
// kiosk downloads it.
func TestReleaseWhileServing(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, "serve", "-data", data, "-addr", "127.0.0.1:0", "-company", "Acme Framing")
	m := codeRE.FindStringSubmatch(srv.stdout.String())
	if m == nil {
		t.Fatalf("no setup code printed:\n%s", srv.stdout)
	}
	var er protocol.EnrollResponse
	if st := postJSON(t, http.DefaultClient, srv.url+protocol.PathEnroll, "", enrollBody(m[1]), &er); st != http.StatusOK {
		t.Fatalf("enroll: %d", st)
	}
	checkIn := func() *protocol.UpdateOffer {
		var resp protocol.CheckInResponse
		if st := postJSON(t, http.DefaultClient, srv.url+protocol.PathCheckIn, er.Token, protocol.CheckIn{Version: "1.2.0", Arch: "arm64"}, &resp); st != http.StatusOK {
			t.Fatalf("check-in: %d", st)
		}
		return resp.Update
	}
	if o := checkIn(); o != nil {
		t.Fatalf("offered before any release: %+v", o)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	bin := []byte(strings.Repeat("siteclockd 1.3.0 ", 5000))
	manifest, binary := writeRelease(t, key, "1.3.0", "arm64", bin)
	if _, err := runCmd(t, "release", "add", "-data", data, manifest, binary); err != nil {
		t.Fatal(err)
	}
	if _, err := runCmd(t, "release", "target", "-data", data, "1.3.0"); err != nil {
		t.Fatal(err)
	}
	var offer *protocol.UpdateOffer
	for deadline := time.Now().Add(15 * time.Second); offer == nil && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		offer = checkIn()
	}
	if offer == nil {
		t.Fatal("the server never offered the release added from the command line")
	}
	req, _ := http.NewRequest("GET", srv.url+offer.Path, nil)
	req.Header.Set("Authorization", "Bearer "+er.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, bin) {
		t.Errorf("download: %d, %d bytes", resp.StatusCode, len(got))
	}
}
