package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLockoutSurvivesARestart: five wrong PINs lock the keypad, and a
// daemon started again (the plug pulled) still shows it locked and takes
// no punch; a damaged lockout file is said and does not stop the kiosk.
func TestLockoutSurvivesARestart(t *testing.T) {
	state := t.TempDir()
	importRoster(t, state, fastRoster)
	out, err := cmdRun(t, strings.Repeat("9999#", 5), "-headless", "-state", state, "-camera", "none")
	if err != nil || !strings.Contains(out, "Keypad locked") {
		t.Fatalf("five wrong PINs: %v\n%s", err, out)
	}
	out, err = cmdRun(t, "3333#o", "-headless", "-state", state, "-camera", "none")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Keypad locked") || strings.Contains(out, "Clocked OUT") {
		t.Errorf("after a restart the keypad is not locked:\n%s", out)
	}
	if list, _ := cmdRun(t, "", "punches", "-all", "-state", state); strings.Count(strings.TrimSpace(list), "\n") != 0 {
		t.Errorf("a punch was taken while locked:\n%s", list)
	}

	os.WriteFile(filepath.Join(state, lockoutFile), []byte("{"), 0o600)
	out, err = cmdRun(t, "3333#o", "-headless", "-state", state, "-camera", "none")
	if err != nil || !strings.Contains(out, "Clocked OUT") {
		t.Errorf("with a damaged lockout file: %v\n%s", err, out)
	}
}
