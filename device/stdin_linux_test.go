package device

import (
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Standard input closed behind our back (as periph's GPIO start-up does
// on a Pi 5) is put back.
func TestKeepStdin(t *testing.T) {
	var before syscall.Stat_t
	if err := syscall.Fstat(0, &before); err != nil {
		// Give the test process a standard input to keep.
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Dup2(int(f.Fd()), 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := syscall.Fstat(0, &before); err != nil {
			t.Fatal(err)
		}
	}
	restore := keepStdin()
	if err := syscall.Close(0); err != nil {
		t.Fatal(err)
	}
	restore()
	var after syscall.Stat_t
	if err := syscall.Fstat(0, &after); err != nil {
		t.Fatalf("standard input not put back: %v", err)
	}
	if after.Ino != before.Ino || after.Dev != before.Dev {
		t.Errorf("standard input is another file now")
	}
	// Nothing is touched when standard input stayed open.
	restore = keepStdin()
	restore()
	if _, err := os.Stdin.Stat(); err != nil {
		t.Errorf("stdin after a quiet restore: %v", err)
	}
}
