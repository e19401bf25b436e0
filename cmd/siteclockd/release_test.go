package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/siteclock/siteclock/firmware"
)

// TestReleaseCommands: keygen, sign and verify in-process on a real build:
// verify passes for what sign wrote and refuses an altered binary and
// another key; keygen never overwrites a key.
func TestReleaseCommands(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "siteclockd")
	b, err := os.ReadFile(siteclockdVersion(t, "2.0.0", ""))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(bin, b, 0o755)
	key := filepath.Join(dir, "release.key")
	call := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(args, strings.NewReader(""), &out, &errb)
		return out.String() + errb.String(), err
	}
	out, err := call("release", "keygen", "-out", key)
	if err != nil {
		t.Fatal(err)
	}
	pub := regexp.MustCompile(`release_keys = \["([^"]+)"\]`).FindStringSubmatch(out)
	if pub == nil {
		t.Fatalf("keygen printed %q", out)
	}
	if _, err := call("release", "keygen", "-out", key); err == nil {
		t.Error("keygen overwrote the key")
	}
	if out, err := call("release", "sign", "-key", key, bin); err != nil || !strings.Contains(out, "signed siteclockd 2.0.0 ("+firmware.Arch()+")") {
		t.Fatalf("sign: %v\n%s", err, out)
	}
	if out, err := call("release", "verify", "-pub", pub[1], bin); err != nil || !strings.HasPrefix(out, "ok: siteclockd 2.0.0") {
		t.Errorf("verify: %v\n%s", err, out)
	}
	other, _ := firmware.GenerateKey(filepath.Join(dir, "other.key"))
	if _, err := call("release", "verify", "-pub", other, bin); err == nil || !strings.Contains(err.Error(), "signature does not verify") {
		t.Errorf("verify with another key: %v", err)
	}
	b[len(b)/2] ^= 1
	os.WriteFile(bin, b, 0o755)
	if _, err := call("release", "verify", "-pub", pub[1], bin); err == nil || !strings.Contains(err.Error(), "not the binary the manifest names") {
		t.Errorf("verify of an altered binary: %v", err)
	}
}
