package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteclock/siteclock/kiosk"

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

// A vital input that fails stops the kiosk with its error; an extra one
// (buttons, a USB keypad) is logged and the kiosk goes on.
func TestInputFailures(t *testing.T) {
	boom := errors.New("line busy")
	run := func(inputs ...input) (error, bool, string) {
		var logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		h := &hardware{inputs: inputs}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		quit := make(chan struct{})
		var once sync.Once
		keys := make(chan kiosk.Key)
		errc := h.run(ctx, keys, make(chan kiosk.Event), log, func() { once.Do(func() { close(quit) }) })
		select {
		case err := <-errc:
			if err == nil {
				// Every input ended by itself; wait for nothing more.
				cancel()
			}
			select {
			case <-quit:
				return err, true, logs.String()
			default:
				return err, false, logs.String()
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the inputs never ended")
		}
		return nil, false, ""
	}
	failing := func(ctx context.Context, _ chan<- kiosk.Key) error { return boom }
	waiting := func(ctx context.Context, _ chan<- kiosk.Key) error { <-ctx.Done(); return ctx.Err() }

	err, quit, _ := run(input{"keypad", true, failing}, input{"buttons", false, waiting})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "keypad: line busy") || !quit {
		t.Errorf("vital input failed: err %v, quit %v; want the keypad's error and the kiosk stopped", err, quit)
	}
	err, quit, logs := run(input{"buttons", false, failing}, input{"script", true, func(ctx context.Context, _ chan<- kiosk.Key) error { return nil }})
	if err != nil || quit || !strings.Contains(logs, "the kiosk goes on without it") || !strings.Contains(logs, "line busy") {
		t.Errorf("extra input failed: err %v, quit %v, log %q; want it logged and the kiosk going on", err, quit, logs)
	}
}
