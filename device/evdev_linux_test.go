package device

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/siteclock/siteclock/kiosk"
)

func TestOpenEvdevRefuses(t *testing.T) {
	// The kernel answers ENOTTY to EVIOCGRAB on a file that is not an
	// input device; qemu-user, which the cross-built tests run under,
	// answers ENOSYS to ioctls it does not know.
	_, err := openEvdev("/dev/null")
	switch {
	case err == nil || !strings.Contains(err.Error(), "grab /dev/null"):
		t.Errorf("openEvdev(/dev/null): %v, want the grab refused", err)
	case !errors.Is(err, syscall.ENOSYS) && !strings.Contains(err.Error(), "not an input event device"):
		t.Errorf("openEvdev(/dev/null): %v, want it called not an input event device", err)
	}
	missing := filepath.Join(t.TempDir(), "event7")
	if _, err := openEvdev(missing); err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "not plugged in") {
		t.Errorf("openEvdev(missing): %v, want not plugged in", err)
	}
}

// TestUSBKeypadOnAPipe reads through a real file in Go's poller, as an
// event device is read: keys arrive, the writer going away reads as an
// unplug, and stopping interrupts a read that is waiting.
func TestUSBKeypadOnAPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	statuses := make(chan error, 8)
	k, err := NewUSBKeypad("/dev/input/event0", InputOptions{Retry: time.Hour, OnStatus: func(err error) { statuses <- err }})
	if err != nil {
		t.Fatal(err)
	}
	opened := false
	k.in.open = func(string) (io.ReadCloser, error) {
		if opened {
			return nil, openError("/dev/input/event0", os.ErrNotExist)
		}
		opened = true
		return r, nil
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := make(chan kiosk.Key)
	done := make(chan error)
	go func() { done <- k.Run(ctx, out) }()

	if err := <-statuses; err != nil {
		t.Fatalf("first status %v, want nil (open)", err)
	}
	if _, err := w.Write(encode(typed(0, time.Millisecond, keyKP7, keyKPEnter), nativeWord)); err != nil {
		t.Fatal(err)
	}
	if got := []kiosk.Key{<-out, <-out}; got[0] != '7' || got[1] != kiosk.KeyEnter {
		t.Errorf("keys %q, want 7#", got)
	}
	w.Close()
	if err := <-statuses; !errors.Is(err, ErrUnplugged) {
		t.Errorf("status after the writer closed: %v, want ErrUnplugged", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run: %v", err)
	}

	// Stopping while a read waits on the device.
	r2, w2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	k.in.open = func(string) (io.ReadCloser, error) { return r2, nil }
	ctx2, cancel2 := context.WithCancel(t.Context())
	go func() { done <- k.Run(ctx2, out) }()
	if err := <-statuses; err != nil {
		t.Fatalf("status %v, want nil (open)", err)
	}
	cancel2()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run: %v", err)
	}
	if _, err := r2.Read(make([]byte, 1)); !errors.Is(err, os.ErrClosed) {
		t.Errorf("the device file is still open after Run: read gives %v", err)
	}
}
