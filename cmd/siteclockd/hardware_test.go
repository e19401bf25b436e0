package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/queue"
)

// A kiosk configured for a V4L2 camera that is not plugged in still
// punches: the punch is saved with "no camera" as the reason, and the
// screen says what to do.
func TestV4L2CameraMissing(t *testing.T) {
	state := t.TempDir()
	var out, errb bytes.Buffer
	if err := run([]string{"roster", "import", "-state", state, filepath.Join("..", "..", "demo", "roster.json")}, nil, &out, &errb); err != nil {
		t.Fatalf("roster import: %v: %s", err, errb.String())
	}
	cfg := writeConfig(t, `
[input]
driver = "stdin"
[display]
driver = "text"
[camera]
driver = "v4l2"
device = "`+filepath.Join(t.TempDir(), "video9")+`"
`)
	out.Reset()
	// Ben (2222) has FaceFront on and photo consent in the demo roster.
	if err := run([]string{"-config", cfg, "-state", state}, strings.NewReader("2222##"), &out, &errb); err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	if s := out.String(); !strings.Contains(s, "camera") {
		t.Errorf("screens never mention the camera:\n%s", s)
	}
	db, err := queue.Open(state, queue.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ps, err := db.All(0)
	if err != nil || len(ps) != 1 {
		t.Fatalf("punches %+v, %v; want one", ps, err)
	}
	if ps[0].NoPhoto != punch.NoCamera || ps[0].Photo != "" {
		t.Errorf("punch = %+v, want saved without a photo because there is no camera", ps[0])
	}
}

// Display hardware that is not there stops the daemon before it starts,
// naming the device and what to do.
func TestDisplayMissing(t *testing.T) {
	tests := []struct{ body, want string }{
		{"[display]\ndriver = \"framebuffer\"\ndevice = \"" + filepath.Join(t.TempDir(), "fb7") + "\"", "fb7"},
		{"[display]\ndriver = \"ssd1306\"\ni2c_bus = \"" + filepath.Join(t.TempDir(), "i2c-7") + "\"", "dtparam=i2c_arm=on"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		cfg := writeConfig(t, "[input]\ndriver = \"stdin\"\n"+tt.body)
		err := run([]string{"-config", cfg, "-state", t.TempDir()}, strings.NewReader(""), &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("config %q: err = %v, want it to mention %q", tt.body, err, tt.want)
		}
	}
}
