package main

import (
	"bytes"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const hwcheckConfig = `
[input]
driver = "stdin"
[display]
driver = "text"
[camera]
driver = "sim"
`

// Every key arrives and the camera takes a photo: the check passes, says
// what it did per part, and leaves the photo where it says, readable only
// by its owner.
func TestHWCheckPasses(t *testing.T) {
	state := t.TempDir()
	var out, errb bytes.Buffer
	// Keys in any order, and a stray IN among them.
	err := run([]string{"hwcheck", "-config", writeConfig(t, hwcheckConfig), "-state", state}, strings.NewReader("#*98i76543210"), &out, &errb)
	if err != nil {
		t.Fatalf("hwcheck: %v\n%s\n%s", err, out.String(), errb.String())
	}
	report := out.String()
	for _, want := range []string{
		"keys        PASS  12 of 12 keys arrived; unexpected: IN",
		"camera      PASS  sim: 640x480 photo",
		"display     LOOK  text: test screen shown",
		"status LED  -     not configured",
		"result: PASS",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	photo := filepath.Join(state, "hwcheck.jpg")
	f, err := os.Open(photo)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := jpeg.Decode(f); err != nil {
		t.Errorf("saved photo: %v", err)
	}
	if fi, _ := f.Stat(); fi.Mode().Perm() != 0o600 {
		t.Errorf("photo mode %v, want 0600", fi.Mode().Perm())
	}
	if !strings.Contains(errb.String(), "press 0 (1 of 12)") || !strings.Contains(errb.String(), "Press 0") {
		t.Errorf("the prompts never asked for key 0 (on the console and the display):\n%s", errb.String())
	}
}

// Keys that never come, and a camera that is not there, fail the check and
// say which.
func TestHWCheckFails(t *testing.T) {
	var out, errb bytes.Buffer
	cfg := writeConfig(t, hwcheckConfig+"sim_fault = \"unplugged\"\n")
	err := run([]string{"hwcheck", "-config", cfg, "-state", t.TempDir(), "-key-timeout", "1s"}, strings.NewReader("01234678*#"), &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "keys, camera failed") {
		t.Fatalf("hwcheck = %v, want keys and camera failed\n%s", err, out.String())
	}
	report := out.String()
	for _, want := range []string{
		"keys        FAIL  10 of 12 keys arrived; never arrived: 5 9 (check the wiring",
		"camera      FAIL  camera: unplugged",
		"result: FAIL (keys, camera)",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
}
