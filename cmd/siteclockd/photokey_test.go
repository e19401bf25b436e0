package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/siteclock/siteclock/photoseal"
)

// A kiosk provisioned by roster file has no back office and so no photo
// key: it says so at every start and in its status, and seals once the
// office's photo-key.pub is copied into its state folder.
func TestPhotoKeyStatusAndWarning(t *testing.T) {
	state := t.TempDir()
	f := filepath.Join(t.TempDir(), "roster.json")
	os.WriteFile(f, []byte(fastRoster), 0o600)
	var out, errb bytes.Buffer
	if err := run([]string{"roster", "import", "-state", state, f}, nil, &out, &errb); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	start := func() string {
		t.Helper()
		var out, errb bytes.Buffer
		if err := run([]string{"-headless", "-state", state}, strings.NewReader(""), &out, &errb); err != nil {
			t.Fatalf("%v: %s", err, errb.String())
		}
		return errb.String()
	}
	status := func() string {
		t.Helper()
		var out, errb bytes.Buffer
		if err := run([]string{"status", "-state", state}, nil, &out, &errb); err != nil {
			t.Fatalf("%v: %s", err, errb.String())
		}
		return out.String()
	}
	if log := start(); !strings.Contains(log, "no company photo key: photos are stored unsealed") {
		t.Errorf("no warning at start without a photo key:\n%s", log)
	}
	if st := status(); !strings.Contains(st, "stored unsealed (no company photo key yet)") {
		t.Errorf("status without a key:\n%s", st)
	}

	key, err := photoseal.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := key.Public().MarshalText()
	os.WriteFile(filepath.Join(state, "photo-key.pub"), text, 0o600)
	if log := start(); strings.Contains(log, "no company photo key") {
		t.Errorf("warned although the key is there:\n%s", log)
	}
	if st := status(); !strings.Contains(st, "sealed to the company's photo key "+key.Public().Fingerprint()) {
		t.Errorf("status with the key:\n%s", st)
	}
}
